#pragma once
// The AVX-512 BF16 micro-kernel of the bf16 GEMM (bf16_gemm.hpp): 8 rows x 48 columns in 24 zmm accumulators;
// per pair of k, 3 zmm of B (16 columns x 2 k each) and one 32-bit broadcast of A's pair per row feed
// vdpbf16ps (32 products per instruction, twice the f32 FMA's 16). Compiled in a target region: no -m flags.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "bf16_gemm_tile.hpp"

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")

namespace bigmodel::kernels::bf16_avx512 {

// Rows x (NV zmm of 16 columns) of C over t.pairs pairs of k.
template <std::size_t Rows, std::size_t NV>
inline void bf16_tile(const detail::bf16_tile_args& t) noexcept {
  __m512 acc[Rows][NV];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < Rows; ++i)
#pragma GCC unroll 3
    for (std::size_t j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  const std::uint16_t* ar[Rows];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < Rows; ++i) ar[i] = t.a + i * t.lda;
  const std::uint16_t* b = t.b;
  for (std::size_t q = 0; q < t.pairs; ++q, b += detail::bf16_nr * 2) {
    __m512bh bv[NV];
#pragma GCC unroll 3
    for (std::size_t j = 0; j < NV; ++j) bv[j] = (__m512bh)_mm512_loadu_si512(b + j * 32);
#pragma GCC unroll 8
    for (std::size_t i = 0; i < Rows; ++i) {
      std::int32_t pair;
      std::memcpy(&pair, ar[i] + 2 * q, sizeof pair);
      const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 3
      for (std::size_t j = 0; j < NV; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(t.alpha);
#pragma GCC unroll 3
  for (std::size_t j = 0; j < NV; ++j) {
    const std::size_t col = j * 16;
    if (col >= t.cols) break;
    const std::size_t n = t.cols - col;
    const __mmask16 m = n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
    const __m512 bias = t.bias == nullptr ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, t.bias + col);
#pragma GCC unroll 8
    for (std::size_t i = 0; i < Rows; ++i) {
      float* c = t.c + i * t.ldc + col;
      const __m512 prev = t.load_c ? _mm512_maskz_loadu_ps(m, c) : _mm512_setzero_ps();
      __m512 v = _mm512_fmadd_ps(acc[i][j], alpha, prev);
      if (t.bias != nullptr) v = _mm512_add_ps(v, bias);  // last, as an Add after the product would
      if (t.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
      _mm512_mask_storeu_ps(c, m, v);
    }
  }
}

// Rows of A (m x k, lda) to bf16 rows of 2 * ceil(k / 2) elements (ld_out), the pad after an odd k zero:
// vcvtne2ps2bf16 rounds to nearest even like to_bf16 and keeps NaN a NaN; it flushes subnormals to zero, which
// vdpbf16ps would do with them anyway, so the products are those of the exact conversion.
inline void bf16_convert_rows(const float* a, std::size_t lda, std::size_t m, std::size_t k, std::uint16_t* out,
                              std::size_t ld_out) noexcept {
  for (std::size_t i = 0; i < m; ++i) {
    const float* src = a + i * lda;
    std::uint16_t* dst = out + i * ld_out;
    std::size_t j = 0;
    for (; j + 32 <= k; j += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + j + 16), _mm512_loadu_ps(src + j));
      _mm512_storeu_si512(dst + j, (__m512i)v);
    }
    if (j < k) {  // the tail and the pad: masked loads give zeros past k
      const std::size_t rest = k - j, lo = rest < 16 ? rest : 16, hi = rest - lo;
      const __m512 vlo = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << lo) - 1u), src + j);
      const __m512 vhi = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << hi) - 1u), src + j + 16);
      const std::size_t stored = rest + (rest % 2);
      _mm512_mask_storeu_epi16(dst + j, static_cast<__mmask32>((std::uint64_t{1} << stored) - 1u),
                               (__m512i)_mm512_cvtne2ps_pbh(vhi, vlo));
    }
  }
}

template <std::size_t NV, std::size_t... R>
constexpr std::array<detail::bf16_tile_fn, detail::bf16_mr> bf16_rows(std::index_sequence<R...>) noexcept {
  return {&bf16_tile<R + 1, NV>...};
}
inline constexpr detail::bf16_tile_table bf16_table{bf16_rows<1>(std::make_index_sequence<detail::bf16_mr>{}),
                                                    bf16_rows<2>(std::make_index_sequence<detail::bf16_mr>{}),
                                                    bf16_rows<3>(std::make_index_sequence<detail::bf16_mr>{})};

}  // namespace bigmodel::kernels::bf16_avx512

BIGMODEL_TARGET_END

#endif  // BIGMODEL_KERNELS_X86
