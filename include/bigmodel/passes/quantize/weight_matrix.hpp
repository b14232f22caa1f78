#pragma once
// Quantizing one weight matrix [outputs, inputs] with a run-time scheme. The arithmetic (scale and zero
// point from a range, rounding, saturation) is core/quant.hpp's; this file only walks the groups a scheme
// defines and checks the input, naming the layer in every error.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/half.hpp"
#include "../prune/mask.hpp"
#include "scheme.hpp"

namespace bigmodel::quant {

using prune::const_weight_view;
using prune::weight_view;

// Integer values row-major [rows = outputs, cols = inputs] and their parameters: one (per tensor), one per
// row (per channel) or rows * (cols / group) in row-major order (per group).
struct quantized_matrix {
  std::size_t rows = 0, cols = 0, group = 0;  // group: elements sharing one parameter along a row (cols per channel)
  weight_scheme scheme{};
  std::vector<std::int32_t> values;
  std::vector<quant_param> params;

  [[nodiscard]] const quant_param& param(std::size_t r, std::size_t c) const {
    if (scheme.granularity == granularity_kind::per_tensor) return params[0];
    return params[r * (cols / group) + c / group];
  }
  [[nodiscard]] float dequantized(std::size_t r, std::size_t c) const {
    return dequantize_value(values[r * cols + c], param(r, c));
  }
};

// Rejects NaN / infinite weights, naming the layer and the element.
inline void check_finite(const const_weight_view& w, std::string_view layer) {
  for (std::size_t r = 0; r < w.extent(0); ++r)
    for (std::size_t c = 0; c < w.extent(1); ++c)
      if (!std::isfinite(w(r, c)))
        throw error("quant.non_finite", "weight holds NaN or infinity at [" + std::to_string(r) + ", " + std::to_string(c) + "]",
                    std::string(layer));
}

// The elements along a row that share one parameter; throws when a group size does not divide the inputs.
[[nodiscard]] inline std::size_t group_length(const weight_scheme& s, std::size_t rows, std::size_t cols, std::string_view layer) {
  switch (s.granularity) {
    case granularity_kind::per_tensor: return rows * cols;
    case granularity_kind::per_channel: return cols;
    case granularity_kind::per_group: break;
  }
  if (s.group_size == 0 || cols % s.group_size != 0)
    throw error("quant.group_size",
                "group size " + std::to_string(s.group_size) + " does not divide the input dimension " + std::to_string(cols),
                std::string(layer));
  return s.group_size;
}

// The smallest f16 value >= s (s > 0, finite): the scale of a scheme with f16_scales. Rounding up, never down,
// keeps every weight of the range inside the codes. Throws "quant.scale_range" naming the layer when s is
// beyond the largest f16 (65504).
[[nodiscard]] inline float f16_scale_at_least(float s, std::string_view layer) {
  f16 h = to_f16(s);
  if (to_float(h) < s) h.bits = static_cast<std::uint16_t>(h.bits + 1);  // s > 0: the next f16 up
  const float v = to_float(h);
  if (!std::isfinite(v))
    throw error("quant.scale_range", "scale " + std::to_string(s) + " is beyond the f16 range (use f32 scales)", std::string(layer));
  return v;
}

namespace detail {
template <quantized_type Q>
quantized_matrix quantize_matrix_as(const const_weight_view& w, const weight_scheme& s, std::string_view layer) {
  quantized_matrix q;
  q.rows = w.extent(0);
  q.cols = w.extent(1);
  q.scheme = s;
  q.group = group_length(s, q.rows, q.cols, layer);
  const std::size_t per_row = s.granularity == granularity_kind::per_tensor ? 1 : q.cols / q.group;
  const std::size_t n_params = s.granularity == granularity_kind::per_tensor ? 1 : q.rows * per_row;
  std::vector<float> lo(n_params, std::numeric_limits<float>::infinity()), hi(n_params, -std::numeric_limits<float>::infinity());
  auto index = [&](std::size_t r, std::size_t c) { return s.granularity == granularity_kind::per_tensor ? 0 : r * per_row + c / q.group; };
  for (std::size_t r = 0; r < q.rows; ++r)
    for (std::size_t c = 0; c < q.cols; ++c) {
      const std::size_t p = index(r, c);
      lo[p] = std::min(lo[p], w(r, c));
      hi[p] = std::max(hi[p], w(r, c));
    }
  q.params.resize(n_params);
  for (std::size_t p = 0; p < n_params; ++p)
    q.params[p] = lo[p] > hi[p] ? quant_param{} : choose_quant_param<Q>(lo[p], hi[p], s.sym, layer);
  if (s.f16_scales)
    for (auto& p : q.params) p.scale = f16_scale_at_least(p.scale, layer);
  q.values.resize(q.rows * q.cols);
  for (std::size_t r = 0; r < q.rows; ++r)
    for (std::size_t c = 0; c < q.cols; ++c) q.values[r * q.cols + c] = quantize_value<Q>(w(r, c), q.params[index(r, c)]);
  return q;
}
}  // namespace detail

// Quantizes w ([outputs, inputs], any strides) with an integer scheme. Throws bigmodel::error naming the
// layer for NaN/Inf weights ("quant.non_finite"), a group size that does not divide the inputs
// ("quant.group_size") and a float scheme ("quant.scheme"). All-zero groups get scale 1 (exact zeros).
[[nodiscard]] inline quantized_matrix quantize_matrix(const const_weight_view& w, const weight_scheme& s, std::string_view layer) {
  check_finite(w, layer);
  require(w.extent(0) > 0 && w.extent(1) > 0, "quant.empty_weight", "weight has no elements", std::string(layer));
  switch (s.type) {
    case weight_type::s8: return detail::quantize_matrix_as<std::int8_t>(w, s, layer);
    case weight_type::u8: return detail::quantize_matrix_as<std::uint8_t>(w, s, layer);
    case weight_type::s4: return detail::quantize_matrix_as<s4x2>(w, s, layer);
    default: break;
  }
  throw error("quant.scheme", describe(s) + " is not an integer scheme", std::string(layer));
}

// The value a float scheme stores (f16 / bf16 rounding, to nearest even), as f32.
[[nodiscard]] inline float round_to(weight_type t, float v) noexcept {
  if (t == weight_type::f16) return to_float(to_f16(v));
  if (t == weight_type::bf16) return to_float(to_bf16(v));
  return v;
}

// Writes the values the scheme represents back into w (fake quantization, for any model type).
inline void fake_quantize(const weight_view& w, const weight_scheme& s, std::string_view layer) {
  if (!is_integer(s.type)) {
    check_finite(w, layer);
    for (std::size_t r = 0; r < w.extent(0); ++r)
      for (std::size_t c = 0; c < w.extent(1); ++c) w(r, c) = round_to(s.type, w(r, c));
    return;
  }
  const auto q = quantize_matrix(w, s, layer);
  for (std::size_t r = 0; r < q.rows; ++r)
    for (std::size_t c = 0; c < q.cols; ++c) w(r, c) = q.dequantized(r, c);
}

}  // namespace bigmodel::quant
