// Fused epilogues of every ISA against a double-precision evaluation of the same formula (epilogue.hpp):
// dequantize per tensor / per channel / per row, bias, ReLU, GELU (erf), requantize to u8 and s8.
//
// Tolerances, and why:
//  f32: |got - ref| <= 1e-5 * max(|ref|, |pre-bias value| + |bias|, 1e-3 * |pre-activation|). The first term
//       is the relative 1e-5; the second covers cancellation when the bias nearly cancels the product (f32
//       rounds each term to 6e-8 of its own size); the third covers GELU's far negative tail, where
//       Phi(x) changes by a factor (1 + x^2 * eps) for a relative change eps of x, so the f32 rounding of the
//       input alone (6e-8) moves the output by more than 1e-5 of itself once x^2 > ~170.
//  u8/s8: off by at most one step, and exact wherever the scaled value is more than 1e-3 of a step away
//       from a rounding boundary (x.5).

#include "test_support.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace {

using namespace kt;

double gelu_ref(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }
double gelu_tanh_ref(double x) { return 0.5 * x * (1.0 + std::tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }
constexpr std::array all_activations{k::activation::none, k::activation::relu, k::activation::gelu,
                                     k::activation::gelu_tanh};
bool is_gelu(k::activation a) { return a == k::activation::gelu || a == k::activation::gelu_tanh; }

struct spec {
  bool per_channel, per_row, with_bias;
  k::activation act;
};

template <class TC>
void check_epilogue(std::size_t m, std::size_t n, std::size_t kk, const spec& s) {
  INFO("M=" << m << " N=" << n << " K=" << kk << " per_channel=" << s.per_channel << " per_row=" << s.per_row
            << " bias=" << s.with_bias << " act=" << static_cast<int>(s.act) << " out=" << sizeof(TC) << "B "
            << (std::is_same_v<TC, float> ? "f32" : std::is_signed_v<TC> ? "s8" : "u8"));
  std::vector<std::uint8_t> a(m * kk);
  std::vector<std::int8_t> w(n * kk);
  fill_matrix(a, fill::random, false);
  fill_matrix(w, fill::random, true);
  const std::int32_t zp = uniform(0, 255);
  std::vector<std::int32_t> row_zp(m);
  std::vector<float> row_scale(m), w_scale(n), bias(n);
  // Pre-activations of a few units: |acc| ~ 75 * sqrt(K) * 128.
  const float base = 3.0f / (75.0f * 128.0f * std::sqrt(static_cast<float>(kk)));
  for (auto& z : row_zp) z = uniform(0, 255);
  for (auto& r : row_scale) r = base * static_cast<float>(uniform(50, 150)) / 100.0f;
  for (auto& x : w_scale) x = static_cast<float>(uniform(50, 150)) / 100.0f;
  for (auto& b : bias) b = static_cast<float>(uniform(-300, 300)) / 100.0f;
  const float a_scale = base;

  k::epilogue ep = k::dequantize(a_scale, zp, w_scale.data(), s.per_channel);
  if (s.per_row) {
    ep.a_row_scale = row_scale.data();
    ep.a_row_zero_point = row_zp.data();
  }
  if (s.with_bias) ep = ep | k::bias(bias.data());
  ep = ep | k::epilogues::activation_t{s.act};
  const bool quantized = !std::is_same_v<TC, float>;
  const float out_scale = 0.05f;
  const std::int32_t out_zp = std::is_signed_v<TC> ? uniform(-20, 20) : uniform(100, 150);
  if (quantized) ep = ep | k::requantize(out_scale, out_zp);

  // Double reference from exact integer accumulators.
  std::vector<double> pre(m * n), value(m * n), scaled_product(m * n);
  for (std::size_t i = 0; i < m; ++i) {
    const std::int32_t z = s.per_row ? row_zp[i] : zp;
    const auto acc = naive_s32(1, n, kk, a.data() + i * kk, kk, w.data(), kk, k::weight_layout::n_by_k, z);
    for (std::size_t j = 0; j < n; ++j) {
      const double sc = static_cast<double>(s.per_row ? row_scale[i] : a_scale) * (s.per_channel ? w_scale[j] : w_scale[0]);
      const double p = acc[j] * sc;
      const double v = p + (s.with_bias ? bias[j] : 0.0);
      scaled_product[i * n + j] = std::abs(p) + (s.with_bias ? std::abs(bias[j]) : 0.0);
      pre[i * n + j] = v;
      value[i * n + j] = s.act == k::activation::relu        ? std::max(v, 0.0)
                         : s.act == k::activation::gelu      ? gelu_ref(v)
                         : s.act == k::activation::gelu_tanh ? gelu_tanh_ref(v)
                                                             : v;
    }
  }

  for_each_isa([&](k::isa i) {
    INFO("isa " << k::isa_name(i));
    const auto packed = k::pack_weights(w.data(), kk, n, kk, k::weight_layout::n_by_k);
    std::vector<TC> c(m * n);
    k::gemm(m, a.data(), kk, packed, c.data(), n, ep);
    std::size_t bad = 0;
    double worst = 0;
    for (std::size_t e = 0; e < m * n; ++e) {
      if constexpr (std::is_same_v<TC, float>) {
        const double tol = 1e-5 * std::max({std::abs(value[e]), scaled_product[e], 1e-3 * std::abs(pre[e])});
        const double err = std::abs(c[e] - value[e]);
        worst = std::max(worst, err / std::max(tol, 1e-30));
        if (!(err <= tol)) ++bad;
      } else {
        constexpr double lo = std::is_signed_v<TC> ? -128 : 0, hi = std::is_signed_v<TC> ? 127 : 255;
        const double x = value[e] / out_scale;
        const double q = std::clamp(std::nearbyint(x) + out_zp, lo, hi);
        const double dist = std::abs(x - std::floor(x) - 0.5);  // to the nearest rounding boundary
        const double d = std::abs(static_cast<double>(c[e]) - q);
        if (d > 1 || (d != 0 && dist > 1e-3)) ++bad;
      }
    }
    INFO("worst error / tolerance " << worst);
    CHECK(bad == 0);
  });
}

}  // namespace

TEST_CASE("epilogues: dequantize, bias, activation, requantize vs double", "[kernels][epilogue]") {
  const std::vector<std::array<std::size_t, 3>> shapes{{1, 1, 1}, {3, 17, 33}, {9, 40, 64}, {17, 100, 255}, {1, 129, 129}};
  for (const auto& shape : shapes)
    for (int variant = 0; variant < 8; ++variant) {
      const spec s{variant % 2 == 0, variant == 3 || variant == 6, variant != 1, all_activations[static_cast<std::size_t>(variant % 4)]};
      check_epilogue<float>(shape[0], shape[1], shape[2], s);
      check_epilogue<std::uint8_t>(shape[0], shape[1], shape[2], s);
      check_epilogue<std::int8_t>(shape[0], shape[1], shape[2], s);
    }
}

TEST_CASE("epilogues: GELU (erf and tanh forms) over a wide input range", "[kernels][epilogue]") {
  // Pre-activations sweep [-12, 12] exactly: A = identity-like (K = 1, a = 1), weights carry the values.
  const std::size_t n = 241;
  std::vector<std::int8_t> w(n);
  std::vector<float> scale(n);
  for (std::size_t j = 0; j < n; ++j) {
    w[j] = static_cast<std::int8_t>(static_cast<int>(j) - 120);
    scale[j] = 0.1f;
  }
  const std::uint8_t one = 1;
  for (const bool tanh_form : {false, true})
    for_each_isa([&](k::isa i) {
      INFO("isa " << k::isa_name(i) << (tanh_form ? ", tanh form" : ", erf form"));
      const auto packed = k::pack_weights(w.data(), 1, n, n, k::weight_layout::k_by_n);
      std::vector<float> y(n);
      k::gemm(1, &one, 1, packed, y.data(), n,
              k::dequantize(1.0f, 0, scale.data(), true) | (tanh_form ? k::gelu_tanh() : k::gelu()));
      for (std::size_t j = 0; j < n; ++j) {
        const double x = static_cast<double>(static_cast<float>(static_cast<int>(j) - 120) * 0.1f);
        const double ref = tanh_form ? gelu_tanh_ref(x) : gelu_ref(x);
        INFO("x=" << x << " got " << y[j] << " want " << ref);
        CHECK(std::abs(y[j] - ref) <= 1e-5 * std::max(std::abs(ref), 1e-3 * std::abs(x)));
      }
    });
}

// The f32 epilogue against the scalar definition (epilogue_eval.hpp: store_scalar's formula), on shapes with
// tails in M and N, several row tiles and column blocks, ldc > n (the gap must stay untouched), u8 and s8
// activations. AVX-512 VNNI evaluates it on the accumulator registers, the other ISAs through the tile
// buffer; all must agree with the scalar formula up to the f32 rounding of one product (the compiler may
// fuse the scale and bias into one FMA) and, for the GELUs, 1e-5 for their table of polynomials.
TEST_CASE("epilogues: f32 output of every tile shape vs the scalar formula", "[kernels][epilogue]") {
  const std::vector<std::array<std::size_t, 3>> shapes{{1, 17, 33},  {3, 64, 8},   {8, 48, 64},  {5, 71, 40},
                                                       {16, 16, 5},  {9, 97, 129}, {37, 300, 70}, {24, 250, 16}};
  for (const auto& [m, n, kk] : shapes)
    for (int variant = 0; variant < 32; ++variant) {
      const bool per_row = variant & 1, per_channel = variant & 2, with_bias = variant & 4, signed_a = variant % 5 == 0;
      const k::activation act = all_activations[static_cast<std::size_t>(variant / 8)];
      INFO("M=" << m << " N=" << n << " K=" << kk << " per_row=" << per_row << " per_channel=" << per_channel
                << " bias=" << with_bias << " act=" << static_cast<int>(act) << " signed_a=" << signed_a);
      std::vector<std::uint8_t> a(m * kk);
      std::vector<std::int8_t> as(m * kk), w(n * kk);
      fill_matrix(a, fill::random, false);
      fill_matrix(as, fill::random, false);
      fill_matrix(w, fill::random, true);
      const std::int32_t zp = signed_a ? uniform(-128, 127) : uniform(0, 255);
      std::vector<std::int32_t> row_zp(m);
      std::vector<float> row_scale(m), w_scale(n), bias(n);
      const float base = 3.0f / (75.0f * 128.0f * std::sqrt(static_cast<float>(kk)));
      for (auto& z : row_zp) z = signed_a ? uniform(-128, 127) : uniform(0, 255);
      for (auto& r : row_scale) r = base * static_cast<float>(uniform(50, 150)) / 100.0f;
      for (auto& x : w_scale) x = static_cast<float>(uniform(50, 150)) / 100.0f;
      for (auto& b : bias) b = static_cast<float>(uniform(-300, 300)) / 100.0f;
      k::epilogue ep = k::dequantize(base, zp, w_scale.data(), per_channel) | k::epilogues::activation_t{act};
      if (per_row) {
        ep.a_row_scale = row_scale.data();
        ep.a_row_zero_point = row_zp.data();
      }
      if (with_bias) ep = ep | k::bias(bias.data());

      const std::size_t ldc = n + 3;
      std::vector<float> want(m * n), pre(m * n), mag(m * n);
      for (std::size_t i = 0; i < m; ++i) {
        const std::int32_t z = per_row ? row_zp[i] : zp;
        const auto acc = signed_a ? naive_s32(1, n, kk, as.data() + i * kk, kk, w.data(), kk, k::weight_layout::n_by_k, z)
                                  : naive_s32(1, n, kk, a.data() + i * kk, kk, w.data(), kk, k::weight_layout::n_by_k, z);
        for (std::size_t j = 0; j < n; ++j) {
          const float p = static_cast<float>(acc[j]) * ((per_row ? row_scale[i] : base) * w_scale[per_channel ? j : 0]);
          const float v = with_bias ? p + bias[j] : p;
          pre[i * n + j] = v;
          mag[i * n + j] = std::abs(p) + (with_bias ? std::abs(bias[j]) : 0.0f);
          want[i * n + j] = k::detail::activate_scalar(act, v);
        }
      }
      for_each_isa([&](k::isa i) {
        INFO("isa " << k::isa_name(i));
        const auto packed = k::pack_weights(w.data(), kk, n, kk, k::weight_layout::n_by_k);
        std::vector<float> c(m * ldc, 12345.0f);
        if (signed_a) k::gemm(m, as.data(), kk, packed, c.data(), ldc, ep);
        else k::gemm(m, a.data(), kk, packed, c.data(), ldc, ep);
        CHECK(k::last_used_isa() == i);
        std::size_t bad = 0, gap = 0;
        for (std::size_t r = 0; r < m; ++r) {
          for (std::size_t j = 0; j < n; ++j) {
            const std::size_t e = r * n + j;
            double tol = 1e-6 * mag[e] + 1e-30;
            if (is_gelu(act)) tol += 1e-5 * std::max(std::abs(want[e]), 1e-3f * std::abs(pre[e]));
            if (!(std::abs(static_cast<double>(c[r * ldc + j]) - want[e]) <= tol)) ++bad;
          }
          for (std::size_t j = n; j < ldc; ++j) gap += c[r * ldc + j] != 12345.0f;
        }
        CHECK(bad == 0);
        CHECK(gap == 0);
      });
    }
}
