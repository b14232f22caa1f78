#pragma once
// AVX2 weight-only kernel: 8 columns per ymm. vpmaddubsw multiplies u8 codes by s8 x in pairs into s16 and
// vpmaddwd by ones widens the pair sums to s32. For int4 codes (0..15) a pair is at most 2 * 15 * 127, far
// from saturation; int8 codes are split into nibbles (u = 16 * hi + lo) so the same holds -- exact for all inputs.
// The pair sums of 4 blocks add up in s16 before one vpmaddwd widens them (s16_pairs, weight_only__tile.inc).

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "weight_only_packed.hpp"

BIGMODEL_TARGET_BEGIN("avx2,fma,f16c")

namespace bigmodel::kernels::avx2 {

struct wo_vec {
  static constexpr std::size_t nr = 8;
  static constexpr int max_rows = 4;  // 16 ymm registers
  static constexpr bool wide = false;
  static constexpr bool hi_in_place = false;  // vpmaddubsw: 240 x 127 x 2 would saturate s16
  static constexpr bool direct_u8 = false;
  static constexpr bool s16_pairs = true;  // see wo_s16_run in weight_only__tile.inc
  using iv = __m256i;
  using xv = __m256i;
  using fv = __m256;
  static iv izero() noexcept { return _mm256_setzero_si256(); }
  static iv load(const std::uint8_t* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static iv lo4(iv w) noexcept { return _mm256_and_si256(w, _mm256_set1_epi8(0x0F)); }
  static iv hi4(iv w) noexcept { return _mm256_and_si256(_mm256_srli_epi16(w, 4), _mm256_set1_epi8(0x0F)); }
  static xv bcast4(const std::int8_t* p) noexcept {
    std::int32_t four;
    std::memcpy(&four, p, 4);
    return _mm256_set1_epi32(four);
  }
  static iv dot4(iv acc, iv w, xv x) noexcept {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
  }
  static iv pairs(iv w, xv x) noexcept { return _mm256_maddubs_epi16(w, x); }
  static iv add16(iv a, iv b) noexcept { return _mm256_add_epi16(a, b); }
  static iv widen(iv a) noexcept { return _mm256_madd_epi16(a, _mm256_set1_epi16(1)); }
  static iv iadd(iv a, iv b) noexcept { return _mm256_add_epi32(a, b); }
  static iv shl4(iv a) noexcept { return _mm256_slli_epi32(a, 4); }
  static iv hi4x16(iv w) noexcept { return w; }  // unused (hi_in_place is false)
  static iv sra4(iv a) noexcept { return a; }
  static fv to_f(iv a) noexcept { return _mm256_cvtepi32_ps(a); }
  static fv fzero() noexcept { return _mm256_setzero_ps(); }
  static fv fload(const float* p) noexcept { return _mm256_loadu_ps(p); }
  static fv hload(const std::uint8_t* p) noexcept { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static fv fset1(float v) noexcept { return _mm256_set1_ps(v); }
  static fv fma(fv a, fv b, fv c) noexcept { return _mm256_fmadd_ps(a, b, c); }
  static fv fnma(fv a, fv b, fv c) noexcept { return _mm256_fnmadd_ps(a, b, c); }
  static fv fmul(fv a, fv b) noexcept { return _mm256_mul_ps(a, b); }
  static void fstore(float* p, fv v) noexcept { _mm256_storeu_ps(p, v); }
};

#include "weight_only__tile.inc"

}  // namespace bigmodel::kernels::avx2

BIGMODEL_TARGET_END

namespace bigmodel::kernels::avx2 {
[[nodiscard]] inline const detail::wo_kernels& weight_only_kernels() noexcept { return wo_kernel_table; }
}  // namespace bigmodel::kernels::avx2

#endif  // BIGMODEL_KERNELS_X86
