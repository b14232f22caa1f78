#pragma once
// Softmax over one axis (opset >= 13 semantics), max-subtracted, f32. Contiguous rows (the last axis, or
// stride 1) run the vectorized kernels::vmath::softmax_row; a row with max -inf (all -inf) comes out NaN either way.

#include <algorithm>
#include <cmath>

#include "../../kernels/vector_math.hpp"
#include "../kernel_context.hpp"

namespace bigmodel::runtime::kernels {

// Softmax of `len` values spaced `stride` apart, in place-safe (x may equal y).
inline void softmax_strided(const float* x, float* y, std::int64_t len, std::int64_t stride) {
  if (stride == 1) return ::bigmodel::kernels::vmath::softmax_row(x, y, static_cast<std::size_t>(std::max<std::int64_t>(len, 0)));
  float mx = -INFINITY;
  for (std::int64_t i = 0; i < len; ++i) mx = std::max(mx, x[i * stride]);
  float sum = 0.0f;
  for (std::int64_t i = 0; i < len; ++i) sum += (y[i * stride] = std::exp(x[i * stride] - mx));
  const float inv = 1.0f / sum;
  for (std::int64_t i = 0; i < len; ++i) y[i * stride] *= inv;
}

inline void run(const ops::softmax& op, kernel_context& c) {
  const auto& t = c.in(0);
  const auto x = c.f32(0);
  const auto axis = static_cast<std::size_t>(c.axis(op.axis, t.rank()));
  auto y = c.out(0, dtype::f32, t.shape()).mutable_span<float>();
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < axis; ++d) outer *= t.dim(d);
  for (std::size_t d = axis + 1; d < t.rank(); ++d) inner *= t.dim(d);
  const std::int64_t len = t.rank() ? t.dim(axis) : 1;
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i)
      softmax_strided(x.data() + o * len * inner + i, y.data() + o * len * inner + i, len, inner);
}

}  // namespace bigmodel::runtime::kernels
