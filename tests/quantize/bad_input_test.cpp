// Bad input: NaN / Inf weights, all-zero weights, a group size that does not divide K, fp16 overflow,
// schemes a pass cannot express, opsets that cannot hold int4 -> bigmodel::error naming the layer, the
// graph left untouched; never a silent NaN.
#include "quantize_test_util.hpp"

using namespace bigmodel;
using namespace qtest;

namespace {

computation_graph mlp(const std::vector<float>& w1_values, std::int64_t k = 4) {
  computation_graph g;
  const value_id x = g.add_input("input", dtype::f32, {2, k});
  g.add_initializer("fc1.weight", dynamic_tensor::from<float>({3, k}, w1_values));
  g.add_node(ops::gemm{.trans_b = true}, {x, g.value_of("fc1.weight")}, {g.value("logits")}, "fc1");
  g.mark_output(g.value_of("logits"));
  return g;
}

template <class F>
void require_error(F&& f, const std::string& id, const std::string& mentions) {
  try {
    f();
    FAIL("no error thrown, expected " << id);
  } catch (const error& e) {
    INFO(e.what());
    CHECK(e.id() == id);
    CHECK(std::string(e.what()).find(mentions) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("NaN and infinite weights are refused naming the layer, for every scheme") {
  for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    std::vector<float> w(12, 0.5f);
    w[5] = bad;
    for (const auto t : {quant::weight_type::s8, quant::weight_type::s4, quant::weight_type::f16, quant::weight_type::bf16}) {
      auto g = mlp(w);
      quant::weight_only_config cfg;
      cfg.layers.scheme.type = t;
      require_error([&] { (void)quant::quantize_weights(g, cfg); }, "quant.non_finite", "fc1");
      CHECK(g.find_value("fc1.weight"));  // untouched
    }
    auto g = mlp(w);
    require_error([&] { (void)quant::quantize_dynamic(g); }, "quant.non_finite", "fc1");
  }
}

TEST_CASE("all-zero weights quantize to exact zeros, no NaN") {
  for (const bool dyn : {false, true}) {
    auto g = mlp(std::vector<float>(12, 0.0f));
    if (dyn) (void)quant::quantize_dynamic(g);
    else (void)quant::quantize_weights(g, {.layers = {.scheme = quant::scheme_of<per_group<1, 4>, s4x2>()}});
    const auto y = run(g, dynamic_tensor::from<float>({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
    for (float v : y.span<float>()) CHECK(v == 0.0f);
  }
  // an all-zero activation too (DynamicQuantizeLinear's scale is 0 there)
  auto g = mlp(std::vector<float>(12, 0.25f));
  (void)quant::quantize_dynamic(g);
  const auto y = run(g, dynamic_tensor(dtype::f32, {2, 4}));
  for (float v : y.span<float>()) CHECK(v == 0.0f);
}

TEST_CASE("a group size that does not divide K is an error naming the layer (or kept fp32 when asked)") {
  auto g = mlp(std::vector<float>(3 * 48, 0.5f), 48);
  quant::weight_only_config cfg;
  cfg.layers.scheme = quant::scheme_of<per_group<1, 32>, s4x2>();
  require_error([&] { (void)quant::quantize_weights(g, cfg); }, "quant.group_size", "fc1");
  CHECK(quant::default_opset(g) == 17);  // nothing changed
  cfg.keep_indivisible_fp32 = true;
  const auto rep = quant::quantize_weights(g, cfg);
  CHECK(rep.changes == 0);
  REQUIRE(rep.notes.size() == 1);
  CHECK(rep.notes[0].find("fc1") != std::string::npos);
}

TEST_CASE("fp16 overflow, schemes dynamic quantization cannot express, opsets int4 cannot use") {
  auto big = mlp({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1e6f});
  require_error([&] { (void)quant::quantize_weights(big, {.layers = {.scheme = {quant::weight_type::f16}}}); },
                "quant.fp16_overflow", "fc1");
  (void)quant::quantize_weights(big, {.layers = {.scheme = {quant::weight_type::bf16}}});  // bf16 holds it

  auto g = mlp(std::vector<float>(12, 0.5f));
  quant::dynamic_config dc;
  dc.layers.scheme = quant::scheme_of<per_group<1, 4>, std::int8_t>();
  require_error([&] { (void)quant::quantize_dynamic(g, dc); }, "quant.scheme", "fc1");
  dc.layers.scheme = quant::scheme_of<per_channel<0>, s4x2>();
  require_error([&] { (void)quant::quantize_dynamic(g, dc); }, "quant.scheme", "fc1");

  // int4 needs opset 21; a ReduceMax (axes moved to an input in opset 18) blocks the raise
  auto r = mlp(std::vector<float>(12, 0.5f));
  r.add_node(ops::opaque{"", "ReduceMax", {}}, {r.value_of("logits")}, {r.value("m")}, "reduce");
  require_error([&] { (void)quant::quantize_weights(r, {.layers = {.scheme = quant::scheme_of<per_channel<0>, s4x2>()}}); },
                "quant.opset", "reduce");
  // ReduceMean's axes attribute is rewritten to the input form
  auto m = mlp(std::vector<float>(12, 0.5f));
  m.add_node(ops::reduce_mean{.axes = ops::ints{1}}, {m.value_of("logits")}, {m.value("mean")}, "mean");
  m.mark_output(m.value_of("mean"));
  (void)quant::quantize_weights(m, {.layers = {.scheme = quant::scheme_of<per_channel<0>, s4x2>()}});
  CHECK(quant::default_opset(m) == 21);
  node_id rm;
  for (auto n : m.nodes())
    if (m.op_as<ops::reduce_mean>(n)) rm = n;
  CHECK(!m.op_as<ops::reduce_mean>(rm)->axes);
  CHECK(m.inputs(rm).size() == 2);
}
