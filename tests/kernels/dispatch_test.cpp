// ISA selection and reporting, refusal of weights packed for another ISA, argument checks (status from
// can_implement / run_gemm, bigmodel::error from gemm / pack_weights), and thread-count independence.

#include "test_support.hpp"

#include <algorithm>
#include <set>

namespace {
using namespace kt;
}

TEST_CASE("isa: names, compiled and best", "[kernels][isa]") {
  const auto compiled = k::compiled_isas();
  CHECK(std::find(compiled.begin(), compiled.end(), k::isa::scalar) != compiled.end());
  CHECK(std::find(compiled.begin(), compiled.end(), k::isa::xsimd) != compiled.end());
  for (k::isa i : compiled) CHECK(k::parse_isa(k::isa_name(i)) == i);
  CHECK(!k::parse_isa("avx1024"));
  CHECK(k::is_supported(k::best_isa()));
  if (bigmodel::cpu().avx512vnni && bigmodel::cpu().avx512bw) CHECK(k::best_isa() == k::isa::avx512vnni);
  for (k::isa i : compiled)
    if (!k::is_supported(i)) CHECK(k::force_isa(i) == k::status::isa_unsupported);
}

TEST_CASE("isa: weights packed for one ISA are refused by another", "[kernels][isa]") {
  std::vector<std::int8_t> w(20 * 30, 1);
  std::vector<std::uint8_t> a(3 * 20, 2);
  std::vector<std::int32_t> c(3 * 30, 0);
  std::vector<k::isa> runnable;
  for (k::isa i : k::compiled_isas())
    if (k::is_supported(i)) runnable.push_back(i);
  for (k::isa packed_for : runnable) {
    const auto packed = k::pack_weights(w.data(), 20, 30, 30, k::weight_layout::k_by_n, packed_for);
    CHECK(packed.target() == packed_for);
    for (k::isa run_on : runnable) {
      INFO("packed for " << k::isa_name(packed_for) << ", running on " << k::isa_name(run_on));
      REQUIRE(k::force_isa(run_on) == k::status::ok);
      CHECK(k::active_isa() == run_on);
      const auto args = k::make_gemm_args(3, a.data(), 20, packed, c.data(), 30, k::raw_s32());
      const k::status expected = packed_for == run_on ? k::status::ok : k::status::isa_mismatch;
      CHECK(k::can_implement(args) == expected);
      std::fill(c.begin(), c.end(), -7);
      CHECK(k::run_gemm(args) == expected);
      if (expected != k::status::ok) {
        CHECK(std::all_of(c.begin(), c.end(), [](std::int32_t v) { return v == -7; }));  // nothing written
        try {
          k::gemm(3, a.data(), 20, packed, c.data(), 30);
          FAIL("gemm did not throw");
        } catch (const bigmodel::error& e) {
          CHECK(e.id() == "kernels.isa_mismatch");
        }
      } else {
        CHECK(std::all_of(c.begin(), c.end(), [](std::int32_t v) { return v == 40; }));
        CHECK(k::last_used_isa() == run_on);
      }
    }
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

TEST_CASE("gemm: argument checks", "[kernels][gemm]") {
  std::vector<std::int8_t> w(8 * 5, 1);
  std::vector<std::uint8_t> a(2 * 8, 1);
  std::vector<std::int32_t> c(2 * 5);
  std::vector<float> cf(2 * 5);
  std::vector<std::uint8_t> cq(2 * 5);
  const float s = 0.5f;
  const auto p = k::pack_weights(w.data(), 8, 5, 5, k::weight_layout::k_by_n);
  const k::packed_weights empty;
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, p, c.data(), 5, {})) == k::status::ok);
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, empty, c.data(), 5, {})) == k::status::empty_weights);
  CHECK(k::can_implement(k::make_gemm_args<std::uint8_t>(2, nullptr, 8, p, c.data(), 5, {})) == k::status::null_pointer);
  CHECK(k::can_implement(k::make_gemm_args(0, static_cast<const std::uint8_t*>(nullptr), 8, p, c.data(), 5, {})) == k::status::ok);
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 7, p, c.data(), 5, {})) == k::status::bad_leading_dimension);
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, p, c.data(), 4, {})) == k::status::bad_leading_dimension);
  // A scale on an s32 output, a float stage missing its requantize, per-channel without scales.
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, p, c.data(), 5, k::dequantize(0.1f, 0, &s, false))) == k::status::bad_epilogue);
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, p, cq.data(), 5, k::dequantize(0.1f, 0, &s, false))) == k::status::bad_epilogue);
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, p, cf.data(), 5, k::dequantize(0.1f, 0, nullptr, true))) == k::status::bad_epilogue);
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, p, cq.data(), 5, k::dequantize(0.1f, 0, &s, false) | k::requantize(0.0f, 0))) == k::status::bad_epilogue);
  CHECK(k::can_implement(k::make_gemm_args(2, a.data(), 8, p, cq.data(), 5, k::dequantize(0.1f, 0, &s, false) | k::requantize(1.0f, 0))) == k::status::ok);
  CHECK_THROWS_AS(k::gemm(2, a.data(), 7, p, c.data(), 5), bigmodel::error);

  CHECK_THROWS_AS(k::pack_weights(nullptr, 8, 5, 5, k::weight_layout::k_by_n), bigmodel::error);
  CHECK_THROWS_AS(k::pack_weights(w.data(), 0, 5, 5, k::weight_layout::k_by_n), bigmodel::error);
  CHECK_THROWS_AS(k::pack_weights(w.data(), 8, 5, 4, k::weight_layout::k_by_n), bigmodel::error);
  CHECK_THROWS_AS(k::pack_weights(w.data(), 5, 8, 4, k::weight_layout::n_by_k), bigmodel::error);
}

TEST_CASE("gemm: identical results for 1, 2 and 3 threads and a caller's parallel_for", "[kernels][threads]") {
  const std::size_t m = 300, n = 700, kk = 129;
  std::vector<std::int8_t> a(m * kk), w(n * kk);
  fill_matrix(a, fill::random, false);
  fill_matrix(w, fill::random, true);
  std::vector<float> scale(n), bias(n);
  for (std::size_t j = 0; j < n; ++j) {
    scale[j] = 1e-4f * static_cast<float>(1 + j % 7);
    bias[j] = 0.01f * static_cast<float>(j % 11);
  }
  const k::epilogue ep = k::dequantize(0.02f, 3, scale.data(), true) | k::bias(bias.data()) | k::gelu();
  // A caller-supplied hook: runs the tasks in reverse order and records that it was used.
  std::set<std::size_t> seen;
  const k::parallel_for_fn reverse = [&](std::size_t count, const std::function<void(std::size_t)>& body) {
    for (std::size_t t = count; t-- > 0;) {
      seen.insert(t);
      body(t);
    }
  };
  for (std::size_t rows : {m, std::size_t{5}}) {  // the large-M and the small-M paths
    for_each_isa([&](k::isa i) {
      INFO("isa " << k::isa_name(i) << " M=" << rows);
      const auto packed = k::pack_weights(w.data(), kk, n, kk, k::weight_layout::n_by_k);
      std::vector<std::int32_t> s1(rows * n), s2(rows * n), s3(rows * n);
      std::vector<float> f1(rows * n), f2(rows * n), f3(rows * n), fr(rows * n);
      k::gemm(rows, a.data(), kk, packed, s1.data(), n, k::raw_s32(-5), k::execution::threads(1));
      k::gemm(rows, a.data(), kk, packed, s2.data(), n, k::raw_s32(-5), k::execution::threads(2));
      k::gemm(rows, a.data(), kk, packed, s3.data(), n, k::raw_s32(-5), k::execution::threads(3));
      CHECK(s1 == s2);
      CHECK(s1 == s3);
      k::gemm(rows, a.data(), kk, packed, f1.data(), n, ep, k::execution::threads(1));
      k::gemm(rows, a.data(), kk, packed, f2.data(), n, ep, k::execution::threads(2));
      k::gemm(rows, a.data(), kk, packed, f3.data(), n, ep, k::execution::threads(3));
      seen.clear();
      k::gemm(rows, a.data(), kk, packed, fr.data(), n, ep, k::execution{reverse});
      CHECK(f1 == f2);
      CHECK(f1 == f3);
      CHECK(f1 == fr);
      CHECK(!seen.empty());
    });
  }
}

TEST_CASE("gemm: a parallel_for that throws is reported, not propagated", "[kernels][threads]") {
  std::vector<std::int8_t> w(64 * 512, 1);
  std::vector<std::uint8_t> a(16 * 64, 1);
  std::vector<std::int32_t> c(16 * 512);
  const auto packed = k::pack_weights(w.data(), 64, 512, 512, k::weight_layout::k_by_n);
  const k::execution failing{[](std::size_t, const std::function<void(std::size_t)>&) { throw std::runtime_error("pool gone"); }};
  CHECK(k::run_gemm(k::make_gemm_args(16, a.data(), 64, packed, c.data(), 512, {}), failing) == k::status::execution_failed);
}
