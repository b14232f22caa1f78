// Static int8 with each observer on the fixtures (calibrated on the held-out split), bad calibration
// sets, the sensitivity report, the fused DynamicLinear op that runs kernels::linear_dynamic, and the fused
// StaticLinear op that runs the int8 GEMM with requantizing epilogues.
#include "quantize_test_util.hpp"

#include <bigmodel/passes/quantize/dynamic_linear.hpp>
#include <bigmodel/passes/quantize/sensitivity.hpp>
#include <bigmodel/passes/quantize/static.hpp>
#include <bigmodel/passes/quantize/static_linear.hpp>
#include <bigmodel/passes/optimize.hpp>
#include <bigmodel/runtime/constant_evaluator.hpp>

#include <random>

using namespace bigmodel;
using namespace qtest;

namespace {

dynamic_tensor test_random(shape_t s, std::uint32_t seed, float range) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-range, range);
  std::vector<float> v(static_cast<std::size_t>(element_count(s)));
  for (auto& e : v) e = d(rng);
  return dynamic_tensor::from<float>(std::move(s), v);
}

// x_calib split into batches of `rows`.
std::vector<named_tensors> calibration_batches(const fixture& f, std::int64_t rows = 50) {
  const auto x = load_npy(f.dir() / "x_calib.npy");
  const std::int64_t n = x.dim(0), row = x.numel() / n;
  std::vector<named_tensors> out;
  for (std::int64_t b = 0; b < n; b += rows) {
    shape_t s = x.shape();
    s[0] = std::min(rows, n - b);
    const auto src = x.span<float>().subspan(static_cast<std::size_t>(b * row), static_cast<std::size_t>(s[0] * row));
    out.push_back({{"input", dynamic_tensor::from<float>(s, src)}});
  }
  return out;
}

const fixture static_fixtures[] = {{"digits_mlp", "digits_mlp.opset17.onnx"},
                                   {"digits_cnn", "digits_cnn.opset17.onnx"},
                                   {"tiny_encoder", "tiny_encoder.opset17.onnx"}};

}  // namespace

TEST_CASE("static int8: every observer keeps accuracy within 0.5 points of fp32") {
  using quant::observer_kind;
  const std::pair<observer_kind, const char*> observers[] = {{observer_kind::min_max, "min-max"},
                                                             {observer_kind::moving_average_min_max, "moving-average"},
                                                             {observer_kind::percentile, "percentile"},
                                                             {observer_kind::entropy, "entropy"},
                                                             {observer_kind::mse, "mse"}};
  for (const auto& f : static_fixtures) {
    const auto calib = calibration_batches(f);
    const auto x = f.x(), ref = f.fp32();
    const double acc_fp32 = accuracy(ref, f.y());
    for (const auto& [kind, label] : observers) {
      INFO(f.file << " " << label);
      auto g = f.load();
      quant::static_config cfg;
      cfg.observer.kind = kind;
      const auto rep = quant::quantize_static(g, calib, cfg);
      CHECK(rep.changes > 0);
      CHECK(!rep.notes.empty());  // the observer ranges
      const auto y = run(g, x);
      const double acc = accuracy(y, f.y());
      std::printf("%-28s static int8 %-15s acc %.4f (fp32 %.4f) rel L2 vs fp32 %.5f\n", f.file.c_str(), label, acc, acc_fp32, rel_l2(y, ref));
      CHECK(acc >= acc_fp32 - 0.005);
      if (kind == observer_kind::min_max) {
        const fs::path file = temp_dir() / (fs::path(f.file).stem().string() + ".static_int8.onnx");
        io::save_onnx(g, file);
        CHECK(run(io::load_onnx(file), x) == y);
        if (auto y_ort = run_ort(file, x)) {
          std::printf("%-28s static int8 ONNX Runtime vs ours rel L2 %.6f\n", f.file.c_str(), rel_l2(*y_ort, y));
          CHECK(rel_l2(*y_ort, y) < 2e-3);
        }
      }
    }
  }
}

TEST_CASE("bad calibration sets: empty, wrong shape, wrong dtype, NaN") {
  const fixture f{"digits_mlp", "digits_mlp.opset17.onnx"};
  auto g = f.load();
  const auto expect = [&](const std::vector<named_tensors>& calib, const std::string& id) {
    try {
      (void)quant::quantize_static(g, calib);
      FAIL("no error, expected " << id);
    } catch (const error& e) {
      CHECK(e.id() == id);
      INFO(e.what());
      CHECK(std::string(e.what()).find("input") != std::string::npos);
    }
  };
  CHECK_THROWS_AS(quant::quantize_static(g, {}), error);
  expect({{{"input", dynamic_tensor(dtype::f32, {4, 63})}}}, "calibration.bad_input");
  expect({{{"input", dynamic_tensor(dtype::s64, {4, 64})}}}, "calibration.bad_input");
  expect({{{"wrong_name", dynamic_tensor(dtype::f32, {4, 64})}}}, "calibration.bad_input");
  auto nan = dynamic_tensor(dtype::f32, {4, 64});
  nan.mutable_span<float>()[3] = std::nanf("");
  try {
    (void)quant::quantize_static(g, {{{"input", nan}}});
    FAIL("no error for a NaN calibration input");
  } catch (const error& e) {
    CHECK(e.id() == "calibration.non_finite");
    CHECK(std::string(e.what()).find("input") != std::string::npos);
  }
  CHECK(g.find_value("fc1.weight"));  // the graph is untouched after every failure
}

TEST_CASE("sensitivity report ranks layers and can keep the worst in fp32") {
  const fixture f{"tiny_encoder", "tiny_encoder.opset17.onnx"};
  const auto g = f.load();
  const auto samples = calibration_batches(f, 100);
  quant::layer_selection sel;
  sel.scheme = quant::scheme_of<per_group<1, 32>, s4x2>();
  sel.exclude = {"onnx::MatMul_116"};  // proj: K = 8 is not a multiple of 32
  const auto rows = quant::sensitivity(g, samples, [](auto& m, const quant::layer_selection& s) {
    (void)quant::quantize_weights(m, {.layers = s});
  }, sel);
  REQUIRE(rows.size() == 7);
  for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].relative_error >= rows[i].relative_error);
  for (const auto& r : rows) {
    std::printf("sensitivity int4 g32 %-24s %-20s rel err %.5f SQNR %.1f dB\n", r.node.c_str(), r.weight.c_str(), r.relative_error, r.sqnr_db);
    CHECK(r.relative_error > 0);
  }
  auto keep = sel;
  CHECK(quant::keep_sensitive_fp32(keep, rows, rows[1].relative_error) == 1);
  auto q = g;
  const auto rep = quant::quantize_weights(q, {.layers = keep});
  CHECK(rep.layers.size() == 6);
  CHECK(q.find_value(rows[0].weight));
}

TEST_CASE("DynamicLinear: the fused op runs kernels::linear_dynamic and matches the standard graph") {
  for (const auto& f : {fixture{"digits_mlp", "digits_mlp.opset17.onnx"}, fixture{"tiny_encoder", "tiny_encoder.opset13.onnx"}}) {
    INFO(f.file);
    auto g = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
    const auto rep = quant::quantize_dynamic(g);
    const auto x = f.x();
    const auto standard = run(g, x);
    auto fused = g;
    CHECK(quant::fuse_dynamic_linear(fused) == rep.changes);
    std::size_t mmi = 0, dl = 0;
    for (auto n : fused.nodes()) {
      mmi += fused.op_as<ops::matmul_integer>(n) ? 1 : 0;
      dl += fused.op_as<ops::dynamic_linear>(n) ? 1 : 0;
    }
    CHECK(mmi == 0);
    CHECK(dl == rep.changes);
    const auto y = run(fused, x);
    const double rel = rel_l2(y, standard);
    std::printf("%-28s DynamicLinear vs standard graph rel L2 %.2e, accuracy %.4f\n", f.file.c_str(), rel, accuracy(y, f.y()));
    CHECK(rel < 1e-3);
    CHECK(accuracy(y, f.y()) >= accuracy(f.fp32(), f.y()) - 0.003);
    auto per_row = g;
    (void)quant::fuse_dynamic_linear(per_row, true);
    CHECK(rel_l2(run(per_row, x), f.fp32()) <= rel_l2(standard, f.fp32()) * 1.5);
  }
}

TEST_CASE("DynamicLinear absorbs a following Relu / Gelu (erf, tanh): same outputs, saved and reloaded") {
  // input [6, 40] -> MatMul W1 [40, 56] (+ bias) -> act -> MatMul W2 [56, 10] -> logits; act read only by W2.
  for (const std::string act : {"relu", "gelu", "gelu_tanh"}) {
    INFO(act);
    quant::quant_op_set::variant act_op = ops::relu{};
    if (act == "gelu") act_op = ops::gelu{"none"};
    if (act == "gelu_tanh") act_op = ops::gelu{"tanh"};
    basic_computation_graph<quant::quant_op_set> g;
    const auto x = g.add_input("input", dtype::f32, {"batch", 40});
    const auto w1 = g.add_initializer("w1", test_random({40, 56}, 1, 0.3f));
    const auto b1 = g.add_initializer("b1", test_random({56}, 2, 0.5f));
    const auto w2 = g.add_initializer("w2", test_random({56, 10}, 3, 0.3f));
    const auto h = g.add_value("h"), hb = g.add_value("hb"), a = g.add_value("a"), y = g.add_value("logits");
    g.add_node(ops::matmul{}, {x, w1}, {h}, "mm1");
    g.add_node(ops::add{}, {h, b1}, {hb}, "bias1");
    g.add_node(act_op, {hb}, {a}, "act");
    g.add_node(ops::matmul{}, {a, w2}, {y}, "mm2");
    g.mark_output(y);
    validate(g);
    const auto rep = quant::quantize_dynamic(g);
    REQUIRE(rep.changes == 2);
    const auto in = test_random({6, 40}, 4, 2.0f);
    const auto standard = run(g, in);
    auto fused = g;
    REQUIRE(quant::fuse_dynamic_linear(fused) == 2);
    std::size_t nodes = 0, with_act = 0;
    for (auto n : fused.nodes()) {
      ++nodes;
      if (const auto* dl = fused.op_as<ops::dynamic_linear>(n)) with_act += dl->activation == act ? 1 : 0;
    }
    CHECK(nodes == 2);  // two DynamicLinear, the activation inside the first
    CHECK(with_act == 1);
    const auto y1 = run(fused, in);
    // Same quantized arithmetic; only the activation's evaluation differs (epilogue vs the runtime's op).
    CHECK(rel_l2(y1, standard) < 1e-5);
    const auto file = temp_dir() / ("dl_" + act + ".onnx");
    io::save_onnx(fused, file);
    const auto back = io::load_onnx<quant::quant_op_set>(file);
    std::size_t back_act = 0;
    for (auto n : back.nodes())
      if (const auto* dl = back.op_as<ops::dynamic_linear>(n)) back_act += dl->activation == act ? 1 : 0;
    CHECK(back_act == 1);
    CHECK(rel_l2(run(back, in), y1) == 0.0);
  }
}

TEST_CASE("StaticLinear absorbs a following Gelu (erf form) and still requantizes: same outputs, saved and reloaded") {
  // input [16, 40] -> MatMul W1 [40, 56] + bias -> Gelu -> MatMul W2 [56, 10] -> logits, calibrated on other data.
  // The tanh form stays a separate op (the epilogue computes the erf form only).
  for (const std::string approximate : {"none", "tanh"}) {
    INFO(approximate);
    basic_computation_graph<quant::quant_op_set> g;
    const auto x = g.add_input("input", dtype::f32, {"batch", 40});
    const auto w1 = g.add_initializer("w1", test_random({40, 56}, 11, 0.3f));
    const auto b1 = g.add_initializer("b1", test_random({56}, 12, 0.5f));
    const auto w2 = g.add_initializer("w2", test_random({56, 10}, 13, 0.3f));
    const auto h = g.add_value("h"), hb = g.add_value("hb"), a = g.add_value("a"), y = g.add_value("logits");
    g.add_node(ops::matmul{}, {x, w1}, {h}, "mm1");
    g.add_node(ops::add{}, {h, b1}, {hb}, "bias1");
    g.add_node(ops::gelu{approximate}, {hb}, {a}, "gelu");
    g.add_node(ops::matmul{}, {a, w2}, {y}, "mm2");
    g.mark_output(y);
    validate(g);
    std::vector<named_tensors> calib;
    for (std::uint32_t i = 0; i < 4; ++i) calib.push_back({{"input", test_random({16, 40}, 20 + i, 2.0f)}});
    (void)quant::quantize_static(g, calib);
    const auto in = test_random({16, 40}, 30, 2.0f);
    const auto qdq = run(g, in);
    auto fused = g;
    REQUIRE(quant::fuse_static_linear(fused) == 2);
    std::size_t gelus = 0, separate_gelu = 0, requantized_gelu = 0;
    for (auto n : fused.nodes()) {
      separate_gelu += fused.op_as<ops::gelu>(n) ? 1 : 0;
      if (const auto* sl = fused.op_as<ops::static_linear>(n)) {
        gelus += sl->gelu == 1 ? 1 : 0;
        requantized_gelu += sl->gelu == 1 && fused.inputs(n).size() == 8 ? 1 : 0;
      }
    }
    const bool erf = approximate == "none";
    CHECK(gelus == (erf ? 1u : 0u));
    CHECK(separate_gelu == (erf ? 0u : 1u));
    CHECK(requantized_gelu == gelus);  // the Gelu's QuantizeLinear moved into the epilogue too: u8 to the next layer
    const auto y1 = run(fused, in);
    // Same integers; the epilogue's GELU and x * (1 / s) may put a value at a rounding tie one step away.
    CHECK(rel_l2(y1, qdq) < 5e-3);
    const auto file = temp_dir() / ("sl_gelu_" + approximate + ".onnx");
    io::save_onnx(fused, file);
    const auto back = io::load_onnx<quant::quant_op_set>(file);
    std::size_t back_gelu = 0;
    for (auto n : back.nodes())
      if (const auto* sl = back.op_as<ops::static_linear>(n)) back_gelu += sl->gelu == 1 ? 1 : 0;
    CHECK(back_gelu == gelus);
    CHECK(rel_l2(run(back, in), y1) == 0.0);
  }
}

TEST_CASE("StaticLinear: QDQ layers run on the int8 GEMM, chains stay in int8, outputs match the QDQ graph") {
  for (const auto& f : static_fixtures) {
    INFO(f.file);
    auto g = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
    const auto rep = quant::quantize_static(g, calibration_batches(f));
    const auto x = f.x();
    const auto qdq = run(g, x);
    auto fused = g;
    const std::size_t n = quant::fuse_static_linear(fused);
    std::size_t sl = 0, requantized = 0, float_matmuls = 0;
    for (auto node : fused.nodes()) {
      if (fused.op_as<ops::static_linear>(node)) {
        ++sl;
        requantized += fused.inputs(node).size() == 8 ? 1 : 0;
      }
      float_matmuls += fused.op_as<ops::matmul>(node) || fused.op_as<ops::gemm>(node) ? 1 : 0;
    }
    CHECK(sl == n);
    CHECK(n > 0);
    validate(fused);
    // Every quantized MatMul/Gemm is fused (the CNN keeps its Conv layers in QDQ form).
    std::size_t layers = 0;
    for (auto node : g.nodes()) layers += g.op_as<ops::matmul>(node) || g.op_as<ops::gemm>(node) ? 1 : 0;
    CHECK(float_matmuls == layers - n);
    const auto y = run(fused, x);
    const double rel = rel_l2(y, qdq);
    std::printf("%-28s StaticLinear x%zu (%zu requantized in the epilogue) vs QDQ graph rel L2 %.2e, accuracy %.4f (QDQ %.4f)\n",
                f.file.c_str(), n, requantized, rel, accuracy(y, f.y()), accuracy(qdq, f.y()));
    // Same integer arithmetic; what differs is float rounding of the dequantized sum and, in requantizing
    // epilogues, x * (1 / s) against x / s at rounding ties: a few values one quantization step apart.
    CHECK(rel < 5e-3);
    CHECK(accuracy(y, f.y()) >= accuracy(qdq, f.y()) - 0.003);
    (void)rep;
  }
  SECTION("the MLP's hidden layers hand u8 to each other") {
    const fixture f{"digits_mlp", "digits_mlp.opset17.onnx"};
    auto g = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
    (void)quant::quantize_static(g, calibration_batches(f));
    (void)quant::fuse_static_linear(g);
    std::size_t u8_links = 0;
    for (auto node : g.nodes())
      if (g.op_as<ops::static_linear>(node) && g.inputs(node).size() == 8)
        for (auto user : g.consumers_of(g.outputs(node)[0])) u8_links += g.op_as<ops::static_linear>(user) ? 1 : 0;
    CHECK(u8_links >= 1);
  }
}

TEST_CASE("StaticLinear: closed-form values, requantization, and bad inputs name the node") {
  // y[m][n] = sum_k (q[m][k] - 3) * 0.5 * w[k][n] * ws[n] + b[n], q = round(x / 0.5) + 3
  basic_computation_graph<quant::quant_op_set> g;
  const auto x = g.add_input("input", dtype::f32, {2, 3});
  auto c = [&](const char* name, dynamic_tensor t) { return g.add_initializer(name, std::move(t)); };
  const auto xs = c("xs", dynamic_tensor::scalar(0.5f));
  const auto xz = c("xz", dynamic_tensor::scalar(std::uint8_t{3}));
  const auto xs2 = c("xs2", dynamic_tensor::scalar(0.5f));  // the op's own copy (the bad-input case edits it)
  const auto w = c("w", dynamic_tensor::from<std::int8_t>({3, 2}, {1, -2, 3, 4, -128, 127}));
  const auto ws = c("ws", dynamic_tensor::from<float>({2}, {0.25f, 2.0f}));
  const auto b = c("b", dynamic_tensor::from<float>({2}, {1.0f, -1.0f}));
  const auto q = g.add_value("q"), y = g.add_value("logits");
  g.add_node(ops::quantize_linear{}, {x, xs, xz}, {q}, "quantize");
  g.add_node(ops::static_linear{}, {q, xs2, xz, w, ws, b}, {y}, "linear");
  g.mark_output(y);
  const auto in = dynamic_tensor::from<float>({2, 3}, {1.0f, -1.5f, 0.5f, 2.0f, 0.0f, -0.5f});
  const auto out = run(g, in);
  const std::int32_t qx[2][3] = {{2 + 3, -3 + 3, 1 + 3}, {4 + 3, 0 + 3, -1 + 3}};
  const std::int32_t wv[3][2] = {{1, -2}, {3, 4}, {-128, 127}};
  const float wsv[2] = {0.25f, 2.0f}, bv[2] = {1.0f, -1.0f};
  for (int m = 0; m < 2; ++m)
    for (int n = 0; n < 2; ++n) {
      std::int32_t acc = 0;
      for (int k = 0; k < 3; ++k) acc += (qx[m][k] - 3) * wv[k][n];
      CHECK(out.span<float>()[static_cast<std::size_t>(m * 2 + n)] == Approx(acc * 0.5f * wsv[n] + bv[n]).epsilon(1e-6));
    }

  // Requantized with ReLU: saturate(round(max(v, 0) / 4) + 10) as u8.
  auto rq = g;
  const auto ys = rq.add_initializer("ys", dynamic_tensor::scalar(4.0f));
  const auto yz = rq.add_initializer("yz", dynamic_tensor::scalar(std::uint8_t{10}));
  node_id lin;
  for (auto n : rq.nodes())
    if (rq.op_as<ops::static_linear>(n)) lin = n;
  const auto yv = rq.outputs(lin)[0];
  rq.erase_node(lin);
  rq.add_node(ops::static_linear{0, 1}, {q, xs2, xz, w, ws, b, ys, yz}, {yv}, "linear_rq");
  const auto outq = run(rq, in);
  REQUIRE(outq.type() == dtype::u8);
  for (std::size_t i = 0; i < 4; ++i)
    CHECK(outq.span<std::uint8_t>()[i] == static_cast<std::uint8_t>(std::nearbyint(std::max(out.span<float>()[i], 0.0f) / 4.0f) + 10));

  // Bad inputs: f32 activations, wrong K, a zero scale -> runtime errors naming the node, never garbage.
  auto bad_w = g;
  bad_w.at(bad_w.value_of("w")).initializer = dynamic_tensor::from<std::int8_t>({4, 2}, std::vector<std::int8_t>(8, 1));
  CHECK_THROWS_WITH(run(bad_w, in), Catch::Contains("K") && Catch::Contains("linear"));
  auto bad_s = g;
  bad_s.at(bad_s.value_of("xs2")).initializer = dynamic_tensor::scalar(0.0f);
  CHECK_THROWS_WITH(run(bad_s, in), Catch::Contains("x_scale"));
  auto both = g;  // relu and gelu together is not an activation
  for (auto n : both.nodes())
    if (auto* sl = both.op_as<ops::static_linear>(n)) sl->relu = 1, sl->gelu = 1;
  CHECK_THROWS_WITH(run(both, in), Catch::Contains("relu and gelu") && Catch::Contains("linear"));
}

TEST_CASE("dynamic int8 after optimize(extended): layers with a fused ReLU are quantized too, same outputs") {
  const fixture f{"digits_mlp", "digits_mlp.opset17.onnx"};
  auto plain = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
  const auto plain_rep = quant::quantize_dynamic(plain);
  auto g = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
  g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
  std::size_t fused_relu = 0;
  for (auto n : g.nodes())
    if (const auto* gm = g.op_as<ops::gemm>(n); gm && gm->act.kind == ops::activation_kind::relu) ++fused_relu;
  REQUIRE(fused_relu == 2);
  const auto rep = quant::quantize_dynamic(g);
  CHECK(rep.changes == plain_rep.changes);
  CHECK(rep.changes == 3);
  for (const auto& note : rep.notes) CHECK(note.find("kept fp32") == std::string::npos);
  validate(g);
  const auto x = f.x();
  // The optimizer changed only where the ReLU lives, not the arithmetic: identical outputs.
  CHECK(rel_l2(run(g, x), run(plain, x)) < 1e-6);
  auto fused = g;
  CHECK(quant::fuse_dynamic_linear(fused) == 3);
  CHECK(accuracy(run(fused, x), f.y()) >= accuracy(f.fp32(), f.y()) - 0.003);
}

TEST_CASE("weight-only kernel in the runtime: layers with a fused ReLU run on it, outputs match the f32 path") {
  const fixture f{"digits_mlp", "digits_mlp.opset17.onnx"};
  auto g = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
  g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
  quant::weight_only_config cfg;
  cfg.layers.scheme = quant::scheme_of<per_group<1, 32>, s4x2>();
  (void)quant::quantize_weights(g, cfg);
  runtime::plan_options on, off;
  on.weight_only_kernel = true;
  off.weight_only_kernel = false;
  basic_session<quant::quant_op_set> fast(g, on), slow(g, off);
  std::size_t on_kernel = 0, relu_on_kernel = 0;
  for (const auto& st : fast.plan()->steps)
    if (st.weight_only) {
      ++on_kernel;
      relu_on_kernel += st.weight_only->relu ? 1 : 0;
    }
  CHECK(on_kernel == 3);
  CHECK(relu_on_kernel == 2);
  const named_tensors feeds{{"input", f.x()}};
  const auto y_fast = fast.run(feeds)[0], y_slow = slow.run(feeds)[0];
  const double rel = rel_l2(y_fast, y_slow);
  std::printf("%-28s int4 g32 weight-only kernel (fused ReLU) vs f32 dequantized path rel L2 %.2e\n", f.file.c_str(), rel);
  CHECK(rel < 1e-4);
  // Without the ReLU after the kernel the hidden layers would differ wholesale: rel above is the check.
  CHECK(accuracy(y_fast, f.y()) == accuracy(y_slow, f.y()));
  for (const auto& st : fast.plan()->steps)
    if (st.weight_only) CHECK_FALSE(st.weight_only->packed.half_header());  // f32 scales: f32 headers

  // The same model with f16 scales: the kernel packs f16 headers (fewer bytes), outputs still match the f32 path.
  auto g16 = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
  g16 |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
  cfg.layers.scheme.f16_scales = true;
  (void)quant::quantize_weights(g16, cfg);
  basic_session<quant::quant_op_set> fast16(g16, on), slow16(g16, off);
  std::size_t half_headers = 0;
  for (const auto& st : fast16.plan()->steps)
    if (st.weight_only) half_headers += st.weight_only->packed.half_header() ? 1 : 0;
  CHECK(half_headers == 3);
  const auto y_fast16 = fast16.run(feeds)[0], y_slow16 = slow16.run(feeds)[0];
  CHECK(rel_l2(y_fast16, y_slow16) < 1e-4);
  CHECK(rel_l2(y_slow16, y_slow) < 1e-2);  // the scales moved by at most 2^-10 relative
}

TEST_CASE("bf16 weights in the runtime: MatMul / Gemm run on the bf16 GEMM where the CPU has AVX-512 BF16") {
  for (const fixture& f : {fixture{"digits_mlp", "digits_mlp.opset17.onnx"}, fixture{"tiny_encoder", "tiny_encoder.opset17.onnx"}}) {
    INFO(f.file);
    auto g = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
    g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
    g |= passes::quantize_weights_as<bf16>();
    runtime::plan_options on, off;
    on.bf16_dot_products = true;
    off.bf16_dot_products = false;
    basic_session<quant::quant_op_set> fast(g, on), slow(g, off);
    std::size_t on_kernel = 0, relu_on_kernel = 0, casts = 0, casts_fast = 0;
    for (const auto& st : fast.plan()->steps) {
      if (st.bf16) ++on_kernel, relu_on_kernel += st.bf16->relu ? 1 : 0;
      if (std::holds_alternative<ops::cast>(st.op)) ++casts_fast;
    }
    for (const auto& st : slow.plan()->steps) {
      CHECK_FALSE(st.bf16);
      if (std::holds_alternative<ops::cast>(st.op)) ++casts;
    }
    const named_tensors feeds{{fast.input_names().at(0), f.x()}};
    const auto y_fast = fast.run(feeds)[0], y_slow = slow.run(feeds)[0];
    const double rel = rel_l2(y_fast, y_slow), rel_fp32 = rel_l2(y_fast, f.fp32()), rel_slow = rel_l2(y_slow, f.fp32());
    if (!kernels::bf16_dot_native()) {
      WARN("this CPU has no AVX-512 BF16: bf16 weights run on the f32 path");
      CHECK(on_kernel == 0);
      CHECK(y_fast == y_slow);
      continue;
    }
    std::printf("%-28s bf16 weights: %zu of %zu Cast steps replaced by the bf16 GEMM; rel L2 vs the f32 path %.2e, "
                "vs fp32 %.2e (f32 path %.2e); acc %.4f (f32 path %.4f)\n",
                f.file.c_str(), casts - casts_fast, casts, rel, rel_fp32, rel_slow, accuracy(y_fast, f.y()), accuracy(y_slow, f.y()));
    CHECK(on_kernel == casts);  // every bf16 weight feeds a MatMul / Gemm the kernel takes
    CHECK(casts_fast == 0);
    if (f.model == "digits_mlp") CHECK(relu_on_kernel == 2);
    // A rounded to bf16 adds about as much error as the bf16 weights did: same order, same accuracy.
    CHECK(rel < 1e-2);
    CHECK(rel_fp32 < 2 * rel_slow + 2e-3);
    CHECK(accuracy(y_fast, f.y()) == Approx(accuracy(y_slow, f.y())).margin(0.0056));
    // The ISA forced below AVX-512 after the session was built: the same plan runs the portable loop, same sums.
    REQUIRE(kernels::force_isa(kernels::isa::avx2) == kernels::status::ok);
    const auto y_portable = fast.run(feeds)[0];
    (void)kernels::force_isa(std::nullopt);
    CHECK(rel_l2(y_portable, y_fast) < 1e-6);
    // An input one feature short: a bigmodel::error (never a read past the row), with the bf16 steps in the plan.
    const auto& x = f.x();
    shape_t bad_shape = x.shape();
    bad_shape.back() -= 1;
    const named_tensors bad{{fast.input_names().at(0), dynamic_tensor(dtype::f32, bad_shape)}};
    CHECK_THROWS_AS(fast.run(bad), bigmodel::error);
  }
}

TEST_CASE("StaticConv: the CNN's QDQ Conv layers run on the int8 GEMM, outputs match the QDQ graph, saved and reloaded") {
  const fixture f{"digits_cnn", "digits_cnn.opset17.onnx"};
  auto g = io::load_onnx<quant::quant_op_set>(f.dir() / f.file);
  (void)quant::quantize_static(g, calibration_batches(f));
  std::size_t convs = 0;
  for (auto node : g.nodes()) convs += g.op_as<ops::conv>(node) ? 1 : 0;
  REQUIRE(convs == 2);
  const auto x = f.x();
  const auto qdq = run(g, x);
  auto fused = g;
  CHECK(quant::fuse_static_conv(fused) == convs);
  std::size_t left = 0, sc = 0;
  for (auto node : fused.nodes()) {
    left += fused.op_as<ops::conv>(node) ? 1 : 0;
    sc += fused.op_as<ops::static_conv>(node) ? 1 : 0;
  }
  CHECK(left == 0);
  CHECK(sc == convs);
  // The MaxPool between the two layers runs on the first one's requantized u8 result (the QuantizeLinear after
  // the pool moved into that layer's epilogue).
  std::size_t u8_pools = 0;
  for (auto node : fused.nodes())
    if (fused.op_as<ops::max_pool>(node)) {
      const node_id from = fused.producer(fused.inputs(node)[0]);
      u8_pools += from.valid() && fused.op_as<ops::static_conv>(from) && fused.inputs(from).size() == 8 ? 1 : 0;
    }
  CHECK(u8_pools == 1);
  validate(fused);
  const auto y = run(fused, x);
  const double rel = rel_l2(y, qdq);
  std::printf("%-28s StaticConv x%zu vs QDQ graph rel L2 %.2e, accuracy %.4f (QDQ %.4f)\n", f.file.c_str(), sc, rel,
              accuracy(y, f.y()), accuracy(qdq, f.y()));
  // Same integer sums; the f32 emulation rounds each product and partial sum in float.
  CHECK(rel < 1e-3);
  CHECK(accuracy(y, f.y()) >= accuracy(qdq, f.y()) - 0.003);
  // With the Linear layers fused too (what use_fast_paths does before a session runs a static int8 file).
  auto all = g;
  const auto counts = quant::use_fast_paths(all);
  CHECK(counts.static_conv == convs);
  CHECK(counts.static_linear > 0);
  CHECK(accuracy(run(all, x), f.y()) >= accuracy(qdq, f.y()) - 0.003);
  // The fused op round-trips through a file (com.bigmodel domain) and packs its weights again on load.
  const auto file = temp_dir() / "cnn_static_conv.onnx";
  io::save_onnx(fused, file);
  const auto back = io::load_onnx<quant::quant_op_set>(file);
  std::size_t back_sc = 0;
  for (auto node : back.nodes()) back_sc += back.op_as<ops::static_conv>(node) ? 1 : 0;
  CHECK(back_sc == convs);
  CHECK(rel_l2(run(back, x), y) == 0.0);
}

TEST_CASE("StaticConv: groups, pads, strides, dilations, auto_pad, bias, ReLU and requantization match the QDQ graph") {
  // input [2, 4, 9, 7] -> Conv A (+ bias) -> Relu -> Conv B -> logits, calibrated on other inputs; Conv A's
  // result reaches Conv B through a QuantizeLinear, which moves into Conv A's epilogue (u8 between the two).
  struct geometry {
    const char* name;
    std::int64_t out_a, group_a, k_a;
    ops::ints pads_a, strides_a, dilations_a;
    std::string auto_pad_a;
    std::int64_t group_b, k_b;
    ops::ints pads_b, strides_b, dilations_b;
  };
  const geometry cases[] = {
      {"3x3 pad 1, then grouped 3x3 stride 2 dilation 2", 6, 1, 3, {1, 1, 1, 1}, {}, {}, "NOTSET", 2, 3, {0, 1, 2, 1}, {2, 2}, {2, 2}},
      {"depthwise 3x3 SAME_UPPER stride 2, then 1x1", 8, 4, 3, {}, {2, 2}, {}, "SAME_UPPER", 1, 1, {}, {}, {}},
      {"2x2 stride (1, 2) asymmetric pads, then 3x3 groups 2", 4, 2, 2, {0, 1, 1, 0}, {1, 2}, {}, "NOTSET", 2, 3, {1, 1, 1, 1}, {}, {}},
  };
  for (const auto& gc : cases) {
    INFO(gc.name);
    basic_computation_graph<quant::quant_op_set> g;
    const auto x = g.add_input("input", dtype::f32, {"batch", 4, 9, 7});
    const auto wa = g.add_initializer("wa", test_random({gc.out_a, 4 / gc.group_a, gc.k_a, gc.k_a}, 41, 0.4f));
    const auto ba = g.add_initializer("ba", test_random({gc.out_a}, 42, 0.3f));
    const auto wb = g.add_initializer("wb", test_random({6, gc.out_a / gc.group_b, gc.k_b, gc.k_b}, 43, 0.4f));
    const auto h = g.add_value("h"), r = g.add_value("r"), y = g.add_value("logits");
    ops::conv a;
    a.group = gc.group_a, a.pads = gc.pads_a, a.strides = gc.strides_a, a.dilations = gc.dilations_a, a.auto_pad = gc.auto_pad_a;
    ops::conv b;
    b.group = gc.group_b, b.pads = gc.pads_b, b.strides = gc.strides_b, b.dilations = gc.dilations_b;
    g.add_node(a, {x, wa, ba}, {h}, "conv_a");
    g.add_node(ops::relu{}, {h}, {r}, "relu_a");
    g.add_node(b, {r, wb}, {y}, "conv_b");
    g.mark_output(y);
    validate(g);
    std::vector<named_tensors> calib;
    for (std::uint32_t i = 0; i < 4; ++i) calib.push_back({{"input", test_random({2, 4, 9, 7}, 50 + i, 2.0f)}});
    (void)quant::quantize_static(g, calib);
    const auto in = test_random({2, 4, 9, 7}, 60, 2.0f);
    const auto qdq = run(g, in);
    auto fused = g;
    REQUIRE(quant::fuse_static_conv(fused) == 2);
    std::size_t relu_in_op = 0, requantized = 0;
    for (auto n : fused.nodes())
      if (const auto* sc = fused.op_as<ops::static_conv>(n)) {
        relu_in_op += sc->relu == 1 ? 1 : 0;
        requantized += fused.inputs(n).size() == 8 ? 1 : 0;
      }
    CHECK(relu_in_op == 1);
    CHECK(requantized == 1);
    validate(fused);
    const auto y1 = run(fused, in);
    REQUIRE(y1.shape() == qdq.shape());
    // Same integers; the requantizing epilogue's x * (1 / s) may put a value at a rounding tie one step away.
    CHECK(rel_l2(y1, qdq) < 5e-3);
    // Without the epilogue's requantization: the f32 StaticConv result against the QDQ graph's f32 Conv.
    auto plain = g;
    plain.mark_output(plain.value_of("r"));
    auto plain_fused = plain;
    REQUIRE(quant::fuse_static_conv(plain_fused) == 2);
    basic_session<quant::quant_op_set> s_ref(plain), s_fused(plain_fused);
    const auto r_ref = s_ref.run({{"input", in}})["r"], r_fused = s_fused.run({{"input", in}})["r"];
    CHECK(rel_l2(r_fused, r_ref) < 1e-5);
  }
}

TEST_CASE("StaticConv: a MaxPool between two layers runs on u8, the same values as pooling then quantizing") {
  // input [2, 3, 10, 9] -> Conv A -> Relu -> MaxPool (3x3, stride 2, pad 1) -> Conv B -> logits. After fusing,
  // Conv A requantizes and the pool reads u8: max commutes with the monotonic quantization.
  basic_computation_graph<quant::quant_op_set> g;
  const auto x = g.add_input("input", dtype::f32, {"batch", 3, 10, 9});
  const auto wa = g.add_initializer("wa", test_random({5, 3, 3, 3}, 81, 0.4f));
  const auto wb = g.add_initializer("wb", test_random({4, 5, 2, 2}, 82, 0.4f));
  const auto h = g.add_value("h"), r = g.add_value("r"), p = g.add_value("pooled"), y = g.add_value("logits");
  ops::conv a;
  a.pads = {1, 1, 1, 1};
  ops::max_pool mp;
  mp.kernel_shape = {3, 3}, mp.strides = {2, 2}, mp.pads = {1, 1, 1, 1};
  g.add_node(a, {x, wa}, {h}, "conv_a");
  g.add_node(ops::relu{}, {h}, {r}, "relu_a");
  g.add_node(mp, {r}, {p}, "pool");
  g.add_node(ops::conv{}, {p, wb}, {y}, "conv_b");
  g.mark_output(y);
  std::vector<named_tensors> calib;
  for (std::uint32_t i = 0; i < 4; ++i) calib.push_back({{"input", test_random({2, 3, 10, 9}, 90 + i, 2.0f)}});
  (void)quant::quantize_static(g, calib);
  // The QDQ graph: the pool's result is quantized by a QuantizeLinear that the next layer's DequantizeLinear reads.
  value_id pooled_q;
  for (auto n : g.nodes())
    if (g.op_as<ops::quantize_linear>(n) && g.inputs(n)[0] == g.value_of("pooled")) pooled_q = g.outputs(n)[0];
  REQUIRE(pooled_q.valid());
  const std::string pooled_q_name = g.name_of(pooled_q);
  auto fused = g;
  REQUIRE(quant::fuse_static_conv(fused) == 2);
  validate(fused);
  const node_id pool = fused.producer(fused.value_of(pooled_q_name));
  REQUIRE(pool.valid());
  REQUIRE(fused.op_as<ops::max_pool>(pool));
  const node_id conv_a = fused.producer(fused.inputs(pool)[0]);
  REQUIRE(conv_a.valid());
  CHECK(fused.op_as<ops::static_conv>(conv_a));
  CHECK(fused.inputs(conv_a).size() == 8);  // requantizing epilogue
  // The pool's u8 result against the QDQ graph's QuantizeLinear(MaxPool(f32)): the same integers up to the
  // epilogue's rounding ties (one step, rarely).
  auto g_out = g, f_out = fused;
  g_out.mark_output(g_out.value_of(pooled_q_name));
  f_out.mark_output(f_out.value_of(pooled_q_name));
  const auto in = test_random({2, 3, 10, 9}, 99, 2.0f);
  basic_session<quant::quant_op_set> s_ref(g_out), s_fused(f_out);
  auto r_ref = s_ref.run({{"input", in}}), r_fused = s_fused.run({{"input", in}});
  const auto want = r_ref[pooled_q_name], got = r_fused[pooled_q_name];
  REQUIRE(got.type() == dtype::u8);
  REQUIRE(got.shape() == want.shape());
  std::size_t off = 0, varied = 0;
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    const int a = got.span<std::uint8_t>()[static_cast<std::size_t>(i)], b = want.span<std::uint8_t>()[static_cast<std::size_t>(i)];
    CHECK(std::abs(a - b) <= 1);
    off += a != b ? 1 : 0;
    varied += b != want.span<std::uint8_t>()[0] ? 1 : 0;
  }
  CHECK(off * 50 <= static_cast<std::size_t>(got.numel()));
  CHECK(varied > static_cast<std::size_t>(got.numel()) / 4);  // not a constant tensor
  CHECK(rel_l2(r_fused["logits"], r_ref["logits"]) < 5e-3);
}

TEST_CASE("StaticConv: bad inputs are errors naming the node") {
  basic_computation_graph<quant::quant_op_set> g;
  const auto x = g.add_input("input", dtype::f32, {1, 2, 5, 5});
  const auto w = g.add_initializer("w", test_random({3, 2, 3, 3}, 70, 0.5f));
  const auto y = g.add_value("logits");
  g.add_node(ops::conv{}, {x, w}, {y}, "conv");
  g.mark_output(y);
  (void)quant::quantize_static(g, {{{"input", test_random({1, 2, 5, 5}, 71, 1.0f)}}});
  REQUIRE(quant::fuse_static_conv(g) == 1);
  const auto in = test_random({1, 2, 5, 5}, 72, 1.0f);
  CHECK(run(g, in).shape() == shape_t{1, 3, 3, 3});  // no padding: 5 - 3 + 1
  node_id conv;
  for (auto n : g.nodes())
    if (g.op_as<ops::static_conv>(n)) conv = n;
  REQUIRE(conv.valid());
  auto bad_group = g;
  bad_group.op_as<ops::static_conv>(conv)->group = 2;  // 3 output channels cannot make 2 groups
  CHECK_THROWS_WITH(run(bad_group, in), Catch::Contains("channels") && Catch::Contains("conv"));
  // Hostile attributes from a file: a zero stride (would divide by zero), a 1-D stride list.
  for (const ops::ints& strides : {ops::ints{0, 0}, ops::ints{1}}) {
    auto bad_stride = g;
    bad_stride.op_as<ops::static_conv>(conv)->strides = strides;
    CHECK_THROWS_WITH(run(bad_stride, in), Catch::Contains("strides") && Catch::Contains("conv"));
  }
  auto bad_pads = g;
  bad_pads.op_as<ops::static_conv>(conv)->pads = {0, -1, 0, 0};
  CHECK_THROWS_WITH(run(bad_pads, in), Catch::Contains("pads must not be negative") && Catch::Contains("conv"));
  // The op's inputs replaced one at a time: a negative x_scale, f32 activations.
  auto with_input = [&](std::size_t i, value_id v) {
    auto h = g;
    auto ins = h.inputs(conv);
    const auto op = *h.op_as<ops::static_conv>(conv);
    const auto out = h.outputs(conv)[0];
    ins[i] = v == value_id{} ? h.add_initializer("bad_x_scale", dynamic_tensor::scalar(-1.0f)) : v;
    h.erase_node(conv);
    h.add_node(op, ins, {out}, "conv_bad");
    return h;
  };
  CHECK_THROWS_WITH(run(with_input(1, value_id{}), in), Catch::Contains("x_scale") && Catch::Contains("conv_bad"));
  CHECK_THROWS_WITH(run(with_input(0, g.value_of("input")), in), Catch::Contains("u8") && Catch::Contains("conv_bad"));
}
