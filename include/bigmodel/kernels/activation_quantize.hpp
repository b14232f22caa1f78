#pragma once
// Row kernels of dynamic activation quantization (linear_dynamic): the min / max of a row and
// q = clamp(nearbyint(x * (1 / s)) + zp, 0, 255). An AVX-512 version (16 floats per step, the u8 narrowing
// done by vpmovdb, masked tails) runs when the active ISA is an AVX-512 one, an AVX2 version (8 floats per
// step) when it is AVX2; otherwise the portable xsimd version. All compute the same values: the clamp happens
// before rounding in the same operand order, and vcvtps2dq rounds to nearest even like nearbyint in the
// default rounding mode. quantize_tile_packed_with
// writes the same values straight into the packed A layout of a GEMM tile (what linear_dynamic uses).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "epilogue_eval.hpp"
#include "isa.hpp"

#if BIGMODEL_KERNELS_X86
#include <immintrin.h>
#endif

namespace bigmodel::kernels {

struct activation_quantization {
  float scale;
  std::int32_t zero_point;
};

namespace detail {

// Portable: xsimd batches of the build's baseline width.
inline void min_max_portable(const float* x, std::size_t k, float& lo, float& hi) noexcept {
  using vec = xsimd::batch<float>;
  std::size_t j = 0;
  vec vlo(lo), vhi(hi);
  for (; j + vec::size <= k; j += vec::size) {
    const vec v = vec::load_unaligned(x + j);
    vlo = xsimd::min(vlo, v);
    vhi = xsimd::max(vhi, v);
  }
  alignas(64) float tl[vec::size], th[vec::size];
  vlo.store_aligned(tl);
  vhi.store_aligned(th);
  for (std::size_t t = 0; t < vec::size; ++t) {
    lo = std::min(lo, tl[t]);
    hi = std::max(hi, th[t]);
  }
  for (; j < k; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
}

inline void quantize_row_portable(const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
  using vec = xsimd::batch<float>;
  const float inv = 1.0f / q.scale, lo = static_cast<float>(-q.zero_point), hi = static_cast<float>(255 - q.zero_point);
  std::size_t j = 0;
  alignas(64) std::int32_t tmp[vec::size];
  for (; j + vec::size <= k; j += vec::size) {
    vec v = vec::load_unaligned(x + j) * vec(inv);
    v = xsimd::min(xsimd::max(v, vec(lo)), vec(hi));
    (xsimd::nearbyint_as_int(v) + xsimd::batch<std::int32_t>(q.zero_point)).store_aligned(tmp);
    for (std::size_t t = 0; t < vec::size; ++t) out[j + t] = static_cast<std::uint8_t>(tmp[t]);
  }
  for (; j < k; ++j) out[j] = static_cast<std::uint8_t>(requantize_scalar(x[j], inv, q.zero_point, 0, 255));
}

}  // namespace detail
}  // namespace bigmodel::kernels

#if BIGMODEL_KERNELS_X86
BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq")

namespace bigmodel::kernels::detail {

inline void min_max_avx512(const float* x, std::size_t k, float& lo, float& hi) noexcept {
  __m512 lo0 = _mm512_set1_ps(lo), hi0 = _mm512_set1_ps(hi), lo1 = lo0, hi1 = hi0;
  std::size_t j = 0;
  for (; j + 32 <= k; j += 32) {  // two chains hide the min/max latency
    __m512 a = _mm512_loadu_ps(x + j), b = _mm512_loadu_ps(x + j + 16);
    // Keep each vector in a register: GCC otherwise folds the load into both vminps and vmaxps, and the
    // doubled loads (not the arithmetic) then bound the loop when the row is in L1 / L2 (2x slower).
    asm("" : "+v"(a), "+v"(b));
    lo0 = _mm512_min_ps(lo0, a), hi0 = _mm512_max_ps(hi0, a);
    lo1 = _mm512_min_ps(lo1, b), hi1 = _mm512_max_ps(hi1, b);
  }
  for (; j < k; j += 16) {
    const auto m = static_cast<__mmask16>(k - j >= 16 ? 0xFFFFu : (1u << (k - j)) - 1u);
    __m512 a = _mm512_mask_loadu_ps(lo0, m, x + j);  // lanes past the row repeat lo0: neutral for the min
    const __m512 b = _mm512_mask_loadu_ps(hi0, m, x + j);
    lo0 = _mm512_min_ps(lo0, a), hi0 = _mm512_max_ps(hi0, b);
  }
  lo = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1));
  hi = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
}

inline void quantize_row_avx512(const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
  const __m512 inv = _mm512_set1_ps(1.0f / q.scale);
  const __m512 lo = _mm512_set1_ps(static_cast<float>(-q.zero_point)), hi = _mm512_set1_ps(static_cast<float>(255 - q.zero_point));
  const __m512i zp = _mm512_set1_epi32(q.zero_point);
  auto step = [&](__m512 v) {
    v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), lo), hi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), zp);  // in [0, 255]: the narrowing below is exact
  };
  std::size_t j = 0;
  for (; j + 16 <= k; j += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm512_cvtepi32_epi8(step(_mm512_loadu_ps(x + j))));
  if (j < k) {
    const auto m = static_cast<__mmask16>((1u << (k - j)) - 1u);
    _mm512_mask_cvtepi32_storeu_epi8(out + j, m, step(_mm512_maskz_loadu_ps(m, x + j)));
  }
}

// Quantizes 8 rows of x (ldx apart, each with its own parameters) straight into the packed A layout of an
// 8-row GEMM tile: [kp / 4][8][4] bytes, K zero-padded to kp (a multiple of 4). Per 16 k of each row:
// v = min(x * (1 / s), 255 - zp) (NaN stays NaN), round to nearest even, + zp; the signed-saturating dword ->
// word and word -> u8 packs then clamp to [0, 255] (NaN and -inf convert to INT_MIN, hence 0). That is the
// value quantize_row computes: rounding is monotone and the clamp bounds -zp, 255 - zp are integers.
// The two packs leave, in 128-bit lane g of the result, group g of four rows; two permutes interleave the
// two halves of the tile into [group][8 rows].
inline void quantize_rows8_packed_avx512(const float* x, std::size_t ldx, std::size_t k, std::size_t kp,
                                         const activation_quantization* q, std::uint8_t* dst) noexcept {
  __m512 inv[8], hi[8];
  __m512i zp[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    inv[r] = _mm512_set1_ps(1.0f / q[r].scale);
    hi[r] = _mm512_set1_ps(static_cast<float>(255 - q[r].zero_point));
    zp[r] = _mm512_set1_epi32(q[r].zero_point);
  }
  const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
  std::size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    __m512i v[8];
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      __m512 f = _mm512_min_ps(hi[r], _mm512_mul_ps(_mm512_loadu_ps(x + static_cast<std::size_t>(r) * ldx + j), inv[r]));
      v[r] = _mm512_add_epi32(_mm512_cvtps_epi32(f), zp[r]);
    }
    const __m512i lo = _mm512_packus_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
    const __m512i up = _mm512_packus_epi16(_mm512_packs_epi32(v[4], v[5]), _mm512_packs_epi32(v[6], v[7]));
    _mm512_storeu_si512(dst + j * 8, _mm512_permutex2var_epi64(lo, first, up));
    _mm512_storeu_si512(dst + j * 8 + 64, _mm512_permutex2var_epi64(lo, second, up));
  }
  if (j < kp) {  // 1-15 k left, then padding up to kp: 1-4 groups of 32 bytes to store
    const std::size_t left = k - j, groups = (kp - j) / 4;
    const auto valid = static_cast<__mmask16>((1u << left) - 1u);
    const auto store0 = static_cast<__mmask16>(groups >= 2 ? 0xFFFFu : 0x00FFu);
    const auto store1 = static_cast<__mmask16>(groups >= 4 ? 0xFFFFu : groups == 3 ? 0x00FFu : 0u);
    __m512i v[8];
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      const __m512 f = _mm512_maskz_loadu_ps(valid, x + static_cast<std::size_t>(r) * ldx + j);
      v[r] = _mm512_maskz_add_epi32(valid, _mm512_cvtps_epi32(_mm512_min_ps(hi[r], _mm512_mul_ps(f, inv[r]))), zp[r]);  // padding: 0
    }
    const __m512i lo = _mm512_packus_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
    const __m512i up = _mm512_packus_epi16(_mm512_packs_epi32(v[4], v[5]), _mm512_packs_epi32(v[6], v[7]));
    _mm512_mask_storeu_epi32(dst + j * 8, store0, _mm512_permutex2var_epi64(lo, first, up));
    _mm512_mask_storeu_epi32(dst + j * 8 + 64, store1, _mm512_permutex2var_epi64(lo, second, up));
  }
}

}  // namespace bigmodel::kernels::detail

BIGMODEL_TARGET_END
#endif  // BIGMODEL_KERNELS_X86

#if BIGMODEL_KERNELS_X86
BIGMODEL_TARGET_BEGIN("avx2,fma")

namespace bigmodel::kernels::detail {

inline void min_max_avx2(const float* x, std::size_t k, float& lo, float& hi) noexcept {
  __m256 lo0 = _mm256_set1_ps(lo), hi0 = _mm256_set1_ps(hi), lo1 = lo0, hi1 = hi0;
  std::size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    const __m256 a = _mm256_loadu_ps(x + j), b = _mm256_loadu_ps(x + j + 8);
    lo0 = _mm256_min_ps(lo0, a), hi0 = _mm256_max_ps(hi0, a);
    lo1 = _mm256_min_ps(lo1, b), hi1 = _mm256_max_ps(hi1, b);
  }
  for (; j + 8 <= k; j += 8) {
    const __m256 a = _mm256_loadu_ps(x + j);
    lo0 = _mm256_min_ps(lo0, a), hi0 = _mm256_max_ps(hi0, a);
  }
  alignas(32) float tl[8], th[8];
  _mm256_store_ps(tl, _mm256_min_ps(lo0, lo1));
  _mm256_store_ps(th, _mm256_max_ps(hi0, hi1));
  for (int t = 0; t < 8; ++t) lo = std::min(lo, tl[t]), hi = std::max(hi, th[t]);
  for (; j < k; ++j) lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
}

inline void quantize_row_avx2(const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
  const float inv_s = 1.0f / q.scale;
  const __m256 inv = _mm256_set1_ps(inv_s);
  const __m256 lo = _mm256_set1_ps(static_cast<float>(-q.zero_point)), hi = _mm256_set1_ps(static_cast<float>(255 - q.zero_point));
  const __m256i zp = _mm256_set1_epi32(q.zero_point);
  std::size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), inv), lo), hi);
    const __m256i i32 = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);  // in [0, 255]: the packs below are exact
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + j), _mm_packus_epi16(w16, w16));
  }
  for (; j < k; ++j) out[j] = static_cast<std::uint8_t>(requantize_scalar(x[j], inv_s, q.zero_point, 0, 255));
}

// Rows 0-3 of 8 s32 values each to u8 with saturation: k 0-3 of the four rows in the low 128-bit lane, k 4-7 in
// the high one.
[[gnu::always_inline]] inline __m256i pack_rows4_u8(const __m256i (&v)[4]) noexcept {
  return _mm256_packus_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
}

// Quantizes 4 rows of x (ldx apart, each with its own parameters) straight into the packed A layout of a
// 4-row GEMM tile: [kp / 4][4][4] bytes, K zero-padded to kp. Per 8 k of each row: v = min(x * (1 / s),
// 255 - zp) (NaN stays NaN), round to nearest even, + zp; the signed-saturating dword -> word and word -> u8
// packs then clamp to [0, 255] (NaN and -inf convert to INT_MIN, hence 0): the value quantize_row computes.
// The packs leave k 0-3 of the four rows in the low 128-bit lane and k 4-7 in the high one, which is the
// packed layout already.
inline void quantize_rows4_packed_avx2(const float* x, std::size_t ldx, std::size_t k, std::size_t kp,
                                       const activation_quantization* q, std::uint8_t* dst) noexcept {
  __m256 inv[4], hi[4];
  __m256i zp[4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    inv[r] = _mm256_set1_ps(1.0f / q[r].scale);
    hi[r] = _mm256_set1_ps(static_cast<float>(255 - q[r].zero_point));
    zp[r] = _mm256_set1_epi32(q[r].zero_point);
  }
  std::size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    __m256i v[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256 f = _mm256_min_ps(hi[r], _mm256_mul_ps(_mm256_loadu_ps(x + static_cast<std::size_t>(r) * ldx + j), inv[r]));
      v[r] = _mm256_add_epi32(_mm256_cvtps_epi32(f), zp[r]);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j * 4), pack_rows4_u8(v));
  }
  if (j < kp) {  // 1-7 k left, then padding up to kp: 1 or 2 groups of 16 bytes to store
    const std::size_t left = k - j, groups = (kp - j) / 4;
    const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i v[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256 f = _mm256_maskload_ps(x + static_cast<std::size_t>(r) * ldx + j, valid);
      v[r] = _mm256_and_si256(valid, _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(hi[r], _mm256_mul_ps(f, inv[r]))), zp[r]));  // padding: 0
    }
    const __m256i b = pack_rows4_u8(v);
    if (groups >= 2) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j * 4), b);
    else _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + j * 4), _mm256_castsi256_si128(b));
  }
}

}  // namespace bigmodel::kernels::detail

BIGMODEL_TARGET_END
#endif  // BIGMODEL_KERNELS_X86

namespace bigmodel::kernels::detail {

// Which row kernels run: the AVX-512 ones when the active ISA is an AVX-512 one, the AVX2 ones when it is AVX2,
// else the portable ones (scalar / xsimd ISAs, non-x86).
enum class row_path : int { portable, avx2, avx512 };

[[nodiscard]] inline row_path activation_row_path() noexcept {
#if BIGMODEL_KERNELS_X86
  const isa i = active_isa();
  if ((i == isa::avx512bw || i == isa::avx512vnni) && is_supported(i)) return row_path::avx512;
  if (i == isa::avx2 && is_supported(i)) return row_path::avx2;
#endif
  return row_path::portable;
}

// lo / hi widened by the row's values (callers seed them with the first element). The *_with forms take
// activation_row_path() from the caller, who asks once instead of once per row.
inline void min_max_with(row_path path, const float* x, std::size_t k, float& lo, float& hi) noexcept {
#if BIGMODEL_KERNELS_X86
  if (path == row_path::avx512) return min_max_avx512(x, k, lo, hi);
  if (path == row_path::avx2) return min_max_avx2(x, k, lo, hi);
#else
  (void)path;
#endif
  min_max_portable(x, k, lo, hi);
}
inline void min_max(const float* x, std::size_t k, float& lo, float& hi) noexcept {
  min_max_with(activation_row_path(), x, k, lo, hi);
}

inline void quantize_row_with(row_path path, const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
#if BIGMODEL_KERNELS_X86
  if (path == row_path::avx512) return quantize_row_avx512(x, k, q, out);
  if (path == row_path::avx2) return quantize_row_avx2(x, k, q, out);
#else
  (void)path;
#endif
  quantize_row_portable(x, k, q, out);
}
inline void quantize_row(const float* x, std::size_t k, activation_quantization q, std::uint8_t* out) noexcept {
  quantize_row_with(activation_row_path(), x, k, q, out);
}

// Quantizes `rows` rows of x (ldx apart, row i with q[i]) into the packed layout of one GEMM tile of that
// many rows, [kp / 4][rows][4] (see pack_a in gemm_driver.hpp), K zero-padded to kp. Same values as
// quantize_row. 8-row tiles on AVX-512 and 4-row tiles on AVX2 (each ISA's large-M tile height) go through
// registers; otherwise each row is quantized 256 values at a time into a small buffer and interleaved from there.
inline void quantize_tile_packed_with(row_path path, const float* x, std::size_t ldx, std::size_t rows, std::size_t k,
                                      std::size_t kp, const activation_quantization* q, std::uint8_t* dst) noexcept {
#if BIGMODEL_KERNELS_X86
  if (rows == 8 && path == row_path::avx512) return quantize_rows8_packed_avx512(x, ldx, k, kp, q, dst);
  if (rows == 4 && path == row_path::avx2) return quantize_rows4_packed_avx2(x, ldx, k, kp, q, dst);
#endif
  constexpr std::size_t chunk = 256;
  alignas(64) std::uint8_t tmp[chunk];
  const std::size_t step = rows * 4;
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j0 = 0; j0 < kp; j0 += chunk) {  // j0 < kp = K rounded up to 4 implies j0 < K
      const std::size_t len = std::min(chunk, k - j0), padded = std::min(chunk, kp - j0);
      quantize_row_with(path, x + i * ldx + j0, len, q[i], tmp);
      std::fill(tmp + len, tmp + padded, std::uint8_t{0});
      std::uint8_t* d = dst + j0 / 4 * step + i * 4;
      for (std::size_t g = 0; g < padded / 4; ++g) std::memcpy(d + g * step, tmp + g * 4, 4);
    }
}

}  // namespace bigmodel::kernels::detail
