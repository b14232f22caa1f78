// quantize_pack_rows / quantize_pack_columns (kernels/quantize_pack.hpp) against an independent reference: the
// codes computed here in double (nearest, ties to even, clamped to [-127, 127]; scale = max |x| / 127), packed by
// pack_weights. Every packed byte, column sum and scale must match, for every layout this build can pack (the
// AVX2 packers write AVX2's 8-column and AVX-512's 16-column panels, so both are checked on any x86 CPU with AVX2)
// and lengths that take the vector packers and the scalar tails. Then the packed codes in the int8 GEMM: the
// products they give are within the quantization bound of the f32 ones.

#include "test_support.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace {

using namespace kt;

// Codes and scale of one vector of floats, in double.
void reference_codes(const std::vector<float>& v, std::vector<std::int8_t>& codes, float& scale) {
  double amax = 0;
  bool bad = false;
  for (float x : v) {
    if (!std::isfinite(x)) bad = true;
    amax = std::max(amax, std::abs(static_cast<double>(x)));
  }
  codes.assign(v.size(), 0);
  if (bad) {
    scale = std::numeric_limits<float>::quiet_NaN();
    for (std::size_t i = 0; i < v.size(); ++i) codes[i] = std::isnan(v[i] * 0.0f) ? -127 : 0;  // x * 0: NaN for NaN / inf
    return;
  }
  scale = amax > 0 ? static_cast<float>(amax) / 127.0f : 1.0f;
  if (amax == 0) return;
  const float inv = 127.0f / static_cast<float>(amax);  // the kernel's multiplier, in f32
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double q = std::nearbyint(std::clamp(static_cast<double>(v[i] * inv), -127.0, 127.0));
    codes[i] = static_cast<std::int8_t>(q);
  }
}

std::vector<k::isa> layouts() {
  std::vector<k::isa> out;
  for (k::isa i : k::compiled_isas()) out.push_back(i);
  return out;
}

void same_packing(const k::packed_weights& got, const k::packed_weights& want) {
  REQUIRE(got.k() == want.k());
  REQUIRE(got.n() == want.n());
  REQUIRE(got.nr() == want.nr());
  REQUIRE(got.bytes() == want.bytes());
  CHECK(std::memcmp(got.data(), want.data(), want.panels() * want.panel_bytes()) == 0);
  for (std::size_t j = 0; j < want.n(); ++j) CHECK(got.column_sums()[j] == want.column_sums()[j]);
}

void check_scales(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t j = 0; j < want.size(); ++j) {
    if (std::isnan(want[j])) CHECK(std::isnan(got[j]));
    else CHECK(got[j] == want[j]);
  }
}

std::vector<float> random_matrix(std::size_t rows, std::size_t ld, int special) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(rows * ld);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = normal(rng()) * static_cast<float>(1 + (i / ld) % 4);
  if (special > 0 && rows > 3) {  // a zero row / column, a row with NaN, one with infinity, exact ties
    for (std::size_t i = 0; i < ld; ++i) x[i] = 0.0f;
    x[1 * ld + 2] = std::numeric_limits<float>::quiet_NaN();
    x[2 * ld + 1] = -std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < ld; ++i) x[3 * ld + i] = static_cast<float>(static_cast<int>(i % 9) - 4) * 0.5f;
  }
  return x;
}

}  // namespace

TEST_CASE("quantize_pack_rows equals pack_weights of reference codes, every layout", "[kernels][quantize_pack]") {
  for (int special : {0, 1})
    for (std::size_t n : {1u, 5u, 16u, 33u, 128u})
      for (std::size_t kk : {3u, 8u, 24u, 64u, 70u}) {
        const std::size_t ldx = kk + (n % 2);
        const auto x = random_matrix(n, ldx, special);
        // Reference: per row j its codes, B[kk][j] = code, i.e. W n_by_k.
        std::vector<std::int8_t> w(n * kk);
        std::vector<float> want_scale(n);
        for (std::size_t j = 0; j < n; ++j) {
          std::vector<float> row(x.begin() + static_cast<std::ptrdiff_t>(j * ldx), x.begin() + static_cast<std::ptrdiff_t>(j * ldx + kk));
          std::vector<std::int8_t> c;
          reference_codes(row, c, want_scale[j]);
          std::copy(c.begin(), c.end(), w.begin() + static_cast<std::ptrdiff_t>(j * kk));
        }
        for (k::isa t : layouts()) {
          INFO("n=" << n << " k=" << kk << " special=" << special << " layout " << k::isa_name(t));
          const auto want = k::pack_weights(w.data(), kk, n, kk, k::weight_layout::n_by_k, t);
          k::packed_weights got;
          std::vector<float> scale(n, -1.0f);
          k::quantize_pack_rows(x.data(), n, kk, ldx, got, scale.data(), t);
          same_packing(got, want);
          check_scales(scale, want_scale);
        }
      }
}

TEST_CASE("quantize_pack_columns equals pack_weights of reference codes, every layout", "[kernels][quantize_pack]") {
  for (int special : {0, 1})
    for (std::size_t kk : {1u, 4u, 7u, 64u, 130u})
      for (std::size_t n : {3u, 8u, 16u, 24u, 64u, 72u}) {
        const std::size_t ldx = n + (kk % 3);
        // special: here along columns, so transpose the roles: rows of the generator are columns of x
        auto x = random_matrix(kk, ldx, 0);
        if (special && kk > 3) {
          for (std::size_t r = 0; r < kk; ++r) x[r * ldx + 0] = 0.0f;
          x[2 * ldx + 1] = std::numeric_limits<float>::quiet_NaN();
          x[1 * ldx + 2] = std::numeric_limits<float>::infinity();
          for (std::size_t r = 0; r < kk; ++r) x[r * ldx + 3] = static_cast<float>(static_cast<int>(r % 9) - 4) * 0.5f;
        }
        std::vector<std::int8_t> w(kk * n);
        std::vector<float> want_scale(n);
        for (std::size_t e = 0; e < n; ++e) {
          std::vector<float> col(kk);
          for (std::size_t r = 0; r < kk; ++r) col[r] = x[r * ldx + e];
          std::vector<std::int8_t> c;
          reference_codes(col, c, want_scale[e]);
          for (std::size_t r = 0; r < kk; ++r) w[r * n + e] = c[r];
        }
        for (k::isa t : layouts()) {
          INFO("k=" << kk << " n=" << n << " special=" << special << " layout " << k::isa_name(t));
          const auto want = k::pack_weights(w.data(), kk, n, n, k::weight_layout::k_by_n, t);
          k::packed_weights got;
          std::vector<float> scale(n, -1.0f);
          k::quantize_pack_columns(x.data(), kk, n, ldx, got, scale.data(), t);
          same_packing(got, want);
          check_scales(scale, want_scale);
        }
      }
}

TEST_CASE("quantize_pack reuses its buffer and repacks a smaller matrix exactly", "[kernels][quantize_pack]") {
  const auto big = random_matrix(64, 64, 0), small = random_matrix(9, 16, 0);
  k::packed_weights p, fresh;
  std::vector<float> s(64), s2(64);
  k::quantize_pack_rows(big.data(), 64, 64, 64, p, s.data());
  const auto* before = p.data();
  k::quantize_pack_rows(small.data(), 9, 16, 16, p, s.data());
  CHECK(p.data() == before);  // no reallocation for a smaller matrix
  k::quantize_pack_rows(small.data(), 9, 16, 16, fresh, s2.data());
  same_packing(p, fresh);  // and no byte of the larger one left behind (padding included)
}

TEST_CASE("quantize_pack codes in the int8 GEMM give q.kT within the quantization bound", "[kernels][quantize_pack]") {
  const std::size_t m = 7, n = 40, kk = 64;
  const auto q = random_matrix(m, kk, 0), kt_rows = random_matrix(n, kk, 0);
  for_each_isa([&](k::isa i) {
    INFO("isa " << k::isa_name(i));
    k::packed_weights p;
    std::vector<float> ks(n), y(m * n);
    k::quantize_pack_rows(kt_rows.data(), n, kk, kk, p, ks.data(), i);
    k::linear_dynamic(m, q.data(), kk, p, ks.data(), true, nullptr, y.data(), n);
    for (std::size_t r = 0; r < m; ++r) {
      double lo = 0, hi = 0;
      for (std::size_t t = 0; t < kk; ++t) lo = std::min<double>(lo, q[r * kk + t]), hi = std::max<double>(hi, q[r * kk + t]);
      const double sq = (hi - lo) / 255.0;  // q's step (linear_dynamic, per row)
      for (std::size_t j = 0; j < n; ++j) {
        double exact = 0, bound = 0;
        for (std::size_t t = 0; t < kk; ++t) {
          exact += static_cast<double>(q[r * kk + t]) * kt_rows[j * kk + t];
          // |q k - q~ k~| <= |q| |k - k~| + |q - q~| |k~|, with |k - k~| <= ks / 2 and |q - q~| <= sq / 2
          bound += std::abs(q[r * kk + t]) * ks[j] / 2 + sq / 2 * (std::abs(kt_rows[j * kk + t]) + ks[j] / 2);
        }
        CHECK(std::abs(y[r * n + j] - exact) <= bound * 1.0001 + 1e-5 * std::abs(exact));
      }
    }
  });
}

TEST_CASE("quantize_pack refuses bad arguments with bigmodel::error", "[kernels][quantize_pack]") {
  std::vector<float> x(64, 1.0f), s(8);
  k::packed_weights p;
  CHECK_THROWS_AS(k::quantize_pack_rows(x.data(), 0, 8, 8, p, s.data()), bigmodel::error);
  CHECK_THROWS_AS(k::quantize_pack_rows(nullptr, 2, 8, 8, p, s.data()), bigmodel::error);
  CHECK_THROWS_AS(k::quantize_pack_rows(x.data(), 2, 8, 4, p, s.data()), bigmodel::error);
  CHECK_THROWS_AS(k::quantize_pack_columns(x.data(), 8, 8, 4, p, s.data()), bigmodel::error);
  CHECK_THROWS_AS(k::quantize_pack_columns(x.data(), 8, 8, 8, p, nullptr), bigmodel::error);
}
