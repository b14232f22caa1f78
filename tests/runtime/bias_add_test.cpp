// The bias Add after a MatMul runs in the GEMM's epilogue (runtime/bias_add.hpp): which patterns the plan takes,
// which it leaves alone, and that outputs are the same bit for bit as with the Add as its own step.

#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/runtime.hpp>

#include "fixture_files.hpp"

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace bigmodel;

namespace {

std::vector<float> random_values(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

struct pattern {
  shape_t bias_shape{6};
  bool bias_first = false;    // Add(bias, y) instead of Add(y, bias)
  bool relu = false;          // MatMul with a fused ReLU
  bool y_is_output = false;   // the MatMul's output is also a graph output
  bool second_reader = false; // another node reads the MatMul's output too
  bool b_input = false;       // B is a graph input, not a constant
};

// x [2, 5, 8] . W [8, 6] (+ bias) -> out; the input's rank known to the graph.
computation_graph linear(const pattern& p) {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, symbolic_shape{2, 5, 8});
  const auto w = p.b_input ? g.add_input("w", dtype::f32, symbolic_shape{8, 6})
                           : g.add_initializer("w", dynamic_tensor::from<float>({8, 6}, random_values(48, 7)));
  std::int64_t bias_numel = 1;
  for (auto d : p.bias_shape) bias_numel *= d;
  const auto b = g.add_initializer("b", dynamic_tensor::from<float>(p.bias_shape, random_values(static_cast<std::size_t>(bias_numel), 9)));
  const auto y = g.add_value("y");
  g.add_node(ops::matmul{.act = {.kind = p.relu ? ops::activation_kind::relu : ops::activation_kind::none}}, {x, w}, {y}, "mm");
  g.at(y).shape = symbolic_shape{2, 5, 6};
  const auto out = g.add_value("out");
  g.add_node(ops::add{}, p.bias_first ? std::vector<value_id>{b, y} : std::vector<value_id>{y, b}, {out}, "bias");
  g.mark_output(out);
  if (p.y_is_output) g.mark_output(y);
  if (p.second_reader) {
    const auto z = g.add_value("z");
    g.add_node(ops::neg{}, {y}, {z}, "neg");
    g.mark_output(z);
  }
  validate(g);
  return g;
}

std::size_t fused_steps(const runtime::plan<default_op_set>& pl) {
  std::size_t n = 0;
  for (const auto& st : pl.steps) n += st.bias != nullptr;
  return n;
}

named_tensors run(const computation_graph& g, bool fuse, const pattern& p) {
  session s(g, runtime::plan_options{.fuse_bias_add = fuse});
  named_tensors feeds{{"x", dynamic_tensor::from<float>({2, 5, 8}, random_values(80, 3))}};
  if (p.b_input) feeds.emplace("w", dynamic_tensor::from<float>({8, 6}, random_values(48, 7)));
  return s.run(feeds);
}

// out[r][j] = sum_k x[r][k] w[k][j] + bias[j], in double (the bias [1, .., 6] or [6]).
std::vector<double> reference(const pattern& p) {
  const auto x = random_values(80, 3), w = random_values(48, 7), b = random_values(6, 9);
  std::vector<double> y(60);
  for (int r = 0; r < 10; ++r)
    for (int j = 0; j < 6; ++j) {
      double s = 0;
      for (int k = 0; k < 8; ++k) s += static_cast<double>(x[static_cast<std::size_t>(r * 8 + k)]) * w[static_cast<std::size_t>(k * 6 + j)];
      if (p.relu) s = std::max(s, 0.0);
      y[static_cast<std::size_t>(r * 6 + j)] = s + b[static_cast<std::size_t>(j)];
    }
  return y;
}

void require_same_bits(const dynamic_tensor& a, const dynamic_tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.span<float>(), y = b.span<float>();
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(std::bit_cast<std::uint32_t>(x[i]) == std::bit_cast<std::uint32_t>(y[i]));
}

}  // namespace

TEST_CASE("a bias Add after a MatMul with constant weights runs in the GEMM epilogue, bit for bit", "[runtime][bias_add]") {
  for (const pattern& p : {pattern{}, pattern{.bias_shape = {1, 6}}, pattern{.bias_shape = {1, 1, 6}}, pattern{.bias_first = true}}) {
    INFO("bias " << to_string(p.bias_shape) << (p.bias_first ? ", bias first" : ""));
    const auto g = linear(p);
    const runtime::plan<default_op_set> fused(g), plain(g, {.fuse_bias_add = false});
    CHECK(fused_steps(fused) == 1);
    CHECK(fused.steps.size() + 1 == plain.steps.size());  // the Add has no step
    CHECK(fused_steps(plain) == 0);
    const auto a = run(g, true, p), b = run(g, false, p);
    require_same_bits(a["out"], b["out"]);
    const auto want = reference(p);
    const auto got = a["out"].span<float>();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-5));
  }
}

TEST_CASE("patterns the bias Add stays a step for", "[runtime][bias_add]") {
  const std::vector<std::pair<std::string, pattern>> cases{
      {"fused ReLU before the bias", {.relu = true}},
      {"MatMul output is a graph output", {.y_is_output = true}},
      {"MatMul output has a second reader", {.second_reader = true}},
      {"B is not a constant", {.b_input = true}},
      {"bias varies along rows", {.bias_shape = {5, 6}}},
      {"one bias value for every column", {.bias_shape = {1}}},
      {"bias of higher rank than the output", {.bias_shape = {1, 1, 1, 6}}},
  };
  for (const auto& [what, p] : cases) {
    INFO(what);
    const auto g = linear(p);
    const runtime::plan<default_op_set> pl(g);
    CHECK(fused_steps(pl) == 0);
    // Still right: the separate Add gives the same outputs as with the option off.
    const auto a = run(g, true, p), b = run(g, false, p);
    for (const auto& [name, t] : b) require_same_bits(a[name], t);
    if (p.bias_shape == shape_t{6}) {
      const auto want = reference(p);
      const auto got = a["out"].span<float>();
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-5));
    }
  }
}

TEST_CASE("PyTorch's Linear layers on 3-D activations: every bias Add absorbed, logits bit for bit", "[runtime][bias_add][fixtures]") {
  const auto dir = test::fixtures() / "tiny_encoder";
  if (!fs::exists(dir / "tiny_encoder.opset17.onnx")) {
    WARN("fixture missing, skipped");
    return;
  }
  const auto g = io::load_onnx(dir / "tiny_encoder.opset17.onnx");
  std::size_t bias_adds = 0;  // MatMul -> Add(constant) pairs in the exported graph
  for (auto n : g.nodes())
    if (g.op_as<ops::matmul>(n) && g.consumers_of(g.outputs(n)[0]).size() == 1 &&
        g.op_as<ops::add>(g.consumers_of(g.outputs(n)[0])[0]))
      ++bias_adds;
  const runtime::plan<default_op_set> fused(g);
  INFO("MatMul -> Add pairs in the graph: " << bias_adds);
  CHECK(bias_adds >= 4);
  CHECK(fused_steps(fused) == bias_adds);
  const auto x = test::load_npy(dir / "x_test.npy");
  session a(g), b(g, runtime::plan_options{.fuse_bias_add = false});
  a.enable_profiling();
  const dynamic_tensor ya = a.run({{"input", x}})["logits"], yb = b.run({{"input", x}})["logits"];
  require_same_bits(ya, yb);
  bool labelled = false;
  for (const auto& st : a.profiling().steps) labelled = labelled || st.op == "MatMul + Add";
  CHECK(labelled);
}

TEST_CASE("a MatMul with an absorbed bias given an input of the wrong width throws bigmodel::error", "[runtime][bias_add]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, symbolic_shape{"n", "k"});  // the width is the MatMul's to check
  const auto w = g.add_initializer("w", dynamic_tensor::from<float>({8, 6}, random_values(48, 7)));
  const auto b = g.add_initializer("b", dynamic_tensor::from<float>({6}, random_values(6, 9)));
  const auto y = g.add_value("y"), out = g.add_value("out");
  g.add_node(ops::matmul{}, {x, w}, {y}, "mm");
  g.add_node(ops::add{}, {y, b}, {out}, "bias");
  g.mark_output(out);
  validate(g);
  const runtime::plan<default_op_set> pl(g);
  REQUIRE(fused_steps(pl) == 1);
  for (const shape_t& bad : {shape_t{3, 7}, shape_t{3, 9}, shape_t{3, 0}}) {
    INFO("input " << to_string(bad));
    session s(g);
    dynamic_tensor in(dtype::f32, bad);
    try {
      (void)s.run({{"x", in}});
      FAIL("no error");
    } catch (const error& e) {
      INFO(e.what() << " / " << e.context());
      CHECK(std::string(e.context()).find("'mm'") != std::string::npos);  // names the MatMul node
    }
  }
}

namespace {

// x [B, T, K] . W [K, N] + bias -> Gelu(approximate) -> out, with the Add's output also a graph output or read by a
// second node when asked.
struct gelu_case {
  std::string approximate = "none";
  std::int64_t b = 2, t = 5, k = 8, n = 6;
  bool add_is_output = false, add_second_reader = false;
};

computation_graph linear_gelu(const gelu_case& c) {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, symbolic_shape{c.b, c.t, c.k});
  const auto w = g.add_initializer("w", dynamic_tensor::from<float>({c.k, c.n}, random_values(static_cast<std::size_t>(c.k * c.n), 7)));
  const auto b = g.add_initializer("b", dynamic_tensor::from<float>({c.n}, random_values(static_cast<std::size_t>(c.n), 9)));
  const auto y = g.add_value("y"), z = g.add_value("z"), out = g.add_value("out");
  g.add_node(ops::matmul{}, {x, w}, {y}, "mm");
  g.at(y).shape = symbolic_shape{c.b, c.t, c.n};
  g.add_node(ops::add{}, {y, b}, {z}, "bias");
  g.add_node(ops::gelu{.approximate = c.approximate}, {z}, {out}, "act");
  g.mark_output(out);
  if (c.add_is_output) g.mark_output(z);
  if (c.add_second_reader) {
    const auto u = g.add_value("u");
    g.add_node(ops::neg{}, {z}, {u}, "neg");
    g.mark_output(u);
  }
  validate(g);
  return g;
}

named_tensors run_gelu(const computation_graph& g, bool fuse, const gelu_case& c) {
  session s(g, runtime::plan_options{.fuse_bias_add = fuse});
  return s.run({{"x", dynamic_tensor::from<float>({c.b, c.t, c.k}, random_values(static_cast<std::size_t>(c.b * c.t * c.k), 3))}});
}

}  // namespace

TEST_CASE("a Gelu after the absorbed bias runs in the f32 GEMM's epilogue too, bit for bit", "[runtime][bias_add]") {
  for (const gelu_case& c : {gelu_case{}, gelu_case{.approximate = "tanh"},
                             // rows and columns over several GEMM tasks (16 tiles of rows x 384 columns), K in one block
                             gelu_case{.b = 3, .t = 70, .k = 40, .n = 500}, gelu_case{.approximate = "tanh", .b = 1, .t = 9, .k = 300, .n = 50}}) {
    INFO("approximate " << c.approximate << ", " << c.b << "x" << c.t << "x" << c.k << " . " << c.k << "x" << c.n);
    const auto g = linear_gelu(c);
    const runtime::plan<default_op_set> fused(g), plain(g, {.fuse_bias_add = false});
    REQUIRE(fused_steps(fused) == 1);
    CHECK(fused.steps.size() + 2 == plain.steps.size());  // neither the Add nor the Gelu has a step
    for (const auto& st : fused.steps)
      if (st.bias) CHECK(st.bias_act == (c.approximate == "tanh" ? ops::activation_kind::gelu_tanh : ops::activation_kind::gelu));
    const auto a = run_gelu(g, true, c), b = run_gelu(g, false, c);
    require_same_bits(a["out"], b["out"]);
    // Against double precision: gelu(x . w + bias), erf or tanh form.
    const auto x = random_values(static_cast<std::size_t>(c.b * c.t * c.k), 3), w = random_values(static_cast<std::size_t>(c.k * c.n), 7),
               bias = random_values(static_cast<std::size_t>(c.n), 9);
    const auto got = a["out"].span<float>();
    std::size_t bad = 0;
    for (std::int64_t r = 0; r < c.b * c.t; ++r)
      for (std::int64_t j = 0; j < c.n; ++j) {
        double s = bias[static_cast<std::size_t>(j)];
        for (std::int64_t k = 0; k < c.k; ++k) s += static_cast<double>(x[static_cast<std::size_t>(r * c.k + k)]) * w[static_cast<std::size_t>(k * c.n + j)];
        const double want = c.approximate == "tanh" ? 0.5 * s * (1 + std::tanh(std::sqrt(2 / M_PI) * (s + 0.044715 * s * s * s)))
                                                    : 0.5 * s * (1 + std::erf(s / std::sqrt(2.0)));
        bad += std::abs(got[static_cast<std::size_t>(r * c.n + j)] - want) > 1e-5 * (1 + std::abs(want)) * std::sqrt(static_cast<double>(c.k));
      }
    CHECK(bad == 0);
  }
  SECTION("profile label") {
    session s(linear_gelu({}));
    s.enable_profiling();
    bool labelled = false;
    for (const auto& st : s.profiling().steps) labelled = labelled || st.op == "MatMul + Add + Gelu";
    CHECK(labelled);
  }
}

TEST_CASE("the Gelu stays a step when the Add's output is needed elsewhere", "[runtime][bias_add]") {
  for (const gelu_case& c : {gelu_case{.add_is_output = true}, gelu_case{.add_second_reader = true}}) {
    INFO((c.add_is_output ? "Add output is a graph output" : "Add output has a second reader"));
    const auto g = linear_gelu(c);
    const runtime::plan<default_op_set> fused(g), plain(g, {.fuse_bias_add = false});
    REQUIRE(fused_steps(fused) == 1);  // the bias is still absorbed
    CHECK(fused.steps.size() + 1 == plain.steps.size());
    for (const auto& st : fused.steps) CHECK(st.bias_act == ops::activation_kind::none);
    const auto a = run_gelu(g, true, c), b = run_gelu(g, false, c);
    for (const auto& [name, t] : b) require_same_bits(a[name], t);
  }
}
