// The fp32 GEMM (kernels/sgemm.hpp) on every compiled ISA this CPU supports (each forced in turn), against a
// double-precision reference with no packing and no blocking.
//
// Tolerance, per output c[i][j]: the kernel forms the sum of K products with K fused multiply-adds in f32,
// plus one addition per K block of 256 (partial sums go through C) and the epilogue (one FMA with alpha, one
// add of bias + old C). Each rounding is at most u = 2^-24 relative to a partial sum bounded by
//   S = |alpha| * sum_k |a[i][k] b[k][j]| + |bias[j]| + |old c[i][j]|,
// so |c - c_ref| <= (K + K / 256 + 4) * u * S (first order; the 1.01 and the +8 below absorb the rest). A wrong
// row, column, panel, tail mask or epilogue term moves c by about one product or more, far above this bound
// for the sizes tested (the bound is ~1e-4 * S at K = 1000, a single product is ~S / K).

#include <catch2/catch.hpp>

#include <bigmodel/kernels/sgemm.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

namespace k = bigmodel::kernels;

std::mt19937& rng() {
  static std::mt19937 gen(20261129);
  return gen;
}
std::vector<float> random_floats(std::size_t count, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(count);
  for (auto& x : v) x = d(rng());
  return v;
}

#ifdef BIGMODEL_KERNELS_TEST_SMALL
const std::vector<std::size_t> sizes{1, 2, 3, 7, 16, 17, 33, 65, 129};
#else
const std::vector<std::size_t> sizes{1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 65, 127, 129, 255};
#endif

constexpr k::isa all_isas[] = {k::isa::scalar, k::isa::xsimd, k::isa::avx2, k::isa::avx512bw, k::isa::avx512vnni};

// Calls f(isa) with each supported ISA forced; says which ones are skipped (once per program).
template <class F>
void for_each_isa(F&& f) {
  static bool told = false;
  for (k::isa i : all_isas) {
    if (!k::is_supported(i)) {
      if (!told) std::printf("sgemm_test: skipping %s (not compiled in or not supported by this CPU)\n", k::isa_name(i).data());
      continue;
    }
    REQUIRE(k::force_isa(i) == k::status::ok);
    INFO("isa " << k::isa_name(i));
    f(i);
  }
  told = true;
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

// One problem: A (m x k, lda), B (k x n as `layout`, ldb), old C (m x n, ldc), epilogue.
struct problem {
  std::size_t m, n, kk, lda, ldb, ldc;
  k::weight_layout layout;
  std::vector<float> a, b, c0, bias;
  float alpha = 1.0f;
  bool use_bias = false, relu = false, accumulate = false;

  problem(std::size_t m_, std::size_t n_, std::size_t k_, k::weight_layout l, std::size_t pad)
      : m(m_), n(n_), kk(k_), lda(k_ + pad), ldb((l == k::weight_layout::k_by_n ? n_ : k_) + pad), ldc(n_ + pad), layout(l) {
    a = random_floats(m * lda);
    b = random_floats((l == k::weight_layout::k_by_n ? kk : n) * ldb);
    c0 = random_floats(m * ldc);
    bias = random_floats(n);
  }
  [[nodiscard]] float bv(std::size_t t, std::size_t j) const {
    return layout == k::weight_layout::k_by_n ? b[t * ldb + j] : b[j * ldb + t];
  }
  [[nodiscard]] k::sgemm_epilogue epilogue() const { return {alpha, use_bias ? bias.data() : nullptr, relu, accumulate, nullptr}; }

  // Reference and bound per element of C (row-major m x n).
  void reference(std::vector<double>& ref, std::vector<double>& bound) const {
    ref.assign(m * n, 0.0);
    bound.assign(m * n, 0.0);
    const double u = std::ldexp(1.0, -24), steps = static_cast<double>(kk + kk / 256 + 8);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double s = 0, sa = 0;
        for (std::size_t t = 0; t < kk; ++t) {
          const double p = static_cast<double>(a[i * lda + t]) * bv(t, j);
          s += p;
          sa += std::fabs(p);
        }
        double v = alpha * s, mag = std::fabs(alpha) * sa;
        if (use_bias) v += bias[j], mag += std::fabs(bias[j]);
        if (accumulate) v += c0[i * ldc + j], mag += std::fabs(c0[i * ldc + j]);
        if (relu) v = std::max(v, 0.0);
        ref[i * n + j] = v;
        bound[i * n + j] = 1.01 * steps * u * mag + 1e-30;
      }
  }

  // Runs sgemm (raw or packed) on a fresh copy of old C.
  [[nodiscard]] std::vector<float> run(bool packed, const k::execution& exec = {}) const {
    std::vector<float> c = c0;
    if (packed) {
      const auto p = k::pack_sgemm_weights(b.data(), kk, n, ldb, layout);
      k::sgemm(m, a.data(), lda, p, c.data(), ldc, epilogue(), exec);
    } else {
      k::sgemm(m, n, kk, a.data(), lda, b.data(), ldb, layout, c.data(), ldc, epilogue(), exec);
    }
    return c;
  }
};

// Number of elements outside the bound (first few reported); the padding of C must be untouched.
std::size_t check(const problem& pr, const std::vector<float>& c, const std::vector<double>& ref, const std::vector<double>& bound) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < pr.m; ++i)
    for (std::size_t j = 0; j < pr.ldc; ++j) {
      const float got = c[i * pr.ldc + j];
      if (j >= pr.n) {
        if (got != pr.c0[i * pr.ldc + j] && bad++ < 3) UNSCOPED_INFO("padding of C written at " << i << "," << j);
        continue;
      }
      const double err = std::fabs(got - ref[i * pr.n + j]);
      if (!(err <= bound[i * pr.n + j]) && bad++ < 3)
        UNSCOPED_INFO("c[" << i << "][" << j << "] = " << got << ", reference " << ref[i * pr.n + j] << ", bound " << bound[i * pr.n + j]);
    }
  return bad;
}

// The id of the bigmodel::error that f() throws, or "no error".
template <class F>
std::string id_of(F&& f) {
  try {
    f();
  } catch (const bigmodel::error& e) {
    return e.id();
  }
  return "no error";
}

}  // namespace

TEST_CASE("sgemm: every M, N, K of the sweep, both layouts, packed and raw, epilogues, strides", "[sgemm]") {
  std::size_t variant = 0;
  std::vector<double> ref, bound;
  for (std::size_t m : sizes)
    for (std::size_t n : sizes)
      for (std::size_t kk : sizes) {
        const std::size_t v = variant++;
        const auto layout = v % 2 == 0 ? k::weight_layout::k_by_n : k::weight_layout::n_by_k;
        const bool packed = (v / 2) % 2 == 1;
        problem pr(m, n, kk, layout, (v / 4) % 3 == 2 ? 5 : 0);
        switch (v % 5) {
          case 0: break;
          case 1: pr.use_bias = true; break;
          case 2: pr.relu = true, pr.alpha = -0.75f; break;
          case 3: pr.accumulate = true, pr.use_bias = true; break;
          default: pr.alpha = 2.5f, pr.use_bias = true, pr.relu = true, pr.accumulate = true; break;
        }
        pr.reference(ref, bound);
        for_each_isa([&](k::isa) {
          INFO("m=" << m << " n=" << n << " k=" << kk << " layout=" << static_cast<int>(layout) << " packed=" << packed
                    << " lda=" << pr.lda << " ldc=" << pr.ldc << " variant=" << v % 5);
          const auto c = pr.run(packed);
          const std::size_t bad = check(pr, c, ref, bound);
          if (bad != 0) CHECK(bad == 0);
        });
      }
}

TEST_CASE("sgemm: large shapes, several K blocks, both layouts", "[sgemm]") {
#ifdef BIGMODEL_KERNELS_TEST_SMALL
  const std::vector<std::array<std::size_t, 3>> shapes{{100, 130, 600}, {1, 1000, 520}};
#else
  const std::vector<std::array<std::size_t, 3>> shapes{{300, 520, 600}, {97, 1000, 530}, {1, 4100, 513}, {200, 63, 1100}};
#endif
  std::vector<double> ref, bound;
  std::size_t v = 0;
  for (const auto& s : shapes)
    for (auto layout : {k::weight_layout::k_by_n, k::weight_layout::n_by_k}) {
      problem pr(s[0], s[1], s[2], layout, v % 2 == 0 ? 0 : 3);
      pr.use_bias = true;
      pr.relu = v % 2 == 1;
      pr.accumulate = v % 3 == 0;
      pr.alpha = v % 2 == 0 ? 1.0f : 0.5f;
      pr.reference(ref, bound);
      for_each_isa([&](k::isa) {
        for (bool packed : {false, true}) {
          INFO("m=" << s[0] << " n=" << s[1] << " k=" << s[2] << " packed=" << packed << " layout=" << static_cast<int>(layout));
          CHECK(check(pr, pr.run(packed), ref, bound) == 0);
        }
      });
      ++v;
    }
}

TEST_CASE("sgemm: K = 0 leaves the epilogue of zeros", "[sgemm]") {
  for_each_isa([&](k::isa) {
    std::vector<float> c{1, -2, 3, -4, 5, -6};
    const float bias[3] = {10, -20, 30};
    k::sgemm(2, 3, 0, nullptr, 0, nullptr, 0, k::weight_layout::k_by_n, c.data(), 3, {.bias = bias, .relu = true, .accumulate = true});
    CHECK(c == std::vector<float>{11, 0, 33, 6, 0, 24});
  });
}

TEST_CASE("sgemm: 1, 2 and 3 threads give identical results", "[sgemm]") {
#ifdef BIGMODEL_KERNELS_TEST_SMALL
  problem pr(150, 500, 300, k::weight_layout::n_by_k, 1);
#else
  problem pr(300, 900, 600, k::weight_layout::n_by_k, 1);
#endif
  pr.use_bias = true;
  pr.relu = true;
  for_each_isa([&](k::isa) {
    for (bool packed : {false, true}) {
      const auto one = pr.run(packed);
      CHECK(pr.run(packed, k::execution::threads(2)) == one);
      CHECK(pr.run(packed, k::execution::threads(3)) == one);
    }
  });
}

TEST_CASE("sgemm: packed weights record their ISA and refuse another kernel", "[sgemm]") {
  const auto b = random_floats(40 * 70);
  std::vector<float> a = random_floats(5 * 40), c(5 * 70);
  for (k::isa i : all_isas) {
    if (!k::is_compiled(i)) continue;
    const auto p = k::pack_sgemm_weights(b.data(), 40, 70, 70, k::weight_layout::k_by_n, i);
    CHECK(p.target() == i);
    CHECK(p.k() == 40);
    CHECK(p.n() == 70);
    for (k::isa run : all_isas) {
      if (!k::is_supported(run)) continue;
      REQUIRE(k::force_isa(run) == k::status::ok);
      if (p.runs_on(run)) {
        CHECK_NOTHROW(k::sgemm(5, a.data(), 40, p, c.data(), 70));
      } else {
        try {
          k::sgemm(5, a.data(), 40, p, c.data(), 70);
          FAIL("packed for " << k::isa_name(i) << " ran on " << k::isa_name(run));
        } catch (const bigmodel::error& e) {
          CHECK(e.id() == "kernels.isa_mismatch");
        }
      }
    }
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

TEST_CASE("sgemm: bad arguments throw bigmodel::error", "[sgemm]") {
  const auto a = random_floats(4 * 8), b = random_floats(8 * 6);
  std::vector<float> c(4 * 6);
  using k::weight_layout;
  CHECK(id_of([&] { k::sgemm(4, 6, 8, nullptr, 8, b.data(), 6, weight_layout::k_by_n, c.data(), 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, 6, 8, a.data(), 8, nullptr, 6, weight_layout::k_by_n, c.data(), 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, 6, 8, a.data(), 8, b.data(), 6, weight_layout::k_by_n, nullptr, 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, 6, 8, a.data(), 7, b.data(), 6, weight_layout::k_by_n, c.data(), 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, 6, 8, a.data(), 8, b.data(), 5, weight_layout::k_by_n, c.data(), 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, 6, 8, a.data(), 8, b.data(), 7, weight_layout::n_by_k, c.data(), 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, 6, 8, a.data(), 8, b.data(), 6, weight_layout::k_by_n, c.data(), 5); }) == "kernels.bad_argument");
  CHECK(id_of([&] { (void)k::pack_sgemm_weights(nullptr, 8, 6, 6, weight_layout::k_by_n); }) == "kernels.bad_argument");
  CHECK(id_of([&] { (void)k::pack_sgemm_weights(b.data(), 0, 6, 6, weight_layout::k_by_n); }) == "kernels.bad_argument");
  CHECK(id_of([&] { (void)k::pack_sgemm_weights(b.data(), 8, 6, 5, weight_layout::k_by_n); }) == "kernels.bad_argument");
  const auto p = k::pack_sgemm_weights(b.data(), 8, 6, 6, weight_layout::k_by_n);
  CHECK(id_of([&] { k::sgemm(4, a.data(), 7, p, c.data(), 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, a.data(), 8, p, nullptr, 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { k::sgemm(4, a.data(), 8, k::packed_sgemm_weights{}, c.data(), 6); }) == "kernels.empty_weights");
  // Nothing to do is not an error.
  CHECK(id_of([&] { k::sgemm(0, 6, 8, nullptr, 8, b.data(), 6, weight_layout::k_by_n, nullptr, 6); }) == "no error");
}

TEST_CASE("sgemm_panels: a leading part of B packed once gives the bits of sgemm with that part packed", "[sgemm]") {
  for_each_isa([&](k::isa) {
    for (const auto layout : {k::weight_layout::k_by_n, k::weight_layout::n_by_k}) {
      INFO("layout " << (layout == k::weight_layout::k_by_n ? "k_by_n" : "n_by_k"));
      // B: K x N = 300 x 100 (two K blocks of 256), stored with 3 floats of padding per row.
      const std::size_t K = 300, N = 100, ldb = (layout == k::weight_layout::k_by_n ? N : K) + 3;
      const auto b = random_floats((layout == k::weight_layout::k_by_n ? K : N) * ldb);
      k::sgemm_panels panels;
      panels.pack(b.data(), K, N, ldb, layout);
      CHECK(panels.k() == K);
      CHECK(panels.n() == N);
      const std::size_t shapes[][3] = {{1, 100, 300}, {5, 64, 300}, {8, 48, 64}, {9, 49, 280}, {64, 17, 33}, {3, 1, 1}, {70, 100, 5}};
      for (const auto& s : shapes) {
        const std::size_t m = s[0], n = s[1], kk = s[2], lda = kk + 2, ldc = n + 5;
        INFO("m " << m << " n " << n << " k " << kk);
        const auto a = random_floats(m * lda), bias = random_floats(n), c0 = random_floats(m * ldc);
        const k::sgemm_epilogue ep{0.75f, bias.data(), false, false, nullptr};
        std::vector<float> got = c0, want = c0;
        panels.multiply(m, n, kk, a.data(), lda, got.data(), ldc, ep);
        // The same leading part packed on its own: rows [0, kk) x columns [0, n) of B, same strides.
        const auto part = k::pack_sgemm_weights(b.data(), kk, n, ldb, layout);
        k::sgemm(m, a.data(), lda, part, want.data(), ldc, ep);
        CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);  // padding of C included
      }
    }
  });
}

TEST_CASE("sgemm_panels: bad arguments throw bigmodel::error", "[sgemm]") {
  const auto a = random_floats(4 * 8), b = random_floats(8 * 6);
  std::vector<float> c(4 * 6);
  using k::weight_layout;
  k::sgemm_panels p;
  CHECK(id_of([&] { p.multiply(4, 6, 8, a.data(), 8, c.data(), 6); }) == "kernels.empty_weights");
  CHECK(id_of([&] { p.pack(nullptr, 8, 6, 6, weight_layout::k_by_n); }) == "kernels.bad_argument");
  CHECK(id_of([&] { p.pack(b.data(), 0, 6, 6, weight_layout::k_by_n); }) == "kernels.bad_argument");
  CHECK(id_of([&] { p.pack(b.data(), 8, 6, 5, weight_layout::k_by_n); }) == "kernels.bad_argument");
  p.pack(b.data(), 8, 6, 6, weight_layout::k_by_n);
  CHECK(id_of([&] { p.multiply(4, 7, 8, a.data(), 8, c.data(), 7); }) == "kernels.bad_argument");  // N 7 > 6
  CHECK(id_of([&] { p.multiply(4, 6, 9, a.data(), 9, c.data(), 6); }) == "kernels.bad_argument");  // K 9 > 8
  CHECK(id_of([&] { p.multiply(4, 6, 8, a.data(), 7, c.data(), 6); }) == "kernels.bad_argument");  // lda < K
  CHECK(id_of([&] { p.multiply(4, 6, 8, a.data(), 8, nullptr, 6); }) == "kernels.bad_argument");
  CHECK(id_of([&] { p.multiply(4, 6, 8, a.data(), 8, c.data(), 6); }) == "no error");
  // Packed for one kernel family, multiplied while another is active.
  if (k::is_supported(k::isa::avx2) && k::is_supported(k::isa::scalar)) {
    REQUIRE(k::force_isa(k::isa::avx2) == k::status::ok);
    p.pack(b.data(), 8, 6, 6, weight_layout::k_by_n);
    REQUIRE(k::force_isa(k::isa::scalar) == k::status::ok);
    CHECK(id_of([&] { p.multiply(4, 6, 8, a.data(), 8, c.data(), 6); }) == "kernels.isa_mismatch");
    REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
  }
}

namespace {
// An elementwise function that is not a no-op anywhere (x -> x * x - 0.5), for the epilogue's row hook.
void square_minus_half(const float* x, float* y, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * x[i] - 0.5f;
}
}  // namespace

TEST_CASE("sgemm: the epilogue's row function equals a separate pass over C, bit for bit", "[sgemm]") {
  for_each_isa([&](k::isa) {
    // M across row tiles and tasks (> 16 row tiles), N across panels and tasks (> 384 columns), K across blocks.
    for (const auto& s : {std::array<std::size_t, 3>{1, 5, 3}, {8, 48, 64}, {9, 100, 300}, {150, 400, 40}, {3, 700, 17}}) {
      for (const auto layout : {k::weight_layout::k_by_n, k::weight_layout::n_by_k}) {
        for (const bool packed : {false, true}) {
          problem pr(s[0], s[1], s[2], layout, 3);
          pr.use_bias = true;
          pr.relu = s[0] % 2 == 1;
          INFO("m " << pr.m << " n " << pr.n << " k " << pr.kk << " packed " << packed << " relu " << pr.relu);
          std::vector<float> want = pr.run(packed);
          for (std::size_t i = 0; i < pr.m; ++i) square_minus_half(&want[i * pr.ldc], &want[i * pr.ldc], pr.n);
          std::vector<float> got = pr.c0;
          k::sgemm_epilogue ep = pr.epilogue();
          ep.rows = &square_minus_half;
          if (packed) {
            const auto p = k::pack_sgemm_weights(pr.b.data(), pr.kk, pr.n, pr.ldb, layout);
            k::sgemm(pr.m, pr.a.data(), pr.lda, p, got.data(), pr.ldc, ep);
          } else {
            k::sgemm(pr.m, pr.n, pr.kk, pr.a.data(), pr.lda, pr.b.data(), pr.ldb, layout, got.data(), pr.ldc, ep);
          }
          CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);  // padding of C untouched
        }
      }
    }
  });
}
