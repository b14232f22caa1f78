#pragma once
// AVX2 + FMA vector-math row kernels (8 floats per ymm; tails by vmaskmovps loads and stores).

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "vector_math__common.hpp"

BIGMODEL_TARGET_BEGIN("avx2,fma")

namespace bigmodel::kernels::avx2_math {

struct vm_vec {
  static constexpr std::size_t lanes = 8;
  using f = __m256;
  using m = __m256;
  static __m256i tail(std::size_t k) noexcept {  // lanes < k all ones
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static f load(const float* p) noexcept { return _mm256_loadu_ps(p); }
  static void store(float* p, f v) noexcept { _mm256_storeu_ps(p, v); }
  static f load_partial(const float* p, std::size_t k, float fill) noexcept {
    const __m256i t = tail(k);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, t), _mm256_castsi256_ps(t));
  }
  static void store_partial(float* p, f v, std::size_t k) noexcept { _mm256_maskstore_ps(p, tail(k), v); }
  static f set1(float v) noexcept { return _mm256_set1_ps(v); }
  static f add(f a, f b) noexcept { return _mm256_add_ps(a, b); }
  static f sub(f a, f b) noexcept { return _mm256_sub_ps(a, b); }
  static f mul(f a, f b) noexcept { return _mm256_mul_ps(a, b); }
  static f div(f a, f b) noexcept { return _mm256_div_ps(a, b); }
  static f fma(f a, f b, f c) noexcept { return _mm256_fmadd_ps(a, b, c); }
  static f max(f a, f b) noexcept { return _mm256_max_ps(a, b); }
  static f min(f a, f b) noexcept { return _mm256_min_ps(a, b); }
  static f abs(f a) noexcept { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static f sign(f a) noexcept { return _mm256_and_ps(_mm256_set1_ps(-0.0f), a); }
  static f xor_sign(f a, f s) noexcept { return _mm256_xor_ps(a, s); }
  static m lt(f a, f b) noexcept { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static f select(m k, f a, f b) noexcept { return _mm256_blendv_ps(b, a, k); }
  // tab[low 3 bits of r's representation] per lane (one vpermps).
  static f lookup8(const float* tab, f r) noexcept {
    return _mm256_permutevar8x32_ps(_mm256_loadu_ps(tab), _mm256_castps_si256(r));
  }
  template <bool Max>  // horizontal sum (Max false) / max
  static f op(f a, f b) noexcept {
    if constexpr (Max) return _mm256_max_ps(a, b);
    else return _mm256_add_ps(a, b);
  }
  template <bool Max>
  static float fold(f a) noexcept {
    a = op<Max>(a, _mm256_permute2f128_ps(a, a, 0x01));
    a = op<Max>(a, _mm256_permute_ps(a, 0x4E));
    return _mm256_cvtss_f32(op<Max>(a, _mm256_permute_ps(a, 0xB1)));
  }
  static float hsum(f a) noexcept { return fold<false>(a); }
  static float hmax(f a) noexcept { return fold<true>(a); }
  static f exp2_split(f p, f t) noexcept {
    const __m256i n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(detail::vm_magic_bits));
    const __m256i n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const f s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const f s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  }
};

#include "vector_math__rows.inc"

}  // namespace bigmodel::kernels::avx2_math

BIGMODEL_TARGET_END

namespace bigmodel::kernels::avx2_math {
[[nodiscard]] inline const detail::vm_table& vector_math_kernels() noexcept { return vm_kernel_table; }
}  // namespace bigmodel::kernels::avx2_math

#endif  // BIGMODEL_KERNELS_X86
