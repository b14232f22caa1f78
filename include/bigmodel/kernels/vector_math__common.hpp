#pragma once
// What every ISA's vector-math kernels share: the polynomial coefficients and the table of row functions
// (vector_math.hpp dispatches through it). The coefficients were fitted for this library by interpolation at
// Chebyshev nodes in long double (near-minimax), converted to monomials and checked in f32 (see vector_math.hpp).

#include <cstddef>

namespace bigmodel::kernels::detail {

struct vm_c {
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693145751953125f;     // 16 significant bits: n * ln2_hi is exact
  static constexpr float ln2_lo = 1.42860682030941723e-6f;  // ln 2 - ln2_hi
  static constexpr float sqrt1_2 = 0.70710678118654752f;
  static constexpr float sqrt2_pi = 0.79788456080286536f;  // sqrt(2 / pi)
  // e^r = 1 + r + r^2 g(r), g on |r| <= ln2 / 2 (degree 4: e^r of degree 6).
  static constexpr float exp_g[5] = {5.000000000e-01f, 1.666657776e-01f, 4.166655615e-02f, 8.363173343e-03f,
                                     1.392617589e-03f};
  // erf(z) / z = P(z^2) on |z| <= 1 (degree 5 in z^2).
  static constexpr float erf_s[6] = {1.128379107e+00f, -3.761234283e-01f, 1.128031686e-01f,
                                     -2.671505511e-02f, 4.921761807e-03f, -5.648059887e-04f};
  // erfcx(a) = e^(a^2) erfc(a) on [1, 4], a polynomial of degree 10 in a - 2.5.
  static constexpr float erfcx[11] = {2.108063698e-01f, -7.434759289e-02f, 2.493805625e-02f, -7.999388501e-03f,
                                      2.466508653e-03f, -7.389278617e-04f, 2.123135637e-04f, -5.362729280e-05f,
                                      1.468955725e-05f, -6.377862064e-06f, 1.611890752e-06f};
  // tanh(x) = x + x^3 P(x^2) on |x| <= 0.625 (degree 4 in x^2).
  static constexpr float tanh_s[5] = {-3.333332837e-01f, 1.333276927e-01f, -5.385090783e-02f, 2.099717967e-02f,
                                      -6.096714176e-03f};
};
// 1.5 * 2^23: v + vm_magic rounds v to an integer that sits in the low mantissa bits (|v| < 2^22).
inline constexpr float vm_magic = 12582912.0f;
inline constexpr int vm_magic_bits = 0x4B400000;

// One ISA's row kernels (see vector_math.hpp for the semantics).
struct vm_table {
  void (*exp)(const float*, float*, std::size_t) noexcept;
  void (*erf)(const float*, float*, std::size_t) noexcept;
  void (*tanh)(const float*, float*, std::size_t) noexcept;
  void (*sigmoid)(const float*, float*, std::size_t) noexcept;
  void (*gelu_erf)(const float*, float*, std::size_t) noexcept;
  void (*gelu_tanh)(const float*, float*, std::size_t) noexcept;
  void (*gelu_bias)(const float*, const float*, float*, std::size_t, bool) noexcept;
  void (*softmax)(const float*, float*, std::size_t) noexcept;
  void (*softmax_scaled)(const float*, float, const float*, float*, std::size_t) noexcept;
  void (*layer_norm)(const float*, float*, std::size_t, const float*, bool, const float*, bool, float) noexcept;
  void (*add)(const float*, const float*, float*, std::size_t) noexcept;
  float (*max)(const float*, std::size_t) noexcept;
  float (*sum)(const float*, std::size_t) noexcept;
  float (*softmax_exp)(const float*, float, const float*, float*, std::size_t) noexcept;
  void (*scale)(const float*, float, float*, std::size_t) noexcept;
};

}  // namespace bigmodel::kernels::detail
