// Quantization on the fixture models (tests/fixtures, PyTorch-trained digits classifiers): accuracy and
// output error against fp32 and against PyTorch's own quantize_dynamic logits, save -> reload gives the
// same outputs, files shrink, and ONNX Runtime (when installed) computes what we compute.
#include "quantize_test_util.hpp"

using namespace bigmodel;
using namespace qtest;

namespace {

const fixture all_fixtures[] = {
    {"digits_mlp", "digits_mlp.opset17.onnx"},     {"digits_cnn", "digits_cnn.opset17.onnx"},
    {"digits_cnn", "digits_cnn_bn.opset13.onnx"},  {"tiny_encoder", "tiny_encoder.opset13.onnx"},
    {"tiny_encoder", "tiny_encoder.opset17.onnx"},
};

struct outcome {
  double acc = 0, acc_fp32 = 0, rel = 0;
  std::uintmax_t bytes = 0, bytes_fp32 = 0;
  dynamic_tensor logits;
};

// Quantizes with `pass`, checks the save/reload round trip and ONNX Runtime, returns the figures.
template <class Pass>
outcome quantize_and_check(const fixture& f, const std::string& tag, const Pass& pass) {
  auto g = f.load();
  g |= pass;
  validate(g);
  const auto x = f.x(), ref = f.fp32();
  outcome o;
  o.logits = run(g, x);
  o.acc = accuracy(o.logits, f.y());
  o.acc_fp32 = accuracy(ref, f.y());
  o.rel = rel_l2(o.logits, ref);
  const fs::path file = temp_dir() / (fs::path(f.file).stem().string() + "." + tag + ".onnx");
  io::save_onnx(g, file);
  o.bytes = fs::file_size(file);
  o.bytes_fp32 = fs::file_size(f.dir() / f.file);
  const auto reloaded = io::load_onnx(file);
  CHECK(run(reloaded, x) == o.logits);  // bit-identical after the round trip
  double ort_rel = -1;
  if (auto y_ort = run_ort(file, x)) {
    REQUIRE(y_ort->shape() == o.logits.shape());
    ort_rel = rel_l2(*y_ort, o.logits);
    const bool int8 = tag.rfind("dyn_int8", 0) == 0;
    if (!int8 || ort_dynamic_int8_exact()) {
      CHECK(ort_rel < 2e-3);
      CHECK(accuracy(*y_ort, f.y()) == Approx(o.acc).margin(0.0056));  // at most 2 of 360 samples differ
    } else {
      WARN(f.file << " " << tag << ": ONNX Runtime ran the file, its output not compared (rel L2 " << ort_rel
                  << "): without VNNI its int8 MatMul saturates (see ort_dynamic_int8_exact)");
    }
  }
  std::printf("%-28s %-16s acc %.4f (fp32 %.4f)  rel L2 vs fp32 %.5f  file %7ju B (fp32 %7ju B, %.2fx)  ORT rel L2 %s\n",
              f.file.c_str(), tag.c_str(), o.acc, o.acc_fp32, o.rel, o.bytes, o.bytes_fp32,
              double(o.bytes_fp32) / double(o.bytes), ort_rel < 0 ? "skipped" : std::to_string(ort_rel).c_str());
  return o;
}

}  // namespace

TEST_CASE("dynamic int8 per channel: within 0.3 points of fp32, error no worse than PyTorch's quantize_dynamic") {
  for (const auto& f : all_fixtures) {
    INFO(f.file);
    const auto o = quantize_and_check(f, "dyn_int8_pc", passes::quantize_dynamic());
    const auto torch = load_npy(f.dir() / "logits_dynamic_int8_per_channel.npy");
    const double torch_rel = rel_l2(torch, f.fp32());
    std::printf("%-28s PyTorch dynamic int8 per channel: acc %.4f rel L2 %.5f\n", f.file.c_str(), accuracy(torch, f.y()), torch_rel);
    CHECK(o.acc >= o.acc_fp32 - 0.003);
    CHECK(o.rel <= torch_rel);
  }
}

TEST_CASE("dynamic int8 per tensor: error no worse than PyTorch's per-tensor quantize_dynamic") {
  for (const auto& f : all_fixtures) {
    INFO(f.file);
    const auto o = quantize_and_check(f, "dyn_int8_pt", passes::quantize_dynamic<per_tensor>());
    const double torch_rel = rel_l2(load_npy(f.dir() / "logits_dynamic_int8_per_tensor.npy"), f.fp32());
    CHECK(o.acc >= o.acc_fp32 - 0.003);
    CHECK(o.rel <= torch_rel * 1.05);
  }
}

TEST_CASE("weight-only int8 per channel and int4 groups of 32") {
  for (const auto& f : all_fixtures) {
    INFO(f.file);
    const auto o8 = quantize_and_check(f, "w_int8_pc", passes::quantize_weights<per_channel<0>, std::int8_t>());
    CHECK(o8.acc >= o8.acc_fp32 - 0.003);
    CHECK(o8.rel < 0.02);
    quant::weight_only_config cfg;
    cfg.layers.scheme = quant::scheme_of<per_group<1, 32>, s4x2>();
    cfg.keep_indivisible_fp32 = true;  // as PyTorch's reference recipe: input dims not a multiple of 32 stay fp32
    const auto o4 = quantize_and_check(f, "w_int4_g32", passes::quantize_weights(cfg));
    CHECK(o4.acc >= o4.acc_fp32 - 0.01);
    CHECK(o4.rel < 0.1);
  }
}

TEST_CASE("fp16 and bf16 weights") {
  for (const auto& f : all_fixtures) {
    INFO(f.file);
    const auto h = quantize_and_check(f, "w_fp16", passes::quantize_weights_as<f16>());
    CHECK(h.rel < 1e-3);
    CHECK(h.acc == h.acc_fp32);
    const auto b = quantize_and_check(f, "w_bf16", passes::quantize_weights_as<bf16>());
    CHECK(b.rel < 1e-2);
  }
}
