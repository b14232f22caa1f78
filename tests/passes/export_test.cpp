// decompose_for_export: fused ops back to standard ONNX; the result runs like the fused graph, saves and
// loads back; bad input names the node.
#include <catch2/catch.hpp>

#include <cstdio>

#include <bigmodel/passes/quantize.hpp>

#include "passes_test_util.hpp"

using namespace bigmodel;
using namespace passes_test;

namespace {
bool has_bigmodel_op(computation_graph& g) {
  for (auto n : g.nodes())
    if (same_domain(op_domain(g.op_of(n)), "com.bigmodel")) return true;
  return false;
}
}  // namespace

TEST_CASE("decompose_for_export writes the optimized encoder in standard ONNX ops", "[passes][export]") {
  for (const char* f : {"tiny_encoder.opset13.onnx", "tiny_encoder.opset17.onnx"}) {
    const auto dir = fixtures() / "tiny_encoder";
    const auto original = io::load_onnx(dir / f);
    auto g = original;
    g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
    REQUIRE(has_bigmodel_op(g));
    auto kept = g;
    CHECK(passes::decompose_for_export(kept, {.form = passes::export_form::bigmodel_domain}).changes == 0);
    CHECK(passes::decompose_for_export(g).changes >= 2);
    CHECK(!has_bigmodel_op(g));
    for (auto n : g.nodes()) std::visit([](const auto& op) {
      if constexpr (requires { op.act; }) CHECK(op.act.kind == ops::activation_kind::none);
    }, g.op_of(n));
    const bool opset13 = std::string(f).find("13") != std::string::npos;
    CHECK(count(g, "LayerNormalization") == (opset13 ? 0u : 2u));
    const named_tensors feeds{{"input", load_rows(dir / "x_test.npy", 16)}};
    CHECK(relative_error(original, g, feeds) <= 1e-5);
    // BIGMODEL_KEEP_EXPORT=DIR keeps the file (to run it in ONNX Runtime: benchmarks/ort/run_ort.js).
    const char* keep = std::getenv("BIGMODEL_KEEP_EXPORT");
    const auto path = (keep ? fs::path(keep) : fs::temp_directory_path()) / ("decomposed_" + std::string(f));
    io::save_onnx(g, path);
    const auto back = io::load_onnx(path);
    if (!keep) fs::remove(path);
    CHECK(relative_error(original, back, feeds) <= 1e-5);
  }
}

TEST_CASE("decompose_for_export: causal attention and tanh GELU", "[passes][export]") {
  computation_graph g;
  const auto q = g.add_input("q", dtype::f32, {2, 4, 8});
  const auto k = g.add_input("k", dtype::f32, {2, 6, 8});
  const auto v = g.add_input("v", dtype::f32, {2, 6, 8});
  const auto a = g.outputs(g.add_node(ops::attention{.causal = 1}, {q, k, v}, 1))[0];
  const auto w = g.add_initializer("w", random_tensor({8, 8}, 1));
  g.mark_output(g.outputs(g.add_node(ops::matmul{.act = {ops::activation_kind::gelu_tanh}}, {a, w}, 1))[0]);
  const auto ref = g;
  (void)passes::decompose_for_export(g);
  CHECK(!has_bigmodel_op(g));
  CHECK(count(g, "Softmax") == 1);
  CHECK(count(g, "Tanh") == 1);
  CHECK(relative_error(ref, g, {{"q", random_tensor({2, 4, 8}, 2)}, {"k", random_tensor({2, 6, 8}, 3)}, {"v", random_tensor({2, 6, 8}, 4)}}) <= 1e-5);
}

TEST_CASE("decompose_for_export names an Attention it cannot decompose", "[passes][export]") {
  computation_graph g;
  const auto q = g.add_input("q", dtype::f32, {"b", "t", 8});
  const auto k = g.add_input("k", dtype::f32, {"b", "s", 8});
  const auto v = g.add_input("v", dtype::f32, {"b", "s", 8});
  g.mark_output(g.outputs(g.add_node(ops::attention{.causal = 1}, {q, k, v}, {g.add_value("y")}, "self_attn"))[0]);
  try {
    (void)passes::decompose_for_export(g);
    FAIL("no error");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Catch::Contains("self_attn"));
  }
}

TEST_CASE("fusion passes name the node on bad input", "[passes][errors]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {2, 4});
  const auto y = g.add_value("y");
  g.add_node(ops::gemm{}, {x, g.add_initializer("w", random_tensor({4, 4}, 1))}, {y}, "fc");
  const auto z = g.add_value("z");
  g.add_node(ops::gelu{"bogus"}, {y}, {z}, "odd_gelu");
  g.mark_output(z);
  try {
    (void)passes::fuse_activation(g);
    FAIL("no error");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Catch::Contains("odd_gelu"));
  }
  computation_graph h;
  const auto c = h.add_input("c", dtype::f32, {1, 3, 4, 4});
  const auto co = h.outputs(h.add_node(ops::conv{}, {c, h.add_initializer("cw", random_tensor({3, 3, 1, 1}, 1))}, 1))[0];
  const auto out = h.add_value("out");
  h.add_node(ops::batch_norm{}, {co, h.add_initializer("s", random_tensor({3}, 1)), h.add_initializer("b", random_tensor({2}, 1)),
                                 h.add_initializer("m", random_tensor({3}, 1)), h.add_initializer("v", random_tensor({3}, 1, 0.5f, 1.0f))},
             {out}, "bn_short_bias");
  h.mark_output(out);
  try {
    (void)passes::fold_batchnorm(h);
    FAIL("no error");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Catch::Contains("bn_short_bias"));
  }
}

TEST_CASE("quantize_attention marks the fused attention int8; the attribute saves, loads and decomposes", "[passes][export][int8]") {
  const auto dir = fixtures() / "tiny_encoder";
  const auto original = io::load_onnx(dir / "tiny_encoder.opset13.onnx");
  auto g = original;
  g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
  REQUIRE(count(g, "Attention") == 1);
  const auto f32_attention = g;
  const auto r = passes::quantize_attention().run(g);
  CHECK(r.changes() == 1);
  auto int8_of = [](const computation_graph& x) {
    for (auto n : x.nodes())
      if (x.alive(n))
        if (const auto* a = x.template op_as<ops::attention>(n)) return a->int8;
    return std::int64_t{-1};
  };
  CHECK(int8_of(g) == 1);
  CHECK(passes::quantize_attention().run(g).changes() == 0);  // already int8
  // It runs int8 (the output moves), and stays close to the f32 graph's.
  const named_tensors feeds{{"input", load_rows(dir / "x_test.npy", 16)}};
  const double err = relative_error(f32_attention, g, feeds);
  CHECK(err > 1e-6);
  CHECK(err < 0.02);
  // Kept fused, the attribute round-trips through the file; decomposed, it is gone (standard ONNX, f32 products).
  const auto path = fs::temp_directory_path() / "int8_attention_kept.onnx";
  io::save_onnx(g, path, {}, {.form = passes::export_form::bigmodel_domain});
  const auto back = io::load_onnx(path);
  fs::remove(path);
  CHECK(int8_of(back) == 1);
  CHECK(relative_error(g, back, feeds) <= 1e-6);
  auto std_form = g;
  (void)passes::decompose_for_export(std_form);
  CHECK(!has_bigmodel_op(std_form));
  CHECK(relative_error(f32_attention, std_form, feeds) <= 1e-5);
  // And back to f32.
  CHECK(passes::quantize_attention(false).run(g).changes() == 1);
  CHECK(int8_of(g) == 0);
  CHECK(relative_error(f32_attention, g, feeds) <= 1e-6);
}
