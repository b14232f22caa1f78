#pragma once
// Row kernels of dynamic activation quantization (linear_dynamic): the min / max of a row and
// q = clamp(nearbyint(x * (1 / s)) + zp, 0, 255). An AVX-512 version (16 floats per step, the u8 narrowing
// done by vpmovdb, masked tails) runs when the active ISA is an AVX-512 one; otherwise the portable xsimd
// version. Both compute the same values: the clamp happens before rounding in the same operand order, and
// vcvtps2dq rounds to nearest even like nearbyint in the default rounding mode.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "epilogue_eval.hpp"
#include "isa.hpp"

#if BIGMODEL_KERNELS_X86
#include <immintrin.h>
#endif

namespace bigmodel::kernels {

struct activation_quantization {
  float scale;
  std::int32_t zero_point;
};

namespace detail {

// Portable: xsimd batches of the build's baseline width.
inline void min_max_portable(const float* x, std::size_t k, float& lo, float& hi) noexcept {
  using vec = xsimd::batch<float>;
  std::size_t j = 0;
  vec vlo(lo), vhi(hi);
  for (; j + vec::size <= k; j += vec::size) {
    const vec v = vec::load_unaligned(x + j);
    vlo = xsimd::min(vlo, v);
    vhi = xsimd::max(vhi, v);
  }
  alignas(64) float tl[vec::size], th[vec::size];
  vlo.store_aligned(tl);
  vhi.store_aligned(th);
  for (std::size_t t = 0; t < vec::size; ++t) {
    lo = std::min(lo, tl[t]);
    hi = std::max(hi, th[t]);
  }
  for (; j < k; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
}

inline void quantize_row_portable(const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
  using vec = xsimd::batch<float>;
  const float inv = 1.0f / q.scale, lo = static_cast<float>(-q.zero_point), hi = static_cast<float>(255 - q.zero_point);
  std::size_t j = 0;
  alignas(64) std::int32_t tmp[vec::size];
  for (; j + vec::size <= k; j += vec::size) {
    vec v = vec::load_unaligned(x + j) * vec(inv);
    v = xsimd::min(xsimd::max(v, vec(lo)), vec(hi));
    (xsimd::nearbyint_as_int(v) + xsimd::batch<std::int32_t>(q.zero_point)).store_aligned(tmp);
    for (std::size_t t = 0; t < vec::size; ++t) out[j + t] = static_cast<std::uint8_t>(tmp[t]);
  }
  for (; j < k; ++j) out[j] = static_cast<std::uint8_t>(requantize_scalar(x[j], inv, q.zero_point, 0, 255));
}

}  // namespace detail
}  // namespace bigmodel::kernels

#if BIGMODEL_KERNELS_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
// GCC 12 reports the deliberate self-initialization inside _mm512_undefined_*() as (maybe-)uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq")
#endif

namespace bigmodel::kernels::detail {

inline void min_max_avx512(const float* x, std::size_t k, float& lo, float& hi) noexcept {
  __m512 lo0 = _mm512_set1_ps(lo), hi0 = _mm512_set1_ps(hi), lo1 = lo0, hi1 = hi0;
  std::size_t j = 0;
  for (; j + 32 <= k; j += 32) {  // two chains hide the min/max latency
    const __m512 a = _mm512_loadu_ps(x + j), b = _mm512_loadu_ps(x + j + 16);
    lo0 = _mm512_min_ps(lo0, a), hi0 = _mm512_max_ps(hi0, a);
    lo1 = _mm512_min_ps(lo1, b), hi1 = _mm512_max_ps(hi1, b);
  }
  for (; j < k; j += 16) {
    const auto m = static_cast<__mmask16>(k - j >= 16 ? 0xFFFFu : (1u << (k - j)) - 1u);
    lo0 = _mm512_min_ps(lo0, _mm512_mask_loadu_ps(lo0, m, x + j));
    hi0 = _mm512_max_ps(hi0, _mm512_mask_loadu_ps(hi0, m, x + j));
  }
  lo = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1));
  hi = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
}

inline void quantize_row_avx512(const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
  const __m512 inv = _mm512_set1_ps(1.0f / q.scale);
  const __m512 lo = _mm512_set1_ps(static_cast<float>(-q.zero_point)), hi = _mm512_set1_ps(static_cast<float>(255 - q.zero_point));
  const __m512i zp = _mm512_set1_epi32(q.zero_point);
  auto step = [&](__m512 v) {
    v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), lo), hi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), zp);  // in [0, 255]: the narrowing below is exact
  };
  std::size_t j = 0;
  for (; j + 16 <= k; j += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm512_cvtepi32_epi8(step(_mm512_loadu_ps(x + j))));
  if (j < k) {
    const auto m = static_cast<__mmask16>((1u << (k - j)) - 1u);
    _mm512_mask_cvtepi32_storeu_epi8(out + j, m, step(_mm512_maskz_loadu_ps(m, x + j)));
  }
}

}  // namespace bigmodel::kernels::detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#pragma GCC diagnostic pop
#endif
#endif  // BIGMODEL_KERNELS_X86

namespace bigmodel::kernels::detail {

[[nodiscard]] inline bool activation_rows_avx512() noexcept {
#if BIGMODEL_KERNELS_X86
  const isa i = active_isa();
  return (i == isa::avx512bw || i == isa::avx512vnni) && is_supported(i);
#else
  return false;
#endif
}

// lo / hi widened by the row's values (callers seed them with the first element).
inline void min_max(const float* x, std::size_t k, float& lo, float& hi) noexcept {
#if BIGMODEL_KERNELS_X86
  if (activation_rows_avx512()) return min_max_avx512(x, k, lo, hi);
#endif
  min_max_portable(x, k, lo, hi);
}

inline void quantize_row(const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
#if BIGMODEL_KERNELS_X86
  if (activation_rows_avx512()) return quantize_row_avx512(x, k, q, out);
#endif
  quantize_row_portable(x, k, q, out);
}

}  // namespace bigmodel::kernels::detail
