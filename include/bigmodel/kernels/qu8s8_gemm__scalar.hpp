#pragma once
// The "scalar" ISA: plain C++ over the packed layout (4-column panels). Runs anywhere; it is also the last
// fallback of the dispatcher. (The reference that defines the semantics is reference_gemm, on unpacked data.)

#include <cstddef>
#include <cstdint>

#include "gemm_config.hpp"
#include "tile_kernels.hpp"

namespace bigmodel::kernels::scalar {

template <int Rows, int Panels>
struct qu8s8_gemm_tile__scalar {
  static void run(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                  std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept {
    constexpr std::size_t nr = config_for(isa::scalar).nr;
    for (int r = 0; r < Rows; ++r)
      for (int p = 0; p < Panels; ++p)
        for (std::size_t j = 0; j < nr; ++j) {
          std::uint32_t acc = 0;
          const std::int8_t* bp = b + static_cast<std::size_t>(p) * panel_bytes + j * k_group;
          const std::uint8_t* ap = a + static_cast<std::size_t>(r) * k_group;
          for (std::size_t g = 0; g < k_groups; ++g)
            for (std::size_t t = 0; t < k_group; ++t)
              acc += static_cast<std::uint32_t>(ap[g * Rows * k_group + t] * static_cast<std::int32_t>(bp[g * nr * k_group + t]));
          tile[static_cast<std::size_t>(r) * ldt + static_cast<std::size_t>(p) * nr + j] = static_cast<std::int32_t>(acc);
        }
  }
};

[[nodiscard]] inline const detail::isa_kernels& kernels() noexcept {
  static constexpr detail::isa_kernels k{detail::make_tile_table<qu8s8_gemm_tile__scalar>(), &detail::store_tile_scalar};
  return k;
}

}  // namespace bigmodel::kernels::scalar
