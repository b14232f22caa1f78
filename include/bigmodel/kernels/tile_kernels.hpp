#pragma once
// What each ISA hands to the generic blocking loop: register-tile kernels for every (rows, panels) shape up
// to the largest tile, and a row store that evaluates the epilogue.

#include <array>
#include <cstddef>
#include <cstdint>

#include "epilogue_eval.hpp"

namespace bigmodel::kernels::detail {

inline constexpr std::size_t max_tile_rows = 8;
inline constexpr std::size_t max_tile_panels = 4;

// tile[r * ldt + c] = sum over k_groups * 4 of a[r * lda + k] * b[panel c / nr][k][c % nr], for r < rows
// and c < panels * nr. a: u8, K padded with zeros to whole groups; b: packed panels panel_bytes apart.
using tile_fn = void (*)(const std::uint8_t* a, std::size_t lda, const std::int8_t* b, std::size_t panel_bytes,
                         std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept;

// Epilogue of one row segment: count outputs from column n0 of row m, written to c_row (already at n0).
using store_fn = void (*)(const resolved_epilogue& e, std::size_t m, std::size_t n0, std::size_t count,
                          const std::int32_t* acc, std::byte* c_row) noexcept;

struct isa_kernels {
  std::array<std::array<tile_fn, max_tile_panels>, max_tile_rows> tiles{};  // [rows - 1][panels - 1]
  store_fn store = nullptr;
};

// Instantiates Tile<Rows, Panels>::run for every shape.
template <template <int, int> class Tile>
constexpr std::array<std::array<tile_fn, max_tile_panels>, max_tile_rows> make_tile_table() noexcept {
  std::array<std::array<tile_fn, max_tile_panels>, max_tile_rows> t{};
  [&]<std::size_t... R>(std::index_sequence<R...>) {
    ([&]<std::size_t... P>(std::index_sequence<P...>, auto row) {
      ((t[row][P] = &Tile<static_cast<int>(row) + 1, static_cast<int>(P) + 1>::run), ...);
    }(std::make_index_sequence<max_tile_panels>{}, std::integral_constant<std::size_t, R>{}), ...);
  }(std::make_index_sequence<max_tile_rows>{});
  return t;
}

}  // namespace bigmodel::kernels::detail
