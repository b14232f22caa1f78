#pragma once
// Quantization arithmetic shared by every scheme: the integer ranges, choosing scale and zero point from
// a float range, and the rounding rule. q = saturate(round_half_even(x / scale) + zero_point) and
// x' = (q - zero_point) * scale -- ONNX QuantizeLinear/DequantizeLinear semantics.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "dtype.hpp"
#include "error.hpp"

namespace bigmodel {

// Granularities are types, so mixing schemes is a compile error.
struct per_tensor {
  static constexpr const char* name = "per_tensor";
};
template <std::size_t Axis>
struct per_channel {
  static constexpr std::size_t axis = Axis;
  static constexpr const char* name = "per_channel";
};
template <std::size_t Axis, std::size_t G>
struct per_group {
  static_assert(G > 0, "group size must be positive");
  static constexpr std::size_t axis = Axis;
  static constexpr std::size_t group_size = G;
  static constexpr const char* name = "per_group";
};

template <class G>
inline constexpr bool is_granularity_v = false;
template <>
inline constexpr bool is_granularity_v<per_tensor> = true;
template <std::size_t A>
inline constexpr bool is_granularity_v<per_channel<A>> = true;
template <std::size_t A, std::size_t G>
inline constexpr bool is_granularity_v<per_group<A, G>> = true;
template <class G>
concept granularity = is_granularity_v<G>;

// Quantized integer types: int8, uint8 and int4 (stored packed as s4x2).
template <class Q>
struct quant_limits;
template <>
struct quant_limits<std::int8_t> {
  static constexpr std::int32_t min = -128, max = 127;
};
template <>
struct quant_limits<std::uint8_t> {
  static constexpr std::int32_t min = 0, max = 255;
};
template <>
struct quant_limits<s4x2> {
  static constexpr std::int32_t min = -8, max = 7;
};
template <class Q>
concept quantized_type = requires { quant_limits<Q>::min; };

enum class symmetry { symmetric, affine };

struct quant_param {
  float scale = 1.0f;
  std::int32_t zero_point = 0;
  friend bool operator==(const quant_param&, const quant_param&) = default;
};

// Scale and zero point that cover [lo, hi] (widened to include 0, so 0 is exact -- padding and ReLU
// outputs rely on it). Symmetric schemes use the restricted range [-qmax, qmax] for signed types (the
// int8 kernels' and ONNX Runtime's choice) and zero point 128 / 0 for unsigned ones. A zero range gives
// scale 1: never a division by zero, never NaN.
template <quantized_type Q>
[[nodiscard]] quant_param choose_quant_param(float lo, float hi, symmetry sym, std::string_view where = {}) {
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw error("quant.non_finite", "cannot quantize a range that is NaN or infinite", std::string(where));
  if (lo > hi) std::swap(lo, hi);
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  constexpr auto qmin = quant_limits<Q>::min;
  constexpr auto qmax = quant_limits<Q>::max;
  constexpr float smallest = std::numeric_limits<float>::min();
  quant_param p;
  if (sym == symmetry::symmetric) {
    const float amax = std::max(-lo, hi);
    if constexpr (qmin < 0) {
      p.scale = amax / static_cast<float>(qmax);
      p.zero_point = 0;
    } else {
      p.scale = amax / 127.0f;  // u8 symmetric: zero point in the middle, 127 steps each way
      p.zero_point = 128;
    }
  } else {
    p.scale = (hi - lo) / static_cast<float>(qmax - qmin);
    if (p.scale > 0.0f) {
      const float zp = static_cast<float>(qmin) - lo / std::max(p.scale, smallest);
      p.zero_point = static_cast<std::int32_t>(std::clamp(std::nearbyint(zp), float(qmin), float(qmax)));
    }
  }
  if (p.scale == 0.0f) p.scale = 1.0f;          // all zeros
  else if (p.scale < smallest) p.scale = smallest;  // subnormal range: keep 1/scale finite
  return p;
}

// round(x / scale) + zero_point, half to even, saturated to Q's range. NaN quantizes to the zero point.
template <quantized_type Q>
[[nodiscard]] inline std::int32_t quantize_value(float x, quant_param p) noexcept {
  constexpr float qmin = static_cast<float>(quant_limits<Q>::min);
  constexpr float qmax = static_cast<float>(quant_limits<Q>::max);
  float v = std::nearbyint(x / p.scale) + static_cast<float>(p.zero_point);
  if (!(v == v)) v = static_cast<float>(p.zero_point);
  return static_cast<std::int32_t>(std::clamp(v, qmin, qmax));
}

[[nodiscard]] inline float dequantize_value(std::int32_t q, quant_param p) noexcept {
  return static_cast<float>(q - p.zero_point) * p.scale;
}

}  // namespace bigmodel
