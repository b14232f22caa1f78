#pragma once
// The epilogue on AVX-512 (F/BW/VL/DQ), 16 columns per step with masked tails. Shared by the AVX-512BW
// and AVX-512 VNNI kernels: their target regions are supersets of this one, so they may call it.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "epilogue_eval.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), apply_to = function)
#else
// GCC 12 reports the deliberate self-initialization inside _mm512_undefined_*() as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif

namespace bigmodel::kernels::avx512 {

// exp(x) for x in [-87, 88] (clamped): x = n ln2 + r with |r| <= ln2/2, degree-7 Taylor polynomial for e^r
// (truncation error < 6e-9 relative), then scale by 2^n.
inline __m512 exp_ps(__m512 x) noexcept {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln 2 split in two so that n * ln2_hi is exact.
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// x * Phi(x) with Phi from erfc (see detail::gelu_scalar for the formula and its accuracy).
inline __m512 gelu_ps(__m512 x) noexcept {
  const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f)));
  __m512 p = _mm512_set1_ps(detail::erfc_coeffs[9]);
  for (int i = 8; i >= 0; --i) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(detail::erfc_coeffs[i]));
  const __m512 e = _mm512_mul_ps(t, exp_ps(_mm512_fnmadd_ps(z, z, p)));
  const __m512 half_e = _mm512_mul_ps(e, _mm512_set1_ps(0.5f));
  const __mmask16 nonneg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
  const __m512 phi = _mm512_mask_sub_ps(half_e, nonneg, _mm512_set1_ps(1.0f), half_e);
  return _mm512_mul_ps(x, phi);
}

inline __m512i requantize_epi32(__m512 v, float inv_scale, std::int32_t zp, std::int32_t lo, std::int32_t hi) noexcept {
  __m512 x = _mm512_mul_ps(v, _mm512_set1_ps(inv_scale));
  // max/min return their second operand for NaN, so NaN ends at the lower bound like the scalar code.
  x = _mm512_max_ps(x, _mm512_set1_ps(static_cast<float>(lo - zp)));
  x = _mm512_min_ps(x, _mm512_set1_ps(static_cast<float>(hi - zp)));
  return _mm512_add_epi32(_mm512_cvt_roundps_epi32(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm512_set1_epi32(zp));
}

inline void store_row(const detail::resolved_epilogue& e, std::size_t m, std::size_t n0, std::size_t count,
                      const std::int32_t* acc, std::byte* c) noexcept {
  const bool correct_zp = e.row_zp(m) != 0;  // u8 activations with zero point 0 need no correction
  const __m512i zp = _mm512_set1_epi32(e.row_zp(m));
  const __m512 a_scale = _mm512_set1_ps(e.row_a_scale(m));
  for (std::size_t j = 0; j < count; j += 16) {
    const std::size_t left = count - j;
    const __mmask16 k = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
    const __m512i s = _mm512_maskz_loadu_epi32(k, acc + j);
    const __m512i corr = correct_zp ? _mm512_sub_epi32(s, _mm512_mullo_epi32(zp, _mm512_maskz_loadu_epi32(k, e.colsum + n0 + j))) : s;
    if (e.out == out_type::s32) {
      _mm512_mask_storeu_epi32(c + j * 4, k, corr);
      continue;
    }
    const __m512 ws = e.w_scale == nullptr ? _mm512_set1_ps(1.0f)
                      : e.per_channel     ? _mm512_maskz_loadu_ps(k, e.w_scale + n0 + j)
                                          : _mm512_set1_ps(e.w_scale[0]);
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(corr), _mm512_mul_ps(a_scale, ws));
    if (e.bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, e.bias + n0 + j));
    if (e.act == activation::relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    else if (e.act == activation::gelu) v = gelu_ps(v);
    if (e.out == out_type::f32) {
      _mm512_mask_storeu_ps(c + j * 4, k, v);
    } else {
      const bool u8 = e.out == out_type::u8;
      const __m512i q = requantize_epi32(v, e.inv_out_scale, e.out_zero_point, u8 ? 0 : -128, u8 ? 255 : 127);
      _mm512_mask_cvtepi32_storeu_epi8(c + j, k, q);  // in range already: truncation keeps the value
    }
  }
}

// The f32 epilogue of store_row, evaluated on a Rows x (Panels * 16) tile of accumulators still in registers
// (called, inlined, from the end of a register-tile kernel). Same operations in the same order as store_row,
// so both give the same results. count > (Panels - 1) * 16: only the last panel may be partial.
template <activation Act, int Rows, int Panels>
[[gnu::always_inline]] inline void store_registers_f32(const detail::resolved_epilogue& e, std::size_t m0, std::size_t n0,
                                                      std::size_t count, const __m512i (&acc)[Rows][Panels], float* c,
                                                      std::size_t ldc) noexcept {
  const std::size_t left = count - static_cast<std::size_t>(Panels - 1) * 16;
  const __mmask16 last = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
  __m512i colsum[Panels];
  __m512 ws[Panels], bias[Panels];
  const bool has_bias = e.bias != nullptr;
#pragma GCC unroll 4
  for (int p = 0; p < Panels; ++p) {
    const __mmask16 k = p == Panels - 1 ? last : static_cast<__mmask16>(0xFFFF);
    const std::size_t j = n0 + static_cast<std::size_t>(p) * 16;
    colsum[p] = _mm512_loadu_si512(e.colsum + j);  // padded to whole panels
    ws[p] = e.w_scale == nullptr ? _mm512_set1_ps(1.0f)
            : e.per_channel     ? _mm512_maskz_loadu_ps(k, e.w_scale + j)
                                : _mm512_set1_ps(e.w_scale[0]);
    bias[p] = has_bias ? _mm512_maskz_loadu_ps(k, e.bias + j) : _mm512_setzero_ps();
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    const std::size_t m = m0 + static_cast<std::size_t>(r);
    const std::int32_t zp = e.row_zp(m);
    const __m512i vzp = _mm512_set1_epi32(zp);
    const __m512 a_scale = _mm512_set1_ps(e.row_a_scale(m));
    float* row = c + static_cast<std::size_t>(r) * ldc;
#pragma GCC unroll 4
    for (int p = 0; p < Panels; ++p) {
      const __m512i corr = zp != 0 ? _mm512_sub_epi32(acc[r][p], _mm512_mullo_epi32(vzp, colsum[p])) : acc[r][p];
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(corr), _mm512_mul_ps(a_scale, ws[p]));
      if (has_bias) v = _mm512_add_ps(v, bias[p]);
      if constexpr (Act == activation::relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
      else if constexpr (Act == activation::gelu) v = gelu_ps(v);
      if (p == Panels - 1 && last != 0xFFFF) _mm512_mask_storeu_ps(row + p * 16, last, v);
      else _mm512_storeu_ps(row + p * 16, v);
    }
  }
}

inline void store_tile(const detail::resolved_epilogue& e, std::size_t m0, std::size_t rows, std::size_t n0,
                       std::size_t count, const std::int32_t* acc, std::size_t ldt, std::byte* c,
                       std::size_t ldc_bytes) noexcept {
  for (std::size_t i = 0; i < rows; ++i) store_row(e, m0 + i, n0, count, acc + i * ldt, c + i * ldc_bytes);
}

}  // namespace bigmodel::kernels::avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#pragma GCC diagnostic pop
#endif

#endif  // BIGMODEL_KERNELS_X86
