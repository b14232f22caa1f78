// 2:4 compressed storage: lossless, half the values, and a reference kernel equal to the dense product.
#include <bigmodel/kernels/sparse_24.hpp>
#include <bigmodel/passes/prune.hpp>

#include <catch2/catch.hpp>
#include <random>

using namespace bigmodel;

TEST_CASE("2:4-pruned weights compress losslessly and run in the reference kernel", "[prune][sparse]") {
  tensor<float, dextents<2>> w(24, 64);
  std::mt19937 rng(11);
  std::normal_distribution<float> d;
  for (auto& v : w) v = d(rng);
  // A few groups with fewer than two nonzeros, including all-zero ones.
  for (std::size_t j = 0; j < 4; ++j) w(3, j) = 0.0f;
  const auto m = prune::n_m(prune::const_weight_view(w.view()), 2, 4);
  prune::apply_mask(prune::weight_view(w.view()), m);
  w(5, 8) = w(5, 9) = w(5, 10) = w(5, 11) = 0.0f;
  w(5, 13) = 0.0f;

  const auto s = kernels::compress_24(tensor_view<const float, dextents<2>>(w.view()), "w");
  CHECK(s.values.size() == 24 * 64 / 2);
  CHECK(s.storage_bytes() == 24 * 64 / 2 * 4 + 24 * 64 / 8);  // 53 % of the dense f32 bytes
  const auto back = kernels::decompress_24(s);
  for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(back[i] == w.data()[i]);

  tensor<float, dextents<2>> x(5, 64);
  for (auto& v : x) v = d(rng);
  std::vector<float> y(5 * 24);
  kernels::sparse_24_linear_reference(x.data(), 5, 64, s, y.data(), 24);
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t n = 0; n < 24; ++n) {
      double ref = 0;
      for (std::size_t k = 0; k < 64; ++k) ref += static_cast<double>(x(i, k)) * w(n, k);
      REQUIRE(y[i * 24 + n] == Approx(ref).margin(1e-4));
    }
}

TEST_CASE("dense groups and bad shapes are refused", "[prune][sparse]") {
  tensor<float, dextents<2>> w(2, 8);
  w.fill(1.0f);
  CHECK_THROWS_AS(kernels::compress_24(tensor_view<const float, dextents<2>>(w.view())), error);
  tensor<float, dextents<2>> odd(2, 6);
  CHECK_THROWS_AS(kernels::compress_24(tensor_view<const float, dextents<2>>(odd.view())), error);
}
