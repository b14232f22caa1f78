#pragma once
// TensorProto contents: checked sizes, zero-copy byte access, typed conversion, and constructors.
//
//   element_count(t)            checked product of dims (onnx.bad_dims)
//   tensor_bytes(t)             raw bytes: raw_data, or the mapped external data (no copy)
//   tensor_span<T>(t)           std::optional<std::span<const T>>: zero-copy typed view when the stored
//                               type is T and the bytes are suitably aligned
//   tensor_to_vector<T>(t)      converts whatever storage (raw_data or float_data/int32_data/int64_data/
//                               double_data/uint64_data, per the ONNX rules) to a std::vector<T>
//   make_tensor<T>(name, dims, values) / make_tensor(name, dtype, dims, shared_bytes) / make_scalar<T>
// Raw data is little-endian (ONNX); bigmodel supports little-endian hosts only.

#include <bit>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "../../core/dtype.hpp"
#include "../../core/half.hpp"
#include "parse.hpp"
#include "proto.hpp"

namespace bigmodel::io::onnx {

static_assert(std::endian::native == std::endian::little, "bigmodel::io::onnx assumes a little-endian host");

namespace detail {
inline std::string tensor_context(const tensor_proto& t) { return "tensor '" + t.name + "'"; }
}  // namespace detail

// Number of elements (product of dims); throws onnx.bad_dims for negative dims or overflow.
[[nodiscard]] inline std::size_t element_count(const std::vector<std::int64_t>& dims) {
  protobuf::error_context ctx;
  ctx.domain = "onnx";
  std::size_t n = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    require(dims[i] >= 0, "onnx.bad_dims", "negative dimension " + std::to_string(dims[i]), "axis " + std::to_string(i));
    const auto d = static_cast<std::uint64_t>(dims[i]);
    require(d == 0 || n <= std::numeric_limits<std::size_t>::max() / d, "onnx.bad_dims", "element count overflows",
            "axis " + std::to_string(i));
    n *= static_cast<std::size_t>(d);
  }
  return n;
}
[[nodiscard]] inline std::size_t element_count(const tensor_proto& t) { return element_count(t.dims); }

// True when the tensor's values live in raw bytes (raw_data or external data) rather than typed fields.
[[nodiscard]] inline bool has_byte_data(const tensor_proto& t) noexcept { return t.is_external() || t.has_raw_data(); }

// The tensor's bytes without copying: raw_data, or the external data resolved by load_model.
// Throws onnx.external_not_loaded for an unresolved external tensor and onnx.no_raw_data for tensors stored in
// typed fields (use tensor_to_vector for those).
[[nodiscard]] inline const shared_bytes& tensor_data(const tensor_proto& t) {
  if (t.is_external()) {
    require(t.external_bytes.owner() != nullptr, "onnx.external_not_loaded",
            "external data was not loaded (load the model with load_model and load_external = true)", detail::tensor_context(t));
    return t.external_bytes;
  }
  require(t.has_raw_data(), "onnx.no_raw_data", "tensor stores its values in typed fields, not raw_data",
          detail::tensor_context(t));
  return t.raw_data;
}
[[nodiscard]] inline std::span<const std::byte> tensor_bytes(const tensor_proto& t) { return tensor_data(t).span(); }

// Zero-copy typed view: present when T is the stored type, the data is raw/external and aligned for T.
template <element_type T>
[[nodiscard]] std::optional<std::span<const T>> tensor_span(const tensor_proto& t) {
  if (t.type() != dtype_of<T> || !has_byte_data(t)) return std::nullopt;
  const auto b = tensor_bytes(t);
  if (reinterpret_cast<std::uintptr_t>(b.data()) % alignof(T) != 0 || b.size() % sizeof(T) != 0) return std::nullopt;
  return std::span<const T>(reinterpret_cast<const T*>(b.data()), b.size() / sizeof(T));
}

namespace detail {

template <class To, class From>
To convert_element(From v) {
  if constexpr (std::is_same_v<From, f16> || std::is_same_v<From, bf16>) {
    return convert_element<To>(to_float(v));
  } else if constexpr (std::is_same_v<To, f16>) {
    return to_f16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bf16>) {
    return to_bf16(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

template <class To, class From>
void convert_raw(std::span<const std::byte> bytes, std::size_t n, std::vector<To>& out) {
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, bytes.data() + i * sizeof(From), sizeof(From));
    out[i] = convert_element<To>(v);
  }
}

template <class To, class From, class Src>
void convert_typed(const std::vector<Src>& src, std::vector<To>& out) {
  out.resize(src.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    if constexpr (std::is_same_v<From, f16> || std::is_same_v<From, bf16>)
      out[i] = convert_element<To>(From::from_bits(static_cast<std::uint16_t>(src[i])));
    else
      out[i] = convert_element<To>(static_cast<From>(src[i]));
  }
}

}  // namespace detail

// All elements converted to T (float, double, integers, f16, bf16). Reads raw_data/external data or the
// typed field ONNX prescribes for the stored type; checks the count against the dims.
// Throws onnx.tensor_type (string, complex, packed 4-bit) or onnx.data_size (wrong number of values).
template <class T>
[[nodiscard]] std::vector<T> tensor_to_vector(const tensor_proto& t) {
  const std::size_t n = element_count(t);
  const dtype dt = t.type();
  const std::string ctx = detail::tensor_context(t);
  std::vector<T> out;
  if (has_byte_data(t)) {
    const auto b = tensor_bytes(t);
    require(bit_size(dt) % 8 == 0 && bit_size(dt) != 0, "onnx.tensor_type",
            "cannot convert elements of type " + std::string(name(dt)), ctx);
    require(b.size() == storage_bytes(dt, n), "onnx.data_size",
            "tensor has " + std::to_string(b.size()) + " bytes, its shape needs " + std::to_string(storage_bytes(dt, n)), ctx);
    switch (dt) {
      case dtype::f32: detail::convert_raw<T, float>(b, n, out); break;
      case dtype::f64: detail::convert_raw<T, double>(b, n, out); break;
      case dtype::f16: detail::convert_raw<T, f16>(b, n, out); break;
      case dtype::bf16: detail::convert_raw<T, bf16>(b, n, out); break;
      case dtype::s8: detail::convert_raw<T, std::int8_t>(b, n, out); break;
      case dtype::u8: detail::convert_raw<T, std::uint8_t>(b, n, out); break;
      case dtype::boolean: detail::convert_raw<T, std::uint8_t>(b, n, out); break;
      case dtype::s16: detail::convert_raw<T, std::int16_t>(b, n, out); break;
      case dtype::u16: detail::convert_raw<T, std::uint16_t>(b, n, out); break;
      case dtype::s32: detail::convert_raw<T, std::int32_t>(b, n, out); break;
      case dtype::u32: detail::convert_raw<T, std::uint32_t>(b, n, out); break;
      case dtype::s64: detail::convert_raw<T, std::int64_t>(b, n, out); break;
      case dtype::u64: detail::convert_raw<T, std::uint64_t>(b, n, out); break;
      default: throw error("onnx.tensor_type", "cannot convert elements of type " + std::string(name(dt)), ctx);
    }
    return out;
  }
  std::size_t have = 0;
  switch (dt) {
    case dtype::f32: have = t.float_data.size(); detail::convert_typed<T, float>(t.float_data, out); break;
    case dtype::f64: have = t.double_data.size(); detail::convert_typed<T, double>(t.double_data, out); break;
    case dtype::s64: have = t.int64_data.size(); detail::convert_typed<T, std::int64_t>(t.int64_data, out); break;
    case dtype::u32: have = t.uint64_data.size(); detail::convert_typed<T, std::uint32_t>(t.uint64_data, out); break;
    case dtype::u64: have = t.uint64_data.size(); detail::convert_typed<T, std::uint64_t>(t.uint64_data, out); break;
    case dtype::s32: have = t.int32_data.size(); detail::convert_typed<T, std::int32_t>(t.int32_data, out); break;
    case dtype::s16: have = t.int32_data.size(); detail::convert_typed<T, std::int16_t>(t.int32_data, out); break;
    case dtype::u16: have = t.int32_data.size(); detail::convert_typed<T, std::uint16_t>(t.int32_data, out); break;
    case dtype::s8: have = t.int32_data.size(); detail::convert_typed<T, std::int8_t>(t.int32_data, out); break;
    case dtype::u8: have = t.int32_data.size(); detail::convert_typed<T, std::uint8_t>(t.int32_data, out); break;
    case dtype::boolean: have = t.int32_data.size(); detail::convert_typed<T, std::uint8_t>(t.int32_data, out); break;
    case dtype::f16: have = t.int32_data.size(); detail::convert_typed<T, f16>(t.int32_data, out); break;
    case dtype::bf16: have = t.int32_data.size(); detail::convert_typed<T, bf16>(t.int32_data, out); break;
    default: throw error("onnx.tensor_type", "cannot convert elements of type " + std::string(name(dt)), ctx);
  }
  require(have == n, "onnx.data_size",
          "tensor has " + std::to_string(have) + " values, its shape needs " + std::to_string(n), ctx);
  return out;
}

// ---- constructors ---------------------------------------------------------------------------------------

// A tensor over existing bytes (no copy); checks the size against dims and type.
[[nodiscard]] inline tensor_proto make_tensor(std::string name, dtype type, std::vector<std::int64_t> dims, shared_bytes raw) {
  const std::size_t n = element_count(dims);
  require(bit_size(type) != 0, "onnx.tensor_type", "raw data needs a fixed-size type", "tensor '" + name + "'");
  require(raw.size() == storage_bytes(type, n), "onnx.raw_data_size",
          std::to_string(raw.size()) + " bytes given, shape needs " + std::to_string(storage_bytes(type, n)), "tensor '" + name + "'");
  tensor_proto t;
  t.dims = std::move(dims);
  t.data_type = static_cast<std::int32_t>(type);
  t.name = std::move(name);
  t.set_raw_data(std::move(raw));
  return t;
}

// A tensor holding a copy of values as raw_data. For s4x2 (packed int4) values holds ceil(n/2) bytes.
template <element_type T>
[[nodiscard]] tensor_proto make_tensor(std::string name, std::vector<std::int64_t> dims, std::span<const T> values) {
  return make_tensor(std::move(name), dtype_of<T>, std::move(dims), shared_bytes::copy_of(std::as_bytes(values)));
}
template <element_type T>
[[nodiscard]] tensor_proto make_tensor(std::string name, std::vector<std::int64_t> dims, const std::vector<T>& values) {
  return make_tensor(std::move(name), std::move(dims), std::span<const T>(values));
}
template <element_type T>
[[nodiscard]] tensor_proto make_tensor(std::string name, std::vector<std::int64_t> dims, std::initializer_list<T> values) {
  return make_tensor(std::move(name), std::move(dims), std::span<const T>(values.begin(), values.size()));
}

// Replaces a tensor's values with raw bytes (embedded as raw_data; an external tensor becomes internal).
inline void set_tensor_data(tensor_proto& t, shared_bytes raw) {
  if (bit_size(t.type()) != 0)
    require(raw.size() == storage_bytes(t.type(), element_count(t)), "onnx.raw_data_size",
            std::to_string(raw.size()) + " bytes given, shape needs " + std::to_string(storage_bytes(t.type(), element_count(t))),
            detail::tensor_context(t));
  t.external_data.clear();
  t.data_location = 0;
  t.meta.clear(13);
  t.meta.clear(14);
  t.external_bytes = {};
  t.external_source.clear();
  t.float_data.clear();
  t.int32_data.clear();
  t.int64_data.clear();
  t.double_data.clear();
  t.uint64_data.clear();
  t.set_raw_data(std::move(raw));
}

// A rank-0 tensor.
template <element_type T>
[[nodiscard]] tensor_proto make_scalar(std::string name, T value) {
  return make_tensor(std::move(name), {}, std::span<const T>(&value, 1));
}

}  // namespace bigmodel::io::onnx
