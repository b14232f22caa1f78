// Each runtime kernel on a hand-built one-node graph against a closed-form or naive reference.

#include "op_harness.hpp"

#include <cmath>
#include <random>

using namespace bigmodel;
using test::ints;
using test::randn;
using test::require_close;
using test::run_op;

namespace {

std::vector<float> vec(const dynamic_tensor& t) { return {t.span<float>().begin(), t.span<float>().end()}; }

// Naive NumPy-broadcast binary op.
template <class F>
std::vector<float> naive_broadcast(const dynamic_tensor& a, const dynamic_tensor& b, const shape_t& out, F f) {
  std::vector<float> r;
  const auto st_out = runtime::strides_of(out);
  const auto sa = runtime::broadcast_strides(a.shape(), out), sb = runtime::broadcast_strides(b.shape(), out);
  for (std::int64_t i = 0; i < element_count(out); ++i) {
    std::int64_t oa = 0, ob = 0, rem = i;
    for (std::size_t d = 0; d < out.size(); ++d) {
      const auto idx = rem / st_out[d];
      rem %= st_out[d];
      oa += idx * sa[d], ob += idx * sb[d];
    }
    r.push_back(f(a.span<float>()[static_cast<std::size_t>(oa)], b.span<float>()[static_cast<std::size_t>(ob)]));
  }
  return r;
}

}  // namespace

TEST_CASE("elementwise binary ops broadcast like NumPy", "[runtime][ops]") {
  const auto a = randn({2, 1, 4}, 1), b = randn({3, 1}, 2, 0.5f, 2.0f);
  const shape_t out{2, 3, 4};
  require_close(run_op(ops::add{}, {a, b})[0], naive_broadcast(a, b, out, std::plus<>{}), out);
  require_close(run_op(ops::sub{}, {a, b})[0], naive_broadcast(a, b, out, std::minus<>{}), out);
  require_close(run_op(ops::mul{}, {a, b})[0], naive_broadcast(a, b, out, std::multiplies<>{}), out);
  require_close(run_op(ops::div{}, {a, b})[0], naive_broadcast(a, b, out, std::divides<>{}), out);
  const auto pa = randn({2, 3, 4}, 3, 0.1f, 2.0f);
  require_close(run_op(ops::pow{}, {pa, b})[0], naive_broadcast(pa, b, out, [](float x, float y) { return std::pow(x, y); }), out);
  // Scalar exponent of another type (PyTorch exports x^2 with an f32 scalar; s64 is accepted too).
  require_close(run_op(ops::pow{}, {a, dynamic_tensor::scalar<std::int64_t>(2)})[0],
                naive_broadcast(a, a, a.shape(), [](float x, float) { return x * x; }), a.shape());
  // Shape arithmetic in s64.
  const auto s = run_op(ops::mul{}, {ints({2, 3}), ints({4, 5})})[0];
  CHECK(s.to_ints() == std::vector<std::int64_t>{8, 15});
  CHECK_THROWS_WITH(run_op(ops::add{}, {randn({2, 3}, 1), randn({4}, 2)}), Catch::Contains("shape_mismatch"));
}

TEST_CASE("unary ops", "[runtime][ops]") {
  const auto x = randn({3, 5}, 4, -3.0f, 3.0f);
  const auto xs = vec(x);
  auto check = [&](computation_graph::op_type op, float (*f)(float)) {
    std::vector<float> want;
    for (float v : xs) want.push_back(f(v));
    require_close(run_op(std::move(op), {x})[0], want, x.shape());
  };
  check(ops::erf{}, [](float v) { return std::erf(v); });
  check(ops::tanh{}, [](float v) { return std::tanh(v); });
  check(ops::relu{}, [](float v) { return std::max(v, 0.0f); });
  check(ops::sigmoid{}, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  check(ops::neg{}, [](float v) { return -v; });
  check(ops::exp{}, [](float v) { return std::exp(v); });
  check(ops::identity{}, [](float v) { return v; });
  check(ops::dropout{}, [](float v) { return v; });
  check(ops::gelu{}, [](float v) { return 0.5f * v * (1.0f + std::erf(v / std::sqrt(2.0f))); });
  check(ops::gelu{"tanh"}, [](float v) {
    return 0.5f * v * (1.0f + std::tanh(std::sqrt(2.0f / 3.14159265f) * (v + 0.044715f * v * v * v)));
  });
  const auto pos = randn({4}, 5, 0.0f, 9.0f);
  std::vector<float> want;
  for (float v : vec(pos)) want.push_back(std::sqrt(v));
  require_close(run_op(ops::sqrt{}, {pos})[0], want, {4});
  const auto clipped = run_op(ops::clip{}, {x, dynamic_tensor::scalar(-1.0f), dynamic_tensor::scalar(0.5f)})[0];
  for (std::size_t i = 0; i < xs.size(); ++i) CHECK(clipped.span<float>()[i] == std::clamp(xs[i], -1.0f, 0.5f));
}

TEST_CASE("comparison, Where, Cast, Expand", "[runtime][ops]") {
  const auto a = dynamic_tensor::from<float>({2, 2}, {1, 2, 3, 4});
  const auto b = dynamic_tensor::from<float>({2}, {1, 4});
  const auto eq = run_op(ops::equal{}, {a, b})[0];
  REQUIRE(eq.type() == dtype::boolean);
  CHECK(std::vector<bool>(eq.span<bool>().begin(), eq.span<bool>().end()) == std::vector<bool>{true, false, false, true});
  const auto w = run_op(ops::where{}, {eq, a, dynamic_tensor::scalar(-1.0f)})[0];
  require_close(w, {1, -1, -1, 4}, {2, 2});
  const auto c = run_op(ops::cast{dtype::s64}, {dynamic_tensor::from<float>({3}, {1.7f, -2.2f, 3.0f})})[0];
  CHECK(c.to_ints() == std::vector<std::int64_t>{1, -2, 3});
  const auto cf = run_op(ops::cast{dtype::f32}, {ints({5, -6})})[0];
  require_close(cf, {5, -6}, {2});
  // Rank-0 operands on the general broadcast path.
  const auto ws = run_op(ops::where{}, {dynamic_tensor::scalar(false), dynamic_tensor::scalar(1.0f), dynamic_tensor::scalar(2.0f)})[0];
  REQUIRE(ws.rank() == 0);
  CHECK(ws.span<float>()[0] == 2.0f);
  const auto e = run_op(ops::expand{}, {dynamic_tensor::from<float>({2, 1}, {1, 2}), ints({2, 3})})[0];
  require_close(e, {1, 1, 1, 2, 2, 2}, {2, 3});
}

TEST_CASE("row-wise broadcast paths of Add, Where and Slice equal a per-element reference", "[runtime][ops]") {
  // Every pairing of row forms: both contiguous, one broadcast along the row, a broadcast row, a scalar.
  const std::vector<std::pair<shape_t, shape_t>> pairs{{{2, 3, 5}, {5}},       {{2, 3, 5}, {3, 1}},   {{3, 1}, {2, 3, 5}},
                                                       {{2, 1, 5}, {1, 3, 5}}, {{2, 3, 1}, {1, 1, 5}}, {{5}, {2, 3, 5}},
                                                       {{1}, {2, 3, 5}},       {{2, 3, 5}, {2, 3, 5}}};
  std::uint32_t seed = 100;
  for (const auto& [sa, sb] : pairs) {
    const auto a = randn(sa, seed++), b = randn(sb, seed++);
    const shape_t out = runtime::broadcast_shapes({&sa, &sb}, runtime::kernel_context{});
    require_close(run_op(ops::add{}, {a, b})[0], naive_broadcast(a, b, out, std::plus<>{}), out);
    require_close(run_op(ops::sub{}, {b, a})[0], naive_broadcast(b, a, out, std::minus<>{}), out);
    // Where(a > b, a, b) = max(a, b), with the condition broadcast like both; and Where with a broadcast condition.
    const auto gt = run_op(ops::greater{}, {a, b})[0];
    require_close(run_op(ops::where{}, {gt, a, b})[0], naive_broadcast(a, b, out, [](float x, float y) { return std::max(x, y); }), out);
  }
  // A [T, T] causal mask selecting from a broadcast scalar and a [B, 1, T, T] tensor (the LM's form).
  const std::int64_t T = 7;
  dynamic_tensor mask(dtype::boolean, {T, T});
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t j = 0; j < T; ++j) mask.mutable_span<bool>()[static_cast<std::size_t>(i * T + j)] = j <= i;
  const auto scores = randn({2, 1, T, T}, 7);
  const auto w = run_op(ops::where{}, {mask, scores, dynamic_tensor::scalar(-1e9f)})[0];
  REQUIRE(w.shape() == shape_t{2, 1, T, T});
  for (std::int64_t n = 0; n < 2 * T * T; ++n) {
    const std::int64_t i = (n / T) % T, j = n % T;
    CHECK(w.span<float>()[static_cast<std::size_t>(n)] == (j <= i ? scores.span<float>()[static_cast<std::size_t>(n)] : -1e9f));
  }
  // Where over s64 and bool elements.
  const auto wi = run_op(ops::where{}, {dynamic_tensor::from<bool>({3}, {true, false, true}), ints({1, 2, 3}), ints({-1})})[0];
  CHECK(wi.to_ints() == std::vector<std::int64_t>{1, -1, 3});

  // Slice: contiguous runs (step 1 on the last axis), partial last axis, negative and >1 steps, against indices.
  const auto x = randn({3, 4, 6}, 9);
  struct case_t {
    std::vector<std::int64_t> starts, ends, axes, steps;
  };
  const std::vector<case_t> cases{{{1, 0}, {3, 6}, {0, 2}, {1, 1}},   {{0, 2}, {4, 5}, {1, 2}, {1, 1}},
                                  {{1}, {3}, {1}, {1}},                {{5}, {-100}, {2}, {-2}},
                                  {{-1, 1}, {-100, 6}, {0, 2}, {-1, 2}}, {{0, 0, 0}, {3, 4, 6}, {0, 1, 2}, {1, 1, 1}}};
  for (const auto& cs : cases) {
    const auto y = run_op(ops::slice{}, {x, ints(cs.starts), ints(cs.ends), ints(cs.axes), ints(cs.steps)})[0];
    // Reference: the index sequences per axis, then a triple loop.
    std::array<std::vector<std::int64_t>, 3> idx;
    for (std::size_t d = 0; d < 3; ++d) {
      std::int64_t b = 0, e = x.dim(d), st = 1;
      for (std::size_t i = 0; i < cs.axes.size(); ++i)
        if (static_cast<std::size_t>(cs.axes[i]) == d) {
          st = cs.steps[i];
          auto norm = [&](std::int64_t v) { return v < 0 ? v + x.dim(d) : v; };
          b = st > 0 ? std::clamp<std::int64_t>(norm(cs.starts[i]), 0, x.dim(d)) : std::clamp<std::int64_t>(norm(cs.starts[i]), -1, x.dim(d) - 1);
          e = st > 0 ? std::clamp<std::int64_t>(norm(cs.ends[i]), 0, x.dim(d)) : std::clamp<std::int64_t>(norm(cs.ends[i]), -1, x.dim(d) - 1);
        }
      for (std::int64_t v = b; st > 0 ? v < e : v > e; v += st) idx[d].push_back(v);
    }
    REQUIRE(y.shape() == shape_t{static_cast<std::int64_t>(idx[0].size()), static_cast<std::int64_t>(idx[1].size()),
                                 static_cast<std::int64_t>(idx[2].size())});
    std::size_t n = 0;
    for (auto i : idx[0])
      for (auto j : idx[1])
        for (auto k : idx[2]) CHECK(y.span<float>()[n++] == x.span<float>()[static_cast<std::size_t>((i * 4 + j) * 6 + k)]);
  }
}

TEST_CASE("MatMul: batched, broadcasting, 1-D operands", "[runtime][ops]") {
  auto naive = [](const dynamic_tensor& a, const dynamic_tensor& b, std::int64_t batch_a, std::int64_t batch_b,
                  std::int64_t m, std::int64_t k, std::int64_t n, std::int64_t batch) {
    std::vector<float> r(static_cast<std::size_t>(batch * m * n), 0.0f);
    for (std::int64_t bi = 0; bi < batch; ++bi)
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          float s = 0;
          for (std::int64_t p = 0; p < k; ++p)
            s += a.span<float>()[static_cast<std::size_t>((bi % batch_a) * m * k + i * k + p)] *
                 b.span<float>()[static_cast<std::size_t>((bi % batch_b) * k * n + p * n + j)];
          r[static_cast<std::size_t>(bi * m * n + i * n + j)] = s;
        }
    return r;
  };
  // [3, 4, 5] x [5, 2]: shared weights (batch folded into M).
  const auto a = randn({3, 4, 5}, 7), w = randn({5, 2}, 8);
  require_close(run_op(ops::matmul{}, {a, w})[0], naive(a, w, 3, 1, 4, 5, 2, 3), {3, 4, 2});
  // [1, 4, 5] x [3, 5, 2]: A broadcast over B's batch.
  const auto a1 = randn({1, 4, 5}, 9), b3 = randn({3, 5, 2}, 10);
  require_close(run_op(ops::matmul{}, {a1, b3})[0], naive(a1, b3, 1, 3, 4, 5, 2, 3), {3, 4, 2});
  // 1-D x 2-D and 2-D x 1-D.
  const auto v = randn({5}, 11);
  require_close(run_op(ops::matmul{}, {v, w})[0], naive(v, w, 1, 1, 1, 5, 2, 1), {2});
  const auto m = randn({4, 5}, 12);
  require_close(run_op(ops::matmul{}, {m, v})[0], naive(m, v, 1, 1, 4, 5, 1, 1), {4});
  CHECK_THROWS_WITH(run_op(ops::matmul{}, {m, m}), Catch::Contains("shape_mismatch"));
}

TEST_CASE("Gemm: transposes, alpha, beta, bias broadcast", "[runtime][ops]") {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const std::int64_t m = 3, k = 4, n = 5;
      const auto a = randn(ta ? shape_t{k, m} : shape_t{m, k}, 20);
      const auto b = randn(tb ? shape_t{n, k} : shape_t{k, n}, 21);
      const auto c = randn({n}, 22);
      ops::gemm op{.alpha = 0.5f, .beta = 2.0f, .trans_a = ta != 0, .trans_b = tb != 0};
      std::vector<float> want;
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          float s = 0;
          for (std::int64_t p = 0; p < k; ++p)
            s += a.span<float>()[static_cast<std::size_t>(ta ? p * m + i : i * k + p)] *
                 b.span<float>()[static_cast<std::size_t>(tb ? j * k + p : p * n + j)];
          want.push_back(0.5f * s + 2.0f * c.span<float>()[static_cast<std::size_t>(j)]);
        }
      require_close(run_op(op, {a, b, c})[0], want, {m, n});
    }
  // Fused activation epilogue.
  const auto a = randn({2, 3}, 30), b = randn({3, 4}, 31);
  const auto plain = run_op(ops::gemm{}, {a, b})[0];
  ops::gemm fused;
  fused.act.kind = ops::activation_kind::relu;
  std::vector<float> want;
  for (float v : vec(plain)) want.push_back(std::max(v, 0.0f));
  require_close(run_op(fused, {a, b})[0], want, {2, 4});
}

TEST_CASE("Conv 2-D: groups, pads, strides, dilations", "[runtime][ops]") {
  struct cfg { std::int64_t g, stride, dil, pad; };
  for (const cfg c : {cfg{1, 1, 1, 0}, cfg{1, 2, 1, 1}, cfg{2, 1, 2, 2}, cfg{4, 2, 1, 1}}) {
    const std::int64_t n = 2, ci = 4, h = 7, w = 6, co = 4, kh = 3, kw = 2;
    const auto x = randn({n, ci, h, w}, 40), wt = randn({co, ci / c.g, kh, kw}, 41), bias = randn({co}, 42);
    ops::conv op;
    op.group = c.g;
    op.strides = {c.stride, c.stride};
    op.dilations = {c.dil, c.dil};
    op.pads = {c.pad, c.pad, c.pad, c.pad};
    op.kernel_shape = {kh, kw};
    const std::int64_t oh = (h + 2 * c.pad - c.dil * (kh - 1) - 1) / c.stride + 1;
    const std::int64_t ow = (w + 2 * c.pad - c.dil * (kw - 1) - 1) / c.stride + 1;
    std::vector<float> want;
    const auto X = x.span<float>(), W = wt.span<float>(), B = bias.span<float>();
    const std::int64_t cig = ci / c.g, cog = co / c.g;
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t o = 0; o < co; ++o)
        for (std::int64_t y = 0; y < oh; ++y)
          for (std::int64_t xo = 0; xo < ow; ++xo) {
            float s = B[static_cast<std::size_t>(o)];
            const std::int64_t gi = o / cog;
            for (std::int64_t q = 0; q < cig; ++q)
              for (std::int64_t ky = 0; ky < kh; ++ky)
                for (std::int64_t kx = 0; kx < kw; ++kx) {
                  const std::int64_t iy = y * c.stride - c.pad + ky * c.dil, ix = xo * c.stride - c.pad + kx * c.dil;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  s += X[static_cast<std::size_t>(((b * ci + gi * cig + q) * h + iy) * w + ix)] *
                       W[static_cast<std::size_t>(((o * cig + q) * kh + ky) * kw + kx)];
                }
            want.push_back(s);
          }
    INFO("group " << c.g << " stride " << c.stride << " dilation " << c.dil << " pad " << c.pad);
    require_close(run_op(op, {x, wt, bias})[0], want, {n, co, oh, ow}, 1e-4f);
  }
}

TEST_CASE("pooling over every output against a direct loop (pads, strides, dilations, ceil_mode)", "[runtime][ops]") {
  // 7 x 9 planes, and 8 x 6 ones that 2x2 / stride 2 windows tile exactly (MaxPool's fast path).
  for (const auto& hw : {std::pair<std::int64_t, std::int64_t>{7, 9}, std::pair<std::int64_t, std::int64_t>{8, 6}}) {
    const std::int64_t n = 2, ch = 3, h = hw.first, w = hw.second;
    INFO("plane " << h << "x" << w);
    const auto x = randn({n, ch, h, w}, 60);
    const auto X = x.span<float>();
    struct pool_case {
      std::vector<std::int64_t> k, s, d, pads;
      std::int64_t ceil;
    };
    const pool_case cases[] = {{{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 0},
                               {{2, 3}, {2, 1}, {1, 1}, {0, 1, 1, 0}, 0},
                               {{3, 3}, {2, 2}, {2, 2}, {1, 1, 1, 1}, 1},
                               {{1, 1}, {3, 2}, {1, 1}, {0, 0, 0, 0}, 1},
                               {{2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, 0},
                               {{2, 2}, {1, 1}, {1, 1}, {1, 0, 0, 1}, 0}};
    for (const auto& pc : cases) {
      // Output size from the ONNX formula, with ceil_mode's rule that the last window starts inside.
      auto out_size = [&](std::int64_t in, std::size_t a) {
        const std::int64_t span = in + pc.pads[a] + pc.pads[a + 2] - pc.d[a] * (pc.k[a] - 1) - 1;
        std::int64_t o = (pc.ceil ? (span + pc.s[a] - 1) / pc.s[a] : span / pc.s[a]) + 1;
        if (pc.ceil && (o - 1) * pc.s[a] >= in + pc.pads[a]) --o;
        return o;
      };
      const std::int64_t oh = out_size(h, 0), ow = out_size(w, 1);
      for (int kind = 0; kind < 3; ++kind) {  // max, average without and with the pads counted
        std::vector<float> want;
        for (std::int64_t p = 0; p < n * ch; ++p)
          for (std::int64_t i = 0; i < oh; ++i)
            for (std::int64_t j = 0; j < ow; ++j) {
              float mx = -INFINITY, sum = 0;
              int real = 0, counted = 0;
              for (std::int64_t a = 0; a < pc.k[0]; ++a)
                for (std::int64_t b = 0; b < pc.k[1]; ++b) {
                  const std::int64_t yy = i * pc.s[0] - pc.pads[0] + a * pc.d[0], xx = j * pc.s[1] - pc.pads[1] + b * pc.d[1];
                  const bool in_pads = yy >= -pc.pads[0] && yy < h + pc.pads[2] && xx >= -pc.pads[1] && xx < w + pc.pads[3];
                  if (in_pads) ++counted;
                  if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                  const float v = X[static_cast<std::size_t>((p * h + yy) * w + xx)];
                  mx = std::max(mx, v), sum += v, ++real;
                }
              want.push_back(kind == 0 ? mx : sum / static_cast<float>(kind == 1 ? real : counted));
            }
        dynamic_tensor y;
        if (kind == 0) {
          ops::max_pool mp;
          mp.kernel_shape = pc.k, mp.strides = pc.s, mp.dilations = pc.d, mp.pads = pc.pads, mp.ceil_mode = pc.ceil;
          y = run_op(mp, {x})[0];
        } else {
          ops::average_pool ap;
          ap.kernel_shape = pc.k, ap.strides = pc.s, ap.dilations = pc.d, ap.pads = pc.pads, ap.ceil_mode = pc.ceil;
          ap.count_include_pad = kind == 2 ? 1 : 0;
          y = run_op(ap, {x})[0];
        }
        INFO("kernel " << pc.k[0] << "x" << pc.k[1] << " stride " << pc.s[0] << "," << pc.s[1] << " dilation " << pc.d[0]
                       << " ceil " << pc.ceil << " kind " << kind);
        require_close(y, want, {n, ch, oh, ow}, 1e-5f);
      }
      // MaxPool on the 8-bit types ONNX allows: the same windows over u8 and s8 copies of x, exact.
      auto max_pool_8bit = [&]<class T>(T offset) {
        std::vector<T> q(X.size());
        for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<T>(std::lround(X[i] * 60.0f) + offset);
        std::vector<T> want;
        for (std::int64_t p = 0; p < n * ch; ++p)
          for (std::int64_t i = 0; i < oh; ++i)
            for (std::int64_t j = 0; j < ow; ++j) {
              int mx = -1000;
              for (std::int64_t a = 0; a < pc.k[0]; ++a)
                for (std::int64_t b = 0; b < pc.k[1]; ++b) {
                  const std::int64_t yy = i * pc.s[0] - pc.pads[0] + a * pc.d[0], xx = j * pc.s[1] - pc.pads[1] + b * pc.d[1];
                  if (yy >= 0 && yy < h && xx >= 0 && xx < w) mx = std::max<int>(mx, q[static_cast<std::size_t>((p * h + yy) * w + xx)]);
                }
              want.push_back(static_cast<T>(mx));
            }
        ops::max_pool mp;
        mp.kernel_shape = pc.k, mp.strides = pc.s, mp.dilations = pc.d, mp.pads = pc.pads, mp.ceil_mode = pc.ceil;
        const auto y = run_op(mp, {dynamic_tensor::from<T>({n, ch, h, w}, q)})[0];
        REQUIRE(y.shape() == shape_t{n, ch, oh, ow});
        const auto got = y.template span<T>();
        CHECK(std::vector<T>(got.begin(), got.end()) == want);
      };
      INFO("kernel " << pc.k[0] << "x" << pc.k[1] << " stride " << pc.s[0] << "," << pc.s[1] << " 8-bit");
      max_pool_8bit(std::uint8_t{128});  // x in [-1, 1] -> [68, 188]
      max_pool_8bit(std::int8_t{-20});   // -> [-80, 40]: padding must not win with an all-negative window
    }
  }
  const std::int64_t n = 2, ch = 3, h = 7, w = 9;
  const auto x = randn({n, ch, h, w}, 60);
  // A negative pad from a file (ONNX allows none) is an error, not a crop read past the unchecked interior loops.
  for (const std::vector<std::int64_t>& pads : {std::vector<std::int64_t>{-1, 0, 0, 0}, std::vector<std::int64_t>{0, 0, 0, -2}}) {
    ops::max_pool mp;
    mp.kernel_shape = {2, 2}, mp.pads = pads;
    CHECK_THROWS_WITH(run_op(mp, {x}), Catch::Contains("pads must not be negative"));
    ops::average_pool ap;
    ap.kernel_shape = {2, 2}, ap.pads = pads;
    CHECK_THROWS_WITH(run_op(ap, {x}), Catch::Contains("pads must not be negative"));
    ops::conv cv;
    cv.pads = pads;
    CHECK_THROWS_WITH(run_op(cv, {x, randn({2, ch, 2, 2}, 61)}), Catch::Contains("pads must not be negative"));
  }
}

TEST_CASE("pooling and BatchNormalization", "[runtime][ops]") {
  const auto x = randn({1, 2, 5, 5}, 50);
  const auto X = x.span<float>();
  ops::max_pool mp;
  mp.kernel_shape = {2, 2};
  mp.strides = {2, 2};
  mp.ceil_mode = 1;  // 5 -> 3 with a partial last window
  const auto y = run_op(mp, {x})[0];
  REQUIRE(y.shape() == shape_t{1, 2, 3, 3});
  for (std::int64_t ch = 0; ch < 2; ++ch)
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 3; ++j) {
        float m = -INFINITY;
        for (std::int64_t a = 2 * i; a < std::min<std::int64_t>(2 * i + 2, 5); ++a)
          for (std::int64_t b = 2 * j; b < std::min<std::int64_t>(2 * j + 2, 5); ++b) m = std::max(m, X[static_cast<std::size_t>(ch * 25 + a * 5 + b)]);
        CHECK(y.span<float>()[static_cast<std::size_t>(ch * 9 + i * 3 + j)] == m);
      }
  for (int include_pad = 0; include_pad < 2; ++include_pad) {
    ops::average_pool ap;
    ap.kernel_shape = {3, 3};
    ap.pads = {1, 1, 1, 1};
    ap.count_include_pad = include_pad;
    const auto z = run_op(ap, {x})[0];
    REQUIRE(z.shape() == shape_t{1, 2, 5, 5});
    // corner: 4 real values
    const float sum = X[0] + X[1] + X[5] + X[6];
    CHECK(z.span<float>()[0] == Approx(sum / (include_pad ? 9.0f : 4.0f)));
  }
  const auto g = run_op(ops::global_average_pool{}, {x})[0];
  REQUIRE(g.shape() == shape_t{1, 2, 1, 1});
  float s = 0;
  for (std::size_t i = 0; i < 25; ++i) s += X[i];
  CHECK(g.span<float>()[0] == Approx(s / 25));

  const auto scale = randn({2}, 51), bias = randn({2}, 52), mean = randn({2}, 53), var = randn({2}, 54, 0.5f, 2.0f);
  const auto bn = run_op(ops::batch_norm{.epsilon = 1e-3f}, {x, scale, bias, mean, var})[0];
  for (std::size_t i = 0; i < 50; ++i) {
    const std::size_t ch = i / 25;
    const float want = (X[i] - mean.span<float>()[ch]) / std::sqrt(var.span<float>()[ch] + 1e-3f) * scale.span<float>()[ch] + bias.span<float>()[ch];
    CHECK(bn.span<float>()[i] == Approx(want).margin(1e-5));
  }
}

TEST_CASE("Softmax, LayerNormalization and its decomposed form", "[runtime][ops]") {
  const auto x = randn({2, 3, 4}, 60, -4.0f, 4.0f);
  const auto X = x.span<float>();
  const auto sm = run_op(ops::softmax{.axis = 1}, {x})[0];
  for (std::int64_t a = 0; a < 2; ++a)
    for (std::int64_t c = 0; c < 4; ++c) {
      float den = 0;
      for (std::int64_t b = 0; b < 3; ++b) den += std::exp(X[static_cast<std::size_t>(a * 12 + b * 4 + c)]);
      for (std::int64_t b = 0; b < 3; ++b) {
        const auto i = static_cast<std::size_t>(a * 12 + b * 4 + c);
        CHECK(sm.span<float>()[i] == Approx(std::exp(X[i]) / den));
      }
    }
  const auto gamma = randn({4}, 61), beta = randn({4}, 62);
  const auto ln = run_op(ops::layer_norm{.axis = -1, .epsilon = 1e-5f}, {x, gamma, beta})[0];
  std::vector<float> want;
  for (std::size_t r = 0; r < 6; ++r) {
    float mu = 0, var = 0;
    for (std::size_t j = 0; j < 4; ++j) mu += X[r * 4 + j] / 4;
    for (std::size_t j = 0; j < 4; ++j) var += (X[r * 4 + j] - mu) * (X[r * 4 + j] - mu) / 4;
    for (std::size_t j = 0; j < 4; ++j) want.push_back((X[r * 4 + j] - mu) / std::sqrt(var + 1e-5f) * gamma.span<float>()[j] + beta.span<float>()[j]);
  }
  require_close(ln, want, x.shape());

  // PyTorch's opset-13 decomposition: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add.
  computation_graph g;
  auto in = g.add_input("x", dtype::f32, {"batch", 3, 4});
  auto c = [&](const char* n, dynamic_tensor t) { return g.add_initializer(n, std::move(t)); };
  auto node = [&](computation_graph::op_type op, std::vector<value_id> ins) { return g.outputs(g.add_node(std::move(op), std::move(ins)))[0]; };
  auto mean = node(ops::reduce_mean{.axes = ops::ints{-1}}, {in});
  auto d = node(ops::sub{}, {in, mean});
  auto sq = node(ops::pow{}, {d, c("two", dynamic_tensor::scalar(2.0f))});
  auto var = node(ops::reduce_mean{.axes = ops::ints{-1}}, {sq});
  auto ve = node(ops::add{}, {var, c("eps", dynamic_tensor::scalar(1e-5f))});
  auto sd = node(ops::sqrt{}, {ve});
  auto nrm = node(ops::div{}, {d, sd});
  auto sc = node(ops::mul{}, {nrm, c("gamma", gamma)});
  auto out = node(ops::add{}, {sc, c("beta", beta)});
  g.mark_output(out);
  validate(g);
  CHECK(g.at(out).shape == symbolic_shape{"batch", 3, 4});
  session s{g};
  require_close(s.run({{"x", x}})[0], want, x.shape());
}

TEST_CASE("shape ops: Reshape, Flatten, Transpose, Shape, Gather, (Un)Squeeze, Concat, Split, Slice", "[runtime][ops]") {
  const auto x = dynamic_tensor::from<float>({2, 3, 4}, test::random_floats(24, 70));
  const auto X = x.span<float>();
  const auto r = run_op(ops::reshape{}, {x, ints({0, -1})})[0];
  CHECK(r.shape() == shape_t{2, 12});
  CHECK(r.shares_storage_with(x));  // a view
  CHECK(run_op(ops::flatten{.axis = 2}, {x})[0].shape() == shape_t{6, 4});
  const auto t = run_op(ops::transpose{.perm = ops::ints{2, 0, 1}}, {x})[0];
  REQUIRE(t.shape() == shape_t{4, 2, 3});
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t b = 0; b < 3; ++b)
      for (std::size_t c = 0; c < 4; ++c) CHECK(t.span<float>()[c * 6 + a * 3 + b] == X[a * 12 + b * 4 + c]);
  CHECK(run_op(ops::shape{}, {x})[0].to_ints() == std::vector<std::int64_t>{2, 3, 4});
  CHECK(run_op(ops::shape{.start = 1, .end = -1}, {x})[0].to_ints() == std::vector<std::int64_t>{3});
  const auto gt = run_op(ops::gather{.axis = 1}, {x, ints({2, -3})})[0];
  REQUIRE(gt.shape() == shape_t{2, 2, 4});
  CHECK(gt.span<float>()[4] == X[0]);  // index -3 == 0
  CHECK(gt.span<float>()[0] == X[8]);
  CHECK_THROWS_WITH(run_op(ops::gather{}, {x, ints({5})}), Catch::Contains("out of range"));
  // opset 13 form (axes input) and opset 11 form (axes attribute)
  CHECK(run_op(ops::unsqueeze{}, {x, ints({0, -1})})[0].shape() == shape_t{1, 2, 3, 4, 1});
  CHECK(run_op(ops::unsqueeze{.axes = ops::ints{1}}, {x})[0].shape() == shape_t{2, 1, 3, 4});
  const auto one = dynamic_tensor::from<float>({1, 3, 1}, {1, 2, 3});
  CHECK(run_op(ops::squeeze{}, {one})[0].shape() == shape_t{3});
  CHECK(run_op(ops::squeeze{}, {one, ints({2})})[0].shape() == shape_t{1, 3});
  CHECK(run_op(ops::squeeze{.axes = ops::ints{0}}, {one})[0].shape() == shape_t{3, 1});
  const auto cat = run_op(ops::concat{.axis = 1}, {x, dynamic_tensor::from<float>({2, 1, 4}, std::vector<float>(8, 9.0f))})[0];
  REQUIRE(cat.shape() == shape_t{2, 4, 4});
  CHECK(cat.span<float>()[12] == 9.0f);
  CHECK(cat.span<float>()[16] == X[12]);
  const auto parts = run_op(ops::split{.axis = 2}, {x, ints({1, 3})}, 2);
  CHECK(parts[0].shape() == shape_t{2, 3, 1});
  CHECK(parts[1].shape() == shape_t{2, 3, 3});
  CHECK(parts[1].span<float>()[0] == X[1]);
  const auto halves = run_op(ops::split{.axis = 2}, {x}, 2);  // equal split, no sizes
  CHECK(halves[1].span<float>()[0] == X[2]);
  const auto old_split = run_op(ops::split{.axis = 1, .split_sizes = ops::ints{2, 1}}, {x}, 2);  // opset 11 attribute
  CHECK(old_split[1].shape() == shape_t{2, 1, 4});
  const auto sl = run_op(ops::slice{}, {x, ints({-1, 0}), ints({-5, 100}), ints({2, 0}), ints({-2, 1})})[0];
  REQUIRE(sl.shape() == shape_t{2, 3, 2});  // axis 2: 3, 1
  CHECK(sl.span<float>()[0] == X[3]);
  CHECK(sl.span<float>()[1] == X[1]);
  const auto cs = run_op(ops::constant_of_shape{.value = dynamic_tensor::from<std::int64_t>({1}, {7})}, {ints({2, 2})})[0];
  CHECK(cs.to_ints() == std::vector<std::int64_t>{7, 7, 7, 7});
  const auto k = run_op(ops::constant{.value = ints({1, 2, 3})}, {})[0];
  CHECK(k.to_ints() == std::vector<std::int64_t>{1, 2, 3});
  const auto rm = run_op(ops::reduce_mean{.axes = ops::ints{0, 2}, .keepdims = 0}, {x})[0];
  REQUIRE(rm.shape() == shape_t{3});
  float s = 0;
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t c = 0; c < 4; ++c) s += X[a * 12 + 4 + c];
  CHECK(rm.span<float>()[1] == Approx(s / 8));
}

TEST_CASE("quantization ops: Quantize/DequantizeLinear (per axis), DynamicQuantizeLinear, MatMulInteger", "[runtime][ops]") {
  const auto x = dynamic_tensor::from<float>({2, 3}, {-1.0f, 0.0f, 0.5f, 2.0f, 2.5f, -300.0f});
  const auto q = run_op(ops::quantize_linear{}, {x, dynamic_tensor::scalar(0.5f), dynamic_tensor::scalar<std::uint8_t>(10)})[0];
  REQUIRE(q.type() == dtype::u8);
  // round half to even: 0.5/0.5 = 1 -> 11; 2.5/0.5 = 5 -> 15; -600 saturates to 0
  CHECK(std::vector<int>(q.span<std::uint8_t>().begin(), q.span<std::uint8_t>().end()) == std::vector<int>{8, 10, 11, 14, 15, 0});
  const auto dq = run_op(ops::dequantize_linear{}, {q, dynamic_tensor::scalar(0.5f), dynamic_tensor::scalar<std::uint8_t>(10)})[0];
  require_close(dq, {-1.0f, 0.0f, 0.5f, 2.0f, 2.5f, -5.0f}, {2, 3});
  // per-axis s8 on axis 1
  const auto scales = dynamic_tensor::from<float>({3}, {1.0f, 0.1f, 0.01f});
  const auto zps = dynamic_tensor::from<std::int8_t>({3}, {0, 1, -1});
  const auto qa = run_op(ops::quantize_linear{.axis = 1}, {x, scales, zps})[0];
  CHECK(std::vector<int>(qa.span<std::int8_t>().begin(), qa.span<std::int8_t>().end()) == std::vector<int>{-1, 1, 49, 2, 26, -128});
  const auto dqa = run_op(ops::dequantize_linear{.axis = 1}, {qa, scales, zps})[0];
  require_close(dqa, {-1.0f, 0.0f, 0.5f, 2.0f, 2.5f, -1.27f}, {2, 3});

  const auto d = run_op(ops::dynamic_quantize_linear{}, {x}, 3);
  const float scale = (2.5f + 300.0f) / 255.0f;
  CHECK(d[1].span<float>()[0] == Approx(scale));
  const auto zp = static_cast<int>(std::nearbyint(300.0f / scale));
  CHECK(int(d[2].span<std::uint8_t>()[0]) == zp);
  CHECK(int(d[0].span<std::uint8_t>()[5]) == 0);
  CHECK(int(d[0].span<std::uint8_t>()[4]) == 255);

  // MatMulInteger u8 x s8 with zero points vs a naive int loop.
  std::vector<std::uint8_t> av{3, 200, 17, 0, 255, 128};
  std::vector<std::int8_t> bv{-128, 127, 5, -7, 0, 1};
  const auto a = dynamic_tensor::from<std::uint8_t>({2, 3}, av);
  const auto b = dynamic_tensor::from<std::int8_t>({3, 2}, bv);
  const auto y = run_op(ops::matmul_integer{}, {a, b, dynamic_tensor::scalar<std::uint8_t>(128), dynamic_tensor::from<std::int8_t>({2}, {1, -2})})[0];
  REQUIRE(y.type() == dtype::s32);
  const int zb[2] = {1, -2};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      int s = 0;
      for (int k = 0; k < 3; ++k) s += (int(av[static_cast<std::size_t>(i * 3 + k)]) - 128) * (int(bv[static_cast<std::size_t>(k * 2 + j)]) - zb[j]);
      CHECK(y.span<std::int32_t>()[static_cast<std::size_t>(i * 2 + j)] == s);
    }
}

TEST_CASE("QuantizeLinear / DequantizeLinear on long runs equal the element formula (ties, saturation, infinities)", "[runtime][ops]") {
  // [3, 37, 29]: runs of 29 (axis 1) and 37 * 29 (axis 0) with SIMD tails; values on exact .5 ties of x / scale,
  // far out of range, and +-inf.
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-200.0f, 200.0f);
  const shape_t sh{3, 37, 29};
  dynamic_tensor x(dtype::f32, sh);
  auto xv = x.mutable_span<float>();
  for (std::size_t i = 0; i < xv.size(); ++i) {
    switch (i % 7) {
      case 0: xv[i] = (static_cast<float>(static_cast<int>(i % 301)) - 150.0f + 0.5f) * 0.25f; break;  // ties for scale 0.25
      case 1: xv[i] = (i % 2 ? 1.0f : -1.0f) * 1e30f; break;
      case 2: xv[i] = (i % 3 ? 1.0f : -1.0f) * std::numeric_limits<float>::infinity(); break;
      default: xv[i] = u(rng);
    }
  }
  auto reference = [&](float v, float scale, int zp, int lo, int hi) {
    const float r = std::nearbyint(v / scale) + static_cast<float>(zp);
    return static_cast<int>(std::clamp(r, static_cast<float>(lo), static_cast<float>(hi)));
  };
  namespace k = bigmodel::kernels;
  for (const auto& [isa, axis] : {std::pair{k::isa::scalar, std::int64_t{-1}}, std::pair{k::isa::scalar, std::int64_t{0}},
                                 std::pair{k::isa::avx512vnni, std::int64_t{-1}}, std::pair{k::isa::avx512vnni, std::int64_t{1}},
                                 std::pair{k::isa::avx512bw, std::int64_t{2}}, std::pair{k::isa::avx2, std::int64_t{1}}}) {
    CAPTURE(k::isa_name(isa), axis);
    if (!k::is_supported(isa)) {
      WARN("skipping " << k::isa_name(isa) << ": not supported by this CPU");
      continue;
    }
    REQUIRE(k::force_isa(isa) == k::status::ok);
    const std::size_t n_par = axis < 0 ? 1 : static_cast<std::size_t>(sh[static_cast<std::size_t>(axis)]);
    std::vector<float> sc(n_par);
    std::vector<std::uint8_t> zu(n_par);
    std::vector<std::int8_t> zs(n_par);
    for (std::size_t j = 0; j < n_par; ++j) {
      sc[j] = j % 2 ? 0.25f : 0.1f + 0.37f * static_cast<float>(j);
      zu[j] = static_cast<std::uint8_t>((j * 53) % 256);
      zs[j] = static_cast<std::int8_t>(static_cast<int>((j * 53) % 256) - 128);
    }
    const shape_t ps = axis < 0 ? shape_t{} : shape_t{static_cast<std::int64_t>(n_par)};
    const auto scale = dynamic_tensor::from<float>(ps, sc);
    const ops::quantize_linear ql{.axis = axis < 0 ? 1 : axis};
    const ops::dequantize_linear dl{.axis = axis < 0 ? 1 : axis};
    const auto qu = run_op(ql, {x, scale, dynamic_tensor::from<std::uint8_t>(ps, zu)})[0];
    const auto qs = run_op(ql, {x, scale, dynamic_tensor::from<std::int8_t>(ps, zs)})[0];
    const auto du = run_op(dl, {qu, scale, dynamic_tensor::from<std::uint8_t>(ps, zu)})[0];
    const auto ds = run_op(dl, {qs, scale, dynamic_tensor::from<std::int8_t>(ps, zs)})[0];
    std::size_t bad = 0;
    for (std::size_t i = 0; i < xv.size(); ++i) {
      std::size_t j = 0;
      if (axis == 0) j = i / (37 * 29);
      if (axis == 1) j = (i / 29) % 37;
      if (axis == 2) j = i % 29;
      const int wu = reference(xv[i], sc[j], zu[j], 0, 255), ws = reference(xv[i], sc[j], zs[j], -128, 127);
      bad += qu.span<std::uint8_t>()[i] != wu;
      bad += qs.span<std::int8_t>()[i] != ws;
      bad += du.span<float>()[i] != static_cast<float>(wu - zu[j]) * sc[j];
      bad += ds.span<float>()[i] != static_cast<float>(ws - zs[j]) * sc[j];
    }
    CHECK(bad == 0);
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
  CHECK_THROWS_WITH(run_op(ops::quantize_linear{.axis = 1}, {x, dynamic_tensor::from<float>({37}, std::vector<float>(37, 1.0f)),
                                                           dynamic_tensor::from<std::uint8_t>({2}, {0, 0})}),
                    Catch::Contains("zero point"));
}

TEST_CASE("MatMulInteger on packed int8 kernels equals the naive product", "[runtime][ops]") {
  // B constant s8 without zero point: packed once at plan time, run on the int8 GEMM kernels.
  const std::int64_t batch = 2, m = 5, k = 70, n = 33;
  std::mt19937 rng(90);
  std::vector<std::uint8_t> av(static_cast<std::size_t>(batch * m * k));
  std::vector<std::int8_t> bv(static_cast<std::size_t>(k * n));
  for (auto& v : av) v = static_cast<std::uint8_t>(rng() % 256);
  for (auto& v : bv) v = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
  for (int zp : {0, 131}) {
    const auto y = run_op(ops::matmul_integer{}, {dynamic_tensor::from<std::uint8_t>({batch, m, k}, av),
                                                  dynamic_tensor::from<std::int8_t>({k, n}, bv),
                                                  dynamic_tensor::scalar<std::uint8_t>(static_cast<std::uint8_t>(zp))})[0];
    REQUIRE(y.shape() == shape_t{batch, m, n});
    for (std::int64_t r = 0; r < batch * m; ++r)
      for (std::int64_t j = 0; j < n; ++j) {
        std::int32_t s = 0;
        for (std::int64_t p = 0; p < k; ++p)
          s += (int(av[static_cast<std::size_t>(r * k + p)]) - zp) * int(bv[static_cast<std::size_t>(p * n + j)]);
        REQUIRE(y.span<std::int32_t>()[static_cast<std::size_t>(r * n + j)] == s);
      }
  }
}

TEST_CASE("fused attention equals its decomposition", "[runtime][ops]") {
  const auto q = randn({2, 3, 4, 8}, 80), k = randn({2, 3, 5, 8}, 81), v = randn({2, 3, 5, 6}, 82);
  const auto mask = randn({1, 1, 4, 5}, 83, -2.0f, 0.0f);
  const auto y = run_op(ops::attention{}, {q, k, v, mask})[0];
  REQUIRE(y.shape() == shape_t{2, 3, 4, 6});
  // Decomposed: Softmax(q kT / sqrt(8) + mask) v
  const auto kt = run_op(ops::transpose{.perm = ops::ints{0, 1, 3, 2}}, {k})[0];
  const auto s = run_op(ops::matmul{}, {q, kt})[0];
  const auto scaled = run_op(ops::div{}, {s, dynamic_tensor::scalar(std::sqrt(8.0f))})[0];
  const auto masked = run_op(ops::add{}, {scaled, mask})[0];
  const auto p = run_op(ops::softmax{}, {masked})[0];
  require_close(y, vec(run_op(ops::matmul{}, {p, v})[0]), y.shape());
  const auto yt = run_op(ops::attention{.k_transposed = 1}, {q, kt, v, mask})[0];
  require_close(yt, vec(y), y.shape());
}

TEST_CASE("session: unknown ops are refused by name; inputs checked; buffers reused safely", "[runtime]") {
  computation_graph g;
  auto x = g.add_input("x", dtype::f32, {"batch", 2});
  auto y = g.add_value("y");
  g.add_node(ops::opaque{"com.example", "FancyOp", {}}, {x}, {y}, "fancy_1");
  g.mark_output(y);
  try {
    session s{g};
    FAIL("expected runtime.unsupported_op");
  } catch (const error& e) {
    CHECK(e.id() == "runtime.unsupported_op");
    CHECK_THAT(e.what(), Catch::Contains("fancy_1") && Catch::Contains("FancyOp") && Catch::Contains("com.example"));
  }

  computation_graph h;
  auto in = h.add_input("x", dtype::f32, {"batch", 2});
  auto w = h.add_initializer("w", dynamic_tensor::from<float>({2, 2}, {1, 2, 3, 4}));
  auto out = h.outputs(h.add_node(ops::matmul{}, {in, w}))[0];
  h.mark_output(out);
  session s{h};
  CHECK_THROWS_WITH(s.run({}), Catch::Contains("missing_input"));
  CHECK_THROWS_WITH(s.run({{"x", dynamic_tensor::from<float>({1, 3}, {1, 2, 3})}}), Catch::Contains("shape_mismatch"));
  CHECK_THROWS_WITH(s.run({{"x", dynamic_tensor::from<std::int64_t>({1, 2}, {1, 2})}}), Catch::Contains("dtype_mismatch"));
  CHECK_THROWS_WITH(s.run({{"x", dynamic_tensor::from<float>({1, 2}, {1, 2})}, {"z", dynamic_tensor::scalar(1.0f)}}),
                    Catch::Contains("unknown_input"));
  const auto y1 = s.run({{"x", dynamic_tensor::from<float>({1, 2}, {1, 1})}})[0];
  const auto y2 = s.run({{"x", dynamic_tensor::from<float>({1, 2}, {2, 0})}})[0];
  CHECK(vec(y1) == std::vector<float>{4, 6});  // not overwritten by the second run
  CHECK(vec(y2) == std::vector<float>{2, 4});
  session s2 = s;  // shares the plan, own buffers
  CHECK(s2.plan() == s.plan());
  CHECK(vec(s2.run({{"x", dynamic_tensor::from<float>({3, 2}, {1, 0, 0, 1, 1, 1})}})[0]) == std::vector<float>{1, 2, 3, 4, 4, 6});
}
