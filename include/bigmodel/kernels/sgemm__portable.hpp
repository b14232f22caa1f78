#pragma once
// The portable fp32 micro-kernel (any CPU, any compiler): 4 rows x 8 columns of plain float accumulators in
// loops of fixed trip count, which the compiler vectorizes for the baseline of the build (SSE2 on x86-64,
// NEON on AArch64).

#include <algorithm>
#include <cstddef>
#include <utility>

#include "sgemm_tile.hpp"

namespace bigmodel::kernels::sgemm_portable {

inline constexpr std::size_t mr = 4, nr = 8;  // 8 accumulator registers of 4 floats (SSE2), B in 2

template <std::size_t Rows>
inline void sgemm_tile(const detail::sgemm_tile_args& t) noexcept {
  float acc[Rows][nr] = {};
  const float* b = t.b;
  for (std::size_t k = 0; k < t.kc; ++k, b += t.ldb) {
    float bk[nr];
    for (std::size_t j = 0; j < nr; ++j) bk[j] = b[j];
    for (std::size_t i = 0; i < Rows; ++i) {
      const float av = t.a[i * t.lda + k];
      for (std::size_t j = 0; j < nr; ++j) acc[i][j] += av * bk[j];
    }
  }
  const std::size_t cols = std::min(t.cols, nr);
  for (std::size_t i = 0; i < Rows; ++i) {
    float* c = t.c + i * t.ldc;
    for (std::size_t j = 0; j < cols; ++j) {
      float prev = t.bias == nullptr ? 0.0f : t.bias[j];
      if (t.load_c) prev += c[j];
      float v = acc[i][j] * t.alpha + prev;
      if (t.relu) v = v > 0.0f ? v : 0.0f;
      c[j] = v;
    }
  }
}

template <std::size_t... R>
constexpr detail::sgemm_kernels make_table(std::index_sequence<R...>) noexcept {
  return {detail::sgemm_family::portable, mr, nr, 1, {&sgemm_tile<R + 1>...}, {}};
}
inline constexpr detail::sgemm_kernels sgemm_table = make_table(std::make_index_sequence<mr>{});

}  // namespace bigmodel::kernels::sgemm_portable
