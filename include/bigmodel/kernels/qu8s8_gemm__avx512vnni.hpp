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

BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")

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

  // The same tile with the f32 / u8 / s8 epilogue applied to the accumulator registers and C written directly.
  static void run_fused(const std::uint8_t* a, const std::int8_t* b, std::size_t panel_bytes, std::size_t k_groups,
                        const detail::resolved_epilogue& e, std::size_t m0, std::size_t n0, std::size_t count, std::byte* c,
                        std::size_t ldc) noexcept {
    __m512i acc[Rows][Panels];
    accumulate(a, b, panel_bytes, k_groups, acc);
    switch (e.act) {
      case activation::relu: avx512::store_registers<activation::relu>(e, m0, n0, count, acc, c, ldc); break;
      case activation::gelu: avx512::store_registers<activation::gelu>(e, m0, n0, count, acc, c, ldc); break;
      case activation::gelu_tanh: avx512::store_registers<activation::gelu_tanh>(e, m0, n0, count, acc, c, ldc); break;
      case activation::none: avx512::store_registers<activation::none>(e, m0, n0, count, acc, c, ldc); break;
    }
  }
};

// Packs 8 rows of A for the 8-row tiles, 16 groups of 4 k (64 bytes of each row) per step: the 8 x 16 dword
// block is transposed to [group][row][4] with two rounds of unpacks inside 128-bit lanes and two of lane
// shuffles. s8 activations become u8 + 128 (a flip of the top bit) on the way.
inline void pack_a_rows8(const std::uint8_t* src, std::size_t lda, std::size_t chunks, bool flip_sign,
                         std::uint8_t* dst) noexcept {
  const __m512i flip = _mm512_set1_epi8(flip_sign ? static_cast<char>(0x80) : 0);
  for (std::size_t c = 0; c < chunks; ++c) {
    __m512i r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = _mm512_xor_si512(_mm512_loadu_si512(src + static_cast<std::size_t>(i) * lda + c * 64), flip);
    // Within each 128-bit lane j: t = pairs of rows interleaved by dword.
    const __m512i t0 = _mm512_unpacklo_epi32(r[0], r[1]), t1 = _mm512_unpackhi_epi32(r[0], r[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(r[2], r[3]), t3 = _mm512_unpackhi_epi32(r[2], r[3]);
    const __m512i t4 = _mm512_unpacklo_epi32(r[4], r[5]), t5 = _mm512_unpackhi_epi32(r[4], r[5]);
    const __m512i t6 = _mm512_unpacklo_epi32(r[6], r[7]), t7 = _mm512_unpackhi_epi32(r[6], r[7]);
    // Lane j of u_q holds group 4j + q of rows 0-3, lane j of v_q the same group of rows 4-7.
    const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    const __m512i v0 = _mm512_unpacklo_epi64(t4, t6), v1 = _mm512_unpackhi_epi64(t4, t6);
    const __m512i v2 = _mm512_unpacklo_epi64(t5, t7), v3 = _mm512_unpackhi_epi64(t5, t7);
    // Output vector o holds groups 2o and 2o + 1: lanes (u, v) of one group, then (u, v) of the next.
    const __m512i a0 = _mm512_shuffle_i32x4(u0, v0, 0x44), a1 = _mm512_shuffle_i32x4(u1, v1, 0x44);
    const __m512i a2 = _mm512_shuffle_i32x4(u2, v2, 0x44), a3 = _mm512_shuffle_i32x4(u3, v3, 0x44);
    const __m512i b0 = _mm512_shuffle_i32x4(u0, v0, 0xEE), b1 = _mm512_shuffle_i32x4(u1, v1, 0xEE);
    const __m512i b2 = _mm512_shuffle_i32x4(u2, v2, 0xEE), b3 = _mm512_shuffle_i32x4(u3, v3, 0xEE);
    std::uint8_t* d = dst + c * 512;
    _mm512_storeu_si512(d + 0 * 64, _mm512_shuffle_i32x4(a0, a1, 0x88));  // groups 0, 1
    _mm512_storeu_si512(d + 1 * 64, _mm512_shuffle_i32x4(a2, a3, 0x88));  // 2, 3
    _mm512_storeu_si512(d + 2 * 64, _mm512_shuffle_i32x4(a0, a1, 0xDD));  // 4, 5
    _mm512_storeu_si512(d + 3 * 64, _mm512_shuffle_i32x4(a2, a3, 0xDD));  // 6, 7
    _mm512_storeu_si512(d + 4 * 64, _mm512_shuffle_i32x4(b0, b1, 0x88));  // 8, 9
    _mm512_storeu_si512(d + 5 * 64, _mm512_shuffle_i32x4(b2, b3, 0x88));  // 10, 11
    _mm512_storeu_si512(d + 6 * 64, _mm512_shuffle_i32x4(b0, b1, 0xDD));  // 12, 13
    _mm512_storeu_si512(d + 7 * 64, _mm512_shuffle_i32x4(b2, b3, 0xDD));  // 14, 15
  }
}

}  // namespace bigmodel::kernels::avx512vnni

BIGMODEL_TARGET_END

namespace bigmodel::kernels::avx512vnni {
[[nodiscard]] inline const detail::isa_kernels& kernels() noexcept {
  static constexpr detail::isa_kernels k{detail::make_tile_table<qu8s8_gemm_tile__avx512vnni>(), &avx512::store_tile,
                                          detail::make_fused_table<qu8s8_gemm_tile__avx512vnni>(), &pack_a_rows8};
  return k;
}
}  // namespace bigmodel::kernels::avx512vnni

#endif  // BIGMODEL_KERNELS_X86
