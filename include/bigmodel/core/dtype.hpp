#pragma once
// Element types. Compile-time code names them by C++ type (float, f16, bf16, std::int8_t, std::uint8_t,
// std::int32_t, s4x2); run-time code (graphs, files) by the dtype enum. dtype_of<T> and the visit helpers
// bridge the two.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "error.hpp"
#include "half.hpp"

namespace bigmodel {

// Two signed 4-bit integers in one byte: element 2i in the low nibble, 2i+1 in the high nibble
// (the order of ONNX int4 and of ggml/ORT MatMulNBits). Values -8..7.
struct s4x2 {
  std::uint8_t bits = 0;
  [[nodiscard]] constexpr int lo() const noexcept { return static_cast<int>(static_cast<std::int8_t>(bits << 4) >> 4); }
  [[nodiscard]] constexpr int hi() const noexcept { return static_cast<int>(static_cast<std::int8_t>(bits) >> 4); }
  static constexpr s4x2 pack(int lo, int hi) noexcept {
    return s4x2{static_cast<std::uint8_t>((static_cast<unsigned>(lo) & 0xFu) | ((static_cast<unsigned>(hi) & 0xFu) << 4))};
  }
  friend constexpr bool operator==(s4x2, s4x2) = default;
};

// Run-time element type. The values are ONNX's TensorProto.DataType numbers, so files map 1:1.
enum class dtype : std::int32_t {
  undefined = 0,
  f32 = 1,
  u8 = 2,
  s8 = 3,
  u16 = 4,
  s16 = 5,
  s32 = 6,
  s64 = 7,
  string = 8,
  boolean = 9,
  f16 = 10,
  f64 = 11,
  u32 = 12,
  u64 = 13,
  bf16 = 16,
  u4 = 21,
  s4 = 22,
};

[[nodiscard]] constexpr std::string_view name(dtype t) noexcept {
  switch (t) {
    case dtype::f32: return "f32";
    case dtype::u8: return "u8";
    case dtype::s8: return "s8";
    case dtype::u16: return "u16";
    case dtype::s16: return "s16";
    case dtype::s32: return "s32";
    case dtype::s64: return "s64";
    case dtype::string: return "string";
    case dtype::boolean: return "bool";
    case dtype::f16: return "f16";
    case dtype::f64: return "f64";
    case dtype::u32: return "u32";
    case dtype::u64: return "u64";
    case dtype::bf16: return "bf16";
    case dtype::u4: return "u4";
    case dtype::s4: return "s4";
    case dtype::undefined: break;
  }
  return "undefined";
}

// Size of one element in bits (4 for the packed types, 0 for string/undefined).
[[nodiscard]] constexpr std::size_t bit_size(dtype t) noexcept {
  switch (t) {
    case dtype::f32: case dtype::s32: case dtype::u32: return 32;
    case dtype::u8: case dtype::s8: case dtype::boolean: return 8;
    case dtype::u16: case dtype::s16: case dtype::f16: case dtype::bf16: return 16;
    case dtype::s64: case dtype::u64: case dtype::f64: return 64;
    case dtype::u4: case dtype::s4: return 4;
    case dtype::string: case dtype::undefined: break;
  }
  return 0;
}

// Bytes needed for n elements (packed types round up to whole bytes).
[[nodiscard]] constexpr std::size_t storage_bytes(dtype t, std::size_t n) noexcept { return (n * bit_size(t) + 7) / 8; }

[[nodiscard]] constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16 || t == dtype::f64;
}

// Compile-time traits: dtype_traits<T>::value is the run-time tag, bits the storage size of one element,
// elements_per_unit how many logical elements one T holds (2 for s4x2).
template <class T>
struct dtype_traits;  // undefined for types bigmodel does not store

#define BIGMODEL_DTYPE_TRAIT(T, tag, nbits, per_unit, nm)                                   \
  template <>                                                                               \
  struct dtype_traits<T> {                                                                  \
    static constexpr dtype value = dtype::tag;                                              \
    static constexpr std::size_t bits = nbits;                                              \
    static constexpr std::size_t elements_per_unit = per_unit;                              \
    static constexpr std::string_view name = nm;                                            \
  }
BIGMODEL_DTYPE_TRAIT(float, f32, 32, 1, "f32");
BIGMODEL_DTYPE_TRAIT(double, f64, 64, 1, "f64");
BIGMODEL_DTYPE_TRAIT(f16, f16, 16, 1, "f16");
BIGMODEL_DTYPE_TRAIT(bf16, bf16, 16, 1, "bf16");
BIGMODEL_DTYPE_TRAIT(std::int8_t, s8, 8, 1, "s8");
BIGMODEL_DTYPE_TRAIT(std::uint8_t, u8, 8, 1, "u8");
BIGMODEL_DTYPE_TRAIT(std::int16_t, s16, 16, 1, "s16");
BIGMODEL_DTYPE_TRAIT(std::int32_t, s32, 32, 1, "s32");
BIGMODEL_DTYPE_TRAIT(std::int64_t, s64, 64, 1, "s64");
BIGMODEL_DTYPE_TRAIT(bool, boolean, 8, 1, "bool");
BIGMODEL_DTYPE_TRAIT(s4x2, s4, 8, 2, "s4x2");
#undef BIGMODEL_DTYPE_TRAIT

template <class T>
concept element_type = requires { dtype_traits<std::remove_const_t<T>>::value; };

template <element_type T>
inline constexpr dtype dtype_of = dtype_traits<std::remove_const_t<T>>::value;

// Calls f(T{}) with the C++ type of a run-time dtype; throws bigmodel::error for types with no C++ type here.
template <class F>
decltype(auto) visit_dtype(dtype t, F&& f) {
  switch (t) {
    case dtype::f32: return f(float{});
    case dtype::f64: return f(double{});
    case dtype::f16: return f(f16{});
    case dtype::bf16: return f(bf16{});
    case dtype::s8: return f(std::int8_t{});
    case dtype::u8: return f(std::uint8_t{});
    case dtype::s16: return f(std::int16_t{});
    case dtype::s32: return f(std::int32_t{});
    case dtype::s64: return f(std::int64_t{});
    case dtype::boolean: return f(bool{});
    case dtype::s4: return f(s4x2{});
    default: break;
  }
  throw error("dtype.unsupported", "element type has no C++ type in bigmodel", std::string("dtype ") + std::string(name(t)));
}

}  // namespace bigmodel
