#pragma once
// AVX-512 weight-only kernels, 16 columns per zmm, compiled twice from one description:
//   avx512vnni: vpdpbusd adds 4 products u8 code x s8 x per s32 lane -- int4 codes after a mask / shift, int8
//               codes whole (at most 4 * 255 * 127 per step, no saturation);
//   avx512bw:   vpmaddubsw + vpmaddwd by ones, int8 codes split into nibbles (as on AVX2: exact).

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "weight_only_packed.hpp"

// The operations both AVX-512 kernels share; Vnni chooses the dot product. Defined inside each target region.
#define BIGMODEL_WO_AVX512_VEC(Vnni)                                                                                  \
  struct wo_vec {                                                                                                    \
    static constexpr std::size_t nr = 16;                                                                            \
    static constexpr int max_rows = 8;                                                                               \
    static constexpr bool wide = true;                                                                               \
    static constexpr bool hi_in_place = Vnni; /* vpmaddubsw: 240 x 127 x 2 would saturate s16 */                     \
    static constexpr bool direct_u8 = Vnni;                                                                          \
    static constexpr bool s16_pairs = false; /* the s32 path (wo_s16_run is AVX2's) */                              \
    using iv = __m512i;                                                                                              \
    using xv = __m512i;                                                                                              \
    using fv = __m512;                                                                                               \
    static iv izero() noexcept { return _mm512_setzero_si512(); }                                                    \
    static iv load(const std::uint8_t* p) noexcept { return _mm512_loadu_si512(p); }                                 \
    static iv lo4(iv w) noexcept { return _mm512_and_si512(w, _mm512_set1_epi8(0x0F)); }                             \
    static iv hi4(iv w) noexcept { return _mm512_and_si512(_mm512_srli_epi16(w, 4), _mm512_set1_epi8(0x0F)); }       \
    static xv bcast4(const std::int8_t* p) noexcept {                                                                \
      std::int32_t four;                                                                                             \
      std::memcpy(&four, p, 4);                                                                                      \
      return _mm512_set1_epi32(four);                                                                                \
    }                                                                                                                \
    static iv dot4(iv acc, iv w, xv x) noexcept {                                                                    \
      if constexpr (Vnni) return BIGMODEL_WO_DPBUSD(acc, w, x);                                                      \
      else return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(w, x), _mm512_set1_epi16(1)));        \
    }                                                                                                                \
    static iv iadd(iv a, iv b) noexcept { return _mm512_add_epi32(a, b); }                                           \
    static iv shl4(iv a) noexcept { return _mm512_slli_epi32(a, 4); }                                                \
    static iv hi4x16(iv w) noexcept { return _mm512_and_si512(w, _mm512_set1_epi8(static_cast<char>(0xF0))); }      \
    static iv sra4(iv a) noexcept { return _mm512_srai_epi32(a, 4); }                                                \
    static fv to_f(iv a) noexcept { return _mm512_cvtepi32_ps(a); }                                                  \
    static fv fzero() noexcept { return _mm512_setzero_ps(); }                                                       \
    static fv fload(const float* p) noexcept { return _mm512_loadu_ps(p); }                                          \
    static fv hload(const std::uint8_t* p) noexcept {                                                               \
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));                              \
    }                                                                                                                \
    static fv fset1(float v) noexcept { return _mm512_set1_ps(v); }                                                  \
    static fv fma(fv a, fv b, fv c) noexcept { return _mm512_fmadd_ps(a, b, c); }                                    \
    static fv fnma(fv a, fv b, fv c) noexcept { return _mm512_fnmadd_ps(a, b, c); }                                  \
    static fv fmul(fv a, fv b) noexcept { return _mm512_mul_ps(a, b); }                                              \
    static void fstore(float* p, fv v) noexcept { _mm512_storeu_ps(p, v); }                                          \
  };

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,fma")

namespace bigmodel::kernels::avx512bw {
#define BIGMODEL_WO_DPBUSD(acc, w, x) acc  // never expanded: this kernel has no VNNI
BIGMODEL_WO_AVX512_VEC(false)
#undef BIGMODEL_WO_DPBUSD
#include "weight_only__tile.inc"
}  // namespace bigmodel::kernels::avx512bw

BIGMODEL_TARGET_END
BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")

namespace bigmodel::kernels::avx512vnni {
// vpdpbusd through inline asm: for _mm512_dpbusd_epi32 GCC 12 copies every accumulator to a fresh register
// and back (two vmovdqa per dot product in the int4 tile, plus spills); the asm ties acc to its register.
inline __m512i wo_dpbusd(__m512i acc, __m512i w, __m512i x) noexcept {
  __asm__("vpdpbusd {%2, %1, %0|%0, %1, %2}" : "+v"(acc) : "v"(w), "v"(x));
  return acc;
}
#define BIGMODEL_WO_DPBUSD(acc, w, x) wo_dpbusd(acc, w, x)
BIGMODEL_WO_AVX512_VEC(true)
#undef BIGMODEL_WO_DPBUSD
#include "weight_only__tile.inc"
}  // namespace bigmodel::kernels::avx512vnni

BIGMODEL_TARGET_END
#undef BIGMODEL_WO_AVX512_VEC

namespace bigmodel::kernels::avx512bw {
[[nodiscard]] inline const detail::wo_kernels& weight_only_kernels() noexcept { return wo_kernel_table; }
}  // namespace bigmodel::kernels::avx512bw
namespace bigmodel::kernels::avx512vnni {
[[nodiscard]] inline const detail::wo_kernels& weight_only_kernels() noexcept { return wo_kernel_table; }
}  // namespace bigmodel::kernels::avx512vnni

#endif  // BIGMODEL_KERNELS_X86
