#pragma once
// The epilogue on AVX2 + FMA, 8 columns per step with masked tails: what the AVX2 int8 GEMM stores its tiles
// with. Same operations in the same order as detail::store_scalar (the definition), so f32 results differ from
// it only where the compiler fuses the scale and the bias into one FMA, and for GELU by the vector-math
// polynomial (vector_math__rows.inc vm_gelu_erf, as on AVX-512).

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "epilogue_eval.hpp"
#include "tile_kernels.hpp"
#include "vector_math__avx2.hpp"

BIGMODEL_TARGET_BEGIN("avx2,fma")

namespace bigmodel::kernels::avx2 {

// As detail::requantize_scalar: clamp (max/min return their second operand for NaN, so NaN ends at the lower
// bound), then round to nearest even in the current rounding mode like std::nearbyint.
[[gnu::always_inline]] inline __m256i requantize_epi32(__m256 v, float inv_scale, std::int32_t zp, std::int32_t lo,
                                                       std::int32_t hi) noexcept {
  __m256 x = _mm256_mul_ps(v, _mm256_set1_ps(inv_scale));
  x = _mm256_max_ps(x, _mm256_set1_ps(static_cast<float>(lo - zp)));
  x = _mm256_min_ps(x, _mm256_set1_ps(static_cast<float>(hi - zp)));
  return _mm256_add_epi32(_mm256_cvtps_epi32(x), _mm256_set1_epi32(zp));
}

// The raw s32 output of a row (zero-point correction only); the other outputs go through store_tile.
inline void store_row_s32(const detail::resolved_epilogue& e, std::size_t m, std::size_t n0, std::size_t count,
                          const std::int32_t* acc, std::byte* c) noexcept {
  const std::int32_t zp = e.row_zp(m);
  const __m256i vzp = _mm256_set1_epi32(zp);
  for (std::size_t j = 0; j < count; j += 8) {
    const std::size_t left = count - j;
    const __m256i k = avx2_math::vm_vec::tail(left);
    const __m256i s = _mm256_maskload_epi32(reinterpret_cast<const int*>(acc + j), k);
    const __m256i corr =
        zp != 0 ? _mm256_sub_epi32(s, _mm256_mullo_epi32(vzp, _mm256_maskload_epi32(reinterpret_cast<const int*>(e.colsum + n0 + j), k))) : s;
    _mm256_maskstore_epi32(reinterpret_cast<int*>(c + j * 4), k, corr);
  }
}

// A whole tile, 8 columns at a time with the rows inside: the column vectors (sums, scales, bias) are loaded
// once per 8 columns and the row values once per tile (half the time per output of a row-by-row store on
// 4 x 16 tiles). f32, u8 and s8 outputs; s32 goes through store_row_s32.
inline void store_tile(const detail::resolved_epilogue& e, std::size_t m0, std::size_t rows, std::size_t n0,
                       std::size_t count, const std::int32_t* acc, std::size_t ldt, std::byte* c,
                       std::size_t ldc_bytes) noexcept {
  if (e.out == out_type::s32) {
    for (std::size_t i = 0; i < rows; ++i) store_row_s32(e, m0 + i, n0, count, acc + i * ldt, c + i * ldc_bytes);
    return;
  }
  std::int32_t zp[detail::max_tile_rows];
  float a_scale[detail::max_tile_rows];
  bool any_zp = false;
  for (std::size_t i = 0; i < rows; ++i) {
    zp[i] = e.row_zp(m0 + i), a_scale[i] = e.row_a_scale(m0 + i);
    any_zp = any_zp || zp[i] != 0;
  }
  const bool gelu = e.act == activation::gelu, gelu_tanh = e.act == activation::gelu_tanh;
  const bool relu = e.act == activation::relu, u8 = e.out == out_type::u8;
  for (std::size_t j = 0; j < count; j += 8) {
    const std::size_t left = count - j;
    const bool full = left >= 8;
    const __m256i k = avx2_math::vm_vec::tail(left);
    const __m256i colsum = any_zp ? _mm256_maskload_epi32(reinterpret_cast<const int*>(e.colsum + n0 + j), k) : _mm256_setzero_si256();
    const __m256 ws = e.w_scale == nullptr ? _mm256_set1_ps(1.0f)
                      : e.per_channel     ? _mm256_maskload_ps(e.w_scale + n0 + j, k)
                                          : _mm256_set1_ps(e.w_scale[0]);
    const __m256 bias = e.bias ? _mm256_maskload_ps(e.bias + n0 + j, k) : _mm256_setzero_ps();
    for (std::size_t i = 0; i < rows; ++i) {
      const std::int32_t* a = acc + i * ldt + j;
      const __m256i s = full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)) : _mm256_maskload_epi32(reinterpret_cast<const int*>(a), k);
      const __m256i corr = zp[i] != 0 ? _mm256_sub_epi32(s, _mm256_mullo_epi32(_mm256_set1_epi32(zp[i]), colsum)) : s;
      __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(corr), _mm256_mul_ps(_mm256_set1_ps(a_scale[i]), ws));
      if (e.bias) v = _mm256_add_ps(v, bias);
      if (relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
      else if (gelu) v = avx2_math::vm_gelu_erf(v);
      else if (gelu_tanh) v = avx2_math::vm_gelu_tanh(v);
      if (e.out == out_type::f32) {
        float* dst = reinterpret_cast<float*>(c + i * ldc_bytes) + j;
        if (full) _mm256_storeu_ps(dst, v);
        else _mm256_maskstore_ps(dst, k, v);
        continue;
      }
      const __m256i q = requantize_epi32(v, e.inv_out_scale, e.out_zero_point, u8 ? 0 : -128, u8 ? 255 : 127);
      // In range already, so the saturating packs keep every value: s32 -> s16 -> u8 / s8.
      const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      const __m128i b8 = u8 ? _mm_packus_epi16(w16, w16) : _mm_packs_epi16(w16, w16);
      std::byte* dst = c + i * ldc_bytes + j;
      if (full) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), b8);
      } else {
        alignas(16) std::uint8_t bytes[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(bytes), b8);
        std::memcpy(dst, bytes, left);
      }
    }
  }
}

}  // namespace bigmodel::kernels::avx2

BIGMODEL_TARGET_END

#endif  // BIGMODEL_KERNELS_X86
