#pragma once
// AVX-512 VNNI: vpdpbusd multiplies 4 u8 activations by 4 s8 weights and adds the 4 products to one s32
// lane, 64 MACs per instruction. One zmm of packed B is 16 columns x 4 k; each row of A is broadcast 4 bytes
// at a time. s8 activations arrive shifted by +128 (see gemm.hpp), the column sums undo it in the epilogue.

#include "isa.hpp"
#if BIGMODEL_KERNELS_X86

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "avx512_epilogue.hpp"
#include "tile_kernels.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma"))), apply_to = function)
#else
// GCC 12 reports the deliberate self-initialization inside _mm512_undefined_*() as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")
#endif

namespace bigmodel::kernels::avx512vnni {

// Rows x (Panels * 16) s32 accumulators live in zmm registers for the whole K loop.
template <int Rows, int Panels>
struct qu8s8_gemm_tile__avx512vnni {
  [[gnu::always_inline]] static inline void accumulate(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                                                       std::size_t k_groups, __m512i (&acc)[Rows][Panels]) noexcept {
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) acc[r][p] = _mm512_setzero_si512();
    for (std::size_t g = 0; g < k_groups; ++g) {
      __m512i w[Panels];
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) w[p] = _mm512_loadu_si512(b + static_cast<std::size_t>(p) * panel_bytes + g * 64);
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        std::int32_t four;
        std::memcpy(&four, a + (g * Rows + static_cast<std::size_t>(r)) * 4, 4);
        const __m512i x = _mm512_set1_epi32(four);
#pragma GCC unroll 4
        for (int p = 0; p < Panels; ++p) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, w[p]);
      }
    }
  }

  static void run(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes,
                  std::size_t k_groups, std::int32_t* tile, std::size_t ldt) noexcept {
    __m512i acc[Rows][Panels];
    accumulate(a, b, panel_bytes, k_groups, acc);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p)
        _mm512_storeu_si512(tile + static_cast<std::size_t>(r) * ldt + static_cast<std::size_t>(p) * 16, acc[r][p]);
  }

  // The same tile with the f32 epilogue applied to the accumulator registers and C written directly.
  static void run_f32(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes, std::size_t k_groups,
                      const detail::resolved_epilogue& e, std::size_t m0, std::size_t n0, std::size_t count, float* c,
                      std::size_t ldc) noexcept {
    __m512i acc[Rows][Panels];
    accumulate(a, b, panel_bytes, k_groups, acc);
    switch (e.act) {
      case activation::relu: avx512::store_registers_f32<activation::relu>(e, m0, n0, count, acc, c, ldc); break;
      case activation::gelu: avx512::store_registers_f32<activation::gelu>(e, m0, n0, count, acc, c, ldc); break;
      case activation::none: avx512::store_registers_f32<activation::none>(e, m0, n0, count, acc, c, ldc); break;
    }
  }
};

}  // namespace bigmodel::kernels::avx512vnni

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#pragma GCC diagnostic pop
#endif

namespace bigmodel::kernels::avx512vnni {
[[nodiscard]] inline const detail::isa_kernels& kernels() noexcept {
  static constexpr detail::isa_kernels k{detail::make_tile_table<qu8s8_gemm_tile__avx512vnni>(), &avx512::store_tile,
                                          detail::make_fused_f32_table<qu8s8_gemm_tile__avx512vnni>()};
  return k;
}
}  // namespace bigmodel::kernels::avx512vnni

#endif  // BIGMODEL_KERNELS_X86
