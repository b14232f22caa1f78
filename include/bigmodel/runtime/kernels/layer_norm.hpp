#pragma once
// LayerNormalization (opset 17): normalize over axes [axis, rank), then scale and bias; f32 with a
// two-pass mean/variance in f32 (stash_type 1).

#include <algorithm>
#include <cmath>
#include <string>

#include "../../kernels/vector_math.hpp"
#include "../kernel_context.hpp"

namespace bigmodel::runtime::kernels {

// One row of n values; scale_n / bias_n are n or 1 (broadcast); bias may be null. Vectorized
// (kernels::vmath::layer_norm_row, the same two passes in f32 lanes).
inline void layer_norm_row(const float* x, float* y, std::int64_t n, const float* scale, std::int64_t scale_n,
                           const float* bias, std::int64_t bias_n, float eps) {
  if (n <= 0) return;
  ::bigmodel::kernels::vmath::layer_norm_row(x, y, static_cast<std::size_t>(n), scale, static_cast<std::size_t>(scale_n),
                                             bias, static_cast<std::size_t>(bias_n), eps);
}

namespace detail {
// Row length (product of the dims from `axis` on) and checked scale / bias of a LayerNormalization-like op whose
// input x, scale and optional bias are inputs x_in, x_in + 1 and x_in + 2.
struct norm_params {
  std::int64_t n = 1, scale_n = 0, bias_n = 0, rows = 0;
  const float* scale = nullptr;
  const float* bias = nullptr;
};
inline norm_params norm_params_of(const kernel_context& c, std::int64_t axis_attr, std::size_t x_in, const char* op_name) {
  const auto& t = c.in(x_in);
  const auto x = c.f32(x_in), scale = c.f32(x_in + 1);
  norm_params p;
  const auto axis = static_cast<std::size_t>(c.axis(axis_attr, t.rank()));
  for (std::size_t d = axis; d < t.rank(); ++d) p.n *= t.dim(d);
  p.scale = scale.data();
  p.scale_n = static_cast<std::int64_t>(scale.size());
  c.check(p.scale_n == p.n || p.scale_n == 1, std::string(op_name) + " scale has " + std::to_string(p.scale_n) +
                                                  " values for rows of " + std::to_string(p.n));
  if (c.has(x_in + 2)) {
    p.bias = c.f32(x_in + 2).data();
    p.bias_n = c.in(x_in + 2).numel();
    c.check(p.bias_n == p.n || p.bias_n == 1, std::string(op_name) + " bias size mismatch");
  }
  p.rows = p.n ? static_cast<std::int64_t>(x.size()) / p.n : 0;
  return p;
}
}  // namespace detail

inline void run(const ops::layer_norm& op, kernel_context& c) {
  const auto p = detail::norm_params_of(c, op.axis, 0, "LayerNormalization");
  c.check(c.output_count() == 1, "LayerNormalization mean/inv_std_dev outputs are not supported");
  const auto x = c.f32(0);
  auto y = c.out(0, dtype::f32, c.in(0).shape()).mutable_span<float>();
  for (std::int64_t r = 0; r < p.rows; ++r)
    layer_norm_row(x.data() + r * p.n, y.data() + r * p.n, p.n, p.scale, p.scale_n, p.bias, p.bias_n, op.epsilon);
}

// y = LayerNorm(a + b) (and optionally the sum) in one pass per row: the sum stays in cache for the norm.
inline void run(const ops::add_layer_norm& op, kernel_context& c) {
  const auto& t = c.in(0);
  c.check(c.in(1).shape() == t.shape(), "AddLayerNormalization inputs must have the same shape, got " +
                                            to_string(t.shape()) + " and " + to_string(c.in(1).shape()));
  const auto a = c.f32(0), b = c.f32(1);
  // scale and bias are inputs 2 and 3: the checks of LayerNormalization, shifted by one input.
  const auto p = detail::norm_params_of(c, op.axis, 1, "AddLayerNormalization");
  c.check(c.output_count() >= 1 && c.output_count() <= 2, "AddLayerNormalization has one or two outputs");
  const bool want_sum = c.output_count() == 2 && c.outputs[1] != nullptr;
  auto y = c.out(0, dtype::f32, t.shape()).mutable_span<float>();
  float* sum = want_sum ? c.out(1, dtype::f32, t.shape()).mutable_span<float>().data() : nullptr;
  const auto n = p.n;
  c.parallel_for(static_cast<std::size_t>((p.rows + 31) / 32), [&](std::size_t blk) {
    const auto r0 = static_cast<std::int64_t>(blk) * 32, r1 = std::min<std::int64_t>(p.rows, r0 + 32);
    for (std::int64_t r = r0; r < r1; ++r)
      ::bigmodel::kernels::vmath::add_layer_norm_row(a.data() + r * n, b.data() + r * n, y.data() + r * n,
                                                     static_cast<std::size_t>(n), p.scale, static_cast<std::size_t>(p.scale_n),
                                                     p.bias, static_cast<std::size_t>(p.bias_n), op.epsilon,
                                                     sum ? sum + r * n : nullptr);
  });
}

}  // namespace bigmodel::runtime::kernels
