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
  // Phi(-a) on [0, 6): 8 intervals of 0.75, degree 7 in u = a / 0.75 - i - 0.5
  // (tests/math/fit_gelu_phi.py); phi_tab[k][i] is the coefficient of u^k on interval i.
  static constexpr float phi_width = 0.75f, phi_end = 6.0f;
  static constexpr float phi_tab[8][8] = {
      {3.538302481e-01f, 1.302945167e-01f, 3.039636090e-02f, 4.332448356e-03f,
       3.690785088e-04f, 1.853672438e-05f, 5.440381869e-07f, 9.275066937e-09f},
      {-2.788913250e-01f, -1.589074880e-01f, -5.158970505e-02f, -9.543135762e-03f,
       -1.005839207e-03f, -6.040533844e-05f, -2.066956085e-06f, -4.029913470e-08f},
      {3.921897337e-02f, 6.703908741e-02f, 3.627407178e-02f, 9.394008666e-03f,
       1.273008296e-03f, 9.344115824e-05f, 3.779178769e-06f, 8.504871829e-08f},
      {2.246925607e-02f, -3.957144450e-03f, -1.216691732e-02f, -5.270162597e-03f,
       -9.798069950e-04f, -9.069645603e-05f, -4.411574992e-06f, -1.157758973e-07f},
      {-5.254266784e-03f, -5.450013559e-03f, 8.755539311e-04f, 1.713537611e-03f,
       5.008288426e-04f, 6.135492004e-05f, 3.667653118e-06f, 1.132765846e-07f},
      {-1.599861658e-03f, 1.253121882e-03f, 7.801721222e-04f, -2.298517356e-04f,
       -1.708454947e-04f, -3.033206303e-05f, -2.315081247e-06f, -8.624569148e-08f},
      {4.538487992e-04f, 2.313045698e-04f, -2.409528970e-04f, -5.512326970e-05f,
       3.362188363e-05f, 1.124921164e-05f, 1.202947260e-06f, 5.764638900e-08f},
      {8.639818407e-05f, -1.088478675e-04f, -3.408148586e-06f, 2.994892566e-05f,
       -7.675499205e-07f, -2.842133199e-06f, -4.531347599e-07f, -2.748421046e-08f},
  };
  // 1 / (1 + e^(2 s (a + 0.044715 a^3))) on [0, 6): 8 intervals of 0.75, degree 7 in u = a / 0.75 - i - 0.5
  // (tests/math/fit_gelu_phi.py --form tanh); phi_tanh_tab[k][i] is the coefficient of u^k on interval i.
  static constexpr float phi_tanh_tab[8][8] = {
      {3.538459539e-01f, 1.304668486e-01f, 3.040051460e-02f, 4.153871443e-03f,
       2.948233159e-04f, 9.249753930e-06f, 1.074321077e-07f, 3.855263886e-10f},
      {-2.788032889e-01f, -1.588257253e-01f, -5.191531032e-02f, -9.527062997e-03f,
       -8.917462546e-04f, -3.633882079e-05f, -5.385123245e-07f, -2.421143286e-09f},
      {3.936440870e-02f, 6.680154055e-02f, 3.628348187e-02f, 9.572259150e-03f,
       1.228441368e-03f, 6.678717909e-05f, 1.287192390e-06f, 7.366288468e-09f},
      {2.248880081e-02f, -4.082249478e-03f, -1.197243854e-02f, -5.351581611e-03f,
       -1.004804741e-03f, -7.570161688e-05f, -1.942191147e-06f, -1.428252361e-08f},
      {-5.357764196e-03f, -5.356266163e-03f, 8.495399961e-04f, 1.678362838e-03f,
       5.288882530e-04f, 5.855227209e-05f, 2.055164941e-06f, 1.938767902e-08f},
      {-1.616905560e-03f, 1.298037823e-03f, 7.288926281e-04f, -1.992372854e-04f,
       -1.770665403e-04f, -3.219228165e-05f, -1.637315904e-06f, -2.107193353e-08f},
      {4.757181450e-04f, 2.110701898e-04f, -2.304125373e-04f, -5.513509677e-05f,
       3.049630868e-05f, 1.268999767e-05f, 1.077469278e-06f, 2.162785684e-08f},
      {9.026299813e-05f, -1.167762457e-04f, 3.901339369e-06f, 2.526782373e-05f,
       1.104489229e-06f, -3.166815532e-06f, -4.840752013e-07f, -1.388756310e-08f},
  };
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
