#pragma once
// f32 activations quantized to symmetric s8 straight into the int8 GEMM's packed B layout, per call, for the
// products whose "weights" are activations themselves: attention's kᵀ (q · kᵀ) and v (p · v).
//
//   quantize_pack_rows:    B[kk][j] = q(x[j][kk]),  one scale per row j of x   (kᵀ: one scale per key)
//   quantize_pack_columns: B[kk][e] = q(x[kk][e]),  one scale per column e of x (v: one scale per channel)
//
// q(x) = clamp(nearbyint(x * 127 / amax), -127, 127) with amax the largest |x| of the row / column, and
// scale = amax / 127 (1 when amax is 0), so the epilogue's per-channel w_scale undoes it: |x - q(x) scale| <=
// scale / 2. A row / column holding a NaN or an infinity gets scale NaN (and codes 0, or -127 where x * 0 is NaN):
// the products it enters are NaN, as in f32, never finite garbage.
// The output reuses `out`'s buffer (packed_weights::reset): no allocation once grown. The AVX2 packers (any
// target whose panels are a multiple of 8 columns, for lengths that are multiples of 8) give the same bytes as
// the scalar ones; tests/kernels/quantize_pack_test.cpp checks both against pack_weights of the codes.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "packed_weights.hpp"

#if BIGMODEL_KERNELS_X86
#include <immintrin.h>
#endif

namespace bigmodel::kernels {

namespace detail {

struct symmetric_s8 {
  float scale, inv;
};
// amax: the largest |x|; bad: some x was NaN or infinite.
[[nodiscard]] inline symmetric_s8 symmetric_range(float amax, bool bad) noexcept {
  if (bad) return {std::numeric_limits<float>::quiet_NaN(), 0.0f};
  if (!(amax > 0.0f)) return {1.0f, 0.0f};
  return {amax / 127.0f, 127.0f / amax};
}
// The clamps are written as x86's max / min (the second operand when the first is NaN): NaN gives -127.
[[nodiscard]] inline std::int8_t quantize_s8(float x, float inv) noexcept {
  float v = x * inv;
  v = v > -127.0f ? v : -127.0f;
  v = v < 127.0f ? v : 127.0f;
  return static_cast<std::int8_t>(std::nearbyint(v));
}
[[nodiscard]] inline bool finite_abs(float x, float& amax) noexcept {
  const float a = std::fabs(x);
  if (!(a <= std::numeric_limits<float>::max())) return false;
  amax = a > amax ? a : amax;
  return true;
}

inline void check_quantize_pack(const float* x, std::size_t k, std::size_t n, std::size_t ldx, std::size_t row_len,
                                const float* scales, isa target, const char* what) {
  auto ctx = [&] { return "k=" + std::to_string(k) + " n=" + std::to_string(n) + " ldx=" + std::to_string(ldx); };
  if (k == 0 || n == 0) throw error("kernels.bad_argument", std::string(what) + ": empty matrix", ctx());
  if (x == nullptr || scales == nullptr) throw error("kernels.bad_argument", std::string(what) + ": null pointer", ctx());
  if (ldx < row_len) throw error("kernels.bad_argument", std::string(what) + ": leading dimension smaller than a row", ctx());
  if (!is_compiled(target)) throw error("kernels.isa_unsupported", std::string(what) + ": ISA not compiled in", std::string(isa_name(target)));
}

inline void quantize_pack_rows_scalar(const float* x, std::size_t n, std::size_t k, std::size_t ldx, packed_weights& out, float* scales) {
  const std::size_t nr = out.nr();
  std::int8_t* data = out.mutable_data();
  std::int32_t* sums = out.mutable_column_sums();
  for (std::size_t j = 0; j < n; ++j) {
    const float* row = x + j * ldx;
    float amax = 0.0f;
    bool bad = false;
    for (std::size_t kk = 0; kk < k; ++kk) bad |= !finite_abs(row[kk], amax);
    const symmetric_s8 r = symmetric_range(amax, bad);
    scales[j] = r.scale;
    std::int8_t* panel = data + (j / nr) * out.panel_bytes() + (j % nr) * k_group;
    std::int32_t sum = 0;
    for (std::size_t kk = 0; kk < k; ++kk) {
      const std::int8_t v = quantize_s8(row[kk], r.inv);
      panel[(kk / k_group) * nr * k_group + kk % k_group] = v;
      sum += v;
    }
    sums[j] = sum;
  }
}

inline void quantize_pack_columns_scalar(const float* x, std::size_t k, std::size_t n, std::size_t ldx, packed_weights& out,
                                         float* scales) {
  const std::size_t nr = out.nr();
  std::int8_t* data = out.mutable_data();
  std::int32_t* sums = out.mutable_column_sums();
  for (std::size_t e = 0; e < n; ++e) {
    float amax = 0.0f;
    bool bad = false;
    for (std::size_t kk = 0; kk < k; ++kk) bad |= !finite_abs(x[kk * ldx + e], amax);
    const symmetric_s8 r = symmetric_range(amax, bad);
    scales[e] = r.scale;
    std::int8_t* panel = data + (e / nr) * out.panel_bytes() + (e % nr) * k_group;
    std::int32_t sum = 0;
    for (std::size_t kk = 0; kk < k; ++kk) {
      const std::int8_t v = quantize_s8(x[kk * ldx + e], r.inv);
      panel[(kk / k_group) * nr * k_group + kk % k_group] = v;
      sum += v;
    }
    sums[e] = sum;
  }
}

}  // namespace detail
}  // namespace bigmodel::kernels

#if BIGMODEL_KERNELS_X86
BIGMODEL_TARGET_BEGIN("avx2,fma")

namespace bigmodel::kernels::detail {

// 8 floats times inv (per lane), clamped as quantize_s8 does (vmaxps / vminps give the second operand for NaN),
// to s32 codes (cvtps rounds to nearest even, as nearbyint does in the default rounding mode).
[[gnu::always_inline]] inline __m256i quantize8_avx2(__m256 x, __m256 inv) noexcept {
  __m256 v = _mm256_mul_ps(x, inv);
  v = _mm256_max_ps(v, _mm256_set1_ps(-127.0f));
  v = _mm256_min_ps(v, _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(v);
}
// |x| and whether some lane of it is NaN or above FLT_MAX.
[[gnu::always_inline]] inline __m256 abs8_avx2(__m256 x) noexcept { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
[[gnu::always_inline]] inline int not_finite8_avx2(__m256 a) noexcept {
  return _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(std::numeric_limits<float>::max()), _CMP_NLE_UQ));
}
[[gnu::always_inline]] inline float hmax8_avx2(__m256 v) noexcept {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
[[gnu::always_inline]] inline std::int32_t hsum8_avx2(__m256i v) noexcept {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// kᵀ: n rows of k floats (k a multiple of 8) -> panels of nr columns (nr a multiple of 8); the 4 bytes of one row's
// group of 4 k fill one 32-bit slot, slots of one group nr * 4 bytes apart.
inline void quantize_pack_rows_avx2(const float* x, std::size_t n, std::size_t k, std::size_t ldx, packed_weights& out,
                                    float* scales) noexcept {
  std::int8_t* data = out.mutable_data();
  std::int32_t* sums = out.mutable_column_sums();
  const std::size_t nr = out.nr(), pb = out.panel_bytes(), group_bytes = nr * k_group;
  // The low byte of each s32 lane, per 128-bit half: bytes 0-3 of each half hold its 4 codes.
  const __m256i low_bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                             0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  for (std::size_t j = 0; j < n; ++j) {
    const float* row = x + j * ldx;
    __m256 amax = _mm256_setzero_ps();
    int bad = 0;
    for (std::size_t kk = 0; kk < k; kk += 8) {
      const __m256 a = abs8_avx2(_mm256_loadu_ps(row + kk));
      bad |= not_finite8_avx2(a);
      amax = _mm256_max_ps(amax, a);
    }
    const symmetric_s8 r = symmetric_range(hmax8_avx2(amax), bad != 0);
    scales[j] = r.scale;
    const __m256 inv = _mm256_set1_ps(r.inv);
    std::int8_t* slot = data + (j / nr) * pb + (j % nr) * k_group;
    __m256i sum = _mm256_setzero_si256();
    for (std::size_t kk = 0; kk < k; kk += 8) {
      const __m256i q = quantize8_avx2(_mm256_loadu_ps(row + kk), inv);
      sum = _mm256_add_epi32(sum, q);
      const __m256i b = _mm256_shuffle_epi8(q, low_bytes);  // codes are in [-127, 127]: the low byte is exact
      const auto w0 = static_cast<std::uint32_t>(_mm256_extract_epi32(b, 0)), w1 = static_cast<std::uint32_t>(_mm256_extract_epi32(b, 4));
      std::int8_t* g = slot + (kk / k_group) * group_bytes;
      std::memcpy(g, &w0, 4), std::memcpy(g + group_bytes, &w1, 4);
    }
    sums[j] = hsum8_avx2(sum);
  }
}

// v: k rows of n floats (n a multiple of 8) -> per group of 4 rows and 8 columns, one 32-byte store of 8 slots,
// each slot one column's 4 codes (rows past k are zero codes).
inline void quantize_pack_columns_avx2(const float* x, std::size_t k, std::size_t n, std::size_t ldx, packed_weights& out,
                                       float* scales) {
  thread_local std::vector<float> inv_of;
  inv_of.resize(n);
  for (std::size_t e = 0; e < n; e += 8) {
    __m256 amax = _mm256_setzero_ps();
    int bad = 0;
    for (std::size_t kk = 0; kk < k; ++kk) {
      const __m256 a = abs8_avx2(_mm256_loadu_ps(x + kk * ldx + e));
      bad |= not_finite8_avx2(a);
      amax = _mm256_max_ps(amax, a);
    }
    alignas(32) float m[8];
    _mm256_store_ps(m, amax);
    for (std::size_t t = 0; t < 8; ++t) {
      const symmetric_s8 r = symmetric_range(m[t], ((bad >> t) & 1) != 0);
      scales[e + t] = r.scale;
      inv_of[e + t] = r.inv;
    }
  }
  std::int8_t* data = out.mutable_data();
  std::int32_t* sums = out.mutable_column_sums();
  const std::size_t nr = out.nr(), pb = out.panel_bytes(), group_bytes = nr * k_group;
  const __m256i byte = _mm256_set1_epi32(0xff);
  for (std::size_t e = 0; e < n; e += 8) {
    const __m256 inv = _mm256_loadu_ps(inv_of.data() + e);
    std::int8_t* cols = data + (e / nr) * pb + (e % nr) * k_group;
    __m256i sum = _mm256_setzero_si256();
    for (std::size_t kk = 0; kk < k; kk += k_group) {
      __m256i word = _mm256_setzero_si256();
      for (std::size_t t = 0; t < k_group && kk + t < k; ++t) {
        const __m256i q = quantize8_avx2(_mm256_loadu_ps(x + (kk + t) * ldx + e), inv);
        sum = _mm256_add_epi32(sum, q);
        word = _mm256_or_si256(word, _mm256_sll_epi32(_mm256_and_si256(q, byte), _mm_cvtsi32_si128(static_cast<int>(8 * t))));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(cols + (kk / k_group) * group_bytes), word);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums + e), sum);
  }
}

}  // namespace bigmodel::kernels::detail

BIGMODEL_TARGET_END
#endif

namespace bigmodel::kernels {

namespace detail {
// The AVX2 packers write panels of any multiple of 8 columns (AVX2's 8, AVX-512's 16: packing is only a layout),
// where this CPU has AVX2 and the length they vectorize over is a multiple of 8.
[[nodiscard]] inline bool avx2_packer_for(isa target, std::size_t len8) noexcept {
#if BIGMODEL_KERNELS_X86
  return config_for(target).nr % 8 == 0 && len8 % 8 == 0 && is_supported(isa::avx2);
#else
  (void)target, (void)len8;
  return false;
#endif
}
}  // namespace detail

// x: n rows of k floats, ldx apart -> out holds B (K x N) with B[kk][j] = q(x[j][kk]) for `target` (default the
// active ISA), scales[j] (n entries) its per-column scales. Throws bigmodel::error ("kernels.bad_argument",
// "kernels.isa_unsupported") on empty sizes, null pointers, ldx < k or a target not compiled in.
inline void quantize_pack_rows(const float* x, std::size_t n, std::size_t k, std::size_t ldx, packed_weights& out, float* scales,
                               std::optional<isa> target = std::nullopt) {
  const isa t = target.value_or(active_isa());
  detail::check_quantize_pack(x, k, n, ldx, k, scales, t, "quantize_pack_rows");
  out.reset(k, n, t);
#if BIGMODEL_KERNELS_X86
  if (detail::avx2_packer_for(t, k)) return detail::quantize_pack_rows_avx2(x, n, k, ldx, out, scales);
#endif
  detail::quantize_pack_rows_scalar(x, n, k, ldx, out, scales);
}

// x: k rows of n floats, ldx apart -> out holds B (K x N) with B[kk][e] = q(x[kk][e]), scales[e] (n entries) per
// column. Same errors as quantize_pack_rows (ldx < n).
inline void quantize_pack_columns(const float* x, std::size_t k, std::size_t n, std::size_t ldx, packed_weights& out,
                                  float* scales, std::optional<isa> target = std::nullopt) {
  const isa t = target.value_or(active_isa());
  detail::check_quantize_pack(x, k, n, ldx, n, scales, t, "quantize_pack_columns");
  out.reset(k, n, t);
#if BIGMODEL_KERNELS_X86
  if (detail::avx2_packer_for(t, n)) return detail::quantize_pack_columns_avx2(x, k, n, ldx, out, scales);
#endif
  detail::quantize_pack_columns_scalar(x, k, n, ldx, out, scales);
}

}  // namespace bigmodel::kernels
