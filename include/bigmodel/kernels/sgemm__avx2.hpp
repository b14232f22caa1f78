#pragma once
// The AVX2 + FMA fp32 micro-kernel: 6 rows x 16 columns (12 ymm accumulators, 2 ymm of B and one broadcast
// of A per k: 15 of the 16 ymm registers). Compiled in a target region: no -m flags needed.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <utility>

#include "sgemm_tile.hpp"

BIGMODEL_TARGET_BEGIN("avx2,fma")

namespace bigmodel::kernels::sgemm_avx2 {

struct sg_vec {
  using reg = __m256;
  static constexpr std::size_t lanes = 8, nv = 2, mr = 6;
  static constexpr detail::sgemm_family family = detail::sgemm_family::avx2;
  static __m256i mask(std::size_t n) noexcept {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg zero() noexcept { return _mm256_setzero_ps(); }
  static reg load(const float* p) noexcept { return _mm256_loadu_ps(p); }
  static reg load_part(const float* p, std::size_t n) noexcept { return _mm256_maskload_ps(p, mask(n)); }
  static reg bcast(const float* p) noexcept { return _mm256_broadcast_ss(p); }
  static reg set1(float v) noexcept { return _mm256_set1_ps(v); }
  static reg add(reg a, reg b) noexcept { return _mm256_add_ps(a, b); }
  static reg fma(reg a, reg b, reg c) noexcept { return _mm256_fmadd_ps(a, b, c); }
  static reg max0(reg a) noexcept { return _mm256_max_ps(a, _mm256_setzero_ps()); }
  static void store(float* p, reg v) noexcept { _mm256_storeu_ps(p, v); }
  static void store_part(float* p, reg v, std::size_t n) noexcept { _mm256_maskstore_ps(p, mask(n), v); }
};

#include "sgemm__tile.inc"

}  // namespace bigmodel::kernels::sgemm_avx2

BIGMODEL_TARGET_END

#endif  // BIGMODEL_KERNELS_X86
