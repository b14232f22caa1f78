#pragma once
// The epilogue resolved for one GEMM call (types and the s8 shift folded in), and its scalar evaluation,
// which is the definition every vectorized store must match.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "epilogue.hpp"

namespace bigmodel::kernels {

enum class out_type : std::uint8_t { s32, f32, u8, s8 };

template <class T> inline constexpr bool is_output_type = false;
template <> inline constexpr bool is_output_type<std::int32_t> = true;
template <> inline constexpr bool is_output_type<float> = true;
template <> inline constexpr bool is_output_type<std::uint8_t> = true;
template <> inline constexpr bool is_output_type<std::int8_t> = true;

template <class T>
[[nodiscard]] constexpr out_type out_type_of() noexcept {
  if constexpr (std::is_same_v<T, std::int32_t>) return out_type::s32;
  else if constexpr (std::is_same_v<T, float>) return out_type::f32;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return out_type::u8;
  else return out_type::s8;
}

[[nodiscard]] constexpr std::size_t out_size(out_type t) noexcept {
  return (t == out_type::s32 || t == out_type::f32) ? 4 : 1;
}

namespace detail {

struct resolved_epilogue {
  out_type out = out_type::s32;
  const std::int32_t* colsum = nullptr;  // packed column sums, padded to whole panels
  std::int32_t zero_point = 0;           // includes the +128 of s8 activations
  const std::int32_t* row_zero_point = nullptr;
  std::int32_t zero_point_shift = 0;     // added to row_zero_point entries
  float a_scale = 1.0f;
  const float* row_scale = nullptr;
  const float* w_scale = nullptr;
  bool per_channel = false;
  const float* bias = nullptr;
  activation act = activation::none;
  float inv_out_scale = 1.0f;
  std::int32_t out_zero_point = 0;

  [[nodiscard]] std::int32_t row_zp(std::size_t m) const noexcept {
    return row_zero_point ? row_zero_point[m] + zero_point_shift : zero_point;
  }
  [[nodiscard]] float row_a_scale(std::size_t m) const noexcept { return row_scale ? row_scale[m] : a_scale; }
  [[nodiscard]] float w_scale_at(std::size_t n) const noexcept {
    return w_scale == nullptr ? 1.0f : w_scale[per_channel ? n : 0];
  }
};

// acc - zp * colsum, modulo 2^32 like the hardware accumulators.
[[nodiscard]] constexpr std::int32_t correct(std::int32_t acc, std::int32_t zp, std::int32_t colsum) noexcept {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(acc) -
                                   static_cast<std::uint32_t>(zp) * static_cast<std::uint32_t>(colsum));
}

// erfc for z >= 0 as t * exp(-z^2 + P(t)), t = 1 / (1 + z/2): the Chebyshev fit published in Numerical
// Recipes (fractional error < 1.2e-7 for all z >= 0). Relative accuracy in the tail is what keeps GELU of
// large negative inputs accurate, which 1 - erf cannot.
inline constexpr float erfc_coeffs[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                                          0.27886807f,  -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};

[[nodiscard]] inline float gelu_scalar(float x) noexcept {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = erfc_coeffs[9];
  for (int i = 8; i >= 0; --i) p = p * t + erfc_coeffs[i];
  const float e = t * std::exp(-z * z + p);  // erfc(|x| / sqrt 2)
  const float phi = x >= 0.0f ? 1.0f - 0.5f * e : 0.5f * e;
  return x * phi;
}

// 0.5 x (1 + tanh u) written as x / (1 + e^(-2u)), which keeps its relative accuracy for negative x (1 + tanh u
// cancels there). -inf gives the limit 0.
[[nodiscard]] inline float gelu_tanh_scalar(float x) noexcept {
  const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return std::isinf(x) ? (x > 0.0f ? x : 0.0f) : x / (1.0f + std::exp(-2.0f * u));
}

[[nodiscard]] inline float activate_scalar(activation act, float v) noexcept {
  switch (act) {
    case activation::relu: return v > 0.0f ? v : 0.0f;
    case activation::gelu: return gelu_scalar(v);
    case activation::gelu_tanh: return gelu_tanh_scalar(v);
    case activation::none: break;
  }
  return v;
}

// Clamp before rounding (the bounds are integers, so the order does not matter) so that huge values and
// NaN (which goes to the lower bound) never reach an undefined float-to-int conversion.
[[nodiscard]] inline std::int32_t requantize_scalar(float v, float inv_scale, std::int32_t zp, std::int32_t lo,
                                                    std::int32_t hi) noexcept {
  float x = v * inv_scale;
  const float flo = static_cast<float>(lo - zp), fhi = static_cast<float>(hi - zp);
  x = x > flo ? x : flo;
  x = x < fhi ? x : fhi;
  return static_cast<std::int32_t>(std::nearbyint(x)) + zp;
}

// One output element from its raw accumulator.
inline void store_scalar(const resolved_epilogue& e, std::size_t m, std::size_t n, std::int32_t acc,
                         std::byte* dst) noexcept {
  const std::int32_t c = correct(acc, e.row_zp(m), e.colsum[n]);
  if (e.out == out_type::s32) {
    std::memcpy(dst, &c, 4);
    return;
  }
  float v = static_cast<float>(c) * (e.row_a_scale(m) * e.w_scale_at(n));
  if (e.bias) v = v + e.bias[n];
  v = activate_scalar(e.act, v);
  if (e.out == out_type::f32) {
    std::memcpy(dst, &v, 4);
  } else if (e.out == out_type::u8) {
    *reinterpret_cast<std::uint8_t*>(dst) = static_cast<std::uint8_t>(requantize_scalar(v, e.inv_out_scale, e.out_zero_point, 0, 255));
  } else {
    *reinterpret_cast<std::int8_t*>(dst) = static_cast<std::int8_t>(requantize_scalar(v, e.inv_out_scale, e.out_zero_point, -128, 127));
  }
}

// A row segment of count outputs starting at column n0; acc holds count accumulators.
inline void store_row_scalar(const resolved_epilogue& e, std::size_t m, std::size_t n0, std::size_t count,
                             const std::int32_t* acc, std::byte* c_row) noexcept {
  const std::size_t size = out_size(e.out);
  for (std::size_t j = 0; j < count; ++j) store_scalar(e, m, n0 + j, acc[j], c_row + j * size);
}

inline void store_tile_scalar(const resolved_epilogue& e, std::size_t m0, std::size_t rows, std::size_t n0,
                              std::size_t count, const std::int32_t* acc, std::size_t ldt, std::byte* c,
                              std::size_t ldc_bytes) noexcept {
  for (std::size_t i = 0; i < rows; ++i) store_row_scalar(e, m0 + i, n0, count, acc + i * ldt, c + i * ldc_bytes);
}

}  // namespace detail
}  // namespace bigmodel::kernels
