#pragma once
// LayerNormalization (opset 17): normalize over axes [axis, rank), then scale and bias; f32 with a
// two-pass mean/variance in f32 (stash_type 1).

#include <cmath>

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

inline void run(const ops::layer_norm& op, kernel_context& c) {
  const auto& t = c.in(0);
  const auto x = c.f32(0), scale = c.f32(1);
  const auto axis = static_cast<std::size_t>(c.axis(op.axis, t.rank()));
  std::int64_t n = 1;
  for (std::size_t d = axis; d < t.rank(); ++d) n *= t.dim(d);
  const auto sn = static_cast<std::int64_t>(scale.size());
  c.check(sn == n || sn == 1, "LayerNormalization scale has " + std::to_string(sn) + " values for rows of " + std::to_string(n));
  const float* bias = c.has(2) ? c.f32(2).data() : nullptr;
  const std::int64_t bn = c.has(2) ? c.in(2).numel() : 0;
  c.check(!bias || bn == n || bn == 1, "LayerNormalization bias size mismatch");
  c.check(c.output_count() == 1, "LayerNormalization mean/inv_std_dev outputs are not supported");
  auto y = c.out(0, dtype::f32, t.shape()).mutable_span<float>();
  const std::int64_t rows = n ? static_cast<std::int64_t>(x.size()) / n : 0;
  for (std::int64_t r = 0; r < rows; ++r)
    layer_norm_row(x.data() + r * n, y.data() + r * n, n, scale.data(), sn, bias, bn, op.epsilon);
}

}  // namespace bigmodel::runtime::kernels
