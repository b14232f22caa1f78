// optimize() presets on every fixture model: the op histogram it must reach, and outputs equal to the
// unoptimized graph's through the runtime (relative 1e-5), checked after every pass by the pipeline.
#include <catch2/catch.hpp>

#include <cstdio>

#include "passes_test_util.hpp"

using namespace bigmodel;
using namespace passes_test;

namespace {

struct optimized {
  computation_graph before, after;
  passes::pipeline_report report;
  double error = 0;
};

optimized optimize_fixture(const std::string& model, const std::string& file, passes::level lv) {
  const auto dir = fixtures() / model;
  optimized o;
  o.before = io::load_onnx(dir / file);
  o.after = o.before;
  const named_tensors feeds{{"input", load_rows(dir / "x_test.npy", 48)}};
  auto check = runtime::output_check(o.before, feeds);
  o.report = passes::optimize(lv, runtime::kernel_evaluator{}).run(o.after, {.verify = true, .fixed_point = true}, check);
  o.error = check(o.after);
  if (std::getenv("BIGMODEL_PRINT_HISTOGRAMS"))
    std::printf("%-28s level %d  error %.2e\n  before: %s\n  after:  %s\n", file.c_str(), static_cast<int>(lv), o.error,
                to_string(histogram(o.before)).c_str(), to_string(histogram(o.after)).c_str());
  return o;
}

}  // namespace

TEST_CASE("digits_mlp: activations fused into the Gemms", "[passes][fixtures]") {
  for (const char* f : {"digits_mlp.opset13.onnx", "digits_mlp.opset17.onnx"}) {
    auto o = optimize_fixture("digits_mlp", f, passes::level::extended);
    CHECK(o.error <= 1e-5);
    CHECK(histogram(o.before) == passes::op_histogram{{"Gemm", 3}, {"Relu", 2}});
    CHECK(histogram(o.after) == passes::op_histogram{{"Gemm", 3}});
  }
}

TEST_CASE("digits_cnn and digits_cnn_bn: BatchNormalization folded, Relu fused into Conv", "[passes][fixtures]") {
  for (const char* f : {"digits_cnn.opset13.onnx", "digits_cnn.opset17.onnx", "digits_cnn_bn.opset13.onnx", "digits_cnn_bn.opset17.onnx"}) {
    auto o = optimize_fixture("digits_cnn", f, passes::level::extended);
    CHECK(o.error <= 1e-5);
    const auto h = histogram(o.after);
    CHECK(count(o.after, "BatchNormalization") == 0);
    CHECK(count(o.after, "Relu") == 0);
    CHECK(count(o.after, "Conv") == 2);
    CHECK(count(o.after, "Gemm") == 1);
    CHECK(count(o.after, "MaxPool") == 1);
  }
  // basic level folds BN but keeps the Relus
  auto b = optimize_fixture("digits_cnn", "digits_cnn_bn.opset13.onnx", passes::level::basic);
  CHECK(count(b.before, "BatchNormalization") == 2);
  CHECK(count(b.after, "BatchNormalization") == 0);
  CHECK(count(b.after, "Relu") == 2);
  CHECK(b.error <= 1e-5);
}

TEST_CASE("tiny_encoder opset 13: LayerNorm, GELU and attention fused, shape chains folded", "[passes][fixtures]") {
  auto o = optimize_fixture("tiny_encoder", "tiny_encoder.opset13.onnx", passes::level::extended);
  CHECK(o.error <= 1e-5);
  CHECK(count(o.before, "ReduceMean") == 5);
  CHECK(count(o.after, "Erf") == 0);
  CHECK(count(o.after, "Softmax") == 0);
  // Both post-LN residual Adds join their LayerNorm (fuse_add_layer_norm).
  CHECK(count(o.after, "LayerNormalization") == 0);
  CHECK(count(o.after, "AddLayerNormalization") == 2);
  CHECK(count(o.after, "Gelu") == 1);
  CHECK(count(o.after, "Attention") == 1);
  CHECK(count(o.after, "Shape") == 0);
  CHECK(count(o.after, "Concat") == 0);
  // The one ReduceMean left is the model's mean pooling over the sequence axis, not part of a LayerNorm.
  CHECK(count(o.after, "ReduceMean") == 1);
  for (auto n : o.after.nodes())
    if (const auto* r = o.after.op_as<ops::reduce_mean>(n)) CHECK(r->axes == ops::ints{1});
}

TEST_CASE("tiny_encoder opset 17 (LayerNormalization exported): attention and GELU fused", "[passes][fixtures]") {
  auto o = optimize_fixture("tiny_encoder", "tiny_encoder.opset17.onnx", passes::level::extended);
  CHECK(o.error <= 1e-5);
  CHECK(count(o.after, "Erf") == 0);
  CHECK(count(o.after, "Softmax") == 0);
  CHECK(count(o.after, "Attention") == 1);
  CHECK(count(o.after, "AddLayerNormalization") == 2);
}

TEST_CASE("optimize reports every pass with its histogram change", "[passes][fixtures]") {
  auto o = optimize_fixture("tiny_encoder", "tiny_encoder.opset13.onnx", passes::level::extended);
  REQUIRE(!o.report.passes.empty());
  bool saw_layer_norm = false;
  for (const auto& p : o.report.passes)
    if (p.name == "fuse_layer_norm" && p.changes == 2) {
      saw_layer_norm = true;
      CHECK(p.op_delta().at("LayerNormalization") == 2);
      CHECK(p.op_delta().at("ReduceMean") == -4);
    }
  CHECK(saw_layer_norm);
  auto none = optimize_fixture("tiny_encoder", "tiny_encoder.opset13.onnx", passes::level::none);
  CHECK(histogram(none.after) == histogram(none.before));
}
