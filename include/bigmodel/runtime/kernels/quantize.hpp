#pragma once
// QuantizeLinear / DequantizeLinear (per-tensor and per-axis), DynamicQuantizeLinear (u8, ONNX formula).

#include <cmath>
#include <limits>

#include "../kernel_context.hpp"
#include "matmul.hpp"

namespace bigmodel::runtime::kernels {

// Index of the per-axis parameter for each element (0 for per-tensor).
struct axis_walker {
  std::int64_t inner = 1, dim = 1;
  [[nodiscard]] std::int64_t at(std::int64_t i) const { return (i / inner) % dim; }
};
inline axis_walker walker(const dynamic_tensor& x, const dynamic_tensor& scale, std::int64_t axis, kernel_context& c) {
  if (scale.numel() == 1 && scale.rank() <= 1) return {1, 1};
  const auto a = static_cast<std::size_t>(c.axis(axis, x.rank()));
  c.check(scale.rank() == 1 && scale.dim(0) == x.dim(a), "per-axis scale length does not match the axis");
  axis_walker w{1, x.dim(a)};
  for (std::size_t d = a + 1; d < x.rank(); ++d) w.inner *= x.dim(d);
  return w;
}

template <class Q>
Q saturate_round(float v, std::int32_t zp) {
  const float r = std::nearbyint(v) + static_cast<float>(zp);
  return static_cast<Q>(std::clamp(r, static_cast<float>(std::numeric_limits<Q>::min()), static_cast<float>(std::numeric_limits<Q>::max())));
}

inline void run(const ops::quantize_linear& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto xs = c.f32(0), scale = c.f32(1);
  const dtype qt = c.has(2) ? c.in(2).type() : dtype::u8;
  const auto w = walker(x, c.in(1), op.axis, c);
  auto& y = c.out(0, qt, x.shape());
  auto zp = [&](std::int64_t j) { return c.has(2) ? static_cast<std::int32_t>(c.in(2).as_int(j)) : 0; };
  auto body = [&]<class Q>(Q* py) {
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const auto j = w.at(static_cast<std::int64_t>(i));
      py[i] = saturate_round<Q>(xs[i] / scale[static_cast<std::size_t>(j)], zp(j));
    }
  };
  if (qt == dtype::u8) body(y.mutable_span<std::uint8_t>().data());
  else if (qt == dtype::s8) body(y.mutable_span<std::int8_t>().data());
  else c.fail("runtime.unsupported_dtype", "QuantizeLinear to " + std::string(name(qt)));
}

inline void run(const ops::dequantize_linear& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto scale = c.f32(1);
  const auto w = walker(x, c.in(1), op.axis, c);
  auto y = c.out(0, dtype::f32, x.shape()).mutable_span<float>();
  const bool has_zp = c.has(2);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const auto j = w.at(static_cast<std::int64_t>(i));
    const auto q = x.as_int(static_cast<std::int64_t>(i));
    const auto z = has_zp ? c.in(2).as_int(j) : 0;
    y[i] = static_cast<float>(q - z) * scale[static_cast<std::size_t>(j)];
  }
}

// ONNX DynamicQuantizeLinear: u8, range always includes 0.
inline void run(const ops::dynamic_quantize_linear&, kernel_context& c) {
  const auto x = c.f32(0);
  float lo = 0.0f, hi = 0.0f;
  for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v);
  const float scale = (hi - lo) / 255.0f;
  const float zpf = scale == 0.0f ? 0.0f : std::clamp(std::nearbyint(0.0f - lo / scale), 0.0f, 255.0f);
  const auto zp = static_cast<std::int32_t>(zpf);
  auto y = c.out(0, dtype::u8, c.in(0).shape()).mutable_span<std::uint8_t>();
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = scale == 0.0f ? static_cast<std::uint8_t>(zp) : saturate_round<std::uint8_t>(x[i] / scale, zp);
  c.out(1, dtype::f32, {}).mutable_span<float>()[0] = scale;
  c.out(2, dtype::u8, {}).mutable_span<std::uint8_t>()[0] = static_cast<std::uint8_t>(zp);
}

}  // namespace bigmodel::runtime::kernels
