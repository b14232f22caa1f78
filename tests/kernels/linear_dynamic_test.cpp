// linear_dynamic against a double-precision matmul with the dequantized weights, within the bound that
// activation quantization allows (derived in linear_dynamic.hpp):
//   |y - y_ref| <= (s / 2) * sum_k |w_scale[n] * Wq[k][n]|  +  1e-5 * (sum_k |x_k * w_k| + |bias|)
// where s is the row's (or tensor's) activation step (max(x, 0) - min(x, 0)) / 255; the second term is a
// generous allowance for f32 rounding of the dequantized result.

#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace {

using namespace kt;

void check_linear(std::size_t m, std::size_t n, std::size_t kk, k::granularity g, bool per_channel, k::activation act) {
  INFO("M=" << m << " N=" << n << " K=" << kk << " per_row=" << (g == k::granularity::per_row)
            << " per_channel=" << per_channel << " act=" << static_cast<int>(act));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::size_t ldx = kk + 3, ldy = n + 2;
  std::vector<float> x(m * ldx), wf(n * kk), bias(n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t t = 0; t < kk; ++t)  // rows of different ranges and an offset, so per-row matters
      x[i * ldx + t] = normal(rng()) * static_cast<float>(1 + i % 5) + (i % 3 == 0 ? 2.0f : 0.0f);
  for (auto& v : wf) v = normal(rng()) * 0.05f;
  for (auto& b : bias) b = normal(rng());
  // Symmetric int8 weights, per output channel or per tensor.
  std::vector<float> w_scale(per_channel ? n : 1, 0.0f);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t t = 0; t < kk; ++t) {
      float& s = w_scale[per_channel ? j : 0];
      s = std::max(s, std::abs(wf[j * kk + t]) / 127.0f);
    }
  std::vector<std::int8_t> wq(n * kk);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t t = 0; t < kk; ++t)
      wq[j * kk + t] = static_cast<std::int8_t>(std::nearbyint(wf[j * kk + t] / w_scale[per_channel ? j : 0]));

  // Activation steps as the bound defines them.
  std::vector<double> step(m);
  double tlo = 0, thi = 0;
  for (std::size_t i = 0; i < m; ++i) {
    double lo = 0, hi = 0;
    for (std::size_t t = 0; t < kk; ++t) {
      lo = std::min<double>(lo, x[i * ldx + t]);
      hi = std::max<double>(hi, x[i * ldx + t]);
    }
    step[i] = (hi - lo) / 255.0;
    tlo = std::min(tlo, lo);
    thi = std::max(thi, hi);
  }
  if (g == k::granularity::per_tensor)
    for (auto& s : step) s = (thi - tlo) / 255.0;

  for_each_isa([&](k::isa i) {
    INFO("isa " << k::isa_name(i));
    const auto packed = k::pack_weights(wq.data(), kk, n, kk, k::weight_layout::n_by_k);
    std::vector<float> y(m * ldy);
    k::linear_dynamic(m, x.data(), ldx, packed, w_scale.data(), per_channel, bias.data(), y.data(), ldy,
                      {.activations = g, .act = act});
    std::size_t bad = 0;
    double worst = 0;
    for (std::size_t r = 0; r < m; ++r)
      for (std::size_t j = 0; j < n; ++j) {
        double ref = bias[j], wabs = 0, mag = std::abs(bias[j]);
        for (std::size_t t = 0; t < kk; ++t) {
          const double wd = static_cast<double>(w_scale[per_channel ? j : 0]) * wq[j * kk + t];
          ref += x[r * ldx + t] * wd;
          wabs += std::abs(wd);
          mag += std::abs(x[r * ldx + t] * wd);
        }
        double bound = 0.5 * step[r] * wabs * (1 + 1e-4) + 1e-5 * mag;
        if (act == k::activation::relu) ref = std::max(ref, 0.0);  // 1-Lipschitz: the bound carries over
        const double err = std::abs(y[r * ldy + j] - ref);
        worst = std::max(worst, err / bound);
        if (!(err <= bound)) ++bad;
      }
    INFO("worst error / bound " << worst);
    CHECK(bad == 0);
  });
}

}  // namespace

TEST_CASE("linear_dynamic: within the activation quantization bound", "[kernels][linear_dynamic]") {
  for (auto g : {k::granularity::per_row, k::granularity::per_tensor})
    for (bool per_channel : {true, false}) {
      check_linear(1, 33, 64, g, per_channel, k::activation::none);
      check_linear(7, 65, 129, g, per_channel, k::activation::relu);
      check_linear(40, 100, 255, g, per_channel, k::activation::none);
    }
}

TEST_CASE("linear_dynamic: all-zero and constant rows", "[kernels][linear_dynamic]") {
  const std::size_t n = 5, kk = 9;
  std::vector<std::int8_t> w(n * kk, 3);
  const float ws = 0.5f;
  std::vector<float> x(2 * kk, 0.0f), y(2 * n, -1.0f);
  for (std::size_t t = 0; t < kk; ++t) x[kk + t] = -2.0f;  // constant negative row: exactly representable
  const auto packed = k::pack_weights(w.data(), kk, n, kk, k::weight_layout::n_by_k);
  k::linear_dynamic(2, x.data(), kk, packed, &ws, false, nullptr, y.data(), n);
  for (std::size_t j = 0; j < n; ++j) {
    CHECK(y[j] == 0.0f);
    CHECK(y[n + j] == Approx(-2.0 * 3 * 0.5 * kk).epsilon(1e-6));
  }
}

TEST_CASE("linear_dynamic: bad arguments throw bigmodel::error", "[kernels][linear_dynamic]") {
  std::vector<std::int8_t> w(4 * 8, 1);
  const auto packed = k::pack_weights(w.data(), 8, 4, 8, k::weight_layout::n_by_k);
  std::vector<float> x(8), y(4);
  const float s = 1.0f;
  CHECK_THROWS_AS(k::linear_dynamic(1, x.data(), 8, packed, nullptr, false, nullptr, y.data(), 4), bigmodel::error);
  CHECK_THROWS_AS(k::linear_dynamic(1, x.data(), 7, packed, &s, false, nullptr, y.data(), 4), bigmodel::error);
  CHECK_THROWS_AS(k::linear_dynamic(1, nullptr, 8, packed, &s, false, nullptr, y.data(), 4), bigmodel::error);
  CHECK_THROWS_AS(k::linear_dynamic(1, x.data(), 8, k::packed_weights{}, &s, false, nullptr, y.data(), 4), bigmodel::error);
}

TEST_CASE("activation quantization rows: the AVX-512 and AVX2 kernels equal the portable ones", "[kernels][linear_dynamic]") {
#if BIGMODEL_KERNELS_X86
  using k::detail::row_path;
  std::vector<row_path> paths;
  if (k::is_supported(k::isa::avx2)) paths.push_back(row_path::avx2);
  else WARN("AVX2 rows not tested: this CPU has no AVX2");
  if (k::is_supported(k::isa::avx512bw)) paths.push_back(row_path::avx512);
  else WARN("AVX-512 rows not tested: this CPU has no AVX-512BW");
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  for (const row_path path : paths)
    for (std::size_t len = 1; len <= 70; ++len)
      for (int rep = 0; rep < 5; ++rep) {
        INFO("path " << static_cast<int>(path) << " length " << len << " rep " << rep);
        std::vector<float> x(len + 1);
        for (auto& v : x) v = u(rng());
        if (rep == 1)  // exact .5 steps: ties round to even in both
          for (std::size_t t = 0; t < len; ++t) x[t + 1] = 0.5f * static_cast<float>(static_cast<int>(t) - 35);
        if (rep == 2 && len > 2) x[1] = 1e30f, x[len] = -1e30f;  // far outside the range: clamped
        if (rep == 4) x[1 + len / 2] = std::numeric_limits<float>::quiet_NaN();  // NaN goes to 0 in every path
        const float* row = x.data() + 1;  // unaligned
        float lo_p = row[0], hi_p = lo_p, lo_v = lo_p, hi_v = lo_p;
        k::detail::min_max_portable(row, len, lo_p, hi_p);
        k::detail::min_max_with(path, row, len, lo_v, hi_v);
        if (rep != 4) {  // min / max of a row with NaN depends on where the NaN is: callers reject NaN first
          CHECK(lo_p == lo_v);
          CHECK(hi_p == hi_v);
        }
        // A scale that does not cover the row (rep 2 / 3 / 4) exercises the clamp.
        const k::activation_quantization q = rep >= 2 ? k::activation_quantization{0.01f, 77} : k::detail::choose_quantization(lo_p, hi_p);
        std::vector<std::uint8_t> a(len + 2, 0xAB), b(len + 2, 0xAB);
        k::detail::quantize_row_portable(row, len, q, a.data() + 1);
        k::detail::quantize_row_with(path, row, len, q, b.data() + 1);
        CHECK(a == b);  // includes the guard bytes: nothing written past the row
        CHECK(b[len + 1] == 0xAB);
      }
#else
  WARN("skipped: not an x86-64 build");
#endif
}

namespace {

// pack_a's layout of one tile ([kp / 4][rows][4], K zero-padded), built from quantize_row_portable.
std::vector<std::uint8_t> reference_tile(const float* x, std::size_t ldx, std::size_t rows, std::size_t kk, std::size_t kp,
                                         const k::activation_quantization* q) {
  std::vector<std::uint8_t> out(rows * kp, 0), row(kk);
  for (std::size_t i = 0; i < rows; ++i) {
    k::detail::quantize_row_portable(x + i * ldx, kk, q[i], row.data());
    for (std::size_t t = 0; t < kk; ++t) out[t / 4 * rows * 4 + i * 4 + t % 4] = row[t];
  }
  return out;
}

}  // namespace

TEST_CASE("activation quantization: tiles packed directly equal pack_a of the quantized rows", "[kernels][linear_dynamic]") {
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  using k::detail::row_path;
  std::vector<row_path> paths{row_path::portable};
#if BIGMODEL_KERNELS_X86
  if (k::is_supported(k::isa::avx2)) paths.push_back(row_path::avx2);
  else WARN("AVX2 tile path not tested: this CPU has no AVX2");
  if (k::is_supported(k::isa::avx512bw)) paths.push_back(row_path::avx512);
  else WARN("AVX-512 tile path not tested: this CPU has no AVX-512BW");
#endif
  for (const row_path path : paths)
    for (std::size_t rows = 1; rows <= 8; ++rows)
      for (std::size_t kk : {1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 70, 255, 256, 257, 300, 515}) {
        const std::size_t kp = (kk + 3) / 4 * 4, ldx = kk + 5;  // strided rows
        for (int rep = 0; rep < 3; ++rep) {
          INFO("path " << static_cast<int>(path) << " rows " << rows << " K " << kk << " rep " << rep);
          std::vector<float> x(rows * ldx + 1);
          for (auto& v : x) v = u(rng());
          if (rep == 1)  // exact .5 steps: ties round to even
            for (std::size_t t = 0; t < kk; ++t) x[1 + t] = 0.5f * static_cast<float>(static_cast<int>(t % 80) - 40);
          if (rep == 2) {  // values far outside the range (clamped), NaN, infinities
            x[1] = 1e30f, x[1 + kk - 1] = -1e30f;
            if (rows > 1) x[1 + ldx] = std::numeric_limits<float>::quiet_NaN();
            if (rows > 2) x[1 + 2 * ldx + kk / 2] = std::numeric_limits<float>::infinity();
            if (rows > 3) x[1 + 3 * ldx + kk / 3] = -std::numeric_limits<float>::infinity();
          }
          const float* rows_x = x.data() + 1;  // unaligned
          std::vector<k::activation_quantization> q(rows);
          for (std::size_t i = 0; i < rows; ++i) {
            float lo = rows_x[i * ldx], hi = lo;
            k::detail::min_max_portable(rows_x + i * ldx, kk, lo, hi);
            q[i] = rep == 2 ? k::activation_quantization{0.01f + 0.003f * static_cast<float>(i), static_cast<std::int32_t>(i * 31)}
                            : k::detail::choose_quantization(lo, hi);
          }
          const auto want = reference_tile(rows_x, ldx, rows, kk, kp, q.data());
          std::vector<std::uint8_t> got(rows * kp + 64, 0xAB);
          k::detail::quantize_tile_packed_with(path, rows_x, ldx, rows, kk, kp, q.data(), got.data());
          CHECK(std::equal(want.begin(), want.end(), got.begin()));
          CHECK(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(rows * kp), got.end(), [](std::uint8_t b) { return b == 0xAB; }));
        }
      }
}

// linear_dynamic quantizes into the packed A layout itself, row block by row block; it must give exactly what
// the GEMM gives on the u8 copy quantized row by row (same A, same epilogue), for tails in M and K, strided x,
// both granularities, several row blocks, and 1, 2 or 3 threads.
TEST_CASE("linear_dynamic: equals the GEMM on separately quantized rows, for any thread count", "[kernels][linear_dynamic]") {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  struct shape {
    std::size_t m, n, kk;
  };
  const std::vector<shape> shapes{{1, 17, 5},    {3, 40, 1},    {8, 33, 64},   {9, 65, 63},  {17, 48, 100},
                                  {33, 70, 130}, {67, 96, 257}, {300, 50, 1030}, {530, 20, 515},
                                  // several tasks share each tile of A (threads produce it on first use)
                                  {70, 500, 64}, {260, 300, 1030}};
  for_each_isa([&](k::isa isa) {
    for (const shape& s : shapes)
      for (auto g : {k::granularity::per_row, k::granularity::per_tensor}) {
        INFO("isa " << k::isa_name(isa) << " M=" << s.m << " N=" << s.n << " K=" << s.kk << " per_row=" << (g == k::granularity::per_row));
        const std::size_t ldx = s.kk + 7, ldy = s.n + 3;
        std::vector<float> x(s.m * ldx), bias(s.n), w_scale(s.n);
        for (std::size_t i = 0; i < s.m; ++i)
          for (std::size_t t = 0; t < s.kk; ++t) x[i * ldx + t] = normal(rng()) * static_cast<float>(1 + i % 4) + (i % 3 == 1 ? 1.5f : 0.0f);
        for (auto& b : bias) b = normal(rng());
        for (auto& v : w_scale) v = 0.01f + 0.001f * std::abs(normal(rng()));
        std::vector<std::int8_t> wq(s.n * s.kk);
        std::uniform_int_distribution<int> wd(-127, 127);
        for (auto& v : wq) v = static_cast<std::int8_t>(wd(rng()));
        const auto packed = k::pack_weights(wq.data(), s.kk, s.n, s.kk, k::weight_layout::n_by_k);

        // Reference: quantize every row into a u8 copy with the row kernels, then the plain GEMM.
        std::vector<std::uint8_t> a(s.m * s.kk);
        std::vector<float> scale(s.m);
        std::vector<std::int32_t> zp(s.m);
        float tlo = x[0], thi = tlo;
        for (std::size_t i = 0; i < s.m; ++i) k::detail::min_max(x.data() + i * ldx, s.kk, tlo, thi);
        for (std::size_t i = 0; i < s.m; ++i) {
          float lo = x[i * ldx], hi = lo;
          k::detail::min_max(x.data() + i * ldx, s.kk, lo, hi);
          const auto q = g == k::granularity::per_row ? k::detail::choose_quantization(lo, hi) : k::detail::choose_quantization(tlo, thi);
          scale[i] = q.scale, zp[i] = q.zero_point;
          k::detail::quantize_row(x.data() + i * ldx, s.kk, q, a.data() + i * s.kk);
        }
        k::epilogue ep = k::dequantize(1.0f, 0, w_scale.data(), true) | k::bias(bias.data());
        if (g == k::granularity::per_row) ep.a_row_scale = scale.data(), ep.a_row_zero_point = zp.data();
        else ep.a_scale = scale[0], ep.a_zero_point = zp[0];
        std::vector<float> want(s.m * ldy, -7.0f);
        k::gemm(s.m, a.data(), s.kk, packed, want.data(), ldy, ep);

        for (unsigned threads : {1u, 2u, 3u}) {
          INFO("threads " << threads);
          std::vector<float> y(s.m * ldy, -7.0f);  // the gaps between rows must stay untouched
          k::linear_dynamic(s.m, x.data(), ldx, packed, w_scale.data(), true, bias.data(), y.data(), ldy,
                            {.activations = g, .exec = k::execution::threads(threads)});
          CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
        }
      }
  });
}
