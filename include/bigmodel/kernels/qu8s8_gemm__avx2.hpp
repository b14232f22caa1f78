#pragma once
// AVX2. vpmaddubsw would saturate (255 * -128 * 2 = -65280 does not fit in s16; all-255 A times all -128 B
// hits it on every pair), so it is not used: weights are sign-extended and activations zero-extended to s16
// and vpmaddwd adds pairs of s16 products into s32 -- exact for every input. Same instruction count per
// 4 k as the vpmaddubsw + vpmaddwd pair, with the weight widening shared by the rows of the tile.
// One ymm of packed B is 8 columns x 4 k; accumulator lanes hold k pairs (0,1) and (2,3), folded at the end.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "epilogue_eval.hpp"
#include "tile_kernels.hpp"

BIGMODEL_TARGET_BEGIN("avx2,fma")

namespace bigmodel::kernels::avx2 {

template <int Rows, int Panels>
struct qu8s8_gemm_tile__avx2 {
  static void run(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                  std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept {
    __m256i lo[Rows][Panels], hi[Rows][Panels];  // columns 0-3 and 4-7, two lanes per column
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) lo[r][p] = hi[r][p] = _mm256_setzero_si256();
    for (std::size_t g = 0; g < k_groups; ++g) {
      __m256i wlo[Panels], whi[Panels];
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) {
        const std::int8_t* src = b + static_cast<std::size_t>(p) * panel_bytes + g * 32;
        wlo[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
        whi[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16)));
      }
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        std::int32_t four;
        std::memcpy(&four, a + (g * Rows + static_cast<std::size_t>(r)) * 4, 4);
        const __m256i x = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(four)));  // a0..a3 as s16
#pragma GCC unroll 4
        for (int p = 0; p < Panels; ++p) {
          lo[r][p] = _mm256_add_epi32(lo[r][p], _mm256_madd_epi16(x, wlo[p]));
          hi[r][p] = _mm256_add_epi32(hi[r][p], _mm256_madd_epi16(x, whi[p]));
        }
      }
    }
    // hadd gives columns (0,1,4,5 | 2,3,6,7) per 128-bit half; the 64-bit permute restores 0..7.
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) {
        const __m256i sum = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[r][p], hi[r][p]), 0xD8);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + static_cast<std::size_t>(r) * ldt + static_cast<std::size_t>(p) * 8), sum);
      }
  }
};

}  // namespace bigmodel::kernels::avx2

BIGMODEL_TARGET_END

namespace bigmodel::kernels::avx2 {
[[nodiscard]] inline const detail::isa_kernels& kernels() noexcept {
  static constexpr detail::isa_kernels k{detail::make_tile_table<qu8s8_gemm_tile__avx2>(), &detail::store_tile_scalar};
  return k;
}
}  // namespace bigmodel::kernels::avx2

#endif  // BIGMODEL_KERNELS_X86
