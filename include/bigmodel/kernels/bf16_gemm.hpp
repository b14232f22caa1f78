#pragma once
// The bf16 GEMM: C[M x N] = epilogue(bf16(A) . B) with B held in bf16 (half the bytes of f32) and the products
// summed in f32 -- on vdpbf16ps where the CPU has AVX-512 BF16 (32 products per instruction), else on a portable
// loop that computes the same sums.
//
//   auto p = kernels::pack_bf16_weights(w, k, n, ldw, weight_layout::n_by_k);   // once: bf16 or f32 weights
//   kernels::bf16_gemm(m, a, lda, p, c, ldc, {.bias = bias, .relu = true});       // each call, A in f32
//
// Numerics: every element of A is rounded to bf16 (to nearest even) before the products; each product of two
// bf16 values is exact in f32, and each pair of k is added to an f32 accumulator as vdpbf16ps does (k = 2q + 1
// first, then 2q; subnormal inputs and results count as zero on the AVX-512 path). So the result differs from the
// f32 product of the same bf16 weights by A's rounding (relative 2^-9 per element, which averages out over K) and
// by the f32 summation order; on the portable path the sums are the same but subnormals are kept.
// The epilogue is kernels::sgemm's: C = (alpha * (A . B) (+ old C when accumulate)) + bias[j], then max(C, 0) when
// relu. Packed weights have one layout for every ISA (panels of 48 columns, pairs of k interleaved).
// Threads: the fp32 GEMM's tiling (tasks of up to 128 rows x 384 columns); results do not depend on the count.
// Errors: bigmodel::error "kernels.bad_argument" (null pointer for a non-empty matrix, leading dimension too
// small), "kernels.empty_weights".

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../core/half.hpp"
#include "../core/half_convert.hpp"
#include "aligned_buffer.hpp"
#include "bf16_gemm__avx512.hpp"
#include "bf16_gemm_tile.hpp"
#include "isa.hpp"
#include "packed_weights.hpp"
#include "parallel_for.hpp"
#include "sgemm.hpp"

namespace bigmodel::kernels {

// True when bf16_gemm runs on vdpbf16ps now: the CPU has AVX-512 BF16 and the active ISA is an AVX-512 one
// (kernels::force_isa(isa::avx2) turns it off, as it turns off the AVX-512 int8 and fp32 kernels).
[[nodiscard]] inline bool bf16_dot_native() noexcept {
#if BIGMODEL_KERNELS_X86
  const isa i = active_isa();
  return cpu().avx512bf16 && (i == isa::avx512bw || i == isa::avx512vnni) && is_supported(i);
#else
  return false;
#endif
}

namespace detail {

// The same sums as the AVX-512 BF16 tile, one row at a time (the compiler vectorizes the column loop).
template <std::size_t Rows, std::size_t NV>
inline void bf16_tile_portable(const bf16_tile_args& t) noexcept {
  constexpr std::size_t w = NV * 16;
  for (std::size_t i = 0; i < Rows; ++i) {
    float acc[w] = {};
    const std::uint16_t* a = t.a + i * t.lda;
    const std::uint16_t* b = t.b;
    for (std::size_t q = 0; q < t.pairs; ++q, b += bf16_nr * 2) {
      const float a0 = std::bit_cast<float>(std::uint32_t{a[2 * q]} << 16);
      const float a1 = std::bit_cast<float>(std::uint32_t{a[2 * q + 1]} << 16);
      // The panel's pair row widened first: GCC 12 at -O3 miscompiles the loop that reads the bf16 with stride 2
      // and widens them in place (it summed 1 + 2 + ... + 32 to 64; tests/kernels/bf16_gemm_test.cpp).
      float bw[2 * w];
      for (std::size_t j = 0; j < 2 * w; ++j) bw[j] = std::bit_cast<float>(std::uint32_t{b[j]} << 16);
      for (std::size_t j = 0; j < w; ++j) {
        acc[j] += a1 * bw[2 * j + 1];  // exact products: fused or not, one rounding per addition
        acc[j] += a0 * bw[2 * j];      // (k = 2q + 1 first, as vdpbf16ps)
      }
    }
    float* c = t.c + i * t.ldc;
    const std::size_t cols = std::min(t.cols, w);
    for (std::size_t j = 0; j < cols; ++j) {
      const float prev = t.load_c ? c[j] : 0.0f;
      float v = acc[j] * t.alpha + prev;
      if (t.bias != nullptr) v += t.bias[j];  // last, as an Add after the product would
      if (t.relu) v = v > 0.0f ? v : 0.0f;
      c[j] = v;
    }
  }
}

template <std::size_t NV, std::size_t... R>
constexpr std::array<bf16_tile_fn, bf16_mr> bf16_portable_rows(std::index_sequence<R...>) noexcept {
  return {&bf16_tile_portable<R + 1, NV>...};
}
inline constexpr bf16_tile_table bf16_portable_table{bf16_portable_rows<1>(std::make_index_sequence<bf16_mr>{}),
                                                     bf16_portable_rows<2>(std::make_index_sequence<bf16_mr>{}),
                                                     bf16_portable_rows<3>(std::make_index_sequence<bf16_mr>{})};

[[nodiscard]] inline const bf16_tile_table& bf16_native_table() noexcept {
#if BIGMODEL_KERNELS_X86
  return bf16_avx512::bf16_table;
#else
  return bf16_portable_table;
#endif
}

inline constexpr std::size_t bf16_kc_pairs = 128;  // K block (256 k) when row tiles reuse B

// C = epilogue(A . B): A bf16, m rows of 2 * pairs elements; B packed panels of `pairs` pairs.
inline void bf16_run(const bf16_tile_table& tab, std::size_t m, std::size_t n, std::size_t pairs,
                     const std::uint16_t* a, const std::uint16_t* b, float* c, std::size_t ldc,
                     const sgemm_epilogue& ep, const execution& exec) {
  const std::size_t panels = (n + bf16_nr - 1) / bf16_nr;
  const std::size_t panels_per_task = sgemm_task_cols / bf16_nr, rows_per_task = bf16_mr * sgemm_task_tiles;
  const std::size_t n_tasks = (panels + panels_per_task - 1) / panels_per_task;
  const std::size_t m_tasks = (m + rows_per_task - 1) / rows_per_task;
  const std::size_t kc = m <= bf16_mr ? std::max<std::size_t>(pairs, 1) : bf16_kc_pairs;
  const std::size_t k_blocks = std::max<std::size_t>(1, (pairs + kc - 1) / kc);
  auto task = [&](std::size_t t) {
    const std::size_t r0 = (t / n_tasks) * rows_per_task, r1 = std::min(m, r0 + rows_per_task);
    const std::size_t p0 = (t % n_tasks) * panels_per_task, p1 = std::min(panels, p0 + panels_per_task);
    for (std::size_t kb = 0; kb < k_blocks; ++kb) {
      const std::size_t q0 = kb * kc, qn = std::min(kc, pairs - std::min(pairs, q0));
      const bool first = kb == 0, last = kb + 1 == k_blocks;
      for (std::size_t r = r0; r < r1; r += bf16_mr) {
        const std::size_t rows = std::min(bf16_mr, r1 - r);
        for (std::size_t p = p0; p < p1; ++p) {
          const std::size_t col0 = p * bf16_nr, cols = std::min(bf16_nr, n - col0);
          const std::size_t width = (cols + 15) / 16;
          const bf16_tile_args args{a + (r * pairs + q0) * 2,
                                    pairs * 2,
                                    b + (p * pairs + q0) * bf16_nr * 2,
                                    qn,
                                    c + r * ldc + col0,
                                    ldc,
                                    cols,
                                    ep.alpha,
                                    last && ep.bias != nullptr ? ep.bias + col0 : nullptr,
                                    !first || ep.accumulate,
                                    last && ep.relu};
          tab[width - 1][rows - 1](args);
        }
      }
    }
  };
  sgemm_run_tasks(m_tasks * n_tasks, exec, task);
}

inline aligned_buffer& bf16_scratch() noexcept {
  thread_local aligned_buffer b;
  return b;
}

}  // namespace detail

// B (K x N) in bf16, packed once: panels of 48 columns, the two k of a pair side by side, zero past N and K.
class packed_bf16_weights {
 public:
  packed_bf16_weights() = default;

  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  [[nodiscard]] std::size_t n() const noexcept { return n_; }
  [[nodiscard]] std::size_t pairs() const noexcept { return (k_ + 1) / 2; }
  [[nodiscard]] std::size_t panels() const noexcept { return (n_ + detail::bf16_nr - 1) / detail::bf16_nr; }
  [[nodiscard]] std::size_t bytes() const noexcept { return panels() * pairs() * detail::bf16_nr * 2 * sizeof(std::uint16_t); }
  [[nodiscard]] const std::uint16_t* data() const noexcept { return reinterpret_cast<const std::uint16_t*>(data_.data()); }

  // B[kk][j] as packed (tests, debugging).
  [[nodiscard]] bf16 at(std::size_t kk, std::size_t j) const noexcept {
    const std::size_t p = j / detail::bf16_nr, q = kk / 2;
    return bf16::from_bits(data()[(p * pairs() + q) * detail::bf16_nr * 2 + (j % detail::bf16_nr) * 2 + kk % 2]);
  }

  // Packs K x N (k_by_n, ldw >= N) or N x K (n_by_k, ldw >= K) weights; `get(row, col)` returns the bf16 bits of
  // element (row, col) of the stored matrix.
  template <class Get>
  static packed_bf16_weights pack(std::size_t k, std::size_t n, weight_layout layout, Get get) {
    packed_bf16_weights p;
    p.k_ = k;
    p.n_ = n;
    p.data_.reserve(p.bytes());
    auto* out = reinterpret_cast<std::uint16_t*>(p.data_.data());
    std::fill(out, out + p.bytes() / sizeof(std::uint16_t), std::uint16_t{0});
    const std::size_t pairs = p.pairs(), nr = detail::bf16_nr;
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t pos = ((j / nr) * pairs + kk / 2) * nr * 2 + (j % nr) * 2 + kk % 2;
        out[pos] = layout == weight_layout::k_by_n ? get(kk, j) : get(j, kk);
      }
    return p;
  }

 private:
  aligned_buffer data_;
  std::size_t k_ = 0, n_ = 0;
};

namespace detail {
inline void bf16_check_pack(const void* w, std::size_t k, std::size_t n, std::size_t ldw, weight_layout layout) {
  const std::string ctx = "k=" + std::to_string(k) + " n=" + std::to_string(n) + " ldw=" + std::to_string(ldw);
  require(w != nullptr, "kernels.bad_argument", "pack_bf16_weights: null weight pointer", ctx);
  require(k > 0 && n > 0, "kernels.bad_argument", "pack_bf16_weights: empty weight matrix", ctx);
  require(ldw >= (layout == weight_layout::k_by_n ? n : k), "kernels.bad_argument",
          "pack_bf16_weights: leading dimension smaller than a row", ctx);
}
}  // namespace detail

// Packs bf16 weights as they are.
inline packed_bf16_weights pack_bf16_weights(const bf16* w, std::size_t k, std::size_t n, std::size_t ldw,
                                             weight_layout layout) {
  detail::bf16_check_pack(w, k, n, ldw, layout);
  return packed_bf16_weights::pack(k, n, layout, [&](std::size_t r, std::size_t c) { return w[r * ldw + c].bits; });
}
// Packs f32 weights rounded to bf16 (to nearest even).
inline packed_bf16_weights pack_bf16_weights(const float* w, std::size_t k, std::size_t n, std::size_t ldw,
                                             weight_layout layout) {
  detail::bf16_check_pack(w, k, n, ldw, layout);
  return packed_bf16_weights::pack(k, n, layout, [&](std::size_t r, std::size_t c) { return to_bf16(w[r * ldw + c]).bits; });
}

// C = epilogue(bf16(A) . B). A row-major f32 (lda >= K), C row-major (ldc >= N). Throws bigmodel::error on bad
// arguments.
inline void bf16_gemm(std::size_t m, const float* a, std::size_t lda, const packed_bf16_weights& b, float* c,
                      std::size_t ldc, const sgemm_epilogue& ep = {}, const execution& exec = {}) {
  require(!b.empty(), "kernels.empty_weights", "bf16_gemm: empty packed weights");
  const std::size_t n = b.n(), k = b.k(), pairs = b.pairs();
  const auto ctx = [&] {
    return detail::sgemm_context(m, n, k) + " lda=" + std::to_string(lda) + " ldc=" + std::to_string(ldc);
  };
  if (m > 0 && a == nullptr) throw error("kernels.bad_argument", "bf16_gemm: null A", ctx());
  if (m > 0 && c == nullptr) throw error("kernels.bad_argument", "bf16_gemm: null C", ctx());
  if (m > 1 && lda < k) throw error("kernels.bad_argument", "bf16_gemm: lda smaller than K", ctx());
  if (m > 1 && ldc < n) throw error("kernels.bad_argument", "bf16_gemm: ldc smaller than N", ctx());
  if (m == 0) return;
  // A in bf16, rows padded to whole pairs (a zero after the last k when K is odd).
  aligned_buffer& scratch = detail::bf16_scratch();
  scratch.reserve(m * pairs * 2 * sizeof(bf16));
  const bool native = bf16_dot_native();
#if BIGMODEL_KERNELS_X86
  if (native) bf16_avx512::bf16_convert_rows(a, lda, m, k, reinterpret_cast<std::uint16_t*>(scratch.data()), pairs * 2);
#endif
  if (!native) {
    auto* ah = reinterpret_cast<bf16*>(scratch.data());
    for (std::size_t i = 0; i < m; ++i) {
      convert(std::span<const float>(a + i * lda, k), std::span<bf16>(ah + i * pairs * 2, k));
      if (k % 2 != 0) ah[i * pairs * 2 + k] = bf16{};
    }
  }
  detail::bf16_run(native ? detail::bf16_native_table() : detail::bf16_portable_table, m, n, pairs, reinterpret_cast<const std::uint16_t*>(scratch.data()), b.data(), c, ldc, ep, exec);
}

}  // namespace bigmodel::kernels
