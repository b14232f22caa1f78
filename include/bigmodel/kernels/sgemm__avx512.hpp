#pragma once
// The AVX-512 fp32 micro-kernel: 8 rows x 48 columns (24 zmm accumulators, 3 zmm of B and one broadcast of A
// per k: 11 loads per 24 FMAs). Compiled in a target region: no -m flags needed.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <utility>

#include "sgemm_tile.hpp"

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,fma")

namespace bigmodel::kernels::sgemm_avx512 {

struct sg_vec {
  using reg = __m512;
  static constexpr std::size_t lanes = 16, nv = 3, mr = 8;
  static constexpr detail::sgemm_family family = detail::sgemm_family::avx512;
  static __mmask16 mask(std::size_t n) noexcept { return static_cast<__mmask16>((1u << n) - 1u); }
  static reg zero() noexcept { return _mm512_setzero_ps(); }
  static reg load(const float* p) noexcept { return _mm512_loadu_ps(p); }
  static reg load_part(const float* p, std::size_t n) noexcept { return _mm512_maskz_loadu_ps(mask(n), p); }
  static reg bcast(const float* p) noexcept { return _mm512_set1_ps(*p); }
  static reg set1(float v) noexcept { return _mm512_set1_ps(v); }
  static reg add(reg a, reg b) noexcept { return _mm512_add_ps(a, b); }
  static reg fma(reg a, reg b, reg c) noexcept { return _mm512_fmadd_ps(a, b, c); }
  static reg max0(reg a) noexcept { return _mm512_max_ps(a, _mm512_setzero_ps()); }
  static void store(float* p, reg v) noexcept { _mm512_storeu_ps(p, v); }
  static void store_part(float* p, reg v, std::size_t n) noexcept { _mm512_mask_storeu_ps(p, mask(n), v); }
};

#include "sgemm__tile.inc"

}  // namespace bigmodel::kernels::sgemm_avx512

BIGMODEL_TARGET_END

#endif  // BIGMODEL_KERNELS_X86
