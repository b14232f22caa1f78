#pragma once
// What the fp32 GEMM driver (sgemm.hpp) hands each ISA's micro-kernel: one tile of at most mr rows x nr columns
// of C over one block of K, B read from a panel (nr floats per k, zero past N; packed or in place), A read in place
// (row-major, any lda) with broadcasts. The epilogue is fused into the tile's store:
//   C = (prev + alpha * sum_k A[i][k] B[k][j]) + bias[j] (bias != nullptr),  prev = C (load_c), else 0,
// then max(C, 0) when relu. The driver sets load_c on every K block but the first, and on the first too when
// the caller accumulates into C; bias and relu only on the last block (the bias then rounds once onto the finished
// sum, as an Add after the GEMM would: bias_add.hpp relies on it).

#include <array>
#include <cstddef>

namespace bigmodel::kernels::detail {

struct sgemm_tile_args {
  const float* a;     // A[row0][k0]
  std::size_t lda;    // floats between rows of A
  const float* b;     // panel at k0: b[k * ldb + j], j < nr
  std::size_t ldb;    // floats between k steps of the panel (nr when packed)
  std::size_t kc;     // K steps in this block (may be 0)
  float* c;           // C[row0][col0]
  std::size_t ldc;    // floats between rows of C
  std::size_t cols;   // valid columns of the panel, 1..nr
  float alpha;
  const float* bias;  // bias[col0], or nullptr
  bool load_c;
  bool relu;
};

// tiles[r - 1] handles r rows, r = 1..mr, all nr columns; narrow[w - 1][r - 1] only the first w registers of
// the panel (w * nr / nv columns, w = 1..nv): the last panel of a narrow N (attention's D = 64 is one panel of
// 48 and 16 columns) then costs its own width, not a whole tile's.
using sgemm_tile_fn = void (*)(const sgemm_tile_args&) noexcept;
inline constexpr std::size_t sgemm_max_mr = 16, sgemm_max_nv = 4;

// The packed-B format of a kernel family: panels of nr columns. Packed weights record the family.
enum class sgemm_family : int { portable = 0, avx2 = 1, avx512 = 2 };

struct sgemm_kernels {
  sgemm_family family;
  std::size_t mr, nr, nv;
  std::array<sgemm_tile_fn, sgemm_max_mr> tiles;
  std::array<std::array<sgemm_tile_fn, sgemm_max_mr>, sgemm_max_nv> narrow;
};

}  // namespace bigmodel::kernels::detail
