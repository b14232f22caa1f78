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

// tile[r * ldt + c] = sum over k of A[r][k] * b[panel c / nr][k][c % nr], for r < rows and c < panels * nr.
// a: the tile's rows packed u8 as [k_groups][rows][4] (K zero-padded), so each step reads rows * 4
// consecutive bytes; b: packed panels panel_bytes apart.
using tile_fn = void (*)(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                         std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept;

// Epilogue of one tile: rows x count outputs from (m0, n0); acc rows ldt apart, c at (m0, n0), rows ldc_bytes apart.
using store_fn = void (*)(const resolved_epilogue& e, std::size_t m0, std::size_t rows, std::size_t n0, std::size_t count,
                          const std::int32_t* acc, std::size_t ldt, std::byte* c, std::size_t ldc_bytes) noexcept;

// A register tile with the epilogue evaluated on its accumulator registers: C = epilogue(A x B) for rows x count
// outputs at (m0, n0), f32 or requantized u8 / s8 (e.out; not s32), rows ldc elements apart; count > (panels - 1)
// * nr (the last panel may be partial).
using fused_fn = void (*)(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes, std::size_t k_groups,
                          const resolved_epilogue& e, std::size_t m0, std::size_t n0, std::size_t count,
                          std::byte* c, std::size_t ldc) noexcept;

using tile_table = std::array<std::array<tile_fn, max_tile_panels>, max_tile_rows>;
using fused_table = std::array<std::array<fused_fn, max_tile_panels>, max_tile_rows>;

// Packs 8 rows of A (rows lda apart) for an 8-row tile, chunks x 64 bytes of each row, to [chunks * 16][8][4].
using pack_a_rows8_fn = void (*)(const std::uint8_t* src, std::size_t lda, std::size_t chunks, bool flip_sign,
                                 std::uint8_t* dst) noexcept;

struct isa_kernels {
  tile_table tiles{};  // [rows - 1][panels - 1]
  store_fn store = nullptr;
  fused_table fused{};  // optional (all null): f32 / u8 / s8 output then goes through tiles + store
  pack_a_rows8_fn pack_a_rows8 = nullptr;  // optional: whole 64-byte steps of 8-row tiles (else the scalar pack_a)
};

// Instantiates Tile<Rows, Panels>::run for every shape.
template <template <int, int> class Tile>
constexpr tile_table make_tile_table() noexcept {
  tile_table t{};
  [&]<std::size_t... R>(std::index_sequence<R...>) {
    ([&]<std::size_t... P>(std::index_sequence<P...>, auto row) {
      ((t[row][P] = &Tile<static_cast<int>(row) + 1, static_cast<int>(P) + 1>::run), ...);
    }(std::make_index_sequence<max_tile_panels>{}, std::integral_constant<std::size_t, R>{}), ...);
  }(std::make_index_sequence<max_tile_rows>{});
  return t;
}

// Instantiates Tile<Rows, Panels>::run_fused for every shape.
template <template <int, int> class Tile>
constexpr fused_table make_fused_table() noexcept {
  fused_table t{};
  [&]<std::size_t... R>(std::index_sequence<R...>) {
    ([&]<std::size_t... P>(std::index_sequence<P...>, auto row) {
      ((t[row][P] = &Tile<static_cast<int>(row) + 1, static_cast<int>(P) + 1>::run_fused), ...);
    }(std::make_index_sequence<max_tile_panels>{}, std::integral_constant<std::size_t, R>{}), ...);
  }(std::make_index_sequence<max_tile_rows>{});
  return t;
}

}  // namespace bigmodel::kernels::detail
