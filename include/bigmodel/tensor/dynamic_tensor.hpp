#pragma once
// dynamic_tensor: a tensor whose element type and shape are known only at run time (graph values,
// initializers, ONNX tensors). Storage is shared (copies are cheap and alias), 64-byte aligned when owned,
// or a read-only view into memory someone else keeps alive (a memory-mapped file), so weights are never
// copied on load. Typed access checks the dtype.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/error.hpp"

namespace bigmodel {

using shape_t = std::vector<std::int64_t>;

// "[2, 3, 4]" -- for error messages.
[[nodiscard]] inline std::string to_string(const shape_t& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Number of elements; throws on negative dims or overflow (shapes come from files).
[[nodiscard]] inline std::int64_t element_count(const shape_t& s) {
  std::int64_t n = 1;
  for (auto d : s) {
    require(d >= 0, "tensor.bad_shape", "negative dimension", "shape " + to_string(s));
    if (d != 0 && n > INT64_MAX / d) throw error("tensor.bad_shape", "element count overflows", "shape " + to_string(s));
    n *= d;
  }
  return n;
}

class dynamic_tensor {
 public:
  static constexpr std::size_t alignment = 64;

  dynamic_tensor() = default;

  // Owning, zero-initialised.
  dynamic_tensor(dtype type, shape_t shape) : type_(type), shape_(std::move(shape)) {
    bytes_ = storage_bytes(type_, static_cast<std::size_t>(element_count(shape_)));
    require(type_ != dtype::string && type_ != dtype::undefined, "tensor.bad_dtype",
            "cannot allocate a tensor of this element type", std::string("dtype ") + std::string(name(type_)));
    const std::size_t alloc = std::max<std::size_t>((bytes_ + alignment - 1) / alignment * alignment, alignment);
    auto* p = static_cast<std::byte*>(::operator new(alloc, std::align_val_t{alignment}));
    std::memset(p, 0, alloc);
    storage_ = std::shared_ptr<std::byte>(p, [](std::byte* q) { ::operator delete(q, std::align_val_t{alignment}); });
    data_ = p;
    capacity_ = alloc;
  }

  // Non-owning, read-only view of `data` (e.g. inside a memory map); keep_alive owns what data points into.
  [[nodiscard]] static dynamic_tensor view(dtype type, shape_t shape, const void* data,
                                           std::shared_ptr<const void> keep_alive = {}) {
    dynamic_tensor t;
    t.type_ = type;
    t.shape_ = std::move(shape);
    t.bytes_ = storage_bytes(type, static_cast<std::size_t>(element_count(t.shape_)));
    t.keep_alive_ = std::move(keep_alive);
    t.data_ = static_cast<std::byte*>(const_cast<void*>(data));
    t.read_only_ = true;
    return t;
  }

  // Owning copy of typed values.
  template <element_type T>
  [[nodiscard]] static dynamic_tensor from(shape_t shape, std::span<const T> values) {
    dynamic_tensor t(dtype_of<T>, std::move(shape));
    require(static_cast<std::size_t>(t.numel()) == values.size(), "tensor.size_mismatch",
            "value count does not match the shape", "shape " + to_string(t.shape_) + ", " +
                                                        std::to_string(values.size()) + " values");
    if (!values.empty()) std::memcpy(t.data_, values.data(), values.size_bytes());
    return t;
  }
  template <element_type T>
  [[nodiscard]] static dynamic_tensor from(shape_t shape, std::initializer_list<T> values) {
    return from<T>(std::move(shape), std::span<const T>(values.begin(), values.size()));
  }
  template <element_type T>
  [[nodiscard]] static dynamic_tensor from(shape_t shape, const std::vector<T>& values) {
    return from<T>(std::move(shape), std::span<const T>(values));
  }
  template <element_type T>
  [[nodiscard]] static dynamic_tensor scalar(T v) { return from<T>({}, std::span<const T>(&v, 1)); }

  [[nodiscard]] dtype type() const noexcept { return type_; }
  [[nodiscard]] const shape_t& shape() const noexcept { return shape_; }
  [[nodiscard]] std::size_t rank() const noexcept { return shape_.size(); }
  [[nodiscard]] std::int64_t dim(std::size_t i) const noexcept { return shape_[i]; }
  [[nodiscard]] std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (auto d : shape_) n *= d;
    return n;
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] bool empty() const noexcept { return data_ == nullptr; }
  [[nodiscard]] bool is_view() const noexcept { return read_only_; }
  // True when this object is the only owner of its storage (a runtime may then reuse it).
  [[nodiscard]] bool unique() const noexcept { return storage_ && storage_.use_count() == 1; }
  // Bytes of storage this tensor allocated (0 for views and the empty tensor; copies report the same).
  [[nodiscard]] std::size_t capacity() const noexcept { return storage_ ? capacity_ : 0; }
  // Reuses the storage for another dtype and shape when this object is its only owner and it is large enough:
  // returns true and keeps the old bytes (the contents are unspecified for the new shape). Otherwise returns
  // false and changes nothing. Runtimes use it to recycle buffers between values.
  bool reuse_as(dtype type, const shape_t& shape) {
    if (!unique() || read_only_ || type == dtype::string || type == dtype::undefined) return false;
    const std::size_t need = storage_bytes(type, static_cast<std::size_t>(element_count(shape)));
    if (need > capacity_) return false;
    type_ = type;
    shape_ = shape;
    bytes_ = need;
    keep_alive_.reset();
    return true;
  }
  // True when both refer to the same memory (copies alias).
  [[nodiscard]] bool shares_storage_with(const dynamic_tensor& o) const noexcept { return data_ == o.data_; }

  [[nodiscard]] const std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::byte* mutable_data() {
    require(!read_only_, "tensor.read_only", "tensor is a read-only view (clone it to modify)");
    return data_;
  }

  template <element_type T>
  [[nodiscard]] std::span<const T> span() const {
    check_type<T>();
    return {reinterpret_cast<const T*>(data_), static_cast<std::size_t>(numel()) / dtype_traits<T>::elements_per_unit};
  }
  template <element_type T>
  [[nodiscard]] std::span<T> mutable_span() {
    check_type<T>();
    return {reinterpret_cast<T*>(mutable_data()), static_cast<std::size_t>(numel()) / dtype_traits<T>::elements_per_unit};
  }

  // Same storage, new shape (same element count).
  [[nodiscard]] dynamic_tensor reshaped(shape_t shape) const {
    require(element_count(shape) == numel(), "tensor.bad_reshape", "reshape changes the element count",
            to_string(shape_) + " -> " + to_string(shape));
    dynamic_tensor t = *this;
    t.shape_ = std::move(shape);
    return t;
  }

  // Deep, owning, writable copy.
  [[nodiscard]] dynamic_tensor clone() const {
    if (empty()) return {};
    dynamic_tensor t(type_, shape_);
    if (bytes_) std::memcpy(t.data_, data_, bytes_);
    return t;
  }

  // Same dtype, shape and bytes.
  friend bool operator==(const dynamic_tensor& a, const dynamic_tensor& b) {
    if (a.type_ != b.type_ || a.shape_ != b.shape_ || a.bytes_ != b.bytes_) return false;
    return a.data_ == b.data_ || a.bytes_ == 0 || std::memcmp(a.data_, b.data_, a.bytes_) == 0;
  }

  // Value of element i as double / int64, whatever the dtype (for shape tensors, scalars, tests).
  [[nodiscard]] double as_double(std::int64_t i) const {
    return visit_dtype(type_, [&]<class T>(T) -> double {
      if constexpr (std::is_same_v<T, s4x2>) {
        const auto b = reinterpret_cast<const s4x2*>(data_)[i / 2];
        return (i % 2) ? b.hi() : b.lo();
      } else if constexpr (std::is_same_v<T, f16> || std::is_same_v<T, bf16>) {
        return to_float(reinterpret_cast<const T*>(data_)[i]);
      } else {
        return static_cast<double>(reinterpret_cast<const T*>(data_)[i]);
      }
    });
  }
  [[nodiscard]] std::int64_t as_int(std::int64_t i) const {
    if (type_ == dtype::s64) return reinterpret_cast<const std::int64_t*>(data_)[i];
    if (type_ == dtype::s32) return reinterpret_cast<const std::int32_t*>(data_)[i];
    return static_cast<std::int64_t>(as_double(i));
  }
  // All elements as int64 (shape / axes / index tensors).
  [[nodiscard]] std::vector<std::int64_t> to_ints() const {
    std::vector<std::int64_t> v(static_cast<std::size_t>(numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = as_int(static_cast<std::int64_t>(i));
    return v;
  }

 private:
  template <class T>
  void check_type() const {
    require(dtype_of<T> == type_, "tensor.dtype_mismatch", "typed access with the wrong element type",
            std::string("tensor is ") + std::string(name(type_)) + ", accessed as " + std::string(dtype_traits<T>::name));
  }

  dtype type_ = dtype::undefined;
  shape_t shape_;
  std::size_t bytes_ = 0;
  std::size_t capacity_ = 0;
  std::shared_ptr<std::byte> storage_;
  std::shared_ptr<const void> keep_alive_;
  std::byte* data_ = nullptr;
  bool read_only_ = false;
};

}  // namespace bigmodel
