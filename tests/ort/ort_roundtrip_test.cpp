// What bigmodel writes runs in ONNX Runtime, the independent runtime, with the same outputs as ours:
// every fixture loaded, optimized (extended preset, fused ops decomposed by save_onnx) and saved.
// Skipped with a message when onnxruntime-node is not installed (benchmarks/ort, npm install --ignore-scripts).
#include <bigmodel/passes.hpp>

#include "../quantize/quantize_test_util.hpp"

using namespace bigmodel;

TEST_CASE("optimized models saved by bigmodel run in ONNX Runtime with our outputs", "[ort][io]") {
  const std::pair<const char*, const char*> models[] = {{"digits_mlp", "digits_mlp.opset13.onnx"},
                                                       {"digits_cnn", "digits_cnn_bn.opset17.onnx"},
                                                       {"tiny_encoder", "tiny_encoder.opset13.onnx"},
                                                       {"tiny_encoder", "tiny_encoder.opset17.onnx"}};
  for (const auto& [dir, file] : models) {
    INFO(file);
    const auto fx = qtest::fixtures() / dir;
    auto g = io::load_onnx(fx / file);
    g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
    const auto out = qtest::temp_dir() / (std::string("ort_") + file);
    io::save_onnx(g, out);
    const auto x = qtest::load_npy(fx / "x_test.npy");
    session s(io::load_onnx(out));
    const auto ours = s.run({{"input", x}})[0];
    const auto ort = qtest::run_ort(out, x);
    if (!ort) return;  // skipped (WARN printed)
    const auto a = ours.span<float>(), b = ort->span<float>();
    REQUIRE(a.size() == b.size());
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    }
    CHECK(diff / scale < 1e-4);
  }
}
