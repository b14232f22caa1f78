#pragma once
// Fused scaled-dot-product attention (reference implementation: one head/batch at a time, the T x S scores
// of one head materialized). Issue 9 replaces it with a tiled SIMD kernel.

#include <cmath>

#include "matmul.hpp"
#include "softmax.hpp"

namespace bigmodel::runtime::kernels {

inline void run(const ops::attention& op, kernel_context& c) {
  const auto &tq = c.in(0), &tk = c.in(1), &tv = c.in(2);
  c.check(tq.rank() >= 2 && tk.rank() == tq.rank() && tv.rank() == tq.rank(), "Attention q, k, v must have the same rank >= 2");
  const auto q = c.f32(0), k = c.f32(1), v = c.f32(2);
  const std::size_t r = tq.rank();
  const std::int64_t t = tq.dim(r - 2), d = tq.dim(r - 1);
  const std::int64_t s = op.k_transposed ? tk.dim(r - 1) : tk.dim(r - 2);
  const std::int64_t kd = op.k_transposed ? tk.dim(r - 2) : tk.dim(r - 1);
  const std::int64_t dv = tv.dim(r - 1);
  c.check(kd == d && tv.dim(r - 2) == s, "Attention head sizes of q, k, v do not match");
  std::int64_t heads = 1;
  for (std::size_t i = 0; i + 2 < r; ++i) {
    c.check(tk.dim(i) == tq.dim(i) && tv.dim(i) == tq.dim(i), "Attention batch/head dims of q, k, v differ");
    heads *= tq.dim(i);
  }
  shape_t os = tq.shape();
  os.back() = dv;
  auto y = c.out(0, dtype::f32, os).mutable_span<float>();
  const float scale = op.scale != 0.0f ? op.scale : 1.0f / std::sqrt(static_cast<float>(d));
  // mask broadcast to [..., T, S]
  const dynamic_tensor* mask = c.has(3) ? &c.in(3) : nullptr;
  shape_t score_shape(tq.shape().begin(), tq.shape().end() - 2);
  score_shape.push_back(t), score_shape.push_back(s);
  std::vector<std::int64_t> mst;
  if (mask) {
    (void)broadcast_shapes({&score_shape, &mask->shape()}, c);
    mst = broadcast_strides(mask->shape(), score_shape);
  }
  row_matrix scores(t, s);
  for (std::int64_t h = 0; h < heads; ++h) {
    const cmap Q(q.data() + h * t * d, t, d);
    if (op.k_transposed) scores.noalias() = Q * cmap(k.data() + h * d * s, d, s);
    else scores.noalias() = Q * cmap(k.data() + h * s * d, s, d).transpose();
    scores *= scale;
    if (mask) {
      std::int64_t base = 0, rem = h;
      for (std::size_t i = r - 2; i-- > 0;) base += (rem % tq.dim(i)) * mst[i], rem /= tq.dim(i);
      for (std::int64_t i = 0; i < t; ++i)
        for (std::int64_t j = 0; j < s; ++j)
          scores(i, j) += static_cast<float>(mask->as_double(base + i * mst[r - 2] + j * mst[r - 1]));
    }
    if (op.causal)
      for (std::int64_t i = 0; i < t; ++i)
        for (std::int64_t j = i + 1 + (s - t); j < s; ++j) scores(i, j) = -INFINITY;
    for (std::int64_t i = 0; i < t; ++i) softmax_strided(&scores(i, 0), &scores(i, 0), s, 1);
    mmap(y.data() + h * t * dv, t, dv).noalias() = scores * cmap(v.data() + h * s * dv, s, dv);
  }
}

}  // namespace bigmodel::runtime::kernels
