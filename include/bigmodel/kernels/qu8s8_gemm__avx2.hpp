#pragma once
// AVX2. vpmaddubsw would saturate (255 * -128 * 2 = -65280 does not fit in s16; all-255 A times all -128 B
// hits it on every pair), so it is not used: vpmaddwd multiplies s16 pairs into s32, exact for every input.
// One ymm of packed B is 8 columns x 4 k (bytes b0 b1 b2 b3 per 32-bit lane); its odd bytes as s16 are one
// arithmetic shift (b1, b3), its even bytes two (b0, b2). A row's 4 bytes a0..a3 are broadcast to every lane
// and split the same way with a mask (a0, a2) and a logical shift (a1, a3), so
//   vpmaddwd(even a, even b) + vpmaddwd(odd a, odd b) = a0 b0 + a1 b1 + a2 b2 + a3 b3
// lands in the column's own 32-bit lane: one accumulator per 8 columns, nothing to fold at the end. The B
// splitting is shared by the rows of the tile, the A splitting by its panels.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "avx2_epilogue.hpp"
#include "epilogue_eval.hpp"
#include "tile_kernels.hpp"

BIGMODEL_TARGET_BEGIN("avx2,fma")

namespace bigmodel::kernels::avx2 {

template <int Rows, int Panels>
struct qu8s8_gemm_tile__avx2 {
  static void run(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                  std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept {
    __m256i acc[Rows][Panels];
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) acc[r][p] = _mm256_setzero_si256();
    const __m256i low_bytes = _mm256_set1_epi16(0x00FF);
    for (std::size_t g = 0; g < k_groups; ++g) {
      __m256i even[Panels], odd[Panels];
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + static_cast<std::size_t>(p) * panel_bytes + g * 32));
        odd[p] = _mm256_srai_epi16(w, 8);
        even[p] = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
      }
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        std::int32_t four;
        std::memcpy(&four, a + (g * Rows + static_cast<std::size_t>(r)) * 4, 4);
        const __m256i x = _mm256_set1_epi32(four);
        const __m256i xe = _mm256_and_si256(x, low_bytes), xo = _mm256_srli_epi16(x, 8);
#pragma GCC unroll 4
        for (int p = 0; p < Panels; ++p)
          acc[r][p] = _mm256_add_epi32(acc[r][p], _mm256_add_epi32(_mm256_madd_epi16(xe, even[p]), _mm256_madd_epi16(xo, odd[p])));
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + static_cast<std::size_t>(r) * ldt + static_cast<std::size_t>(p) * 8), acc[r][p]);
  }
};

}  // namespace bigmodel::kernels::avx2

BIGMODEL_TARGET_END

namespace bigmodel::kernels::avx2 {
[[nodiscard]] inline const detail::isa_kernels& kernels() noexcept {
  static constexpr detail::isa_kernels k{detail::make_tile_table<qu8s8_gemm_tile__avx2>(), &avx2::store_tile};
  return k;
}
}  // namespace bigmodel::kernels::avx2

#endif  // BIGMODEL_KERNELS_X86
