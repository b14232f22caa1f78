// The int8 form of the fused attention (ops::attention::int8) against an emulation of its arithmetic in double:
// q quantized per row to u8 (asymmetric over [min(q, 0), max(q, 0)], as kernels::linear_dynamic does), k per key
// and v per channel to symmetric s8 (max |x| / 127), the integer products exact, the softmax's unnormalized
// weights (the row's largest is 1) quantized per row to u8 in steps of 1/255, then divided by their f32 sum.
// The emulation differs from the kernel only by f32 rounding and its exp polynomial, which can move a weight's
// code by one step (1/255 of the row's largest weight) when the weight sits on a rounding tie: almost every output
// must agree to 1e-4, every one within one such step. Also: the int8 output is really quantized (further from the
// exact f32 attention than that, yet within the quantization error), layouts and k transposed give the same
// bytes, threads do not change it, and a NaN in k gives NaN rows as in f32.
#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>
#include <bigmodel/runtime.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention_reference.hpp"
#include "op_harness.hpp"

using namespace bigmodel;
using bigmodel::test::randn;
using bigmodel::test::attention_graph;
using bigmodel::test::reference_attention;
using bigmodel::test::vec;

namespace {

struct sym {
  std::vector<int> code;
  float scale;
};
sym symmetric(const std::vector<float>& x) {
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::abs(v));
  sym s{std::vector<int>(x.size(), 0), amax > 0 ? amax / 127.0f : 1.0f};
  if (amax > 0)
    for (std::size_t i = 0; i < x.size(); ++i)
      s.code[i] = static_cast<int>(std::nearbyint(std::clamp(x[i] * (127.0f / amax), -127.0f, 127.0f)));
  return s;
}
struct asym {
  std::vector<int> code;  // minus the zero point
  float scale;
};
asym affine_u8(const std::vector<float>& x) {
  float lo = 0, hi = 0;
  for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v);
  asym a{std::vector<int>(x.size(), 0), (hi - lo) / 255.0f};
  if (!(a.scale > 0)) {
    a.scale = 1.0f;
    return a;
  }
  const float zp = std::clamp(std::nearbyint(-lo / a.scale), 0.0f, 255.0f), inv = 1.0f / a.scale;
  for (std::size_t i = 0; i < x.size(); ++i)
    a.code[i] = static_cast<int>(std::nearbyint(std::clamp(x[i] * inv, -zp, 255.0f - zp)));
  return a;
}

// Heads [H, T, D] / [H, S, D] / [H, S, Dv]; mask [T, S] shared by the heads (or none); causal hides j > i + S - T.
// v_keys: the keys the kernel keeps (it drops trailing keys a mask makes negligible for every row, weight 0, and
// quantizes v's channels over the rest only).
std::vector<double> emulate_int8(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                 const std::vector<float>* mask, std::int64_t heads, std::int64_t t, std::int64_t s,
                                 std::int64_t d, std::int64_t dv, bool causal, std::int64_t v_keys, double* step_bound) {
  std::vector<double> y(static_cast<std::size_t>(heads * t * dv), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  *step_bound = 0;
  for (std::int64_t h = 0; h < heads; ++h) {
    std::vector<sym> kq;
    for (std::int64_t j = 0; j < s; ++j)
      kq.push_back(symmetric({k.begin() + (h * s + j) * d, k.begin() + (h * s + j + 1) * d}));
    std::vector<sym> vq;
    for (std::int64_t e = 0; e < dv; ++e) {
      std::vector<float> col(static_cast<std::size_t>(v_keys));
      for (std::int64_t j = 0; j < v_keys; ++j) col[static_cast<std::size_t>(j)] = v[(h * s + j) * dv + e];
      vq.push_back(symmetric(col));
    }
    for (std::int64_t i = 0; i < t; ++i) {
      const asym qq = affine_u8({q.begin() + (h * t + i) * d, q.begin() + (h * t + i + 1) * d});
      std::vector<double> p(static_cast<std::size_t>(s));
      double mx = -INFINITY;
      for (std::int64_t j = 0; j < s; ++j) {
        long long acc = 0;
        for (std::int64_t e = 0; e < d; ++e) acc += static_cast<long long>(qq.code[e]) * kq[j].code[e];
        double x = static_cast<double>(acc) * qq.scale * kq[j].scale * scale;
        if (mask) x += (*mask)[i * s + j];
        if (causal && j > i + s - t) x = -INFINITY;
        p[j] = x;
        mx = std::max(mx, x);
      }
      double sum = 0;
      for (auto& x : p) sum += (x = std::exp(x - mx));
      for (std::int64_t e = 0; e < dv; ++e) {
        long long acc = 0;
        for (std::int64_t j = 0; j < v_keys; ++j) acc += std::llround(std::nearbyint(p[j] * 255.0)) * vq[e].code[j];
        y[(h * t + i) * dv + e] = static_cast<double>(acc) / 255.0 * vq[e].scale / sum;
        *step_bound = std::max(*step_bound, 127.0 * vq[e].scale / 255.0 / sum);
      }
    }
  }
  return y;
}

// [B, X, H, E] <-> [B, H, X, E]
std::vector<float> swap12(const std::vector<float>& in, std::int64_t b, std::int64_t n1, std::int64_t n2, std::int64_t e) {
  std::vector<float> out(in.size());
  for (std::int64_t bi = 0; bi < b; ++bi)
    for (std::int64_t i = 0; i < n1; ++i)
      for (std::int64_t j = 0; j < n2; ++j)
        for (std::int64_t x = 0; x < e; ++x)
          out[static_cast<std::size_t>(((bi * n2 + j) * n1 + i) * e + x)] = in[static_cast<std::size_t>(((bi * n1 + i) * n2 + j) * e + x)];
  return out;
}

}  // namespace

TEST_CASE("int8 attention equals an emulation of its quantized arithmetic", "[runtime][attention][int8]") {
  struct shape_case { std::int64_t h, t, s, d, dv; bool causal, mask; };
  // BERT's and the LM's heads (64), SIMD tails (d 24, 20; dv 40, 12), blocks of 32 / 64 rows and more, S != T.
  const shape_case cases[] = {{2, 128, 128, 64, 64, false, true}, {3, 70, 70, 64, 64, true, false}, {2, 33, 50, 24, 40, true, true},
                              {1, 5, 9, 20, 12, false, false}, {2, 130, 77, 16, 16, false, true}};
  for (const auto& sc : cases) {
    CAPTURE(sc.h, sc.t, sc.s, sc.d, sc.dv, sc.causal, sc.mask);
    const auto q = randn({1, sc.h, sc.t, sc.d}, 31, -2.0f, 2.0f), k = randn({1, sc.h, sc.s, sc.d}, 32, -2.0f, 2.0f);
    const auto v = randn({1, sc.h, sc.s, sc.dv}, 33);
    // A padding-like mask: the last keys at -10000, others small.
    auto mask = randn({1, 1, sc.t, sc.s}, 34, -1.0f, 0.0f);
    auto mspan = mask.mutable_span<float>();
    for (std::int64_t i = 0; i < sc.t; ++i)
      for (std::int64_t j = sc.s - sc.s / 8; j < sc.s; ++j) mspan[static_cast<std::size_t>(i * sc.s + j)] = -10000.0f;
    const std::vector<float> mvec(mspan.begin(), mspan.end());
    session s8{attention_graph(ops::attention{.causal = sc.causal ? 1 : 0, .int8 = 1}, sc.mask)};
    named_tensors feeds{{"q", q}, {"k", k}, {"v", v}};
    if (sc.mask) feeds.emplace("mask", mask);
    const auto got = vec(s8.run(feeds)[0]);
    double step = 0;
    const std::int64_t v_keys = sc.mask ? sc.s - sc.s / 8 : sc.s;  // the -10000 keys are dropped
    const auto emu = emulate_int8(vec(q), vec(k), vec(v), sc.mask ? &mvec : nullptr, sc.h, sc.t, sc.s, sc.d, sc.dv, sc.causal,
                                  v_keys, &step);
    const auto exact = reference_attention(vec(q), vec(k), vec(v), sc.mask ? &mvec : nullptr, sc.h, sc.t, sc.s, sc.d, sc.dv, sc.causal, false);
    REQUIRE(got.size() == emu.size());
    std::size_t close = 0;
    double worst = 0, err2 = 0, ref2 = 0, worst_exact = 0;
    for (std::size_t i = 0; i < emu.size(); ++i) {
      const double dvl = std::abs(got[i] - emu[i]);
      close += dvl <= 1e-4 ? 1 : 0;
      worst = std::max(worst, dvl);
      err2 += (got[i] - exact[i]) * (got[i] - exact[i]), ref2 += exact[i] * exact[i];
      worst_exact = std::max(worst_exact, std::abs(got[i] - exact[i]));
    }
    CHECK(static_cast<double>(close) >= 0.999 * static_cast<double>(emu.size()));
    CHECK(worst <= step + 1e-4);
    // Quantized for real (f32 attention is within 1e-5 of exact), yet close: relative L2 under 3 %.
    CHECK(worst_exact > 1e-4);
    CHECK(std::sqrt(err2 / ref2) < 0.03);
  }
}

TEST_CASE("int8 attention: layout 1, k transposed and threads give the same output", "[runtime][attention][int8]") {
  const std::int64_t b = 2, h = 3, t = 70, s = 70, d = 32, dv = 16;
  const auto q = randn({b, h, t, d}, 41, -2.0f, 2.0f), k = randn({b, h, s, d}, 42, -2.0f, 2.0f), v = randn({b, h, s, dv}, 43);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    session base{attention_graph(ops::attention{.causal = causal ? 1 : 0, .int8 = 1}, false)};
    const named_tensors feeds{{"q", q}, {"k", k}, {"v", v}};
    const auto y = vec(base.run(feeds)[0]);
    // k given as [B, H, D, S]
    std::vector<float> kt(static_cast<std::size_t>(b * h * d * s));
    const auto kv = vec(k);
    for (std::int64_t x = 0; x < b * h; ++x)
      for (std::int64_t j = 0; j < s; ++j)
        for (std::int64_t e = 0; e < d; ++e) kt[static_cast<std::size_t>((x * d + e) * s + j)] = kv[static_cast<std::size_t>((x * s + j) * d + e)];
    session tr{attention_graph(ops::attention{.causal = causal ? 1 : 0, .k_transposed = 1, .int8 = 1}, false)};
    CHECK(vec(tr.run({{"q", q}, {"k", dynamic_tensor::from<float>({b, h, d, s}, kt)}, {"v", v}})[0]) == y);
    // layout 1: [B, T, H, D]
    session l1{attention_graph(ops::attention{.causal = causal ? 1 : 0, .layout = 1, .int8 = 1}, false)};
    const auto y1 = l1.run({{"q", dynamic_tensor::from<float>({b, t, h, d}, swap12(vec(q), b, h, t, d))},
                            {"k", dynamic_tensor::from<float>({b, s, h, d}, swap12(vec(k), b, h, s, d))},
                            {"v", dynamic_tensor::from<float>({b, s, h, dv}, swap12(vec(v), b, h, s, dv))}})[0];
    CHECK(swap12(vec(y1), b, t, h, dv) == y);
    session many{attention_graph(ops::attention{.causal = causal ? 1 : 0, .int8 = 1}, false)};
    many.set_execution(kernels::execution::threads(2));
    CHECK(vec(many.run(feeds)[0]) == y);
  }
}

TEST_CASE("int8 attention: a NaN in k makes its rows NaN, as in f32; rows with no visible key are NaN", "[runtime][attention][int8]") {
  const auto q = randn({1, 1, 8, 16}, 51), v = randn({1, 1, 8, 16}, 53);
  auto k = randn({1, 1, 8, 16}, 52);
  k.mutable_span<float>()[3 * 16 + 5] = std::numeric_limits<float>::quiet_NaN();
  session s{attention_graph(ops::attention{.int8 = 1}, false)};
  for (float x : vec(s.run({{"q", q}, {"k", k}, {"v", v}})[0])) CHECK(std::isnan(x));
  // causal with S < T: the first T - S rows see no key
  session c{attention_graph(ops::attention{.causal = 1, .int8 = 1}, false)};
  const auto y = vec(c.run({{"q", randn({1, 1, 6, 16}, 54)}, {"k", randn({1, 1, 4, 16}, 55)}, {"v", randn({1, 1, 4, 16}, 56)}})[0]);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(std::isnan(y[i]) == (i < 2 * 16));
}
