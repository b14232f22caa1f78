#pragma once
// The epilogue on AVX-512 (F/BW/VL/DQ), 16 columns per step with masked tails. Shared by the AVX-512BW
// and AVX-512 VNNI kernels: their target regions are supersets of this one, so they may call it.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "epilogue_eval.hpp"
#include "vector_math__avx512.hpp"

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,fma")

namespace bigmodel::kernels::avx512 {

// x * Phi(x), the erf form: the vector-math GELU (vector_math__rows.inc vm_gelu_erf, same target region: a table
// of polynomials, no e^x), about half the operations of t * exp(-z^2 + P(t)) with a division (detail::gelu_scalar's
// formula). Its error is absolute (< 2.5e-7): it differs from gelu_scalar by up to ~1e-7 in the negative tail.
[[gnu::always_inline]] inline __m512 gelu_ps(__m512 x) noexcept { return avx512_math::vm_gelu_erf(x); }
// The tanh form, from its own table (same operations).
[[gnu::always_inline]] inline __m512 gelu_tanh_ps(__m512 x) noexcept { return avx512_math::vm_gelu_tanh(x); }

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
    else if (e.act == activation::gelu_tanh) v = gelu_tanh_ps(v);
    if (e.out == out_type::f32) {
      _mm512_mask_storeu_ps(c + j * 4, k, v);
    } else {
      const bool u8 = e.out == out_type::u8;
      const __m512i q = requantize_epi32(v, e.inv_out_scale, e.out_zero_point, u8 ? 0 : -128, u8 ? 255 : 127);
      _mm512_mask_cvtepi32_storeu_epi8(c + j, k, q);  // in range already: truncation keeps the value
    }
  }
}

// The f32, u8 or s8 epilogue of store_row (not s32), evaluated on a Rows x (Panels * 16) tile of accumulators still
// in registers (called, inlined, from the end of a register-tile kernel). Same operations in the same order as
// store_row, so both give the same results. c points at output (m0, n0), rows ldc elements apart (4-byte floats
// or 1-byte integers, per e.out). count > (Panels - 1) * 16: only the last panel may be partial.
template <activation Act, int Rows, int Panels>
[[gnu::always_inline]] inline void store_registers(const detail::resolved_epilogue& e, std::size_t m0, std::size_t n0,
                                                   std::size_t count, const __m512i (&acc)[Rows][Panels], std::byte* c,
                                                   std::size_t ldc) noexcept {
  const std::size_t left = count - static_cast<std::size_t>(Panels - 1) * 16;
  const __mmask16 last = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
  __m512i colsum[Panels];
  __m512 ws[Panels], bias[Panels];
  const bool has_bias = e.bias != nullptr;
  const bool f32 = e.out == out_type::f32, u8 = e.out == out_type::u8;
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
  const auto store = [&](int r, int p, __m512 v) {
    const std::size_t at = static_cast<std::size_t>(r) * ldc + static_cast<std::size_t>(p) * 16;
    const __mmask16 k = p == Panels - 1 ? last : static_cast<__mmask16>(0xFFFF);
    if (f32) {
      float* row = reinterpret_cast<float*>(c) + at;
      if (k != 0xFFFF) _mm512_mask_storeu_ps(row, k, v);
      else _mm512_storeu_ps(row, v);
    } else {
      const __m512i q = requantize_epi32(v, e.inv_out_scale, e.out_zero_point, u8 ? 0 : -128, u8 ? 255 : 127);
      _mm512_mask_cvtepi32_storeu_epi8(c + at, k, q);  // in range already: truncation keeps the value
    }
  };
  // GELU needs ~20 constants: with the accumulators live they would not fit in the 32 registers, so the
  // dequantized tile goes to an L1 buffer first and GELU runs on it once the accumulators are dead.
  constexpr bool gelu = Act == activation::gelu || Act == activation::gelu_tanh;
  [[maybe_unused]] alignas(64) float pre[gelu ? Rows : 1][gelu ? Panels * 16 : 1];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    const std::size_t m = m0 + static_cast<std::size_t>(r);
    const std::int32_t zp = e.row_zp(m);
    const __m512i vzp = _mm512_set1_epi32(zp);
    const __m512 a_scale = _mm512_set1_ps(e.row_a_scale(m));
#pragma GCC unroll 4
    for (int p = 0; p < Panels; ++p) {
      const __m512i corr = zp != 0 ? _mm512_sub_epi32(acc[r][p], _mm512_mullo_epi32(vzp, colsum[p])) : acc[r][p];
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(corr), _mm512_mul_ps(a_scale, ws[p]));
      if (has_bias) v = _mm512_add_ps(v, bias[p]);
      if constexpr (gelu) {
        _mm512_store_ps(&pre[r][p * 16], v);
        continue;
      }
      if constexpr (Act == activation::relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
      store(r, p, v);
    }
  }
  if constexpr (gelu)
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) {
        const __m512 v = _mm512_load_ps(&pre[r][p * 16]);
        store(r, p, Act == activation::gelu ? gelu_ps(v) : gelu_tanh_ps(v));
      }
}

inline void store_tile(const detail::resolved_epilogue& e, std::size_t m0, std::size_t rows, std::size_t n0,
                       std::size_t count, const std::int32_t* acc, std::size_t ldt, std::byte* c,
                       std::size_t ldc_bytes) noexcept {
  for (std::size_t i = 0; i < rows; ++i) store_row(e, m0 + i, n0, count, acc + i * ldt, c + i * ldc_bytes);
}

}  // namespace bigmodel::kernels::avx512

BIGMODEL_TARGET_END

#endif  // BIGMODEL_KERNELS_X86
