// The tiled attention kernel against a double-precision reference, the session's threading hook (outputs do
// not depend on the thread count) and its profiler.
#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>
#include <bigmodel/runtime.hpp>

#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "attention_reference.hpp"
#include "op_harness.hpp"

using namespace bigmodel;
using bigmodel::test::randn;
using bigmodel::test::attention_graph;
using bigmodel::test::reference_attention;
using bigmodel::test::vec;

TEST_CASE("tiled attention equals a double-precision reference", "[runtime][attention]") {
  struct shape_case { std::int64_t b, h, t, s, d, dv; bool causal, mask, mask_per_head; };
  // T around the 32-row block (31, 32, 33, 63, 64, 65, 130), S != T, head sizes with SIMD tails, causal with S > T.
  const shape_case cases[] = {
      {1, 1, 1, 1, 1, 1, false, false, false}, {2, 3, 63, 63, 16, 16, false, true, false},
      {1, 2, 31, 31, 64, 64, true, true, false}, {1, 1, 32, 40, 16, 16, true, false, false},
      {2, 1, 33, 33, 64, 64, true, false, false},
      {1, 2, 64, 64, 64, 64, true, false, false}, {2, 2, 65, 65, 33, 17, true, true, false},
      {1, 4, 130, 77, 8, 24, false, true, true}, {1, 2, 20, 150, 64, 64, true, true, false},
      {3, 1, 129, 129, 7, 5, false, false, false}};
  for (const auto& sc : cases) {
    CAPTURE(sc.b, sc.h, sc.t, sc.s, sc.d, sc.dv, sc.causal, sc.mask, sc.mask_per_head);
    const auto q = randn({sc.b, sc.h, sc.t, sc.d}, 1, -2.0f, 2.0f), k = randn({sc.b, sc.h, sc.s, sc.d}, 2, -2.0f, 2.0f);
    const auto v = randn({sc.b, sc.h, sc.s, sc.dv}, 3);
    const auto mask = sc.mask_per_head ? randn({sc.b, sc.h, sc.t, sc.s}, 4, -3.0f, 0.0f) : randn({1, 1, sc.t, sc.s}, 4, -3.0f, 0.0f);
    auto g = attention_graph(ops::attention{.causal = sc.causal ? 1 : 0}, sc.mask);
    session s{g};
    named_tensors feeds{{"q", q}, {"k", k}, {"v", v}};
    if (sc.mask) feeds.emplace("mask", mask);
    const auto y = s.run(feeds)[0];
    REQUIRE(y.shape() == shape_t{sc.b, sc.h, sc.t, sc.dv});
    const auto mv = mask.span<float>();
    const std::vector<float> mvec(mv.begin(), mv.end());
    const auto ref = reference_attention(vec(q), vec(k), vec(v), sc.mask ? &mvec : nullptr, sc.b * sc.h,
                                         sc.t, sc.s, sc.d, sc.dv, sc.causal, sc.mask_per_head);
    const auto got = y.span<float>();
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
    // Each output is a convex combination of v (|v| <= 1) with f32 weights: 1e-5 absolute is ~100 ulp of 1.
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("attention with scores hundreds apart (weights under e^-87 are 0) equals the reference", "[runtime][attention]") {
  // |q|, |k| up to 6 over D = 32: scores up to ~200 apart, so most weights of a row fall under e^-87 (flushed to 0
  // instead of denormal, vector_math.hpp); causal and an additive mask with -inf and -10000 entries.
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    const std::int64_t t = 70, s_len = 70, d = 32, dv = 24;
    const auto q = randn({1, 2, t, d}, 5, -6.0f, 6.0f), k = randn({1, 2, s_len, d}, 6, -6.0f, 6.0f), v = randn({1, 2, s_len, dv}, 7);
    auto mask = randn({1, 1, t, s_len}, 8, -1.0f, 0.0f);
    auto mm = mask.mutable_span<float>();
    for (std::size_t j = 0; j < mm.size(); ++j)
      if (j % 11 == 3) mm[j] = -std::numeric_limits<float>::infinity();
      else if (j % 13 == 5) mm[j] = -10000.0f;
    session sess{attention_graph(ops::attention{.causal = causal ? 1 : 0}, true)};
    const auto y = sess.run({{"q", q}, {"k", k}, {"v", v}, {"mask", mask}})[0];
    const auto mv = mask.span<float>();
    const std::vector<float> mvec(mv.begin(), mv.end());
    const auto ref = reference_attention(vec(q), vec(k), vec(v), &mvec, 2, t, s_len, d, dv, causal, false);
    const auto got = y.span<float>();
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
    // Scores of ~200 carry f32 rounding of ~1e-5 into the exponent: 1e-4 absolute on outputs |y| <= 1.
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("attention: rows with no visible key are NaN, like the decomposed Softmax", "[runtime][attention]") {
  // Causal with S < T: row i sees keys j <= i + S - T, so the first T - S rows see none.
  const auto q = randn({1, 1, 5, 4}, 1), k = randn({1, 1, 3, 4}, 2), v = randn({1, 1, 3, 2}, 3);
  session s{attention_graph(ops::attention{.causal = 1}, false)};
  const auto y = s.run({{"q", q}, {"k", k}, {"v", v}})[0].span<float>();
  for (int i = 0; i < 4; ++i) CHECK(std::isnan(y[i]));
  for (std::size_t i = 4; i < y.size(); ++i) CHECK(std::isfinite(y[i]));
}

TEST_CASE("attention skips keys an additive mask makes negligible at the end of a block, with the same result", "[runtime][attention]") {
  // Masks PyTorch exports: a causal mask as a tensor (Where(tril, 0, lowest)), padding as -inf on trailing keys
  // of one batch row, and a row that sees no key (lowest everywhere: the softmax is uniform, y = mean of v).
  const float lowest = std::numeric_limits<float>::lowest(), ninf = -std::numeric_limits<float>::infinity();
  // 0 causal (lowest), 1 causal (-inf), 2 padding (-inf), 3 blind row, 4 BERT padding (-10000), 5 a mild trailing
  // bias (-3: must not be skipped), 6 causal (lowest) over a distance bias (visible entries not 0), 7 all 0
  // Each per head ([B, H, T, S]); shared by every head, the first head's plane ([1, 1, T, S]: read once per call,
  // each row's softmax stopping at its last visible key); and per batch row, the first row of each batch row's
  // first head ([B, 1, 1, S], as BERT's padding mask: read once per head).
  struct mask_case { std::int64_t t, s; int kind; };
  for (const int form : {0, 1, 2})
  for (const auto& mc : {mask_case{130, 130, 0}, mask_case{64, 64, 1}, mask_case{65, 90, 2}, mask_case{70, 70, 3},
                         mask_case{128, 128, 4}, mask_case{64, 100, 5}, mask_case{100, 100, 6}, mask_case{70, 70, 7}}) {
    if (form == 2 && mc.kind != 2 && mc.kind != 4 && mc.kind != 7) continue;  // masks whose rows are all alike
    CAPTURE(form, mc.t, mc.s, mc.kind);
    const std::int64_t b = 2, h = 2, d = 16;
    const auto q = randn({b, h, mc.t, d}, 5, -2.0f, 2.0f), k = randn({b, h, mc.s, d}, 6, -2.0f, 2.0f);
    const auto v = randn({b, h, mc.s, d}, 7);
    // Per head (mask_per_head in the reference) so padding can differ between batch rows.
    dynamic_tensor mask(dtype::f32, {b, h, mc.t, mc.s});
    auto m = mask.mutable_span<float>();
    for (std::int64_t bh = 0; bh < b * h; ++bh)
      for (std::int64_t i = 0; i < mc.t; ++i)
        for (std::int64_t j = 0; j < mc.s; ++j) {
          float val = 0.0f;  // kind 7: all 0
          if (mc.kind <= 1 && j > i + mc.s - mc.t) val = mc.kind == 0 ? lowest : ninf;
          if (mc.kind == 2 && bh / h == 1 && j >= mc.s - 17) val = ninf;  // batch row 1 pads its last 17 keys
          if (mc.kind == 3 && (j > i || i == 40)) val = lowest;           // causal, and row 40 sees nothing
          if (mc.kind == 4 && j >= mc.s - 8 * (bh / h + 1)) val = -10000.0f;
          if (mc.kind == 5 && j >= mc.s - 30) val = -3.0f;
          if (mc.kind == 6) val = j > i ? lowest : -0.25f * static_cast<float>(i - j);
          m[static_cast<std::size_t>((bh * mc.t + i) * mc.s + j)] = val;
        }
    const std::vector<float> full(m.begin(), m.end());  // what every head sees, for the reference
    if (form == 1) {
      dynamic_tensor plane(dtype::f32, {1, 1, mc.t, mc.s});
      std::copy(full.begin(), full.begin() + mc.t * mc.s, plane.mutable_span<float>().begin());
      mask = std::move(plane);
    } else if (form == 2) {
      dynamic_tensor rows(dtype::f32, {b, 1, 1, mc.s});
      for (std::int64_t bi = 0; bi < b; ++bi)
        std::copy(full.begin() + bi * h * mc.t * mc.s, full.begin() + (bi * h * mc.t + 1) * mc.s,
                  rows.mutable_span<float>().begin() + bi * mc.s);
      mask = std::move(rows);
    }
    session s{attention_graph(ops::attention{}, true)};
    const auto y = s.run({{"q", q}, {"k", k}, {"v", v}, {"mask", mask}})[0];
    const auto mspan = mask.span<float>();
    const std::vector<float> mvec(mspan.begin(), mspan.end());
    const auto ref = form == 1 ? reference_attention(vec(q), vec(k), vec(v), &mvec, b * h, mc.t, mc.s, d, d, false, false)
                               : reference_attention(vec(q), vec(k), vec(v), &full, b * h, mc.t, mc.s, d, d, false, true);
    const auto got = y.span<float>();
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
    CHECK(worst < 1e-5);
    if (mc.kind == 3) {  // the blind row is the mean of v over every key
      double mean0 = 0;
      for (std::int64_t j = 0; j < mc.s; ++j) mean0 += v.span<float>()[static_cast<std::size_t>(j * d)];
      CHECK(got[static_cast<std::size_t>(40 * d)] == Approx(mean0 / static_cast<double>(mc.s)).epsilon(1e-5));
    }
  }
}

TEST_CASE("session: outputs do not depend on the number of threads", "[runtime][threads]") {
  const auto q = randn({2, 12, 65, 32}, 11), k = randn({2, 12, 65, 32}, 12), v = randn({2, 12, 65, 32}, 13);
  const auto mask = randn({2, 1, 1, 65}, 14, -1.0f, 0.0f);
  const auto g = attention_graph(ops::attention{}, true);
  const named_tensors feeds{{"q", q}, {"k", k}, {"v", v}, {"mask", mask}};
  session one{g};
  const auto y1 = vec(one.run(feeds)[0]);
  for (unsigned n : {2u, 3u}) {
    session many{g};
    many.set_execution(kernels::execution::threads(n));
    CHECK(vec(many.run(feeds)[0]) == y1);
    session copy = many;  // the hook travels with copies
    CHECK(static_cast<bool>(copy.execution().parallel_for));
    CHECK(vec(copy.run(feeds)[0]) == y1);
  }
  // A caller's own parallel_for is used, and every task runs exactly once.
  std::atomic<int> calls{0};
  session own{g};
  own.set_execution(kernels::execution{[&](std::size_t count, const std::function<void(std::size_t)>& body) {
    ++calls;
    for (std::size_t i = count; i-- > 0;) body(i);  // reverse order: the result must not care
  }});
  CHECK(vec(own.run(feeds)[0]) == y1);
  CHECK(calls >= 1);
}

TEST_CASE("session profiling: time per step and per op type", "[runtime][profile]") {
  computation_graph g;
  auto x = g.add_input("x", dtype::f32, {"batch", 4});
  auto w = g.add_initializer("w", dynamic_tensor::from<float>({4, 4}, std::vector<float>(16, 0.5f)));
  auto h = g.add_value("h"), y = g.add_value("y");
  g.add_node(ops::matmul{}, {x, w}, {h}, "mm");
  g.add_node(ops::relu{}, {h}, {y}, "act");
  g.mark_output(y);
  session s{g};
  const named_tensors feeds{{"x", randn({8, 4}, 5)}};
  (void)s.run(feeds);
  CHECK(s.profiling().steps.empty());  // off by default
  s.enable_profiling();
  for (int i = 0; i < 3; ++i) (void)s.run(feeds);
  const auto& p = s.profiling();
  REQUIRE(p.steps.size() == 2);
  CHECK(p.runs == 3);
  CHECK(p.steps[0].op == "MatMul");
  CHECK(p.steps[1].op == "Relu");
  CHECK_THAT(p.steps[0].where, Catch::Contains("mm"));
  for (const auto& st : p.steps) {
    CHECK(st.calls == 3);
    CHECK(st.seconds > 0.0);
  }
  const auto rows = p.by_op();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].seconds >= rows[1].seconds);
  CHECK(std::abs(rows[0].share + rows[1].share - 1.0) < 1e-9);
  CHECK(std::abs(rows[0].ms_per_run - 1e3 * rows[0].seconds / 3) < 1e-9);
  CHECK(p.slowest(1).size() == 1);
  s.enable_profiling(false);
  (void)s.run(feeds);
  CHECK(s.profiling().steps.empty());
}

TEST_CASE("attention layout 1 ([B, T, H, D] in and out) equals the reference on transposed heads", "[runtime][attention]") {
  const std::int64_t b = 2, h = 3, t = 70, s = 70, d = 16, dv = 8;
  // [B, X, H, E] -> [B, H, X, E]
  auto heads_first = [&](const dynamic_tensor& x) {
    const auto e = x.dim(3), n = x.dim(1);
    std::vector<float> out(static_cast<std::size_t>(x.numel()));
    const auto in = x.span<float>();
    for (std::int64_t bi = 0; bi < b; ++bi)
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t hi = 0; hi < h; ++hi)
          for (std::int64_t j = 0; j < e; ++j)
            out[static_cast<std::size_t>(((bi * h + hi) * n + i) * e + j)] = in[static_cast<std::size_t>(((bi * n + i) * h + hi) * e + j)];
    return out;
  };
  const auto q = randn({b, t, h, d}, 21, -2.0f, 2.0f), k = randn({b, s, h, d}, 22, -2.0f, 2.0f), v = randn({b, s, h, dv}, 23);
  const auto mask = randn({b, h, t, s}, 24, -3.0f, 0.0f);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    session sess{attention_graph(ops::attention{.causal = causal ? 1 : 0, .layout = 1}, true)};
    const auto y = sess.run({{"q", q}, {"k", k}, {"v", v}, {"mask", mask}})[0];
    REQUIRE(y.shape() == shape_t{b, t, h, dv});
    const auto mv = mask.span<float>();
    const std::vector<float> mvec(mv.begin(), mv.end());
    const auto ref = reference_attention(heads_first(q), heads_first(k), heads_first(v), &mvec, b * h, t, s, d, dv, causal, true);
    const auto got = heads_first(y);
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
    CHECK(worst < 1e-5);
  }
  // Layout 1 takes 4-D inputs and k untransposed.
  session bad{attention_graph(ops::attention{.k_transposed = 1, .layout = 1}, false)};
  CHECK_THROWS_WITH(bad.run({{"q", q}, {"k", k}, {"v", v}}), Catch::Contains("layout 1"));
}
