#pragma once
// One table chooses kernel, packer and blocking together for each ISA, so packed weights and the kernel
// that reads them cannot drift apart. Packed B is "c4": panels of nr columns, each panel K-major in groups
// of 4 consecutive k, the 4 bytes of one column adjacent (the operand shape of vpdpbusd / vpmaddwd pairs).

#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "isa.hpp"

namespace bigmodel::kernels {

struct gemm_config {
  std::size_t nr;        // columns per packed panel (one vector of s32 lanes)
  std::size_t mr;        // rows per register tile, large-M path
  std::size_t nb;        // panels per register tile, large-M path
  std::size_t small_m;   // M up to this runs as one tile row of exactly M rows (weight-bandwidth bound)
  std::size_t small_nb;  // most panels per tile on that path...
  std::size_t max_acc;   // ...as long as rows x panels stays within this many accumulators (no spills)
};

inline constexpr std::size_t k_group = 4;  // k values per 32-bit lane of packed B

[[nodiscard]] constexpr std::size_t xsimd_lanes() noexcept { return xsimd::batch<std::int32_t>::size; }

[[nodiscard]] constexpr gemm_config config_for(isa i) noexcept {
  switch (i) {
    // 8 x 48 tile: 24 zmm accumulators, 3 for B, 1 for the A broadcast. Small M: up to M x 64.
    case isa::avx512vnni: return {16, 8, 3, 8, 4, 24};
    // Two accumulators per 16 columns (k pairs) and two widened B registers per panel.
    case isa::avx512bw: return {16, 4, 2, 8, 2, 16};
    // 4 x 16 tile: 8 accumulators, 4 split B registers, 2 split A, the byte mask (15 of 16 ymm). Small M (1-3
    // rows): up to 4 panels while rows x panels <= 6, which keeps the split B of every panel in registers too.
    case isa::avx2: return {8, 4, 2, 3, 4, 6};
    case isa::xsimd: return {xsimd_lanes(), 4, 1, 4, 1, 4};
    case isa::scalar: break;
  }
  return {4, 4, 1, 4, 1, 4};
}

}  // namespace bigmodel::kernels
