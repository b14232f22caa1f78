#pragma once
// A 64-byte aligned, uninitialized byte buffer that only grows: packed weights and per-thread scratch.

#include <cstddef>
#include <memory>
#include <new>

namespace bigmodel::kernels {

class aligned_buffer {
 public:
  static constexpr std::size_t alignment = 64;

  aligned_buffer() = default;
  explicit aligned_buffer(std::size_t bytes) { reserve(bytes); }

  // Keeps the content only when no reallocation happens; callers that grow rewrite it anyway.
  void reserve(std::size_t bytes) {
    if (bytes <= size_) return;
    data_.reset(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{alignment})));
    size_ = bytes;
  }
  [[nodiscard]] std::byte* data() noexcept { return data_.get(); }
  [[nodiscard]] const std::byte* data() const noexcept { return data_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  struct release {
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{alignment}); }
  };
  std::unique_ptr<std::byte[], release> data_;
  std::size_t size_ = 0;
};

}  // namespace bigmodel::kernels
