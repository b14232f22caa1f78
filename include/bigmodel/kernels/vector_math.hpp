#pragma once
// Vectorized f32 math over rows, for the runtime's elementwise kernels (GELU, Softmax, LayerNorm, Exp, Erf,
// Tanh, Sigmoid): e^x, erf and tanh from our own polynomials, in AVX-512 / AVX2+FMA target regions (no -m flags
// needed) with a portable fallback.
//
//   kernels::vmath::gelu_erf(x, y, n);                        // y = 0.5 x (1 + erf(x / sqrt 2))
//   kernels::vmath::softmax_row(x, y, n);                     // y = softmax(x); y may equal x
//   kernels::vmath::layer_norm_row(x, y, n, scale, 1, bias, n, 1e-5f);
//
// Dispatch: the ISA is kernels::active_isa() (force_isa() > BIGMODEL_ISA > best_isa()), resolved once per call:
// avx512bw / avx512vnni -> AVX-512 code, avx2 -> AVX2 + FMA, xsimd / scalar -> the portable code (one float at a
// time, the same polynomials). Every function accepts n == 0, unaligned pointers and y == x (in place).
//
// How the approximations were made (coefficients in vector_math__common.hpp, fitted for this library by
// interpolation at Chebyshev nodes in long double, converted to monomials, then checked in f32):
//   e^x   x = n ln2 + r (ln2 split in two for an exact n ln2_hi), |r| <= ln2/2, e^r = 1 + r + r^2 g(r) with g of
//         degree 4; 2^n applied in two halves so results in the denormal range are right. x clamped to
//         [-104, 89]: -inf and x < -103.97 give 0, +inf and x > 88.73 give inf; NaN gives NaN.
//         Measured (tests/math, every ISA, 400k points in [-100, 100] + specials, normal results): max relative
//         error 8.6e-8 (~1.4 ulp of 2^-24).
//   erf   |z| < 1: z P(z^2), P of degree 5; |z| >= 1: 1 - e^(-z^2) erfcx(|z|), erfcx of degree 10 in |z| - 2.5 fitted
//         on [1, 4] (|z| clamped to 4, where erfc < 1.6e-8). Measured max absolute error 1.04e-7.
//   GELU  erf form: x Phi(x) with h = Phi(-|x|) read from 8 polynomials of degree 7 (intervals of 0.75 of |x| up
//         to 6, fitted by tests/math/fit_gelu_phi.py, coefficients picked per lane by a permute of a table row),
//         then x h for x < 0 and x - x h otherwise; beyond |x| = 6, 0 and x (the exact result differs by < 6e-9 |x|).
//         No e^x and no branch: ~26 vector operations against ~46 for an erf of two branches. The error is
//         absolute (< 2.4e-7): relative to the tiny results of very negative x (|gelu| < 1e-4 from x = -4) it grows.
//         tanh form 0.5 x (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3): the same with its own table of
//         h = 1 / (1 + e^(2u)). Measured max absolute error against double, |x| <= 100: 2.4e-7 for both forms (erf
//         at x = 5.35, 1/2 ulp of the result).
//   tanh  |x| < 0.625: x + x^3 P(x^2), P of degree 4; else 1 - 2 / (e^(2|x|) + 1) with the sign of x. Measured
//         max relative error 1.1e-7; sigmoid 1 / (1 + e^-x): 1.4e-7 (0 instead of a denormal below x = -88.7).
//
// Softmax: max-subtracted. A row whose maximum is -inf (all entries -inf, e.g. a fully masked attention row) or
// that holds +inf or NaN comes out NaN, as the scalar runtime kernel did (and as the ONNX reference does).
// Weights below e^-87 relative to the row's largest come out 0 rather than denormal (a denormal result costs an
// x86 core a microcode assist per vector: masked attention rows ran ~2x slower; such a weight is below 2^-125
// of the largest, and lost in the row's sum).
// LayerNorm: two passes (mean, then the mean of squared deviations) in f32 lanes, as the runtime did in scalar.

#include <cstddef>

#include "isa.hpp"
#include "vector_math__avx2.hpp"
#include "vector_math__avx512.hpp"
#include "vector_math__common.hpp"
#include "vector_math__portable.hpp"

namespace bigmodel::kernels::vmath {

// The kernels of one ISA (any isa value; tests call each in turn). Not-compiled ISAs map to the portable code.
[[nodiscard]] inline const detail::vm_table& kernels_for(isa i) noexcept {
  switch (i) {
#if BIGMODEL_KERNELS_X86
    case isa::avx512vnni:
    case isa::avx512bw: return avx512_math::vector_math_kernels();
    case isa::avx2: return avx2_math::vector_math_kernels();
#endif
    default: break;
  }
  return portable_math::vector_math_kernels();
}
// The kernels of the active ISA (force_isa() > BIGMODEL_ISA > best_isa()).
[[nodiscard]] inline const detail::vm_table& active_kernels() noexcept { return kernels_for(active_isa()); }

inline void exp(const float* x, float* y, std::size_t n) noexcept { active_kernels().exp(x, y, n); }
inline void erf(const float* x, float* y, std::size_t n) noexcept { active_kernels().erf(x, y, n); }
inline void tanh(const float* x, float* y, std::size_t n) noexcept { active_kernels().tanh(x, y, n); }
// 1 / (1 + e^-x)
inline void sigmoid(const float* x, float* y, std::size_t n) noexcept { active_kernels().sigmoid(x, y, n); }
// 0.5 x (1 + erf(x / sqrt 2))
inline void gelu_erf(const float* x, float* y, std::size_t n) noexcept { active_kernels().gelu_erf(x, y, n); }
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
inline void gelu_tanh(const float* x, float* y, std::size_t n) noexcept { active_kernels().gelu_tanh(x, y, n); }
// y = gelu(x + bias) (bias: n values), erf form or (tanh_form) the tanh form.
inline void gelu_bias(const float* x, const float* bias, float* y, std::size_t n, bool tanh_form = false) noexcept {
  active_kernels().gelu_bias(x, bias, y, n, tanh_form);
}
[[nodiscard]] inline float max(const float* x, std::size_t n) noexcept { return active_kernels().max(x, n); }  // -inf if n == 0
[[nodiscard]] inline float sum(const float* x, std::size_t n) noexcept { return active_kernels().sum(x, n); }

// y = softmax(x) over n values.
inline void softmax_row(const float* x, float* y, std::size_t n) noexcept { active_kernels().softmax(x, y, n); }
// y = softmax(x * scale + mask) (mask: n additive values, or null), e.g. one row of attention scores.
inline void softmax_row(const float* x, float scale, const float* mask, float* y, std::size_t n) noexcept {
  active_kernels().softmax_scaled(x, scale, mask, y, n);
}
// y = e^(x * scale + mask - max(x * scale + mask)) over n values: the softmax before its division. Returns the
// sum to divide by (0 when n == 0). The fused attention divides its output rows instead of the weights.
[[nodiscard]] inline float softmax_exp_row(const float* x, float scale, const float* mask, float* y, std::size_t n) noexcept {
  return active_kernels().softmax_exp(x, scale, mask, y, n);
}
// y = a * x over n values.
inline void scale_row(const float* x, float a, float* y, std::size_t n) noexcept { active_kernels().scale(x, a, y, n); }

// y = (x - mean) / sqrt(var + eps) * scale + bias over n values. scale_n / bias_n: n, or 1 to broadcast one
// value; bias may be null (no bias). x may equal y.
inline void layer_norm_row(const float* x, float* y, std::size_t n, const float* scale, std::size_t scale_n,
                           const float* bias, std::size_t bias_n, float eps) noexcept {
  active_kernels().layer_norm(x, y, n, scale, scale_n == 1 && n != 1, bias, bias_n == 1 && n != 1, eps);
}
// y = LayerNorm(x + residual); sum_out (may be null, or equal x, residual or y) also receives x + residual.
inline void add_layer_norm_row(const float* x, const float* residual, float* y, std::size_t n, const float* scale,
                               std::size_t scale_n, const float* bias, std::size_t bias_n, float eps,
                               float* sum_out = nullptr) noexcept {
  const detail::vm_table& k = active_kernels();
  float* s = sum_out ? sum_out : y;
  k.add(x, residual, s, n);
  k.layer_norm(s, y, n, scale, scale_n == 1 && n != 1, bias, bias_n == 1 && n != 1, eps);
}

}  // namespace bigmodel::kernels::vmath
