// Fusion passes on hand-built graphs: the change they must make, what they must leave alone, and equal
// outputs through the runtime.
#include <catch2/catch.hpp>

#include <cmath>

#include "passes_test_util.hpp"

using namespace bigmodel;
using namespace passes_test;

namespace {
constexpr double tol = 1e-5;
}

TEST_CASE("fuse_matmul_add: MatMul + bias -> Gemm, Transpose of a constant weight -> transB", "[passes][gemm]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 6});
  const auto wt = op(g, ops::transpose{ops::ints{1, 0}}, {constant(g, "w", random_tensor({5, 6}, 1))});
  const auto y = op(g, ops::add{}, {constant(g, "b", random_tensor({5}, 2)), op(g, ops::matmul{}, {x, wt})});
  g.mark_output(y);
  const auto ref = g;
  CHECK(passes::fuse_matmul_add(g).changes == 1);
  CHECK(passes::fold_transpose_into_gemm(g).changes == 1);
  CHECK(histogram(g) == passes::op_histogram{{"Gemm", 1}});
  CHECK(std::get<ops::gemm>(g.op_of(g.nodes()[0])).trans_b);
  CHECK(relative_error(ref, g, {{"x", random_tensor({3, 6}, 3)}}) <= tol);
}

TEST_CASE("fuse_matmul_add leaves rank-3 MatMul, a read product and a broadcasting bias alone", "[passes][gemm]") {
  computation_graph g;
  const auto x3 = g.add_input("x3", dtype::f32, {2, 3, 4});
  g.mark_output(op(g, ops::add{}, {op(g, ops::matmul{}, {x3, constant(g, "w", random_tensor({4, 5}, 1))}), scalar(g, "b", 1.0f)}));
  const auto x = g.add_input("x", dtype::f32, {3, 4});
  const auto p = op(g, ops::matmul{}, {x, g.value_of("w")});
  g.mark_output(op(g, ops::add{}, {p, scalar(g, "b2", 1.0f)}));
  g.mark_output(op(g, ops::relu{}, {p}));  // second reader
  const auto q = op(g, ops::matmul{}, {x, g.value_of("w")});
  g.mark_output(op(g, ops::add{}, {q, constant(g, "big", random_tensor({2, 3, 5}, 2))}));  // grows the result
  const auto before = histogram(g);
  const auto r = passes::fuse_matmul_add(g);
  CHECK(r.changes == 0);
  CHECK(histogram(g) == before);
  CHECK(r.notes.size() == 1);  // the broadcasting bias
}

namespace {
// x -> Conv(no bias) or Gemm -> BatchNormalization -> Relu
computation_graph conv_bn(bool conv_bias) {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 3, 6, 6});
  std::vector<value_id> in{x, constant(g, "w", random_tensor({4, 3, 3, 3}, 1))};
  if (conv_bias) in.push_back(constant(g, "cb", random_tensor({4}, 2)));
  const auto c = op(g, ops::conv{.pads = {1, 1, 1, 1}}, in);
  const auto bn = op(g, ops::batch_norm{.epsilon = 1e-3f},
                     {c, constant(g, "scale", random_tensor({4}, 3, 0.5f, 2.0f)), constant(g, "bias", random_tensor({4}, 4)),
                      constant(g, "mean", random_tensor({4}, 5)), constant(g, "var", random_tensor({4}, 6, 0.1f, 3.0f))});
  g.mark_output(op(g, ops::relu{}, {bn}));
  return g;
}
}  // namespace

TEST_CASE("fold_batchnorm folds into Conv with and without bias, and into Gemm", "[passes][bn]") {
  for (bool bias : {false, true}) {
    auto g = conv_bn(bias);
    const auto ref = g;
    CHECK(passes::fold_batchnorm(g).changes == 1);
    CHECK(histogram(g) == passes::op_histogram{{"Conv", 1}, {"Relu", 1}});
    CHECK(relative_error(ref, g, {{"x", random_tensor({2, 3, 6, 6}, 7)}}) <= tol);
    CHECK(!g.find_value("w"));  // the old weight is gone
  }
  for (bool trans_b : {false, true}) {
    computation_graph g;
    const auto x = g.add_input("x", dtype::f32, {"batch", 6});
    const auto w = constant(g, "w", random_tensor(trans_b ? shape_t{4, 6} : shape_t{6, 4}, 1));
    const auto y = op(g, ops::gemm{.beta = 0.5f, .trans_b = trans_b}, {x, w, constant(g, "c", random_tensor({4}, 2))});
    g.mark_output(op(g, ops::batch_norm{}, {y, constant(g, "s", random_tensor({4}, 3)), constant(g, "b", random_tensor({4}, 4)),
                                             constant(g, "m", random_tensor({4}, 5)), constant(g, "v", random_tensor({4}, 6, 0.1f, 2.0f))}));
    const auto ref = g;
    CHECK(passes::fold_batchnorm(g).changes == 1);
    CHECK(histogram(g) == passes::op_histogram{{"Gemm", 1}});
    CHECK(relative_error(ref, g, {{"x", random_tensor({3, 6}, 7)}}) <= tol);
  }
}

TEST_CASE("fold_batchnorm leaves a non-constant BN input, a Conv with two readers, a training BN alone", "[passes][bn]") {
  auto g = conv_bn(false);
  const auto mean_in = g.add_input("mean_in", dtype::f32, {4});
  const auto bn = g.producer(g.inputs(g.producer(g.graph_outputs()[0]))[0]);
  g.set_input(bn, 3, mean_in);
  auto r = passes::fold_batchnorm(g);
  CHECK(r.changes == 0);
  REQUIRE(r.notes.size() == 1);
  CHECK_THAT(r.notes[0], Catch::Contains("not constant"));

  auto g2 = conv_bn(false);
  const auto conv_out = g2.inputs(g2.producer(g2.inputs(g2.producer(g2.graph_outputs()[0]))[0]))[0];
  g2.mark_output(op(g2, ops::sigmoid{}, {conv_out}));
  CHECK(passes::fold_batchnorm(g2).changes == 0);
  CHECK(count(g2, "BatchNormalization") == 1);

  auto g3 = conv_bn(false);
  for (auto n : g3.nodes())
    if (auto* b = g3.op_as<ops::batch_norm>(n)) b->training_mode = 1;
  CHECK(passes::fold_batchnorm(g3).changes == 0);
}

TEST_CASE("fuse_activation: Gemm/MatMul/Conv + Relu/Gelu/Sigmoid/Tanh/Clip", "[passes][activation]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {3, 6});
  const auto w = constant(g, "w", random_tensor({6, 6}, 1));
  auto v = op(g, ops::relu{}, {op(g, ops::gemm{}, {x, w})});
  v = op(g, ops::gelu{"tanh"}, {op(g, ops::matmul{}, {v, w})});
  v = op(g, ops::sigmoid{}, {op(g, ops::matmul{}, {v, w})});
  v = op(g, ops::tanh{}, {op(g, ops::matmul{}, {v, w})});
  v = op(g, ops::clip{}, {op(g, ops::matmul{}, {v, w}), scalar(g, "lo", -0.25f), scalar(g, "hi", 0.5f)});
  v = op(g, ops::gelu{}, {op(g, ops::matmul{}, {v, w})});
  g.mark_output(v);
  const auto ref = g;
  CHECK(passes::fuse_activation(g).changes == 6);
  CHECK(histogram(g) == passes::op_histogram{{"Gemm", 1}, {"MatMul", 5}});
  CHECK(relative_error(ref, g, {{"x", random_tensor({3, 6}, 2, -3.0f, 3.0f)}}) <= tol);

  auto c = conv_bn(true);
  (void)passes::fold_batchnorm(c);
  CHECK(passes::fuse_activation(c).changes == 1);
  CHECK(histogram(c) == passes::op_histogram{{"Conv", 1}});
  CHECK(std::get<ops::conv>(c.op_of(c.nodes()[0])).act.kind == ops::activation_kind::relu);
}

TEST_CASE("fuse_activation leaves a Gemm with two consumers alone", "[passes][activation]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {3, 6});
  const auto y = op(g, ops::gemm{}, {x, constant(g, "w", random_tensor({6, 6}, 1))});
  g.mark_output(op(g, ops::relu{}, {y}));
  g.mark_output(op(g, ops::sigmoid{}, {y}));
  CHECK(passes::fuse_activation(g).changes == 0);
  CHECK(count(g, "Relu") == 1);
  CHECK(count(g, "Sigmoid") == 1);
}

namespace {
// PyTorch's LayerNorm decomposition over the last axis.
value_id decomposed_layer_norm(computation_graph& g, value_id x, std::int64_t width, bool with_beta) {
  const auto m = op(g, ops::reduce_mean{ops::ints{-1}}, {x});
  const auto d = op(g, ops::sub{}, {x, m});
  const auto v = op(g, ops::reduce_mean{ops::ints{-1}}, {op(g, ops::pow{}, {d, scalar(g, g.name_of(x) + "two", 2.0f)})});
  const auto s = op(g, ops::sqrt{}, {op(g, ops::add{}, {v, scalar(g, g.name_of(x) + "eps", 1e-5f)})});
  auto y = op(g, ops::mul{}, {op(g, ops::div{}, {d, s}), constant(g, g.name_of(x) + "gamma", random_tensor({width}, 1))});
  if (with_beta) y = op(g, ops::add{}, {y, constant(g, g.name_of(x) + "beta", random_tensor({width}, 2))});
  return y;
}
}  // namespace

TEST_CASE("fuse_layer_norm: the exporter's decomposition -> LayerNormalization", "[passes][layer_norm]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 5, 16});
  g.mark_output(decomposed_layer_norm(g, x, 16, true));
  const auto x2 = g.add_input("x2", dtype::f32, {"batch", 16});
  g.mark_output(decomposed_layer_norm(g, x2, 16, false));
  const auto ref = g;
  CHECK(passes::fuse_layer_norm(g).changes == 2);
  CHECK(histogram(g) == passes::op_histogram{{"LayerNormalization", 2}});
  CHECK(relative_error(ref, g, {{"x", random_tensor({2, 5, 16}, 3, -2.0f, 5.0f)}, {"x2", random_tensor({3, 16}, 4)}}) <= tol);
}

TEST_CASE("fuse_layer_norm leaves a normalization whose mean is also read elsewhere alone", "[passes][layer_norm]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 16});
  g.mark_output(decomposed_layer_norm(g, x, 16, true));
  for (auto n : g.nodes())
    if (g.op_as<ops::sub>(n)) g.mark_output(g.inputs(n)[1]);  // the mean is an output too
  CHECK(passes::fuse_layer_norm(g).changes == 0);
  CHECK(count(g, "ReduceMean") == 2);
}

TEST_CASE("fuse_add_layer_norm: post-LN (sum read once) and pre-LN (sum read again); export restores Add + LN",
          "[passes][layer_norm]") {
  // post-LN: y = LN(relu(x) + x); pre-LN: h = tanh(x) + x, y = LN(h) + h (the sum has a second reader).
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 5, 48});
  const auto gamma = constant(g, "gamma", random_tensor({48}, 1, 0.5f, 1.5f));
  const auto beta = constant(g, "beta", random_tensor({48}, 2));
  const auto post = op(g, ops::layer_norm{-1, 1e-5f, 1}, {op(g, ops::add{}, {op(g, ops::relu{}, {x}), x}), gamma, beta});
  g.mark_output(post);
  const auto h = op(g, ops::add{}, {op(g, ops::tanh{}, {x}), x});
  const auto pre = op(g, ops::add{}, {op(g, ops::layer_norm{-1, 1e-6f, 1}, {h, gamma}), h});
  g.mark_output(pre);
  validate(g);
  const auto ref = g;
  const named_tensors feeds{{"x", random_tensor({3, 5, 48}, 3, -3.0f, 4.0f)}};
  CHECK(passes::fuse_add_layer_norm(g).changes == 2);
  CHECK(count(g, "AddLayerNormalization") == 2);
  CHECK(count(g, "LayerNormalization") == 0);
  CHECK(count(g, "Add") == 1);  // the pre-LN block's second residual
  std::size_t two_outputs = 0;
  for (auto n : g.nodes())
    if (g.op_as<ops::add_layer_norm>(n)) two_outputs += g.outputs(n).size() == 2 ? 1 : 0;
  CHECK(two_outputs == 1);
  validate(g);
  CHECK(relative_error(ref, g, feeds) <= tol);
  // Export: standard Add + LayerNormalization again (decomposed further below opset 17).
  auto exported = g;
  CHECK(passes::decompose_for_export(exported).changes == 2);
  CHECK(count(exported, "AddLayerNormalization") == 0);
  CHECK(count(exported, "LayerNormalization") == 2);
  CHECK(relative_error(ref, exported, feeds) <= tol);
  // The whole extended pipeline fuses it too.
  auto opt = ref;
  opt |= passes::optimize(passes::level::extended);
  CHECK(count(opt, "AddLayerNormalization") == 2);
}

TEST_CASE("fuse_add_layer_norm leaves a bias Add, a broadcasting Add and unknown shapes alone", "[passes][layer_norm]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 16});
  const auto row = g.add_input("row", dtype::f32, {1, 16});
  const auto u = g.add_input("u", dtype::f32, symbolic_shape{dim{}, 16});
  const auto gamma = constant(g, "gamma", random_tensor({16}, 1));
  g.mark_output(op(g, ops::layer_norm{}, {op(g, ops::add{}, {x, constant(g, "bias", random_tensor({16}, 2))}), gamma}));
  g.mark_output(op(g, ops::layer_norm{}, {op(g, ops::add{}, {x, row}), gamma}));
  g.mark_output(op(g, ops::layer_norm{}, {op(g, ops::add{}, {u, u}), gamma}));
  CHECK(passes::fuse_add_layer_norm(g).changes == 0);
  CHECK(count(g, "LayerNormalization") == 3);
}

TEST_CASE("AddLayerNormalization kernel: closed form, threads, bad shapes name the node", "[passes][layer_norm]") {
  // Rows [1, 2, 3, 4] + [1, 1, 1, 1] -> [2, 3, 4, 5]: mean 3.5, variance 1.25.
  computation_graph g;
  const auto a = g.add_input("a", dtype::f32, {2, 4});
  const auto b = g.add_input("b", dtype::f32, {2, 4});
  const auto y = g.add_value("y"), sum = g.add_value("sum");
  g.add_node(ops::add_layer_norm{-1, 0.0f}, {a, b, constant(g, "gamma", dynamic_tensor::from<float>({4}, {1, 1, 2, 2})),
                                             constant(g, "beta", dynamic_tensor::from<float>({4}, {0, 0, 0, 1}))},
             {y, sum}, "aln");
  g.mark_output(y);
  g.mark_output(sum);
  validate(g);
  session s{g};
  const auto r = s.run({{"a", dynamic_tensor::from<float>({2, 4}, {1, 2, 3, 4, 0, 0, 0, 0})},
                        {"b", dynamic_tensor::from<float>({2, 4}, {1, 1, 1, 1, -1, 1, -1, 1})}});
  const double sd = std::sqrt(1.25);
  const double want[8] = {-1.5 / sd, -0.5 / sd, 2 * 0.5 / sd, 2 * 1.5 / sd + 1, -1, 1, -2, 3};
  const auto yv = r["y"].span<float>();
  for (int i = 0; i < 8; ++i) CHECK(yv[i] == Approx(want[i]).margin(1e-5));
  const float want_sum[8] = {2, 3, 4, 5, -1, 1, -1, 1};
  for (int i = 0; i < 8; ++i) CHECK(r["sum"].span<float>()[i] == want_sum[i]);
  // Same bytes on 3 threads.
  session s3{g};
  s3.set_execution(kernels::execution::threads(3));
  const named_tensors big{{"a", random_tensor({2, 4}, 5)}, {"b", random_tensor({2, 4}, 6)}};
  CHECK(s3.run(big)["y"] == s.run(big)["y"]);
  // Inputs of different shapes: an error naming the node.
  computation_graph bad;
  const auto p = bad.add_input("p", dtype::f32, {"n", 4});
  const auto q = bad.add_input("q", dtype::f32, {"m", 4});
  bad.mark_output(op(bad, ops::add_layer_norm{}, {p, q, constant(bad, "gamma", random_tensor({4}, 1))}));
  session sb{bad};
  try {
    (void)sb.run({{"p", random_tensor({2, 4}, 1)}, {"q", random_tensor({3, 4}, 2)}});
    FAIL("no error");
  } catch (const error& e) {
    CHECK(std::string(e.what()).find("same shape") != std::string::npos);
  }
}

TEST_CASE("fuse_gelu: erf form (PyTorch's three orders) and tanh form", "[passes][gelu]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {4, 8});
  auto erf_part = [&](value_id v, const char* tag) {
    return op(g, ops::add{}, {op(g, ops::erf{}, {op(g, ops::div{}, {v, scalar(g, std::string(tag) + "r2", 1.4142135f)})}),
                              scalar(g, std::string(tag) + "one", 1.0f)});
  };
  // (x * (1 + erf)) * 0.5
  auto a = op(g, ops::mul{}, {op(g, ops::mul{}, {x, erf_part(x, "a")}), scalar(g, "ahalf", 0.5f)});
  // (0.5 x) * (1 + erf)
  auto b = op(g, ops::mul{}, {op(g, ops::mul{}, {a, scalar(g, "bhalf", 0.5f)}), erf_part(a, "b")});
  // tanh: x * 0.5 * (1 + tanh(c (x + 0.044715 x^3)))
  const auto cube = op(g, ops::mul{}, {b, op(g, ops::mul{}, {b, b})});
  const auto inner = op(g, ops::add{}, {b, op(g, ops::mul{}, {scalar(g, "k", 0.044715f), cube})});
  const auto t = op(g, ops::tanh{}, {op(g, ops::mul{}, {scalar(g, "c", 0.7978845608f), inner})});
  const auto y = op(g, ops::mul{}, {scalar(g, "thalf", 0.5f), op(g, ops::mul{}, {b, op(g, ops::add{}, {scalar(g, "tone", 1.0f), t})})});
  g.mark_output(y);
  const auto ref = g;
  CHECK(passes::fuse_gelu(g).changes == 3);
  CHECK(histogram(g) == passes::op_histogram{{"Gelu", 3}});
  CHECK(relative_error(ref, g, {{"x", random_tensor({4, 8}, 5, -4.0f, 4.0f)}}) <= tol);
}

TEST_CASE("fuse_gelu leaves a wrong constant alone", "[passes][gelu]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {4});
  const auto e = op(g, ops::add{}, {op(g, ops::erf{}, {op(g, ops::div{}, {x, scalar(g, "r", 1.5f)})}), scalar(g, "one", 1.0f)});
  g.mark_output(op(g, ops::mul{}, {op(g, ops::mul{}, {x, e}), scalar(g, "half", 0.5f)}));
  CHECK(passes::fuse_gelu(g).changes == 0);
}

namespace {
enum class mask_kind { none, add, where };
// q, k, v [batch, heads, T, D]; scores = q k^T / sqrt(D) (+ mask); softmax; @ v
computation_graph attention_graph(mask_kind mask, bool k_pre_transposed) {
  computation_graph g;
  const auto q = g.add_input("q", dtype::f32, {"batch", 2, 5, 8});
  const auto k = g.add_input("k", dtype::f32, k_pre_transposed ? symbolic_shape{"batch", 2, 8, 5} : symbolic_shape{"batch", 2, 5, 8});
  const auto v = g.add_input("v", dtype::f32, {"batch", 2, 5, 8});
  const auto kt = k_pre_transposed ? k : op(g, ops::transpose{ops::ints{0, 1, 3, 2}}, {k});
  auto s = op(g, ops::div{}, {op(g, ops::matmul{}, {q, kt}), scalar(g, "sqrt_d", std::sqrt(8.0f))});
  if (mask == mask_kind::add) s = op(g, ops::add{}, {s, g.add_input("mask", dtype::f32, {"batch", 1, 1, 5})});
  if (mask == mask_kind::where) {
    dynamic_tensor tri(dtype::boolean, {5, 5});
    auto tv = tri.mutable_span<bool>();
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j <= i; ++j) tv[static_cast<std::size_t>(i * 5 + j)] = true;
    s = op(g, ops::where{}, {constant(g, "tri", tri), s, scalar(g, "lowest", std::numeric_limits<float>::lowest())});
  }
  g.mark_output(op(g, ops::matmul{}, {op(g, ops::softmax{-1}, {s}), v}));
  return g;
}
named_tensors attention_feeds(mask_kind mask, bool k_pre_transposed) {
  named_tensors f{{"q", random_tensor({3, 2, 5, 8}, 1, -2.0f, 2.0f)},
                  {"k", random_tensor(k_pre_transposed ? shape_t{3, 2, 8, 5} : shape_t{3, 2, 5, 8}, 2, -2.0f, 2.0f)},
                  {"v", random_tensor({3, 2, 5, 8}, 3)}};
  if (mask == mask_kind::add) f.emplace("mask", random_tensor({3, 1, 1, 5}, 4, -5.0f, 0.0f));
  return f;
}
}  // namespace

TEST_CASE("fuse_attention: plain, additive mask, Where mask; k read untransposed", "[passes][attention]") {
  for (auto mask : {mask_kind::none, mask_kind::add, mask_kind::where}) {
    for (bool pre : {false, true}) {
      auto g = attention_graph(mask, pre);
      const auto ref = g;
      CHECK(passes::fuse_attention(g).changes == 1);
      CHECK(count(g, "Softmax") == 0);
      CHECK(count(g, "Attention") == 1);
      CHECK(count(g, "Transpose") == 0);
      for (auto n : g.nodes())
        if (const auto* a = g.op_as<ops::attention>(n)) CHECK(a->k_transposed == (pre ? 1 : 0));
      CHECK(relative_error(ref, g, attention_feeds(mask, pre)) <= tol);
    }
  }
}

namespace {
// Heads split from [batch, T, heads, D] projections by Transposes and merged back, as exporters write it.
computation_graph projected_attention_graph(bool causal, bool k_direct) {
  computation_graph g;
  const auto q = g.add_input("q", dtype::f32, {"batch", 6, 2, 8});
  const auto k = g.add_input("k", dtype::f32, {"batch", 6, 2, 8});
  const auto v = g.add_input("v", dtype::f32, {"batch", 6, 2, 4});
  const auto heads = [&](value_id x) { return op(g, ops::transpose{ops::ints{0, 2, 1, 3}}, {x}); };
  // kT straight from the projection (0, 2, 3, 1), or heads first and then the last two axes swapped.
  const auto kt = k_direct ? op(g, ops::transpose{ops::ints{0, 2, 3, 1}}, {k})
                           : op(g, ops::transpose{ops::ints{0, 1, 3, 2}}, {heads(k)});
  auto s = op(g, ops::mul{}, {op(g, ops::matmul{}, {heads(q), kt}), scalar(g, "scale", 0.3f)});
  if (causal) {
    dynamic_tensor tri(dtype::boolean, {6, 6});
    auto tv = tri.mutable_span<bool>();
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j <= i; ++j) tv[static_cast<std::size_t>(i * 6 + j)] = true;
    s = op(g, ops::where{}, {constant(g, "tri", tri), s, scalar(g, "lowest", std::numeric_limits<float>::lowest())});
  }
  const auto ctx = op(g, ops::matmul{}, {op(g, ops::softmax{-1}, {s}), heads(v)});
  g.mark_output(op(g, ops::transpose{ops::ints{0, 2, 1, 3}}, {ctx}));
  return g;
}
}  // namespace

TEST_CASE("fuse_attention absorbs the head split / merge transposes (layout 1); export restores them", "[passes][attention]") {
  const named_tensors feeds{{"q", random_tensor({3, 6, 2, 8}, 1, -2.0f, 2.0f)},
                            {"k", random_tensor({3, 6, 2, 8}, 2, -2.0f, 2.0f)},
                            {"v", random_tensor({3, 6, 2, 4}, 3)}};
  for (bool causal : {false, true})
    for (bool k_direct : {false, true}) {
      CAPTURE(causal, k_direct);
      auto g = projected_attention_graph(causal, k_direct);
      const auto ref = g;
      CHECK(passes::fuse_attention(g).changes == 2);
      CHECK(count(g, "Transpose") == 0);
      CHECK(count(g, "Attention") == 1);
      for (auto n : g.nodes())
        if (const auto* a = g.op_as<ops::attention>(n)) CHECK((a->layout == 1 && a->k_transposed == 0));
      CHECK(relative_error(ref, g, feeds) <= tol);
      auto exported = g;
      CHECK(passes::decompose_for_export(exported).changes >= 1);
      CHECK(count(exported, "Attention") == 0);
      CHECK(relative_error(ref, exported, feeds) <= tol);
    }
  // A head transpose read by another node stays, and so does the op's layout.
  auto g = projected_attention_graph(false, true);
  for (auto n : g.nodes())
    if (const auto* t = g.op_as<ops::transpose>(n); t && t->perm == ops::ints{0, 2, 3, 1}) g.mark_output(g.outputs(n)[0]);
  CHECK(passes::fuse_attention(g).changes == 1);
  for (auto n : g.nodes())
    if (const auto* a = g.op_as<ops::attention>(n)) CHECK(a->layout == 0);
}

TEST_CASE("fuse_attention leaves scores read elsewhere and softmax over another axis alone", "[passes][attention]") {
  auto g = attention_graph(mask_kind::none, true);
  for (auto n : g.nodes())
    if (g.op_as<ops::softmax>(n)) g.mark_output(g.inputs(n)[0]);
  CHECK(passes::fuse_attention(g).changes == 0);
  auto g2 = attention_graph(mask_kind::none, true);
  for (auto n : g2.nodes())
    if (auto* s = g2.op_as<ops::softmax>(n)) s->axis = 2;
  CHECK(passes::fuse_attention(g2).changes == 0);
}
