#pragma once
// 64-byte aligned, uninitialized-by-default storage: one cache line and one AVX-512 register.

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace bigmodel {

inline constexpr std::size_t buffer_alignment = 64;

template <class T>
class aligned_buffer {
  static_assert(std::is_trivially_copyable_v<T>, "aligned_buffer holds trivially copyable elements");

 public:
  aligned_buffer() noexcept = default;
  explicit aligned_buffer(std::size_t n) : size_(n) {
    if (n != 0) {
      // Round the byte count up to the alignment so SIMD tails may read a whole register.
      const std::size_t bytes = (n * sizeof(T) + buffer_alignment - 1) / buffer_alignment * buffer_alignment;
      data_ = static_cast<T*>(::operator new(bytes, std::align_val_t{buffer_alignment}));
      std::memset(static_cast<void*>(data_), 0, bytes);
    }
  }
  aligned_buffer(const aligned_buffer& o) : aligned_buffer(o.size_) {
    if (size_ != 0) std::memcpy(static_cast<void*>(data_), o.data_, size_ * sizeof(T));
  }
  aligned_buffer(aligned_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  aligned_buffer& operator=(aligned_buffer o) noexcept {
    swap(o);
    return *this;
  }
  ~aligned_buffer() {
    if (data_) ::operator delete(static_cast<void*>(data_), std::align_val_t{buffer_alignment});
  }

  void swap(aligned_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }

  [[nodiscard]] T* data() noexcept { return data_; }
  [[nodiscard]] const T* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace bigmodel
