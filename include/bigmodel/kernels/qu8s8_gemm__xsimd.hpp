#pragma once
// The portable SIMD baseline: xsimd batches of the architecture the consumer compiles for
// (xsimd::default_arch: SSE2 on a plain x86-64 build, NEON on ARM). Panels are one batch of s32 lanes wide;
// each lane holds the 4 k-bytes of one column, sign-extended by a shift pair, multiplied in 32 bits (exact).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "gemm_config.hpp"
#include "tile_kernels.hpp"

namespace bigmodel::kernels::xsimd_baseline {

template <int Rows, int Panels>
struct qu8s8_gemm_tile__xsimd {
  static void run(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                  std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept {
    using vec = xsimd::batch<std::int32_t>;
    constexpr std::size_t lanes = vec::size;
    vec acc[Rows][Panels];
    for (auto& row : acc)
      for (auto& v : row) v = vec(0);
    for (std::size_t g = 0; g < k_groups; ++g) {
      for (int p = 0; p < Panels; ++p) {
        std::int32_t words[lanes];
        std::memcpy(words, b + static_cast<std::size_t>(p) * panel_bytes + g * lanes * k_group, sizeof(words));
        const vec w = vec::load_unaligned(words);
        const vec w0 = (w << 24) >> 24, w1 = (w << 16) >> 24, w2 = (w << 8) >> 24, w3 = w >> 24;
        for (int r = 0; r < Rows; ++r) {
          const std::uint8_t* ap = a + (g * Rows + static_cast<std::size_t>(r)) * k_group;
          acc[r][p] += w0 * vec(ap[0]) + w1 * vec(ap[1]) + w2 * vec(ap[2]) + w3 * vec(ap[3]);
        }
      }
    }
    for (int r = 0; r < Rows; ++r)
      for (int p = 0; p < Panels; ++p)
        acc[r][p].store_unaligned(tile + static_cast<std::size_t>(r) * ldt + static_cast<std::size_t>(p) * lanes);
  }
};

[[nodiscard]] inline const detail::isa_kernels& kernels() noexcept {
  static const detail::isa_kernels k{detail::make_tile_table<qu8s8_gemm_tile__xsimd>(), &detail::store_tile_scalar};
  return k;
}

}  // namespace bigmodel::kernels::xsimd_baseline
