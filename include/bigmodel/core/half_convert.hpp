#pragma once
// Bulk f32 <-> f16 / bf16 conversion of arrays, bit-identical to the scalar functions in half.hpp.
// x86-64: F16C (vcvtps2ph / vcvtph2ps) for f16 and AVX-512BW integer rounding for bf16, each inside a
// target region chosen at run time, so callers need no -m flags. Elsewhere: the scalar loop.
// (vcvtneps2bf16 is not used: it flushes subnormals to zero.)

#include <cstddef>
#include <span>

#include "config.hpp"
#include "cpu.hpp"
#include "half.hpp"

#if BIGMODEL_X86_64 && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BIGMODEL_HALF_SIMD 1
#else
#define BIGMODEL_HALF_SIMD 0
#endif

namespace bigmodel {

namespace detail::half_simd {
#if BIGMODEL_HALF_SIMD
BIGMODEL_TARGET_BEGIN("avx,f16c")
// Round-to-nearest-even conversion; returns how many elements it did (a multiple of 8). vcvtps2ph quiets
// signaling NaNs, which our rule does not: a block holding a NaN is redone by the scalar function.
inline std::size_t f32_to_f16_f16c(const float* src, f16* dst, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(src + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)) != 0) {
      for (std::size_t k = 0; k < 8; ++k) dst[i + k] = to_f16(src[i + k]);
      continue;
    }
    const __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  return i;
}
inline std::size_t f16_to_f32_f16c(const f16* src, float* dst, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  return i;
}
BIGMODEL_TARGET_END

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw")
// The scalar rounding rule on 16 lanes: bits + 0x7FFF + lsb; NaN lanes keep their top half, made quiet
// only when its payload bits are all zero.
inline std::size_t f32_to_bf16_avx512(const float* src, bf16* dst, std::size_t n) noexcept {
  const __m512i lsb_mask = _mm512_set1_epi32(1);
  const __m512i bias = _mm512_set1_epi32(0x7FFF);
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  const __m512i inf = _mm512_set1_epi32(0x7F800000);
  const __m512i quiet = _mm512_set1_epi32(0x00400000);
  const __m512i payload = _mm512_set1_epi32(0x007F0000);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i x = _mm512_loadu_si512(src + i);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), lsb_mask);
    const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(x, bias), lsb);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, abs_mask), inf);
    const __mmask16 empty = _mm512_testn_epi32_mask(x, payload);
    const __m512i nan_value = _mm512_mask_or_epi32(x, empty, x, quiet);
    const __m512i r = _mm512_mask_blend_epi32(nan, rounded, nan_value);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
  }
  return i;
}
BIGMODEL_TARGET_END
#endif
}  // namespace detail::half_simd

// dst[i] = to_f16(src[i]); the spans must have the same size.
inline void convert(std::span<const float> src, std::span<f16> dst) noexcept {
  BIGMODEL_ASSERT(src.size() == dst.size());
  std::size_t i = 0;
#if BIGMODEL_HALF_SIMD
  if (cpu().f16c) i = detail::half_simd::f32_to_f16_f16c(src.data(), dst.data(), src.size());
#endif
  for (; i < src.size(); ++i) dst[i] = to_f16(src[i]);
}

inline void convert(std::span<const f16> src, std::span<float> dst) noexcept {
  BIGMODEL_ASSERT(src.size() == dst.size());
  std::size_t i = 0;
#if BIGMODEL_HALF_SIMD
  if (cpu().f16c) i = detail::half_simd::f16_to_f32_f16c(src.data(), dst.data(), src.size());
#endif
  for (; i < src.size(); ++i) dst[i] = to_float(src[i]);
}

inline void convert(std::span<const float> src, std::span<bf16> dst) noexcept {
  BIGMODEL_ASSERT(src.size() == dst.size());
  std::size_t i = 0;
#if BIGMODEL_HALF_SIMD
  if (cpu().avx512bw) i = detail::half_simd::f32_to_bf16_avx512(src.data(), dst.data(), src.size());
#endif
  for (; i < src.size(); ++i) dst[i] = to_bf16(src[i]);
}

// bf16 -> f32 is a shift: the compiler vectorizes this loop at -O2 and above.
inline void convert(std::span<const bf16> src, std::span<float> dst) noexcept {
  BIGMODEL_ASSERT(src.size() == dst.size());
  for (std::size_t i = 0; i < src.size(); ++i) dst[i] = to_float(src[i]);
}

}  // namespace bigmodel
