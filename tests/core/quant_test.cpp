// Quantization parameters, quantize/dequantize, and qtensor granularities.
#include <bigmodel/tensor/qtensor.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <random>

using namespace bigmodel;

namespace {
template <class Q>
void check_round_trip_within_half_step(float lo, float hi, symmetry sym) {
  const quant_param p = choose_quant_param<Q>(lo, hi, sym);
  REQUIRE(p.scale > 0.0f);
  REQUIRE(std::isfinite(p.scale));
  REQUIRE(p.zero_point >= quant_limits<Q>::min);
  REQUIRE(p.zero_point <= quant_limits<Q>::max);
  // 0 is exactly representable
  REQUIRE(dequantize_value(quantize_value<Q>(0.0f, p), p) == 0.0f);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(std::min(lo, 0.0f), std::max(hi, 0.0f));
  for (int i = 0; i < 2000; ++i) {
    const float x = d(rng);
    const float back = dequantize_value(quantize_value<Q>(x, p), p);
    // Half a step, plus float rounding of x / scale and of the product.
    REQUIRE(std::fabs(back - x) <= p.scale * 0.5f * (1.0f + 1e-5f) + 1e-6f * std::fabs(x));
  }
}
}  // namespace

TEST_CASE("quantize -> dequantize stays within half a step inside the range", "[quant]") {
  for (auto sym : {symmetry::symmetric, symmetry::affine}) {
    check_round_trip_within_half_step<std::int8_t>(-3.0f, 5.0f, sym);
    check_round_trip_within_half_step<std::int8_t>(0.1f, 7.0f, sym);  // range widened to include 0
    check_round_trip_within_half_step<std::uint8_t>(-1.0f, 1.0f, sym);
    check_round_trip_within_half_step<std::uint8_t>(-0.001f, 100.0f, sym);
    check_round_trip_within_half_step<s4x2>(-2.0f, 1.0f, sym);
  }
}

TEST_CASE("values outside the range saturate", "[quant]") {
  const quant_param p = choose_quant_param<std::int8_t>(-1.0f, 1.0f, symmetry::symmetric);
  CHECK(p.zero_point == 0);
  CHECK(p.scale == Approx(1.0f / 127.0f));
  CHECK(quantize_value<std::int8_t>(10.0f, p) == 127);
  CHECK(quantize_value<std::int8_t>(-10.0f, p) == -128);
  CHECK(quantize_value<std::int8_t>(1e30f, p) == 127);
  const quant_param u = choose_quant_param<std::uint8_t>(0.0f, 2.55f, symmetry::affine);
  CHECK(u.zero_point == 0);
  CHECK(quantize_value<std::uint8_t>(-5.0f, u) == 0);
  CHECK(quantize_value<std::uint8_t>(500.0f, u) == 255);
  const quant_param s4 = choose_quant_param<s4x2>(-7.0f, 7.0f, symmetry::symmetric);
  CHECK(s4.scale == 1.0f);
  CHECK(quantize_value<s4x2>(100.0f, s4) == 7);
  CHECK(quantize_value<s4x2>(-100.0f, s4) == -8);
}

TEST_CASE("rounding is half to even", "[quant]") {
  const quant_param p{1.0f, 0};
  CHECK(quantize_value<std::int8_t>(2.5f, p) == 2);
  CHECK(quantize_value<std::int8_t>(3.5f, p) == 4);
  CHECK(quantize_value<std::int8_t>(-2.5f, p) == -2);
  CHECK(quantize_value<std::int8_t>(0.5f, p) == 0);
  CHECK(quantize_value<std::uint8_t>(0.5f, quant_param{1.0f, 10}) == 10);
}

TEST_CASE("zero-range tensors get a valid scale", "[quant]") {
  for (auto sym : {symmetry::symmetric, symmetry::affine}) {
    const quant_param z = choose_quant_param<std::int8_t>(0.0f, 0.0f, sym);
    CHECK(z.scale == 1.0f);
    CHECK(std::isfinite(z.scale));
    const quant_param c = choose_quant_param<std::uint8_t>(3.0f, 3.0f, sym);  // all equal, nonzero
    CHECK(c.scale > 0.0f);
    CHECK(dequantize_value(quantize_value<std::uint8_t>(3.0f, c), c) == Approx(3.0f).epsilon(0.01));
    const quant_param tiny = choose_quant_param<std::int8_t>(-1e-44f, 1e-44f, sym);  // subnormal range
    CHECK(std::isfinite(1.0f / tiny.scale));
  }
  tensor<float, extents<4, 8>> zeros;
  auto q = quantize<std::int8_t, per_channel<0>>(zeros.view());
  const auto back = dequantize(q);
  for (float v : back) CHECK(v == 0.0f);
  for (const auto& p : q.params()) CHECK(p.scale == 1.0f);
}

TEST_CASE("NaN or Inf input is an error naming the tensor", "[quant]") {
  tensor<float, extents<2, 2>> t;
  t(1, 1) = std::nanf("");
  try {
    (void)quantize<std::int8_t, per_tensor>(t.view(), {.name = "fc1.weight"});
    FAIL("expected bigmodel::error");
  } catch (const error& e) {
    CHECK(e.id() == "quant.non_finite");
    CHECK(e.context() == "fc1.weight");
  }
  CHECK_THROWS_AS(choose_quant_param<std::int8_t>(0.0f, INFINITY, symmetry::affine), error);
}

TEST_CASE("per-channel and per-group parameters cover the right elements", "[quant]") {
  // Rows with very different ranges: per-channel must give each row its own scale.
  tensor<float, extents<3, 8>> w;
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 8; ++j)
      w(i, j) = std::pow(10.0f, static_cast<float>(i)) * (static_cast<float>(j) - 3.5f) / 3.5f;
  auto qc = quantize<std::int8_t, per_channel<0>>(w.view());
  REQUIRE(qc.params().size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    float amax = 0;
    for (std::size_t j = 0; j < 8; ++j) amax = std::max(amax, std::fabs(w(i, j)));
    CHECK(qc.params()[i].scale == Approx(amax / 127.0f));
    CHECK(qc.param(i, 5).scale == qc.params()[i].scale);
  }
  auto qt = quantize<std::int8_t, per_tensor>(w.view());
  const auto dc = dequantize(qc), dt = dequantize(qt);
  double err_c = 0, err_t = 0;
  for (std::size_t j = 0; j < 8; ++j) {
    err_c += std::fabs(dc(0, j) - w(0, j));
    err_t += std::fabs(dt(0, j) - w(0, j));
  }
  CHECK(err_c < err_t);  // the small row gains from its own scale

  // Column axis.
  auto qcol = quantize<std::uint8_t, per_channel<1>>(w.view(), {.sym = symmetry::affine});
  CHECK(qcol.params().size() == 8);

  // Groups of 4 along the input dimension: params laid out [3, 8 / 4].
  auto qg = quantize<s4x2, per_group<1, 4>>(w.view());
  REQUIRE(qg.params().size() == 6);
  CHECK(qg.storage_bytes() == 12);  // 24 int4 values, two per byte
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t g = 0; g < 2; ++g) {
      float amax = 0;
      for (std::size_t j = 4 * g; j < 4 * g + 4; ++j) amax = std::max(amax, std::fabs(w(i, j)));
      CHECK(qg.params()[i * 2 + g].scale == Approx(amax / 7.0f));
      CHECK(qg.param(i, 4 * g + 3).scale == qg.params()[i * 2 + g].scale);
    }
  const auto dg = dequantize(qg);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 8; ++j)
      CHECK(std::fabs(dg(i, j) - w(i, j)) <= qg.param(i, j).scale * 0.5f * 1.0001f);
}

TEST_CASE("int4 values pack two per byte, low nibble first", "[quant]") {
  qtensor<s4x2, extents<5>, per_tensor> q(extents<5>{});
  const int vals[5] = {-8, 7, -1, 3, 5};
  for (std::size_t i = 0; i < 5; ++i) q.set_value(vals[i], i);
  for (std::size_t i = 0; i < 5; ++i) CHECK(q.value(i) == vals[i]);
  CHECK(q.storage_bytes() == 3);
  CHECK(q.data()[0].bits == 0x78);  // lo = -8 (0x8), hi = 7
  CHECK(q.data()[1].bits == 0x3F);  // lo = -1 (0xF), hi = 3
  CHECK(q.data()[2].bits == 0x05);
}

TEST_CASE("a group size that does not divide the axis is an error", "[quant]") {
  tensor<float, extents<2, 6>> w;
  CHECK_THROWS_AS((quantize<std::int8_t, per_group<1, 4>>(w.view())), error);
  try {
    (void)quantize<std::int8_t, per_group<1, 4>>(w.view());
  } catch (const error& e) {
    CHECK(e.id() == "quant.group_size");
  }
}
