#pragma once
// Fused scaled-dot-product attention: y = softmax(q·kᵀ·scale + mask [+ causal]) · v, per batch·head.
//
// Tiled: each head is cut into blocks of at most attention_row_block query rows; a block's scores
// (rows × S) live in one scratch tile that is scaled, masked, soft-maxed in place and multiplied by v, so
// no T × S matrix per head is materialized beyond that tile (T = 4096 needs a 64 × S tile, not T × S).
// Heads are independent tasks on the session's parallel_for; every head is computed the same way whatever
// the thread count, so outputs do not depend on it.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../../kernels/sgemm.hpp"
#include "matmul.hpp"
#include "softmax.hpp"

namespace bigmodel::runtime::kernels {

inline constexpr std::int64_t attention_row_block = 64;

namespace detail {

// The geometry of one Attention call.
struct attention_shape {
  std::int64_t heads = 1, t = 0, s = 0, d = 0, dv = 0;
  float scale = 1.0f;
  bool k_transposed = false, causal = false;
};

// softmax(row·scale + mask) in place over n values; entries from `limit` on (causal) are set to 0.
// A row with no visible key (limit <= 0) is NaN, as the decomposed graph's Softmax of an all -inf row.
inline void scaled_masked_softmax(float* row, std::int64_t n, std::int64_t limit, float scale, const float* mask) {
  const std::int64_t live = std::clamp(limit, std::int64_t{0}, n);
  if (live > 0) ::bigmodel::kernels::vmath::softmax_row(row, scale, mask, row, static_cast<std::size_t>(live));
  for (std::int64_t j = live; j < n; ++j) row[j] = live > 0 ? 0.0f : std::numeric_limits<float>::quiet_NaN();
}

}  // namespace detail

inline void run(const ops::attention& op, kernel_context& c) {
  const auto &tq = c.in(0), &tk = c.in(1), &tv = c.in(2);
  c.check(tq.rank() >= 2 && tk.rank() == tq.rank() && tv.rank() == tq.rank(), "Attention q, k, v must have the same rank >= 2");
  const auto q = c.f32(0), k = c.f32(1), v = c.f32(2);
  const std::size_t r = tq.rank();
  detail::attention_shape a;
  a.t = tq.dim(r - 2), a.d = tq.dim(r - 1);
  a.k_transposed = op.k_transposed != 0;
  a.causal = op.causal != 0;
  a.s = a.k_transposed ? tk.dim(r - 1) : tk.dim(r - 2);
  const std::int64_t kd = a.k_transposed ? tk.dim(r - 2) : tk.dim(r - 1);
  a.dv = tv.dim(r - 1);
  c.check(kd == a.d && tv.dim(r - 2) == a.s, "Attention head sizes of q, k, v do not match");
  for (std::size_t i = 0; i + 2 < r; ++i) {
    c.check(tk.dim(i) == tq.dim(i) && tv.dim(i) == tq.dim(i), "Attention batch/head dims of q, k, v differ");
    a.heads *= tq.dim(i);
  }
  shape_t os = tq.shape();
  os.back() = a.dv;
  auto y = c.out(0, dtype::f32, os).mutable_span<float>();
  a.scale = op.scale != 0.0f ? op.scale : 1.0f / std::sqrt(static_cast<float>(a.d));
  // The mask broadcasts to [..., T, S]; rows that are contiguous f32 are read in place, others gathered.
  const dynamic_tensor* mask = c.has(3) ? &c.in(3) : nullptr;
  shape_t score_shape(tq.shape().begin(), tq.shape().end() - 2);
  score_shape.push_back(a.t), score_shape.push_back(a.s);
  std::vector<std::int64_t> mst;
  const float* mask_f32 = nullptr;
  if (mask) {
    (void)broadcast_shapes({&score_shape, &mask->shape()}, c);
    mst = broadcast_strides(mask->shape(), score_shape);
    if (mask->type() == dtype::f32 && mst[r - 1] == 1) mask_f32 = mask->span<float>().data();
  }
  if (y.empty() || a.s == 0) {
    std::fill(y.begin(), y.end(), 0.0f);
    return;
  }

  c.parallel_for(static_cast<std::size_t>(a.heads), [&](std::size_t hi) {
    const auto h = static_cast<std::int64_t>(hi);
    const std::int64_t rb = std::min(a.t, attention_row_block);
    std::vector<float> tile(static_cast<std::size_t>(rb * a.s));
    std::vector<float> mask_row(mask && !mask_f32 ? static_cast<std::size_t>(a.s) : 0);
    std::int64_t mask_base = 0;
    if (mask) {
      std::int64_t rem = h;
      for (std::size_t i = r - 2; i-- > 0;) mask_base += (rem % tq.dim(i)) * mst[i], rem /= tq.dim(i);
    }
    const float* qh = q.data() + h * a.t * a.d;
    const float* kh = k.data() + h * a.s * a.d;
    const float* vh = v.data() + h * a.s * a.dv;
    float* yh = y.data() + h * a.t * a.dv;
    for (std::int64_t i0 = 0; i0 < a.t; i0 += rb) {
      const std::int64_t rows = std::min(rb, a.t - i0);
      // Causal: row i sees keys j <= i + (S - T); keys no row of the block sees are skipped entirely.
      const std::int64_t cols = a.causal ? std::clamp(i0 + rows + (a.s - a.t), std::int64_t{0}, a.s) : a.s;
      if (cols > 0) {  // scores[rows x cols] = q_block . kᵀ
        const auto lay = a.k_transposed ? bigmodel::kernels::weight_layout::k_by_n : bigmodel::kernels::weight_layout::n_by_k;
        bigmodel::kernels::sgemm(static_cast<std::size_t>(rows), static_cast<std::size_t>(cols), static_cast<std::size_t>(a.d),
                                 qh + i0 * a.d, static_cast<std::size_t>(a.d), kh,
                                 static_cast<std::size_t>(a.k_transposed ? a.s : a.d), lay, tile.data(),
                                 static_cast<std::size_t>(a.s));
      }
      for (std::int64_t i = 0; i < rows; ++i) {
        const std::int64_t gi = i0 + i;
        const float* mrow = nullptr;
        if (mask) {
          const std::int64_t off = mask_base + gi * mst[r - 2];
          if (mask_f32) mrow = mask_f32 + off;
          else {
            for (std::int64_t j = 0; j < cols; ++j)
              mask_row[static_cast<std::size_t>(j)] = static_cast<float>(mask->as_double(off + j * mst[r - 1]));
            mrow = mask_row.data();
          }
        }
        const std::int64_t limit = a.causal ? gi + 1 + (a.s - a.t) : a.s;
        detail::scaled_masked_softmax(tile.data() + i * a.s, a.s, limit, a.scale, mrow);
      }
      // y_block = p[rows x cols] . v[cols x dv]
      float* yb = yh + i0 * a.dv;
      bigmodel::kernels::sgemm(static_cast<std::size_t>(rows), static_cast<std::size_t>(a.dv), static_cast<std::size_t>(cols),
                               tile.data(), static_cast<std::size_t>(a.s), vh, static_cast<std::size_t>(a.dv),
                               bigmodel::kernels::weight_layout::k_by_n, yb, static_cast<std::size_t>(a.dv));
      for (std::int64_t i = 0; i < rows; ++i)  // rows that see no key at all
        if (a.causal && i0 + i + 1 + (a.s - a.t) <= 0)
          std::fill(yb + i * a.dv, yb + (i + 1) * a.dv, std::numeric_limits<float>::quiet_NaN());
    }
  });
}

}  // namespace bigmodel::runtime::kernels
