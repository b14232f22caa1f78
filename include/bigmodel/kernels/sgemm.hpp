#pragma once
// The fp32 GEMM: C[M x N] = epilogue(A[M x K] . B[K x N]), with run-time ISA dispatch (no -m flags needed).
//
//   kernels::sgemm(m, n, k, a, lda, b, ldb, weight_layout::k_by_n, c, ldc, {.bias = bias, .relu = true});
//   auto p = kernels::pack_sgemm_weights(w, k, n, ldw, weight_layout::n_by_k);   // once (Gemm transB=1)
//   kernels::sgemm(m, a, lda, p, c, ldc, {.alpha = 0.5f});                         // each call
//
// A is row-major with leading dimension lda >= K, C row-major with ldc >= N; B is K x N row-major (k_by_n,
// ldb >= N) or N x K (n_by_k, ldb >= K), given raw (packed into per-thread scratch on each call) or packed once.
// Results do not depend on the thread count; they may differ in the last bits between ISAs and between M that
// fit one row tile and larger M (another K blocking).
// Epilogue, fused into the kernel's store: C = (alpha * (A . B) (+ old C when accumulate)) + bias[j], then
// max(C, 0) when relu. The bias is added last, to the finished sum: the same bits as an Add after the product. Pointers need no alignment. A and B must not overlap C.
//
// How: B is cut into panels of nr columns (k-major, zero-padded past N); a register-blocked micro-kernel
// computes mr x nr tiles (AVX-512: 8 x 48 in 24 zmm accumulators; AVX2: 6 x 16; portable: 4 x 8) reading A
// in place with broadcasts. K runs in blocks of 256 (the 8-row slice of A stays in L1, the block of B panels
// of one task in L2); partial sums go through C between blocks. When M fits one row tile no block of B is
// reused: packed panels then run K whole, and a raw K x N B is read in place instead of copied.
// Dispatch as the int8 GEMM: active_isa() (force_isa() > BIGMODEL_ISA > best): avx512bw / avx512vnni run the
// AVX-512 kernel, avx2 the AVX2 one, xsimd / scalar the portable one. Packed weights record the ISA they were
// packed for; they run on any ISA with the same kernel (same panel format), otherwise the call throws
// "kernels.isa_mismatch".
// Threads: C is cut into tasks of (up to) 16 row tiles x 384 columns -- a tiling that does not depend on the thread
// count, and each element is summed in the same order, so results are identical for any thread count.
// Errors: bigmodel::error "kernels.bad_argument" (null pointer for a non-empty matrix, leading dimension too
// small), "kernels.isa_mismatch", "kernels.empty_weights", "kernels.isa_unsupported".

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include "../core/error.hpp"
#include "aligned_buffer.hpp"
#include "isa.hpp"
#include "packed_weights.hpp"
#include "parallel_for.hpp"
#include "sgemm__avx2.hpp"
#include "sgemm__avx512.hpp"
#include "sgemm__portable.hpp"
#include "sgemm_tile.hpp"

namespace bigmodel::kernels {

struct sgemm_epilogue {
  float alpha = 1.0f;
  const float* bias = nullptr;  // N values, one per column of C, or nullptr
  bool relu = false;
  bool accumulate = false;  // add to C's content (beta = 1) instead of overwriting it
  // Applied in place to each finished piece of a row of C (y = rows(x, y = x, count)) after everything above,
  // while the piece is still in cache: an elementwise function such as vmath::gelu_erf, which then gives the
  // same bits as a separate pass over C. Null: none.
  void (*rows)(const float*, float*, std::size_t) noexcept = nullptr;
};

namespace detail {

[[nodiscard]] inline const sgemm_kernels& sgemm_kernels_for(isa i) noexcept {
  switch (i) {
#if BIGMODEL_KERNELS_X86
    case isa::avx512vnni:
    case isa::avx512bw: return sgemm_avx512::sgemm_table;
    case isa::avx2: return sgemm_avx2::sgemm_table;
#endif
    default: break;
  }
  return sgemm_portable::sgemm_table;
}

inline constexpr std::size_t sgemm_kc = 256;          // K block
inline constexpr std::size_t sgemm_task_cols = 384;   // columns per task (rounded to whole panels)
inline constexpr std::size_t sgemm_task_tiles = 16;   // row tiles (of mr rows) per task

// Packs panels [p0, p1) of B (K x N, either layout), nr columns each:
// out[((p - p0) * k + kk) * nr + j] = B[kk][p * nr + j], 0 past N.
inline void sgemm_pack_panels(const float* b, std::size_t k, std::size_t n, std::size_t ldb, weight_layout layout,
                              std::size_t nr, std::size_t p0, std::size_t p1, float* out) noexcept {
  if (layout == weight_layout::k_by_n) {  // row by row: B is read in order, once
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t p = p0; p < p1; ++p) {
        float* dst = out + ((p - p0) * k + kk) * nr;
        const std::size_t col0 = p * nr, cols = std::min(nr, n - col0);
        std::memcpy(dst, b + kk * ldb + col0, cols * sizeof(float));
        std::fill(dst + cols, dst + nr, 0.0f);
      }
    return;
  }
  for (std::size_t p = p0; p < p1; ++p) {
    float* panel = out + (p - p0) * k * nr;
    const std::size_t col0 = p * nr, cols = std::min(nr, n - col0);
    {
      if (cols < nr) std::fill(panel, panel + k * nr, 0.0f);
      for (std::size_t j = 0; j < cols; ++j) {
        const float* src = b + (col0 + j) * ldb;
        for (std::size_t kk = 0; kk < k; ++kk) panel[kk * nr + j] = src[kk];
      }
    }
  }
}

// Runs task(0..tasks-1) on exec.parallel_for, or in order on this thread.
template <class F>
void sgemm_run_tasks(std::size_t tasks, const execution& exec, F&& task) {
  if (!exec.parallel_for || tasks <= 1) {
    for (std::size_t t = 0; t < tasks; ++t) task(t);
    return;
  }
  exec.parallel_for(tasks, [&](std::size_t t) { task(t); });
}

// Where the kernel reads panel p of B: panels below `direct` in place from a K x N row-major B (row stride ldb),
// the others packed (panel `direct` first).
// panel_k: the K the packed panels were made with (each panel holds panel_k x nr floats), 0 for the K multiplied
// (sgemm_panels multiplies by a prefix of the K it packed).
struct sgemm_b_source {
  const float* packed;
  const float* raw = nullptr;
  std::size_t ldb = 0, direct = 0, panel_k = 0;
};

// C = epilogue(A . B) with B in panels of ks.nr columns, K x N.
inline void sgemm_run(const sgemm_kernels& ks, std::size_t m, std::size_t n, std::size_t k, const float* a,
                      std::size_t lda, const sgemm_b_source& bs, float* c, std::size_t ldc, const sgemm_epilogue& ep,
                      const execution& exec) {
  const std::size_t mr = ks.mr, nr = ks.nr;
  const std::size_t panels = (n + nr - 1) / nr;
  const std::size_t panels_per_task = std::max<std::size_t>(1, sgemm_task_cols / nr);
  const std::size_t rows_per_task = mr * sgemm_task_tiles;
  const std::size_t n_tasks = (panels + panels_per_task - 1) / panels_per_task;
  const std::size_t m_tasks = (m + rows_per_task - 1) / rows_per_task;
  // One row tile reuses no block of B: then K runs whole, each packed panel streams once from memory (B read in
  // place keeps the K blocks: a block of rows is read in order across the task's panels).
  const std::size_t kc = m <= mr && bs.direct == 0 ? std::max<std::size_t>(k, 1) : sgemm_kc;
  const std::size_t k_blocks = std::max<std::size_t>(1, (k + kc - 1) / kc);
  const std::size_t pk = bs.panel_k != 0 ? bs.panel_k : k;
  auto task = [&](std::size_t t) {
    const std::size_t r0 = (t / n_tasks) * rows_per_task, r1 = std::min(m, r0 + rows_per_task);
    const std::size_t p0 = (t % n_tasks) * panels_per_task, p1 = std::min(panels, p0 + panels_per_task);
    for (std::size_t kb = 0; kb < k_blocks; ++kb) {
      const std::size_t k0 = kb * kc, kn = std::min(kc, k - std::min(k, k0));
      const bool first = kb == 0, last = kb + 1 == k_blocks;
      for (std::size_t r = r0; r < r1; r += mr) {
        const std::size_t rows = std::min(mr, r1 - r);
        const sgemm_tile_fn full = ks.tiles[rows - 1];
        for (std::size_t p = p0; p < p1; ++p) {
          const std::size_t col0 = p * nr;
          const std::size_t width = (std::min(nr, n - col0) * ks.nv + nr - 1) / nr;  // registers with columns
          const sgemm_tile_fn fn = width < ks.nv ? ks.narrow[width - 1][rows - 1] : full;
          const bool direct = p < bs.direct;
          const sgemm_tile_args args{k == 0 ? a : a + r * lda + k0,  // a may be null when k = 0
                                     lda,
                                     direct ? bs.raw + k0 * bs.ldb + col0 : bs.packed + ((p - bs.direct) * pk + k0) * nr,
                                     direct ? bs.ldb : nr,
                                     kn,
                                     c + r * ldc + col0,
                                     ldc,
                                     std::min(nr, n - col0),
                                     ep.alpha,
                                     last && ep.bias != nullptr ? ep.bias + col0 : nullptr,
                                     !first || ep.accumulate,
                                     last && ep.relu};
          fn(args);
        }
        if (last && ep.rows != nullptr && p1 > p0) {  // the task's columns of these rows are final
          const std::size_t col0 = p0 * nr, cols = std::min(n, p1 * nr) - col0;
          for (std::size_t i = 0; i < rows; ++i) ep.rows(c + (r + i) * ldc + col0, c + (r + i) * ldc + col0, cols);
        }
      }
    }
  };
  sgemm_run_tasks(m_tasks * n_tasks, exec, task);
}

inline std::string sgemm_context(std::size_t m, std::size_t n, std::size_t k) {
  return "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
}

inline void sgemm_check_ac(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda, float* c,
                           std::size_t ldc) {
  const auto ctx = [&] { return sgemm_context(m, n, k) + " lda=" + std::to_string(lda) + " ldc=" + std::to_string(ldc); };
  if (m > 0 && k > 0 && a == nullptr) throw error("kernels.bad_argument", "sgemm: null A", ctx());
  if (m > 0 && n > 0 && c == nullptr) throw error("kernels.bad_argument", "sgemm: null C", ctx());
  if (m > 1 && lda < k) throw error("kernels.bad_argument", "sgemm: lda smaller than K", ctx());
  if (m > 1 && ldc < n) throw error("kernels.bad_argument", "sgemm: ldc smaller than N", ctx());
}

inline aligned_buffer& sgemm_scratch() noexcept {
  thread_local aligned_buffer b;
  return b;
}

}  // namespace detail

// B packed once for one ISA's fp32 kernel.
class packed_sgemm_weights {
 public:
  packed_sgemm_weights() = default;

  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  [[nodiscard]] isa target() const noexcept { return target_; }
  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  [[nodiscard]] std::size_t n() const noexcept { return n_; }
  [[nodiscard]] std::size_t nr() const noexcept { return nr_; }
  [[nodiscard]] std::size_t panels() const noexcept { return nr_ == 0 ? 0 : (n_ + nr_ - 1) / nr_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return panels() * k_ * nr_ * sizeof(float); }
  [[nodiscard]] const float* data() const noexcept { return reinterpret_cast<const float*>(data_.data()); }
  // True when the kernel that `i` selects reads this packing (same panel format).
  [[nodiscard]] bool runs_on(isa i) const noexcept {
    return !empty() && detail::sgemm_kernels_for(i).family == detail::sgemm_kernels_for(target_).family;
  }

  friend packed_sgemm_weights pack_sgemm_weights(const float*, std::size_t, std::size_t, std::size_t, weight_layout,
                                                 std::optional<isa>);

 private:
  aligned_buffer data_;
  isa target_ = isa::scalar;
  std::size_t k_ = 0, n_ = 0, nr_ = 0;
};

// Packs B (K x N, k_by_n with ldb >= N or n_by_k with ldb >= K) for `target` (default: the ISA sgemm would use
// now). Packing for an ISA this CPU lacks is allowed (it is only a layout).
inline packed_sgemm_weights pack_sgemm_weights(const float* b, std::size_t k, std::size_t n, std::size_t ldb,
                                               weight_layout layout, std::optional<isa> target = std::nullopt) {
  const std::string ctx = "k=" + std::to_string(k) + " n=" + std::to_string(n) + " ldb=" + std::to_string(ldb);
  require(b != nullptr, "kernels.bad_argument", "pack_sgemm_weights: null weight pointer", ctx);
  require(k > 0 && n > 0, "kernels.bad_argument", "pack_sgemm_weights: empty weight matrix", ctx);
  require(ldb >= (layout == weight_layout::k_by_n ? n : k), "kernels.bad_argument",
          "pack_sgemm_weights: leading dimension smaller than a row", ctx);
  const isa t = target.value_or(active_isa());
  require(is_compiled(t), "kernels.isa_unsupported", "pack_sgemm_weights: ISA not compiled in", std::string(isa_name(t)));
  packed_sgemm_weights p;
  p.target_ = t;
  p.k_ = k;
  p.n_ = n;
  p.nr_ = detail::sgemm_kernels_for(t).nr;
  p.data_.reserve(p.bytes());
  detail::sgemm_pack_panels(b, k, n, ldb, layout, p.nr_, 0, p.panels(), reinterpret_cast<float*>(p.data_.data()));
  return p;
}

// C = epilogue(A . B), B packed. Throws bigmodel::error on bad arguments or a packing for another kernel.
inline void sgemm(std::size_t m, const float* a, std::size_t lda, const packed_sgemm_weights& b, float* c,
                  std::size_t ldc, const sgemm_epilogue& ep = {}, const execution& exec = {}) {
  require(!b.empty(), "kernels.empty_weights", "sgemm: empty packed weights");
  const isa run = active_isa();
  require(is_supported(run), "kernels.isa_unsupported", "sgemm: ISA not supported here", std::string(isa_name(run)));
  if (!b.runs_on(run))
    throw error("kernels.isa_mismatch", "sgemm: weights were packed for another ISA's kernel",
                "packed for " + std::string(isa_name(b.target())) + ", running " + std::string(isa_name(run)));
  detail::sgemm_check_ac(m, b.n(), b.k(), a, lda, c, ldc);
  if (m == 0) return;
  detail::note_used(run);
  detail::sgemm_run(detail::sgemm_kernels_for(run), m, b.n(), b.k(), a, lda, {b.data()}, c, ldc, ep, exec);
}

// C = epilogue(A . B), B raw, packed into this thread's scratch first -- except, when M fits one row tile and B is
// K x N, its whole panels, read in place (no reuse would pay for the copy). k may be 0 (C = epilogue(0)).
inline void sgemm(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda, const float* b,
                  std::size_t ldb, weight_layout b_layout, float* c, std::size_t ldc, const sgemm_epilogue& ep = {},
                  const execution& exec = {}) {
  detail::sgemm_check_ac(m, n, k, a, lda, c, ldc);
  if (n > 0 && k > 0 && b == nullptr)
    throw error("kernels.bad_argument", "sgemm: null B", detail::sgemm_context(m, n, k));
  if (n > 0 && k > 0 && ldb < (b_layout == weight_layout::k_by_n ? n : k) && (b_layout == weight_layout::k_by_n ? k : n) > 1)
    throw error("kernels.bad_argument", "sgemm: ldb smaller than a row of B",
                detail::sgemm_context(m, n, k) + " ldb=" + std::to_string(ldb));
  const isa run = active_isa();
  require(is_supported(run), "kernels.isa_unsupported", "sgemm: ISA not supported here", std::string(isa_name(run)));
  if (m == 0 || n == 0) return;
  detail::note_used(run);
  const detail::sgemm_kernels& ks = detail::sgemm_kernels_for(run);
  const std::size_t panels = (n + ks.nr - 1) / ks.nr;
  const std::size_t direct = m <= ks.mr && k > 0 && b_layout == weight_layout::k_by_n ? n / ks.nr : 0;
  aligned_buffer& scratch = detail::sgemm_scratch();
  scratch.reserve(std::max<std::size_t>(1, (panels - direct) * k * ks.nr) * sizeof(float));
  auto* bp = reinterpret_cast<float*>(scratch.data());
  if (k > 0) {
    constexpr std::size_t group = 8;  // panels packed per task
    detail::sgemm_run_tasks((panels - direct + group - 1) / group, exec, [&](std::size_t t) {
      const std::size_t p0 = direct + t * group;
      detail::sgemm_pack_panels(b, k, n, ldb, b_layout, ks.nr, p0, std::min(panels, p0 + group), bp + t * group * k * ks.nr);
    });
  }
  detail::sgemm_run(ks, m, n, k, a, lda, {bp, b, ldb, direct}, c, ldc, ep, exec);
}

// B packed once into a buffer this object keeps (and reuses: no allocation once it is large enough), then
// multiplied by several A that use a leading part of it: the first n <= N columns and the first k <= K rows.
// The attention kernel packs each head's k and v once and multiplies every block of query rows by the keys that
// block sees, where sgemm(m, n, k, ..., b, ...) would pack them again per block. Results are the same bits as
// sgemm with the same leading part of B packed (pack_sgemm_weights): the same tiles, summed in the same order.
// Packs for the ISA active at pack() and throws "kernels.isa_mismatch" if another kernel family is active at
// multiply().
class sgemm_panels {
 public:
  void pack(const float* b, std::size_t k, std::size_t n, std::size_t ldb, weight_layout layout) {
    // The context string is built only when throwing: pack runs once per attention head.
    const auto fail = [&](const char* what) {
      throw error("kernels.bad_argument", what, detail::sgemm_context(0, n, k) + " ldb=" + std::to_string(ldb));
    };
    if (k == 0 || n == 0) fail("sgemm_panels: empty B");
    if (b == nullptr) fail("sgemm_panels: null B");
    const bool k_by_n = layout == weight_layout::k_by_n;
    if (ldb < (k_by_n ? n : k) && (k_by_n ? k : n) != 1) fail("sgemm_panels: ldb smaller than a row of B");
    const isa run = active_isa();
    if (!is_supported(run)) throw error("kernels.isa_unsupported", "sgemm: ISA not supported here", std::string(isa_name(run)));
    ks_ = &detail::sgemm_kernels_for(run);
    k_ = k, n_ = n;
    const std::size_t panels = (n + ks_->nr - 1) / ks_->nr;
    buf_.reserve(panels * k * ks_->nr * sizeof(float));
    detail::sgemm_pack_panels(b, k, n, ldb, layout, ks_->nr, 0, panels, reinterpret_cast<float*>(buf_.data()));
  }
  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  [[nodiscard]] std::size_t n() const noexcept { return n_; }

  // C[m x n] = epilogue(A[m x k] . B[0..k, 0..n]).
  void multiply(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda, float* c, std::size_t ldc,
                const sgemm_epilogue& ep = {}, const execution& exec = {}) const {
    const auto ctx = [&] {
      return detail::sgemm_context(m, n, k) + " packed k=" + std::to_string(k_) + " n=" + std::to_string(n_);
    };
    if (ks_ == nullptr) throw error("kernels.empty_weights", "sgemm_panels: nothing packed", ctx());
    if (n > n_ || k > k_) throw error("kernels.bad_argument", "sgemm_panels: more rows or columns than packed", ctx());
    detail::sgemm_check_ac(m, n, k, a, lda, c, ldc);
    const isa run = active_isa();
    if (&detail::sgemm_kernels_for(run) != ks_)
      throw error("kernels.isa_mismatch", "sgemm_panels: packed for another ISA's kernel", ctx());
    if (m == 0 || n == 0) return;
    detail::note_used(run);
    const detail::sgemm_b_source src{reinterpret_cast<const float*>(buf_.data()), nullptr, 0, 0, k_};
    detail::sgemm_run(*ks_, m, n, k, a, lda, src, c, ldc, ep, exec);
  }

 private:
  aligned_buffer buf_;
  const detail::sgemm_kernels* ks_ = nullptr;
  std::size_t k_ = 0, n_ = 0;
};

}  // namespace bigmodel::kernels
