#pragma once
// AVX-512BW without VNNI. vpmaddubsw (u8 x s8 pairs into s16) saturates: 255 * -128 * 2 = -65280 does not fit
// in 16 bits, so it is not used. Instead both operands are widened to s16 and vpmaddwd adds pairs of s16
// products into s32, which is exact for every input (|product pair| <= 65280). Per 4 k the same work as
// vpmaddubsw + vpmaddwd: the weights are widened once per tile row loop, A 4 bytes at a time.
// Lanes of the accumulators hold partial sums of k pairs (0,1) and (2,3) of one column, folded at the end.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "avx512_epilogue.hpp"
#include "tile_kernels.hpp"

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,fma")

namespace bigmodel::kernels::avx512bw {

template <int Rows, int Panels>
struct qu8s8_gemm_tile__avx512bw {
  static void run(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                  std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept {
    __m512i lo[Rows][Panels], hi[Rows][Panels];  // columns 0-7 and 8-15, two lanes per column
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) lo[r][p] = hi[r][p] = _mm512_setzero_si512();
    for (std::size_t g = 0; g < k_groups; ++g) {
      __m512i wlo[Panels], whi[Panels];
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) {
        const __m512i w = _mm512_loadu_si512(b + static_cast<std::size_t>(p) * panel_bytes + g * 64);
        wlo[p] = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(w));
        whi[p] = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(w, 1));
      }
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        std::int32_t four;
        std::memcpy(&four, a + (g * Rows + static_cast<std::size_t>(r)) * 4, 4);
        const __m512i x = _mm512_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(four)));  // a0..a3 as s16
#pragma GCC unroll 4
        for (int p = 0; p < Panels; ++p) {
          lo[r][p] = _mm512_add_epi32(lo[r][p], _mm512_madd_epi16(x, wlo[p]));
          hi[r][p] = _mm512_add_epi32(hi[r][p], _mm512_madd_epi16(x, whi[p]));
        }
      }
    }
    // Lane 2c + h of lo holds column c, k pairs h; add even and odd lanes of (lo, hi) into 16 columns.
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) {
        const __m512i sum = _mm512_add_epi32(_mm512_permutex2var_epi32(lo[r][p], even, hi[r][p]),
                                             _mm512_permutex2var_epi32(lo[r][p], odd, hi[r][p]));
        _mm512_storeu_si512(tile + static_cast<std::size_t>(r) * ldt + static_cast<std::size_t>(p) * 16, sum);
      }
  }
};

}  // namespace bigmodel::kernels::avx512bw

BIGMODEL_TARGET_END

namespace bigmodel::kernels::avx512bw {
[[nodiscard]] inline const detail::isa_kernels& kernels() noexcept {
  static constexpr detail::isa_kernels k{detail::make_tile_table<qu8s8_gemm_tile__avx512bw>(), &avx512::store_tile};
  return k;
}
}  // namespace bigmodel::kernels::avx512bw

#endif  // BIGMODEL_KERNELS_X86
