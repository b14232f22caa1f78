#pragma once
// QuantizeLinear / DequantizeLinear (per-tensor and per-axis), DynamicQuantizeLinear (u8, ONNX formula).

#include <cmath>
#include <limits>

#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "../../kernels/isa.hpp"
#if BIGMODEL_KERNELS_X86
#include <immintrin.h>
#endif

#include "../kernel_context.hpp"
#include "matmul.hpp"

namespace bigmodel::runtime::kernels {

// The per-axis parameter layout: the tensor is [outer, dim, inner] around the axis (dim 1 for per-tensor),
// so each parameter applies to runs of `inner` contiguous elements.
struct axis_walker {
  std::int64_t outer = 1, dim = 1, inner = 1;
};
inline axis_walker walker(const dynamic_tensor& x, const dynamic_tensor& scale, std::int64_t axis, kernel_context& c) {
  if (scale.numel() == 1 && scale.rank() <= 1) return {1, 1, x.numel()};
  const auto a = static_cast<std::size_t>(c.axis(axis, x.rank()));
  c.check(scale.rank() == 1 && scale.dim(0) == x.dim(a), "per-axis scale length does not match the axis");
  axis_walker w{1, x.dim(a), 1};
  for (std::size_t d = 0; d < a; ++d) w.outer *= x.dim(d);
  for (std::size_t d = a + 1; d < x.rank(); ++d) w.inner *= x.dim(d);
  return w;
}
// body(offset, length, parameter index) over every run of the walker.
template <class F>
void for_each_run(const axis_walker& w, F&& body) {
  for (std::int64_t o = 0; o < w.outer; ++o)
    for (std::int64_t j = 0; j < w.dim; ++j) body((o * w.dim + j) * w.inner, w.inner, j);
}

// ONNX QuantizeLinear of one value: saturate(round_half_even(x / scale) + zp). Clamping before rounding to
// the integer bounds [qmin - zp, qmax - zp] gives the same result and keeps huge values and infinities in range;
// NaN maps to qmin (ONNX leaves it undefined).
template <class Q>
Q saturate_round(float v, std::int32_t zp) {
  const float lo = static_cast<float>(std::numeric_limits<Q>::min() - zp), hi = static_cast<float>(std::numeric_limits<Q>::max() - zp);
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  return static_cast<Q>(static_cast<std::int32_t>(std::nearbyint(v)) + zp);
}

}  // namespace bigmodel::runtime::kernels

#if BIGMODEL_KERNELS_X86
BIGMODEL_TARGET_BEGIN("avx512f,avx512bw,avx512vl")
namespace bigmodel::runtime::kernels::detail {
// quantize_run on AVX-512: 16 values per step, the tail masked. vmaxps returns its second operand when the
// first is NaN, so NaN goes to lo as in the scalar form; vcvtps2dq rounds half to even; the values are in
// [qmin, qmax] before narrowing, so the truncating vpmovdb is exact.
inline void quantize_run_avx512(const float* x, std::size_t n, float scale, std::int32_t zp, bool is_signed, void* out) {
  const float lo = static_cast<float>((is_signed ? -128 : 0) - zp), hi = static_cast<float>((is_signed ? 127 : 255) - zp);
  const __m512 vs = _mm512_set1_ps(scale), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512i vzp = _mm512_set1_epi32(zp);
  auto* y = static_cast<std::uint8_t*>(out);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(_mm512_loadu_ps(x + i), vs), vlo), vhi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), vzp)));
  }
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs), vlo), vhi);
    _mm512_mask_cvtepi32_storeu_epi8(y + i, m, _mm512_add_epi32(_mm512_cvtps_epi32(v), vzp));
  }
}
}  // namespace bigmodel::runtime::kernels::detail
BIGMODEL_TARGET_END
#endif  // BIGMODEL_KERNELS_X86

namespace bigmodel::runtime::kernels {

// saturate_round over a run with one scale and zero point: AVX-512 when the active ISA has it, else xsimd batches (cvtps2dq rounds half to even in the
// default rounding mode, like nearbyint), the tail scalar. Same values as the scalar form for every input.
template <class Q>
void quantize_run(const float* x, std::size_t n, float scale, std::int32_t zp, Q* y) {
#if BIGMODEL_KERNELS_X86
  {
    namespace bk = ::bigmodel::kernels;
    const bk::isa a = bk::active_isa();
    if ((a == bk::isa::avx512bw || a == bk::isa::avx512vnni) && bk::is_supported(a))
      return detail::quantize_run_avx512(x, n, scale, zp, std::is_signed_v<Q>, y);
  }
#endif
  using vec = xsimd::batch<float>;
  using ivec = xsimd::batch<std::int32_t>;
  const float lo = static_cast<float>(std::numeric_limits<Q>::min() - zp), hi = static_cast<float>(std::numeric_limits<Q>::max() - zp);
  std::size_t i = 0;
  alignas(64) std::int32_t tmp[vec::size];
  for (; i + vec::size <= n; i += vec::size) {
    vec v = vec::load_unaligned(x + i) / vec(scale);
    v = xsimd::select(v > vec(lo), v, vec(lo));  // NaN -> lo, as in saturate_round
    v = xsimd::select(v < vec(hi), v, vec(hi));
    (xsimd::nearbyint_as_int(v) + ivec(zp)).store_aligned(tmp);
    for (std::size_t t = 0; t < vec::size; ++t) y[i + t] = static_cast<Q>(tmp[t]);
  }
  for (; i < n; ++i) y[i] = saturate_round<Q>(x[i] / scale, zp);
}

inline void run(const ops::quantize_linear& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto xs = c.f32(0), scale = c.f32(1);
  const dtype qt = c.has(2) ? c.in(2).type() : dtype::u8;
  const auto w = walker(x, c.in(1), op.axis, c);
  if (c.has(2)) c.check(c.in(2).numel() == c.in(1).numel(), "QuantizeLinear zero point and scale differ in length");
  auto& y = c.out(0, qt, x.shape());
  auto zp = [&](std::int64_t j) { return c.has(2) ? static_cast<std::int32_t>(c.in(2).as_int(j)) : 0; };
  auto body = [&]<class Q>(Q* py) {
    for_each_run(w, [&](std::int64_t off, std::int64_t len, std::int64_t j) {
      quantize_run<Q>(xs.data() + off, static_cast<std::size_t>(len), scale[static_cast<std::size_t>(j)], zp(j), py + off);
    });
  };
  if (qt == dtype::u8) body(y.mutable_span<std::uint8_t>().data());
  else if (qt == dtype::s8) body(y.mutable_span<std::int8_t>().data());
  else c.fail("runtime.unsupported_dtype", "QuantizeLinear to " + std::string(name(qt)));
}

inline void run(const ops::dequantize_linear& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto scale = c.f32(1);
  const auto w = walker(x, c.in(1), op.axis, c);
  const bool has_zp = c.has(2);
  if (has_zp) c.check(c.in(2).numel() == c.in(1).numel(), "DequantizeLinear zero point and scale differ in length");
  auto y = c.out(0, dtype::f32, x.shape()).mutable_span<float>();
  auto typed = [&]<class Q>(const Q* q) {
    for_each_run(w, [&](std::int64_t off, std::int64_t len, std::int64_t j) {
      const auto z = static_cast<std::int32_t>(has_zp ? c.in(2).as_int(j) : 0);
      const float s = scale[static_cast<std::size_t>(j)];
      float* o = y.data() + off;
      const Q* in = q + off;
      for (std::int64_t i = 0; i < len; ++i) o[i] = static_cast<float>(static_cast<std::int32_t>(in[i]) - z) * s;
    });
  };
  switch (x.type()) {
    case dtype::u8: return typed(x.span<std::uint8_t>().data());
    case dtype::s8: return typed(x.span<std::int8_t>().data());
    case dtype::s32: return typed(x.span<std::int32_t>().data());
    default:  // other integer types element by element
      for_each_run(w, [&](std::int64_t off, std::int64_t len, std::int64_t j) {
        const auto z = has_zp ? c.in(2).as_int(j) : 0;
        for (std::int64_t i = off; i < off + len; ++i) y[static_cast<std::size_t>(i)] = static_cast<float>(x.as_int(i) - z) * scale[static_cast<std::size_t>(j)];
      });
  }
}

// ONNX DynamicQuantizeLinear: u8, range always includes 0.
inline void run(const ops::dynamic_quantize_linear&, kernel_context& c) {
  const auto x = c.f32(0);
  float lo = 0.0f, hi = 0.0f;
  for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v);
  const float scale = (hi - lo) / 255.0f;
  const float zpf = scale == 0.0f ? 0.0f : std::clamp(std::nearbyint(0.0f - lo / scale), 0.0f, 255.0f);
  const auto zp = static_cast<std::int32_t>(zpf);
  auto y = c.out(0, dtype::u8, c.in(0).shape()).mutable_span<std::uint8_t>();
  if (scale == 0.0f) std::fill(y.begin(), y.end(), static_cast<std::uint8_t>(zp));
  else quantize_run<std::uint8_t>(x.data(), x.size(), scale, zp, y.data());
  c.out(1, dtype::f32, {}).mutable_span<float>()[0] = scale;
  c.out(2, dtype::u8, {}).mutable_span<std::uint8_t>()[0] = static_cast<std::uint8_t>(zp);
}

}  // namespace bigmodel::runtime::kernels
