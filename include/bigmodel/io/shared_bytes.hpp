#pragma once
// shared_bytes: a read-only view of bytes that keeps its storage alive (a file buffer, a memory map, or
// a vector it owns). Tensor data and kept-unknown protobuf fields are shared_bytes into the loaded file, so
// loading a model copies no weights and a sub-view can outlive the model that produced it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace bigmodel::io {

class shared_bytes {
 public:
  shared_bytes() = default;
  // A view of [data, data + size) kept alive by owner (any shared_ptr whose lifetime covers the bytes).
  shared_bytes(std::shared_ptr<const void> owner, const std::byte* data, std::size_t size) noexcept
      : owner_(std::move(owner)), data_(data), size_(size) {}

  // Takes ownership of a vector (no copy of its elements).
  static shared_bytes from_vector(std::vector<std::byte> v) {
    auto p = std::make_shared<const std::vector<std::byte>>(std::move(v));
    return shared_bytes(p, p->data(), p->size());
  }
  // Copies bytes into a new owned buffer.
  static shared_bytes copy_of(std::span<const std::byte> s) { return from_vector(std::vector<std::byte>(s.begin(), s.end())); }
  static shared_bytes copy_of(std::string_view s) { return copy_of(std::as_bytes(std::span<const char>(s.data(), s.size()))); }

  [[nodiscard]] const std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  [[nodiscard]] std::string_view as_string_view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  [[nodiscard]] const std::shared_ptr<const void>& owner() const noexcept { return owner_; }

  // A sub-view sharing the same owner. Throws if the range is outside this view.
  [[nodiscard]] shared_bytes subview(std::size_t offset, std::size_t length) const {
    require(offset <= size_ && length <= size_ - offset, "io.range", "sub-view outside the buffer",
            "offset " + std::to_string(offset) + ", length " + std::to_string(length) + ", size " + std::to_string(size_));
    return shared_bytes(owner_, data_ + offset, length);
  }
  // True when p points into this view (used by tests to prove zero-copy).
  [[nodiscard]] bool contains(const void* p) const noexcept {
    auto b = reinterpret_cast<std::uintptr_t>(data_), q = reinterpret_cast<std::uintptr_t>(p);
    return q >= b && q < b + size_;
  }

  // Content equality (not identity).
  friend bool operator==(const shared_bytes& a, const shared_bytes& b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace bigmodel::io
