// The bf16 GEMM (kernels/bf16_gemm.hpp) on its AVX-512 BF16 path (where the CPU has it) and its portable path
// (forced by running an ISA below AVX-512), against a double-precision reference of the same bf16 operands:
// ref = alpha * sum_k double(bf16(a[i][k])) * double(b_bf16[k][j]) + bias[j] (+ old c).
//
// Tolerance, per output: each product of two bf16 values is exact in f32, so the kernel's error is only its f32
// additions: one per k, one per K block of 256 and the epilogue's two, each at most u = 2^-24 relative to a partial
// sum bounded by S = |alpha| * sum_k |a b| + |bias| + |old c|: |c - ref| <= (K + K / 256 + 4) * u * S. Using A
// without rounding it to bf16 moves c by ~2^-9 of a product per k -- above the bound for every K tested -- and a
// wrong row, column, panel, pair or epilogue term moves it by a whole product or more.

#include <catch2/catch.hpp>

#include <bigmodel/kernels/bf16_gemm.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

namespace {

namespace k = bigmodel::kernels;
using bigmodel::bf16;

std::mt19937& rng() {
  static std::mt19937 gen(20261130);
  return gen;
}
std::vector<float> random_floats(std::size_t count, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(count);
  for (auto& x : v) x = d(rng());
  return v;
}
double r16(float x) { return static_cast<double>(bigmodel::to_float(bigmodel::to_bf16(x))); }

// Runs f(native) once on the AVX-512 BF16 path (if this CPU has it) and once on the portable path.
template <class F>
void for_each_path(F&& f) {
  static bool told = false;
  bool native_seen = false, portable_seen = false;
  for (k::isa i : {k::isa::avx512vnni, k::isa::avx512bw, k::isa::avx2, k::isa::xsimd}) {
    if (!k::is_supported(i) || k::force_isa(i) != k::status::ok) continue;
    const bool native = k::bf16_dot_native();
    if ((native && native_seen) || (!native && portable_seen)) continue;
    (native ? native_seen : portable_seen) = true;
    INFO((native ? "AVX-512 BF16 path" : "portable path") << " (isa " << k::isa_name(i) << ")");
    f(native);
  }
  (void)k::force_isa(std::nullopt);
  if (!native_seen && !told) std::printf("bf16_gemm_test: this CPU has no AVX-512 BF16: only the portable path ran\n");
  told = true;
  REQUIRE(portable_seen);
}

struct problem {
  std::size_t m, n, kk;
  float alpha = 1.0f;
  bool bias = false, accumulate = false, relu = false;
  k::weight_layout layout = k::weight_layout::n_by_k;
  std::size_t pad = 0;  // extra elements per row of A, B and C
};

void check(const problem& p) {
  INFO("m=" << p.m << " n=" << p.n << " k=" << p.kk << " alpha=" << p.alpha << " bias=" << p.bias
            << " accumulate=" << p.accumulate << " relu=" << p.relu << " k_by_n=" << (p.layout == k::weight_layout::k_by_n));
  const std::size_t lda = p.kk + p.pad, ldc = p.n + p.pad;
  const bool kn = p.layout == k::weight_layout::k_by_n;
  const std::size_t ldw = (kn ? p.n : p.kk) + p.pad;
  const auto a = random_floats(p.m * lda);
  const auto w = random_floats((kn ? p.kk : p.n) * ldw);
  const auto bias = random_floats(p.n);
  const auto c0 = random_floats(p.m * ldc);
  const auto packed = k::pack_bf16_weights(w.data(), p.kk, p.n, ldw, p.layout);
  auto wat = [&](std::size_t kk, std::size_t j) { return kn ? w[kk * ldw + j] : w[j * ldw + kk]; };
  for (std::size_t kk = 0; kk < p.kk; ++kk)
    for (std::size_t j = 0; j < p.n; ++j) REQUIRE(packed.at(kk, j).bits == bigmodel::to_bf16(wat(kk, j)).bits);

  std::vector<double> ref(p.m * p.n), bound(p.m * p.n);
  const double u = std::ldexp(1.0, -24);
  for (std::size_t i = 0; i < p.m; ++i)
    for (std::size_t j = 0; j < p.n; ++j) {
      double s = 0, sa = 0;
      for (std::size_t kk = 0; kk < p.kk; ++kk) {
        const double prod = r16(a[i * lda + kk]) * r16(wat(kk, j));
        s += prod;
        sa += std::fabs(prod);
      }
      double v = p.alpha * s, mag = std::fabs(p.alpha) * sa;
      if (p.bias) v += bias[j], mag += std::fabs(bias[j]);
      if (p.accumulate) v += c0[i * ldc + j], mag += std::fabs(c0[i * ldc + j]);
      if (p.relu) v = std::max(v, 0.0);
      ref[i * p.n + j] = v;
      bound[i * p.n + j] = (static_cast<double>(p.kk + p.kk / 256 + 4) * u * mag) * 1.01 + 1e-30;
    }
  for_each_path([&](bool) {
    auto c = c0;
    k::bf16_gemm(p.m, a.data(), lda, packed, c.data(), ldc,
                 {.alpha = p.alpha, .bias = p.bias ? bias.data() : nullptr, .relu = p.relu, .accumulate = p.accumulate});
    std::size_t bad = 0;
    for (std::size_t i = 0; i < p.m; ++i) {
      for (std::size_t j = 0; j < p.n; ++j) {
        const double got = c[i * ldc + j], want = ref[i * p.n + j];
        if (!(std::fabs(got - want) <= bound[i * p.n + j]) && bad++ < 3)
          FAIL_CHECK("c[" << i << "][" << j << "] = " << got << ", reference " << want << ", bound " << bound[i * p.n + j]);
      }
      for (std::size_t j = p.n; j < ldc; ++j) REQUIRE(c[i * ldc + j] == c0[i * ldc + j]);  // padding untouched
    }
    CHECK(bad == 0);
  });
}

}  // namespace

TEST_CASE("bf16 GEMM matches the double reference of the same bf16 operands", "[bf16_gemm]") {
#ifdef BIGMODEL_KERNELS_TEST_SMALL
  const std::vector<std::size_t> ms{1, 3, 9}, ns{1, 17, 48, 97}, ks{1, 2, 31, 258};
#else
  const std::vector<std::size_t> ms{1, 2, 7, 8, 9, 17, 130}, ns{1, 15, 16, 17, 33, 47, 48, 49, 100, 400},
      ks{1, 2, 3, 31, 64, 257, 520};
#endif
  for (auto m : ms)
    for (auto n : ns)
      for (auto kk : ks) check({m, n, kk});
}

TEST_CASE("bf16 GEMM epilogue, layouts and leading dimensions", "[bf16_gemm]") {
  for (auto layout : {k::weight_layout::n_by_k, k::weight_layout::k_by_n})
    for (std::size_t m : {1u, 5u, 19u}) {
      check({m, 50, 37, 0.5f, true, false, false, layout, 3});
      check({m, 50, 300, -2.0f, true, true, true, layout, 1});
      check({m, 96, 10, 1.0f, false, true, false, layout, 0});
      check({m, 7, 513, 1.0f, false, false, true, layout, 5});
    }
}

TEST_CASE("bf16 GEMM rounds A to bf16, to nearest even", "[bf16_gemm]") {
  // B = 1 (K = 1, N = 1): C is A's bf16 value. bf16 keeps 7 fraction bits: 1 + 2^-8 is a tie (-> 1, even),
  // 1 + 3 * 2^-8 a tie (-> 1 + 2^-6, even), 1 + 2^-8 + 2^-12 above the tie (-> 1 + 2^-7).
  const float one = 1.0f;
  const auto packed = k::pack_bf16_weights(&one, 1, 1, 1, k::weight_layout::k_by_n);
  const std::vector<std::pair<float, float>> cases{{1.0f + 0x1p-8f, 1.0f},
                                                   {1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-6f},
                                                   {1.0f + 0x1p-8f + 0x1p-12f, 1.0f + 0x1p-7f},
                                                   {-3.0f - 0x1p-9f, -3.0f}};
  for_each_path([&](bool) {
    for (auto [x, want] : cases) {
      float c = 0;
      k::bf16_gemm(1, &x, 1, packed, &c, 1);
      CHECK(c == want);
    }
  });
  // Weights packed from f32 round the same way; packed from bf16 they are kept.
  const float w = 1.0f + 0x1p-8f;
  CHECK(k::pack_bf16_weights(&w, 1, 1, 1, k::weight_layout::n_by_k).at(0, 0).bits == bigmodel::to_bf16(1.0f).bits);
  const bf16 h = bf16::from_bits(0x3F81);  // 1 + 2^-7
  CHECK(k::pack_bf16_weights(&h, 1, 1, 1, k::weight_layout::n_by_k).at(0, 0).bits == 0x3F81);
}

TEST_CASE("bf16 GEMM: pairs of k, odd K and a NaN in A", "[bf16_gemm]") {
  // Closed form: A = [1, 2, 3] (K = 3, odd: one pair and a half), B = [[1, 10], [100, 1000], [10000, 4]] (K x N).
  const std::vector<float> a{1, 2, 3}, b{1, 10, 100, 1000, 10000, 4};
  const auto packed = k::pack_bf16_weights(b.data(), 3, 2, 2, k::weight_layout::k_by_n);
  for_each_path([&](bool) {
    float c[2] = {0, 0};
    k::bf16_gemm(1, a.data(), 3, packed, c, 2);
    // 1 + 200 + 3 * 10000 (10000 is 9984 + 16: bf16(10000) = 9984) and 10 + 2000 + 12; all exact in f32.
    CHECK(c[0] == 1.0f + 200.0f + 3.0f * 9984.0f);
    CHECK(c[1] == 10.0f + 2000.0f + 12.0f);
    const std::vector<float> bad{1, std::numeric_limits<float>::quiet_NaN(), 3};
    k::bf16_gemm(1, bad.data(), 3, packed, c, 2);
    CHECK(std::isnan(c[0]));
    CHECK(std::isnan(c[1]));
  });
}

TEST_CASE("bf16 GEMM: powers of two over many pairs sum exactly", "[bf16_gemm]") {
  // A[k] = 2^k, B = 1: C = 2^K - 1 exactly (every partial sum fits f32). GCC 12 at -O3 once turned a form of the
  // portable loop into 2^K for K >= 5.
  for (std::size_t kk = 1; kk <= 20; ++kk) {
    std::vector<float> a(kk), w(kk, 1.0f);
    for (std::size_t i = 0; i < kk; ++i) a[i] = std::ldexp(1.0f, static_cast<int>(i));
    const auto packed = k::pack_bf16_weights(w.data(), kk, 1, kk, k::weight_layout::n_by_k);
    for_each_path([&](bool) {
      INFO("K = " << kk);
      float c = 0;
      k::bf16_gemm(1, a.data(), kk, packed, &c, 1);
      CHECK(c == std::ldexp(1.0f, static_cast<int>(kk)) - 1.0f);
    });
  }
}

TEST_CASE("bf16 GEMM: results do not depend on the thread count", "[bf16_gemm]") {
  const std::size_t m = 300, n = 1000, kk = 300;
  const auto a = random_floats(m * kk), w = random_floats(n * kk);
  const auto packed = k::pack_bf16_weights(w.data(), kk, n, kk, k::weight_layout::n_by_k);
  std::vector<float> one(m * n), two(m * n);
  k::bf16_gemm(m, a.data(), kk, packed, one.data(), n);
  k::bf16_gemm(m, a.data(), kk, packed, two.data(), n, {}, k::execution::threads(2));
  CHECK(one == two);
}

TEST_CASE("bf16 GEMM: bad arguments are errors that name the problem", "[bf16_gemm]") {
  const std::vector<float> w(12, 1.0f), a(12, 1.0f);
  std::vector<float> c(12);
  auto throws = [](auto&& f, const char* code) {
    try {
      f();
      FAIL("no error");
    } catch (const bigmodel::error& e) {
      CHECK(std::string(e.what()).find(code) != std::string::npos);
    }
  };
  throws([&] { (void)k::pack_bf16_weights(static_cast<const float*>(nullptr), 3, 4, 4, k::weight_layout::k_by_n); }, "null weight");
  throws([&] { (void)k::pack_bf16_weights(w.data(), 0, 4, 4, k::weight_layout::k_by_n); }, "empty weight");
  throws([&] { (void)k::pack_bf16_weights(w.data(), 3, 4, 3, k::weight_layout::k_by_n); }, "leading dimension");
  throws([&] { (void)k::pack_bf16_weights(w.data(), 3, 4, 2, k::weight_layout::n_by_k); }, "leading dimension");
  const auto packed = k::pack_bf16_weights(w.data(), 3, 4, 4, k::weight_layout::k_by_n);
  throws([&] { k::bf16_gemm(2, nullptr, 3, packed, c.data(), 4); }, "null A");
  throws([&] { k::bf16_gemm(2, a.data(), 3, packed, nullptr, 4); }, "null C");
  throws([&] { k::bf16_gemm(2, a.data(), 2, packed, c.data(), 4); }, "lda smaller");
  throws([&] { k::bf16_gemm(2, a.data(), 3, packed, c.data(), 3); }, "ldc smaller");
  throws([&] { k::bf16_gemm(1, a.data(), 3, k::packed_bf16_weights{}, c.data(), 4); }, "empty packed");
  k::bf16_gemm(0, nullptr, 0, packed, nullptr, 0);  // M = 0: nothing to do, not an error
}
