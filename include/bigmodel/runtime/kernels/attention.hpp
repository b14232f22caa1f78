#pragma once
// Fused scaled-dot-product attention: y = softmax(q·kᵀ·scale + mask [+ causal]) · v, per batch·head.
//
// Tiled: each head is cut into blocks of at most attention_row_block query rows; a block's scores
// (rows × S) live in one scratch tile that is scaled, masked, soft-maxed in place and multiplied by v, so
// no T × S matrix per head is materialized beyond that tile (T = 4096 needs a 64 × S tile, not T × S). Where the
// visible keys grow row by row (causal, or a causal mask tensor) blocks are 32 rows: a block computes the keys its
// last row sees, so smaller blocks waste less (10 % faster on the small LM's heads; 64 stays for full rows, where
// 32 was ~3 % slower on BERT's: benchmarks/RESULTS.md, bench_attention).
// Heads are independent tasks on the session's parallel_for; every head is computed the same way whatever
// the thread count, so outputs do not depend on it.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "../../kernels/linear_dynamic.hpp"
#include "../../kernels/quantize_pack.hpp"
#include "../../kernels/sgemm.hpp"
#include "matmul.hpp"
#include "softmax.hpp"

namespace bigmodel::runtime::kernels {

#ifndef BIGMODEL_ATTENTION_ROW_BLOCK
#define BIGMODEL_ATTENTION_ROW_BLOCK 64
#endif
#ifndef BIGMODEL_ATTENTION_CAUSAL_ROW_BLOCK
#define BIGMODEL_ATTENTION_CAUSAL_ROW_BLOCK 32
#endif
inline constexpr std::int64_t attention_row_block = BIGMODEL_ATTENTION_ROW_BLOCK;
inline constexpr std::int64_t attention_causal_row_block = BIGMODEL_ATTENTION_CAUSAL_ROW_BLOCK;
static_assert(attention_row_block > 0, "BIGMODEL_ATTENTION_ROW_BLOCK must be a positive number of rows");
static_assert(attention_causal_row_block > 0, "BIGMODEL_ATTENTION_CAUSAL_ROW_BLOCK must be a positive number of rows");

namespace detail {

// The geometry of one Attention call.
struct attention_shape {
  std::int64_t heads = 1, t = 0, s = 0, d = 0, dv = 0;
  float scale = 1.0f;
  bool k_transposed = false, causal = false;
};

// The softmax of row·scale + mask before its division, in place over the first `limit` of the block's `cols`
// keys (the causal limit), 0 over the rest; returns 1 / the sum, by which the row's output is divided after the
// product with v (a pass over dv outputs instead of one over the weights). A row with no visible key (limit <= 0)
// returns NaN, so its output is NaN, as the decomposed graph's Softmax of an all -inf row.
inline float softmax_weights(float* row, std::int64_t cols, std::int64_t limit, float scale, const float* mask) {
  const std::int64_t live = std::clamp(limit, std::int64_t{0}, cols);
  const float sum = live > 0 ? ::bigmodel::kernels::vmath::softmax_exp_row(row, scale, mask, row, static_cast<std::size_t>(live))
                             : std::numeric_limits<float>::quiet_NaN();
  std::fill(row + live, row + cols, 0.0f);
  return 1.0f / sum;
}

// Keys an additive mask hides: key j is negligible for query row i when
//   mask[i][j] < max_j' mask[i][j'] - 2 * bound_i - attention_negligible,
// with bound_i = |q_i| * max_j |k_j| * scale >= |score[i][j]| for every j (Cauchy-Schwarz). The row's softmax
// maximum is then at least max mask - bound_i and key j's exponent below -attention_negligible: its weight is
// under e^-110 (1e-48), which f32 cannot represent beside the row's visible keys. -inf and a dtype's lowest
// value (causal masks), and BERT's -10000 for padding (with bounded scores), all qualify; a row whose mask is the
// same everywhere (even all -inf) hides nothing.
inline constexpr float attention_negligible = 110.0f;

// sum_e x[e]^2 over n floats (xsimd batches, two chains).
inline float sum_of_squares(const float* x, std::int64_t n) noexcept {
  using vec = xsimd::batch<float>;
  constexpr auto w = static_cast<std::int64_t>(vec::size);
  vec a0(0.0f), a1(0.0f);
  std::int64_t e = 0;
  for (; e + 2 * w <= n; e += 2 * w) {
    const vec u = vec::load_unaligned(x + e), v = vec::load_unaligned(x + e + w);
    a0 = xsimd::fma(u, u, a0), a1 = xsimd::fma(v, v, a1);
  }
  float s = xsimd::hadd(a0 + a1);
  for (; e < n; ++e) s += x[e] * x[e];
  return s;
}

// The number of leading columns of [0, cols) that some row in [i0, i0 + rows) does not neglect (mask rows
// `row_stride` floats apart, 0 when the mask broadcasts over rows; bound(i) as above for global row i).
template <class Bound>
std::int64_t visible_columns(const float* mask, std::int64_t row_stride, std::int64_t i0, std::int64_t rows, std::int64_t cols, Bound bound) {
  if (row_stride == 0) {  // one mask row for the block: the loosest row bound decides
    float b = 0.0f;
    for (std::int64_t i = 0; i < rows; ++i) b = std::max(b, bound(i0 + i));
    const float cut = ::bigmodel::kernels::vmath::max(mask, static_cast<std::size_t>(cols)) - 2.0f * b - attention_negligible;
    std::int64_t j = cols;
    while (j > 0 && mask[j - 1] < cut) --j;
    return j;
  }
  std::int64_t need = 0;
  for (std::int64_t i = 0; i < rows && need < cols; ++i) {
    const float* m = mask + (i0 + i) * row_stride;
    const float cut = ::bigmodel::kernels::vmath::max(m, static_cast<std::size_t>(cols)) - 2.0f * bound(i0 + i) - attention_negligible;
    std::int64_t j = cols;
    while (j > need && m[j - 1] < cut) --j;
    need = std::max(need, j);
  }
  return need;
}

// A mask plane [T, S] (rows `row_stride` floats apart, 0 when one row serves them all), read before the head's
// products: the keys each row sees before a trailing run of hidden entries (<= attention_hidden: -inf, or the
// lowest float that PyTorch writes for a causal mask), and whether the entries before that are all 0. A hidden
// key's weight is exactly 0 (as long as the row's scores stay below ~1e29), so each row's softmax stops at its own
// last key, and when the visible entries are all 0 the mask is not read at all: a causal mask given as a tensor
// then costs what the causal attribute does, and an all-zero padding mask nothing. A plane every head shares is
// read once per call, a single row per head. Not used (ok = false) when some row hides every key: its softmax
// is uniform (or NaN), which the general path keeps.
inline constexpr float attention_hidden = -1e30f;
struct mask_plane {
  bool ok = false, zero = true;
  std::vector<std::int64_t> last;  // per row (one entry when the plane is one row): keys [0, last) may be visible
  [[nodiscard]] std::int64_t last_of(std::int64_t i) const noexcept {
    return last[last.size() == 1 ? 0 : static_cast<std::size_t>(i)];
  }
  void read(const float* m, std::int64_t row_stride, std::int64_t t, std::int64_t s) {
    ok = false, zero = true;
    const std::int64_t rows = row_stride == 0 ? 1 : t;
    last.resize(static_cast<std::size_t>(rows));
    for (std::int64_t i = 0; i < rows; ++i) {
      const float* r = m + i * row_stride;
      std::int64_t j = s;
      while (j > 0 && r[j - 1] <= attention_hidden) --j;  // NaN is not hidden
      if (j == 0) return;
      last[static_cast<std::size_t>(i)] = j;
      for (std::int64_t e = 0; e < j && zero; ++e) zero = r[e] == 0.0f;
    }
    ok = true;
  }
};

// The int8 form of one head (ops::attention::int8): k (per key) and v (per channel) quantized to s8 and packed
// once per head; per block of rows, scores = q_block · kᵀ with q quantized per row to u8 on the fly
// (kernels::linear_dynamic), the softmax's weights in f32 as in the f32 path, then p · v with p quantized per row
// to u8 (its weights lie in [0, 1], the row's largest is 1: steps of 1/255) and the division by the row's sum.
// Every block computes the keys the widest block sees (max_cols): with VNNI the int8 products run at ~4x the f32
// ones' rate, which outweighs the keys a causal block could skip (on AVX2 the two rates are alike: this form is
// opt in, see benchmarks/RESULTS.md "int8 attention"). mask_of(gi): the mask row of global row gi (or nullptr);
// last_of(gi): the plane's last visible key of row gi (or S).
template <class MaskOf, class LastOf>
void int8_head(const attention_shape& a, const float* qh, std::size_t ldq, const float* kh, std::size_t ldk, const float* vh,
               std::size_t ldv, float* yh, std::size_t ldy, std::int64_t rb, std::int64_t max_cols, std::vector<float>& tile,
               std::vector<float>& inv_sum, MaskOf mask_of, LastOf last_of) {
  namespace bk = ::bigmodel::kernels;
  thread_local bk::packed_weights k8, v8;
  thread_local std::vector<float> k_scale, v_scale;
  const auto cols = static_cast<std::size_t>(max_cols), d = static_cast<std::size_t>(a.d), dv = static_cast<std::size_t>(a.dv);
  if (max_cols > 0) {
    k_scale.resize(cols), v_scale.resize(dv);
    if (a.k_transposed) bk::quantize_pack_columns(kh, d, cols, ldk, k8, k_scale.data());  // kᵀ as [D, S]
    else bk::quantize_pack_rows(kh, cols, d, ldk, k8, k_scale.data());
    bk::quantize_pack_columns(vh, cols, dv, ldv, v8, v_scale.data());
  }
  for (std::int64_t i0 = 0; i0 < a.t; i0 += rb) {
    const std::int64_t rows = std::min(rb, a.t - i0);
    float* yb = yh + static_cast<std::size_t>(i0) * ldy;
    if (max_cols == 0) {  // the empty sum
      for (std::int64_t i = 0; i < rows; ++i) std::fill(yb + i * static_cast<std::int64_t>(ldy), yb + i * static_cast<std::int64_t>(ldy) + a.dv, 0.0f);
    } else {
      bk::linear_dynamic(static_cast<std::size_t>(rows), qh + static_cast<std::size_t>(i0) * ldq, ldq, k8, k_scale.data(), true,
                         nullptr, tile.data(), static_cast<std::size_t>(a.s));
      for (std::int64_t i = 0; i < rows; ++i) {
        const std::int64_t gi = i0 + i;
        std::int64_t limit = a.causal ? gi + 1 + (a.s - a.t) : a.s;
        limit = std::min(limit, last_of(gi));
        inv_sum[static_cast<std::size_t>(i)] = softmax_weights(tile.data() + i * a.s, max_cols, limit, a.scale, mask_of(gi));
      }
      bk::linear_dynamic(static_cast<std::size_t>(rows), tile.data(), static_cast<std::size_t>(a.s), v8, v_scale.data(), true,
                         nullptr, yb, ldy);
      for (std::int64_t i = 0; i < rows; ++i)
        ::bigmodel::kernels::vmath::scale_row(yb + i * static_cast<std::int64_t>(ldy), inv_sum[static_cast<std::size_t>(i)],
                                              yb + i * static_cast<std::int64_t>(ldy), dv);
    }
    for (std::int64_t i = 0; i < rows; ++i)  // rows that see no key at all
      if (a.causal && i0 + i + 1 + (a.s - a.t) <= 0)
        std::fill(yb + i * static_cast<std::int64_t>(ldy), yb + i * static_cast<std::int64_t>(ldy) + a.dv,
                  std::numeric_limits<float>::quiet_NaN());
  }
}

}  // namespace detail

inline void run(const ops::attention& op, kernel_context& c) {
  const auto &tq = c.in(0), &tk = c.in(1), &tv = c.in(2);
  c.check(tq.rank() >= 2 && tk.rank() == tq.rank() && tv.rank() == tq.rank(), "Attention q, k, v must have the same rank >= 2");
  c.check(op.layout == 0 || op.layout == 1, "Attention layout must be 0 or 1");
  const bool seq_major = op.layout == 1;  // [B, T, H, D]
  c.check(!seq_major || (tq.rank() == 4 && !op.k_transposed), "Attention layout 1 needs 4-D q, k, v and k untransposed");
  const auto q = c.f32(0), k = c.f32(1), v = c.f32(2);
  const std::size_t r = tq.rank();
  detail::attention_shape a;
  a.k_transposed = op.k_transposed != 0;
  a.causal = op.causal != 0;
  // Sequence and head dims of each input; the batch dims of the scores ([..., H] before [T, S]).
  const std::size_t seq = seq_major ? 1 : r - 2;
  a.t = tq.dim(seq), a.d = tq.dim(r - 1);
  a.s = a.k_transposed ? tk.dim(r - 1) : tk.dim(seq);
  const std::int64_t kd = a.k_transposed ? tk.dim(r - 2) : tk.dim(r - 1);
  a.dv = tv.dim(r - 1);
  c.check(kd == a.d && tv.dim(seq) == a.s, "Attention head sizes of q, k, v do not match");
  shape_t batch_dims;  // of the scores: [...] for layout 0, [B, H] for layout 1
  for (std::size_t i = 0; i < r; ++i) {
    if (i == seq || i == r - 1 || (!seq_major && i == r - 2)) continue;
    c.check(tk.dim(i) == tq.dim(i) && tv.dim(i) == tq.dim(i), "Attention batch/head dims of q, k, v differ");
    batch_dims.push_back(tq.dim(i));
    a.heads *= tq.dim(i);
  }
  const std::int64_t nh = seq_major ? tq.dim(2) : 1;  // heads interleaved in a row (layout 1)
  shape_t os = tq.shape();
  os.back() = a.dv;
  auto y = c.out(0, dtype::f32, os).mutable_span<float>();
  a.scale = op.scale != 0.0f ? op.scale : 1.0f / std::sqrt(static_cast<float>(a.d));
  // The mask broadcasts to [..., T, S]; rows that are contiguous f32 are read in place, others gathered.
  const dynamic_tensor* mask = c.has(3) ? &c.in(3) : nullptr;
  shape_t score_shape = batch_dims;
  score_shape.push_back(a.t), score_shape.push_back(a.s);
  const std::size_t sr = score_shape.size();
  std::vector<std::int64_t> mst;
  const float* mask_f32 = nullptr;
  if (mask) {
    (void)broadcast_shapes({&score_shape, &mask->shape()}, c);
    mst = broadcast_strides(mask->shape(), score_shape);
    if (mask->type() == dtype::f32 && mst[sr - 1] == 1) mask_f32 = mask->span<float>().data();
  }
  if (y.empty() || a.s == 0) {
    std::fill(y.begin(), y.end(), 0.0f);
    return;
  }
  // One mask plane for every head (e.g. a causal mask [T, S] as a tensor): read once here.
  detail::mask_plane shared_plane;
  const bool shared = mask_f32 && std::all_of(mst.begin(), mst.begin() + static_cast<std::ptrdiff_t>(sr - 2),
                                              [](std::int64_t st) { return st == 0; });
  if (shared) shared_plane.read(mask_f32, mst[sr - 2], a.t, a.s);
  // Leading dimensions: a head's rows are D apart (layout 0) or H * D apart (layout 1).
  const auto ldq = static_cast<std::size_t>(nh * a.d), ldk = static_cast<std::size_t>(a.k_transposed ? a.s : nh * a.d);
  const auto ldv = static_cast<std::size_t>(nh * a.dv), ldy = ldv;

  c.parallel_for(static_cast<std::size_t>(a.heads), [&](std::size_t hi) {
    const auto h = static_cast<std::int64_t>(hi);
    std::int64_t mask_base = 0;
    if (mask) {
      std::int64_t rem = h;
      for (std::size_t i = batch_dims.size(); i-- > 0;) mask_base += (rem % batch_dims[i]) * mst[i], rem /= batch_dims[i];
    }
    // Where the head starts: layout 0 one block per head; layout 1 batch b = h / H, column block h % H.
    const std::int64_t b = h / nh, hh = h % nh;
    const float* qh = q.data() + (b * a.t * nh + hh) * a.d;
    const float* kh = k.data() + (b * a.s * nh + hh) * a.d;
    const float* vh = v.data() + (b * a.s * nh + hh) * a.dv;
    float* yh = y.data() + (b * a.t * nh + hh) * a.dv;
    // This head's mask plane: the shared one, or its own when that is a single row (e.g. BERT's padding mask).
    thread_local detail::mask_plane own_plane;
    const detail::mask_plane* pl = shared ? &shared_plane : nullptr;
    if (!shared && mask_f32 && mst[sr - 2] == 0) {
      own_plane.read(mask_f32 + mask_base, 0, a.t, a.s);
      pl = &own_plane;
    }
    const bool use_plane = pl != nullptr && pl->ok, zero_mask = use_plane && pl->zero;
    // Rows per block: fewer where the visible keys grow row by row.
    const bool growing = a.causal || (use_plane && pl->last.size() > 1 && pl->last.front() != pl->last.back());
    const std::int64_t rb = std::min(a.t, growing ? attention_causal_row_block : attention_row_block);
    // Per-thread scratch, grown once: no allocation per head or per run.
    thread_local std::vector<float> tile, mask_row, inv_sum;
    if (tile.size() < static_cast<std::size_t>(rb * a.s)) tile.resize(static_cast<std::size_t>(rb * a.s));
    if (inv_sum.size() < static_cast<std::size_t>(rb)) inv_sum.resize(static_cast<std::size_t>(rb));
    if (mask && !mask_f32 && mask_row.size() < static_cast<std::size_t>(a.s)) mask_row.resize(static_cast<std::size_t>(a.s));
    // Without a plane of zeros and hidden keys, the mask's negligible keys at the end of a block are found here.
    const bool skip_negligible = mask_f32 && !zero_mask;
    float k_norm_max = 0.0f;  // max_j |k_j| of this head, for the mask's negligible keys
    if (skip_negligible) {
      for (std::int64_t j = 0; j < a.s; ++j) {
        float ss = 0.0f;
        if (!a.k_transposed) ss = detail::sum_of_squares(kh + j * static_cast<std::int64_t>(ldk), a.d);
        else
          for (std::int64_t e = 0; e < a.d; ++e) ss += kh[e * static_cast<std::int64_t>(ldk) + j] * kh[e * static_cast<std::int64_t>(ldk) + j];
        k_norm_max = std::max(k_norm_max, ss);
      }
      k_norm_max = std::sqrt(k_norm_max);
    }
    // The keys each block of query rows sees (a prefix of them), then k and v packed once for the widest block.
    thread_local std::vector<std::int64_t> block_cols;
    block_cols.clear();
    std::int64_t max_cols = 0;
    for (std::int64_t i0 = 0; i0 < a.t; i0 += rb) {
      const std::int64_t rows = std::min(rb, a.t - i0);
      // Causal: row i sees keys j <= i + (S - T); keys no row of the block sees are skipped entirely.
      std::int64_t cols = a.causal ? std::clamp(i0 + rows + (a.s - a.t), std::int64_t{0}, a.s) : a.s;
      // Keys that an additive f32 mask makes negligible for every row of the block, at the block's end, are
      // skipped the same way (a causal or padding mask given as a tensor; see detail::visible_columns).
      if (use_plane) {  // no row of the block sees past its last visible key
        std::int64_t last = 0;
        for (std::int64_t i = 0; i < rows; ++i) last = std::max(last, pl->last_of(i0 + i));
        cols = std::min(cols, last);
      }
      if (skip_negligible && cols > 0)
        cols = detail::visible_columns(mask_f32 + mask_base, mst[sr - 2], i0, rows, cols, [&](std::int64_t gi) {
          const float ss = detail::sum_of_squares(qh + static_cast<std::size_t>(gi) * ldq, a.d);
          return std::sqrt(ss) * k_norm_max * std::abs(a.scale) * 1.001f;  // 1.001: f32 rounding of the norms
        });
      block_cols.push_back(cols);
      max_cols = std::max(max_cols, cols);
    }
    if (op.int8 != 0) {
      detail::int8_head(a, qh, ldq, kh, ldk, vh, ldv, yh, ldy, rb, max_cols, tile, inv_sum, [&](std::int64_t gi) -> const float* {
        if (!mask || zero_mask) return nullptr;
        const std::int64_t off = mask_base + gi * mst[sr - 2];
        if (mask_f32) return mask_f32 + off;
        for (std::int64_t j = 0; j < max_cols; ++j)
          mask_row[static_cast<std::size_t>(j)] = static_cast<float>(mask->as_double(off + j * mst[sr - 1]));
        return mask_row.data();
      }, [&](std::int64_t gi) { return use_plane ? pl->last_of(gi) : a.s; });
      return;
    }
    // With several blocks of rows, k and v are packed once per head (not once per block): scores = q . kᵀ takes
    // kᵀ's first `cols` columns, p . v takes v's first `cols` rows. One block (e.g. a few query rows against a long
    // cache) keeps sgemm's own handling of raw operands (a short block reads v in place, unpacked).
    const bool pack_once = a.t > rb;
    const auto lay = a.k_transposed ? bigmodel::kernels::weight_layout::k_by_n : bigmodel::kernels::weight_layout::n_by_k;
    thread_local bigmodel::kernels::sgemm_panels k_panels, v_panels;
    if (pack_once && max_cols > 0) {
      k_panels.pack(kh, static_cast<std::size_t>(a.d), static_cast<std::size_t>(max_cols), ldk, lay);
      v_panels.pack(vh, static_cast<std::size_t>(max_cols), static_cast<std::size_t>(a.dv), ldv, bigmodel::kernels::weight_layout::k_by_n);
    }
    for (std::int64_t i0 = 0, blk = 0; i0 < a.t; i0 += rb, ++blk) {
      const std::int64_t rows = std::min(rb, a.t - i0);
      const std::int64_t cols = block_cols[static_cast<std::size_t>(blk)];
      if (cols > 0 && pack_once)  // scores[rows x cols] = q_block . kᵀ
        k_panels.multiply(static_cast<std::size_t>(rows), static_cast<std::size_t>(cols), static_cast<std::size_t>(a.d),
                          qh + static_cast<std::size_t>(i0) * ldq, ldq, tile.data(), static_cast<std::size_t>(a.s));
      else if (cols > 0)
        bigmodel::kernels::sgemm(static_cast<std::size_t>(rows), static_cast<std::size_t>(cols), static_cast<std::size_t>(a.d),
                                 qh + static_cast<std::size_t>(i0) * ldq, ldq, kh, ldk, lay, tile.data(), static_cast<std::size_t>(a.s));
      for (std::int64_t i = 0; i < rows; ++i) {
        const std::int64_t gi = i0 + i;
        const float* mrow = nullptr;
        if (mask && !zero_mask) {
          const std::int64_t off = mask_base + gi * mst[sr - 2];
          if (mask_f32) mrow = mask_f32 + off;
          else {
            for (std::int64_t j = 0; j < cols; ++j)
              mask_row[static_cast<std::size_t>(j)] = static_cast<float>(mask->as_double(off + j * mst[sr - 1]));
            mrow = mask_row.data();
          }
        }
        std::int64_t limit = a.causal ? gi + 1 + (a.s - a.t) : a.s;
        if (use_plane) limit = std::min(limit, pl->last_of(gi));
        inv_sum[static_cast<std::size_t>(i)] = detail::softmax_weights(tile.data() + i * a.s, cols, limit, a.scale, mrow);
      }
      // y_block = p[rows x cols] . v[cols x dv]
      float* yb = yh + static_cast<std::size_t>(i0) * ldy;
      if (cols > 0 && pack_once)
        v_panels.multiply(static_cast<std::size_t>(rows), static_cast<std::size_t>(a.dv), static_cast<std::size_t>(cols), tile.data(),
                          static_cast<std::size_t>(a.s), yb, ldy);
      else  // (cols = 0: the empty sum, zeros)
        bigmodel::kernels::sgemm(static_cast<std::size_t>(rows), static_cast<std::size_t>(a.dv), static_cast<std::size_t>(cols),
                                 tile.data(), static_cast<std::size_t>(a.s), vh, ldv, bigmodel::kernels::weight_layout::k_by_n,
                                 yb, ldy);
      if (cols > 0)  // the softmax's division, on the outputs
        for (std::int64_t i = 0; i < rows; ++i)
          ::bigmodel::kernels::vmath::scale_row(yb + i * static_cast<std::int64_t>(ldy), inv_sum[static_cast<std::size_t>(i)],
                                                yb + i * static_cast<std::int64_t>(ldy), static_cast<std::size_t>(a.dv));
      for (std::int64_t i = 0; i < rows; ++i)  // rows that see no key at all
        if (a.causal && i0 + i + 1 + (a.s - a.t) <= 0)
          std::fill(yb + i * static_cast<std::int64_t>(ldy), yb + i * static_cast<std::int64_t>(ldy) + a.dv,
                    std::numeric_limits<float>::quiet_NaN());
    }
  });
}

}  // namespace bigmodel::runtime::kernels
