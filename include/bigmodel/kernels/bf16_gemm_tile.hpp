#pragma once
// What the bf16 GEMM driver (bf16_gemm.hpp) hands a micro-kernel: one tile of at most bf16_mr rows x bf16_nr
// columns of C over a block of pairs of k. A is bf16, rows of an even number of elements (pair q = elements 2q and
// 2q + 1, read as one 32-bit word: 2q in the low half), B a packed panel (per pair q: bf16_nr columns x 2 bf16, column j's pair at
// [2j], [2j + 1]). The epilogue is the fp32 GEMM's: C = (prev + alpha * sum) + bias[j] (bias != nullptr),
// prev = C (load_c) or 0, then max(C, 0) when relu.

#include <array>
#include <cstddef>
#include <cstdint>

namespace bigmodel::kernels::detail {

inline constexpr std::size_t bf16_mr = 8, bf16_nr = 48, bf16_nv = 3;  // nv: registers of 16 columns

struct bf16_tile_args {
  const std::uint16_t* a;  // A[row0][2 q0]: pair q is a[2q] (k = 2q), a[2q + 1] (k = 2q + 1)
  std::size_t lda;         // bf16 between rows of A (even)
  const std::uint16_t* b;  // panel at pair q0
  std::size_t pairs;       // pairs in this block (may be 0)
  float* c;                // C[row0][col0]
  std::size_t ldc;
  std::size_t cols;  // valid columns of the panel, 1..bf16_nr
  float alpha;
  const float* bias;  // bias[col0], or nullptr
  bool load_c;
  bool relu;
};

using bf16_tile_fn = void (*)(const bf16_tile_args&) noexcept;
// [w - 1][r - 1]: r rows, the first w registers (16 w columns) of the panel.
using bf16_tile_table = std::array<std::array<bf16_tile_fn, bf16_mr>, bf16_nv>;

}  // namespace bigmodel::kernels::detail
