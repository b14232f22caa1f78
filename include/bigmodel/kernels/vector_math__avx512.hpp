#pragma once
// AVX-512 vector-math row kernels (16 floats per zmm; tails by masked loads and stores). Used for the avx512bw
// and avx512vnni tiers: nothing here needs VNNI.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <limits>

#include "vector_math__common.hpp"

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,fma")

namespace bigmodel::kernels::avx512_math {

struct vm_vec {
  static constexpr std::size_t lanes = 16;
  using f = __m512;
  using m = __mmask16;
  static __mmask16 tail(std::size_t k) noexcept { return static_cast<__mmask16>((1u << k) - 1u); }
  static f load(const float* p) noexcept { return _mm512_loadu_ps(p); }
  static void store(float* p, f v) noexcept { _mm512_storeu_ps(p, v); }
  static f load_partial(const float* p, std::size_t k, float fill) noexcept {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail(k), p);
  }
  static void store_partial(float* p, f v, std::size_t k) noexcept { _mm512_mask_storeu_ps(p, tail(k), v); }
  static f set1(float v) noexcept { return _mm512_set1_ps(v); }
  static f add(f a, f b) noexcept { return _mm512_add_ps(a, b); }
  static f sub(f a, f b) noexcept { return _mm512_sub_ps(a, b); }
  static f mul(f a, f b) noexcept { return _mm512_mul_ps(a, b); }
  static f div(f a, f b) noexcept { return _mm512_div_ps(a, b); }
  static f fma(f a, f b, f c) noexcept { return _mm512_fmadd_ps(a, b, c); }
  static f max(f a, f b) noexcept { return _mm512_max_ps(a, b); }
  static f min(f a, f b) noexcept { return _mm512_min_ps(a, b); }
  static f abs(f a) noexcept { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), a); }
  static f sign(f a) noexcept { return _mm512_and_ps(_mm512_set1_ps(-0.0f), a); }
  static f xor_sign(f a, f s) noexcept { return _mm512_xor_ps(a, s); }
  static m lt(f a, f b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static f select(m k, f a, f b) noexcept { return _mm512_mask_blend_ps(k, b, a); }
  // tab[low 3 bits of r's representation] per lane (8 floats in both halves, one vpermps).
  static f lookup8(const float* tab, f r) noexcept {
    return _mm512_permutexvar_ps(_mm512_castps_si512(r), _mm512_broadcast_f32x8(_mm256_loadu_ps(tab)));
  }
  // Horizontal sum (Max false) / max by folding halves inside the zmm (GCC 12's _mm512_reduce_*_ps trip
  // -Wuninitialized under -Werror).
  template <bool Max>
  static f op(f a, f b) noexcept {
    if constexpr (Max) return _mm512_max_ps(a, b);
    else return _mm512_add_ps(a, b);
  }
  template <bool Max>
  static float fold(f a) noexcept {
    a = op<Max>(a, _mm512_shuffle_f32x4(a, a, 0x4E));
    a = op<Max>(a, _mm512_shuffle_f32x4(a, a, 0xB1));
    a = op<Max>(a, _mm512_permute_ps(a, 0x4E));
    return _mm512_cvtss_f32(op<Max>(a, _mm512_permute_ps(a, 0xB1)));
  }
  static float hsum(f a) noexcept { return fold<false>(a); }
  static float hmax(f a) noexcept { return fold<true>(a); }
  static f exp2_split(f p, f t) noexcept {
    const __m512i n = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(detail::vm_magic_bits));
    const __m512i n1 = _mm512_srai_epi32(n, 1), n2 = _mm512_sub_epi32(n, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    const f s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    const f s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
  }
};

#include "vector_math__rows.inc"

}  // namespace bigmodel::kernels::avx512_math

BIGMODEL_TARGET_END

namespace bigmodel::kernels::avx512_math {
[[nodiscard]] inline const detail::vm_table& vector_math_kernels() noexcept { return vm_kernel_table; }
}  // namespace bigmodel::kernels::avx512_math

#endif  // BIGMODEL_KERNELS_X86
