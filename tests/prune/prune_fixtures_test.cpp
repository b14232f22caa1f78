// Our masks equal the ones torch.nn.utils.prune (and the fixture script's numpy references for 2:4 and
// Wanda) computed on the same trained weights. Fixtures: tests/fixtures/<model>/masks, made by
// tests/fixtures/make_fixtures.py.
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/prune.hpp>
#include <bigmodel/runtime/calibration.hpp>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

using namespace bigmodel;
namespace fs = std::filesystem;

namespace {
fs::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  REQUIRE(src != nullptr);
  return fs::path(src) / "tests" / "fixtures";
}

struct layer {
  std::string file_tag;   // the mask file's layer part
  std::string onnx_name;  // the initializer
  bool transposed;        // fixture mask stored [in, out]
};

// Mismatches between our [out, in] mask and the fixture's mask in ONNX layout.
std::size_t mismatches(const prune::mask& ours, const io::npy_array& ref, bool transposed) {
  const auto v = ref.to_vector<std::uint8_t>();
  REQUIRE(v.size() == ours.size());
  std::size_t bad = 0;
  for (std::size_t o = 0; o < ours.extent(0); ++o)
    for (std::size_t i = 0; i < ours.extent(1); ++i) {
      const std::size_t k = transposed ? i * ours.extent(0) + o : o * ours.extent(1) + i;
      bad += (ours(o, i) != 0) != (v[k] != 0) ? 1 : 0;
    }
  return bad;
}

void check_method(const fs::path& model_dir, const std::string& onnx_file, const std::vector<layer>& layers,
                  const std::string& file_prefix, prune::prune_config cfg) {
  auto g = io::load_onnx(model_dir / onnx_file);
  cfg.apply = false;
  std::set<std::string, std::less<>> names;
  for (const auto& l : layers) names.insert(l.onnx_name);
  cfg.select = [&names](std::string_view n) { return names.contains(n); };
  const auto result = prune::prune_graph(g, cfg);
  REQUIRE(result.masks.size() == layers.size());
  for (const auto& l : layers) {
    INFO(onnx_file << " " << file_prefix << " " << l.file_tag);
    const auto ref = io::read_npy(model_dir / "masks" / (file_prefix + "." + l.file_tag + ".npy"));
    CHECK(mismatches(result.masks.at(l.onnx_name), ref, l.transposed) == 0);
  }
}

void check_torch_methods(const fs::path& dir, const std::string& onnx_file, const std::vector<layer>& layers) {
  using prune::method;
  check_method(dir, onnx_file, layers, "l1_unstructured_0.3", {.how = method::l1_unstructured, .amount = 0.3});
  check_method(dir, onnx_file, layers, "l1_unstructured_0.5", {.how = method::l1_unstructured, .amount = 0.5});
  check_method(dir, onnx_file, layers, "global_unstructured_0.5", {.how = method::global_unstructured, .amount = 0.5});
  check_method(dir, onnx_file, layers, "ln_structured_n1_0.25", {.how = method::ln_structured, .amount = 0.25, .norm = 1});
  check_method(dir, onnx_file, layers, "ln_structured_n2_0.25", {.how = method::ln_structured, .amount = 0.25, .norm = 2});
  check_method(dir, onnx_file, layers, "ln_structured_ninf_0.25",
               {.how = method::ln_structured, .amount = 0.25, .norm = INFINITY});
}

// Per-input L2 norms of calibration inputs [samples, ..., features] flattened to rows of `features`.
std::vector<float> input_norms(const io::npy_array& x, std::size_t features) {
  const auto v = x.to_vector<float>();
  std::vector<double> acc(features, 0.0);
  for (std::size_t k = 0; k < v.size(); ++k) acc[k % features] += static_cast<double>(v[k]) * v[k];
  std::vector<float> out(features);
  for (std::size_t j = 0; j < features; ++j) out[j] = static_cast<float>(std::sqrt(acc[j]));
  return out;
}
}  // namespace

TEST_CASE("masks match torch.nn.utils.prune on the digits MLP", "[prune][fixtures]") {
  const auto dir = fixtures() / "digits_mlp";
  const std::vector<layer> layers{{"fc1", "fc1.weight", false}, {"fc2", "fc2.weight", false}, {"fc3", "fc3.weight", false}};
  for (const char* file : {"digits_mlp.opset13.onnx", "digits_mlp.opset17.onnx"}) check_torch_methods(dir, file, layers);
  check_method(dir, "digits_mlp.opset13.onnx", layers, "magnitude_2_4_0.5", {.how = prune::method::n_m, .n = 2, .m = 4});
  // Wanda on the first layer, whose inputs are the calibration samples themselves.
  const auto norms = input_norms(io::read_npy(dir / "x_calib.npy"), 64);
  check_method(dir, "digits_mlp.opset13.onnx", {layers[0]}, "wanda_0.5",
               {.how = prune::method::per_row, .amount = 0.5, .input_norms = {{"fc1.weight", norms}}});
  check_method(dir, "digits_mlp.opset13.onnx", {layers[0]}, "wanda_2_4_0.5",
               {.how = prune::method::n_m, .n = 2, .m = 4, .input_norms = {{"fc1.weight", norms}}});
}

TEST_CASE("masks match torch.nn.utils.prune on the CNN (conv weights flattened to [out, in*kh*kw])", "[prune][fixtures]") {
  const auto dir = fixtures() / "digits_cnn";
  const std::vector<layer> layers{{"conv1", "conv1.weight", false}, {"conv2", "conv2.weight", false}, {"fc", "fc.weight", false}};
  check_torch_methods(dir, "digits_cnn_bn.opset13.onnx", layers);
  // conv1 has 9 inputs: not 2:4-prunable, so the reference leaves it dense and so do we (not selected).
  check_method(dir, "digits_cnn_bn.opset17.onnx", {layers[1], layers[2]}, "magnitude_2_4_0.5",
               {.how = prune::method::n_m, .n = 2, .m = 4});
}

TEST_CASE("masks match on the encoder, whose MatMul weights are stored [in, out]", "[prune][fixtures]") {
  const auto dir = fixtures() / "tiny_encoder";
  const std::vector<layer> layers{
      {"proj", "onnx::MatMul_136", true},      {"layer.q", "onnx::MatMul_137", true},
      {"layer.k", "onnx::MatMul_144", true},   {"layer.v", "onnx::MatMul_145", true},
      {"layer.o", "onnx::MatMul_146", true},   {"layer.ff1", "onnx::MatMul_147", true},
      {"layer.ff2", "onnx::MatMul_148", true}, {"head", "head.weight", false}};
  check_torch_methods(dir, "tiny_encoder.opset13.onnx", layers);
  check_method(dir, "tiny_encoder.opset13.onnx", layers, "magnitude_2_4_0.5", {.how = prune::method::n_m, .n = 2, .m = 4});
  const auto norms = input_norms(io::read_npy(dir / "x_calib.npy"), 8);  // proj sees the 8-pixel rows
  check_method(dir, "tiny_encoder.opset13.onnx", {layers[0]}, "wanda_0.5",
               {.how = prune::method::per_row, .amount = 0.5, .input_norms = {{"onnx::MatMul_136", norms}}});
}

TEST_CASE("pruning a loaded graph in place zeroes its weights and reports sparsity", "[prune][fixtures]") {
  auto g = io::load_onnx(fixtures() / "digits_mlp" / "digits_mlp.opset13.onnx");
  const auto copy = g;  // dynamic_tensor copies alias: pruning must not write through to the copy
  const auto r = prune::prune_graph(g, {.how = prune::method::l1_unstructured, .amount = 0.5});
  REQUIRE(r.report.layers.size() == 3);
  for (const auto& row : r.report.layers) CHECK(row.sparsity() == Approx(0.5).margin(1e-4));
  CHECK(r.report.total().total == 256 * 64 + 128 * 256 + 10 * 128);
  const auto* w = g.constant_value(g.value_of("fc1.weight"));
  const auto* w0 = copy.constant_value(copy.value_of("fc1.weight"));
  std::size_t zeros = 0, zeros0 = 0;
  for (float v : w->span<float>()) zeros += v == 0.0f;
  for (float v : w0->span<float>()) zeros0 += v == 0.0f;
  CHECK(zeros == 256 * 64 / 2);
  CHECK(zeros0 == 0);
}

namespace {
dynamic_tensor npy_tensor(const fs::path& file) {
  const auto a = io::read_npy(file);
  dynamic_tensor t(a.type, a.shape);
  std::memcpy(t.mutable_data(), a.data.data(), a.data.size());
  return t;
}

// Test accuracy of g on the fixture's x_test / y_test through our runtime.
double accuracy(const computation_graph& g, const fs::path& dir) {
  session s(g);
  const auto y = s.run({{"input", npy_tensor(dir / "x_test.npy")}});
  const auto logits = y[0].span<float>();
  const auto labels = io::read_npy(dir / "y_test.npy").to_vector<std::int64_t>();
  std::size_t correct = 0;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    const float* row = logits.data() + r * 10;
    correct += static_cast<std::int64_t>(std::max_element(row, row + 10) - row) == labels[r] ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

double pruned_accuracy(const fs::path& dir, const std::string& file, prune::prune_config cfg, bool wanda = false) {
  auto g = io::load_onnx(dir / file);
  if (wanda) cfg.input_norms = runtime::weight_input_norms(g, {{{"input", npy_tensor(dir / "x_calib.npy")}}});
  (void)prune::prune_graph(g, cfg);
  return accuracy(g, dir);
}
}  // namespace

// PyTorch's accuracies after the same pruning (reference_metrics.json, no fine-tuning): with equal masks
// and a runtime that matches PyTorch, the counts of correct samples must agree exactly.
TEST_CASE("accuracy after pruning equals PyTorch's on the same masks", "[prune][fixtures][accuracy]") {
  using prune::method;
  const auto mlp = fixtures() / "digits_mlp";
  CHECK(pruned_accuracy(mlp, "digits_mlp.opset13.onnx", {.how = method::l1_unstructured, .amount = 0.5}) ==
        Approx(344.0 / 360).epsilon(1e-9));  // 0.9556
  CHECK(pruned_accuracy(mlp, "digits_mlp.opset13.onnx", {.how = method::global_unstructured, .amount = 0.5}) ==
        Approx(349.0 / 360).epsilon(1e-9));  // 0.9694
  CHECK(pruned_accuracy(mlp, "digits_mlp.opset13.onnx", {.how = method::per_row, .amount = 0.5}, true) ==
        Approx(351.0 / 360).epsilon(1e-9));  // Wanda, 0.975
  CHECK(pruned_accuracy(mlp, "digits_mlp.opset13.onnx", {.how = method::n_m, .n = 2, .m = 4}) ==
        Approx(342.0 / 360).epsilon(1e-9));  // 2:4 magnitude, 0.95
  const auto enc = fixtures() / "tiny_encoder";
  const double wanda = pruned_accuracy(enc, "tiny_encoder.opset13.onnx", {.how = method::per_row, .amount = 0.5}, true);
  const double magnitude = pruned_accuracy(enc, "tiny_encoder.opset13.onnx", {.how = method::per_row, .amount = 0.5});
  CHECK(wanda == Approx(328.0 / 360).epsilon(1e-9));      // 0.9111
  CHECK(magnitude == Approx(299.0 / 360).epsilon(1e-9));  // 0.8306
  CHECK(wanda > magnitude);  // activation-aware beats magnitude at the same sparsity on the transformer
}

TEST_CASE("Conv Wanda: im2col column norms from the calibration set, closed form", "[prune][wanda][conv]") {
  // One 3x3 image 1..9, 3x3 kernel, pad 1: the centre column reads every pixel (sum of squares 285), the
  // top-left one only the windows whose top-left neighbour exists: pixels 1, 2, 4, 5 (46).
  computation_graph g;
  g.add_input("x", dtype::f32, {1, 1, 3, 3});
  g.add_initializer("w", dynamic_tensor::from<float>({2, 1, 3, 3}, std::vector<float>(18, 1.0f)));
  g.add_node(ops::conv{.kernel_shape = {3, 3}, .pads = {1, 1, 1, 1}}, {"x", "w"}, {"y"}, "conv");
  g.mark_output(g.value_of("y"));
  const auto x = dynamic_tensor::from<float>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const auto norms = runtime::weight_input_norms(g, {{{"x", x}}, {{"x", x}}});  // two batches add up
  REQUIRE(norms.at("w").size() == 9);
  CHECK(norms.at("w")[4] == Approx(std::sqrt(2 * 285.0)));
  CHECK(norms.at("w")[0] == Approx(std::sqrt(2 * 46.0)));
  CHECK(norms.at("w")[8] == Approx(std::sqrt(2 * (25.0 + 36 + 64 + 81))));  // bottom-right: pixels 5, 6, 8, 9
  CHECK(norms.at("w")[1] == Approx(std::sqrt(2 * (1.0 + 4 + 9 + 16 + 25 + 36))));  // top-middle: rows 1-2
}

TEST_CASE("Conv Wanda masks equal the fixture script's on the CNN (per output channel, and 2:4)", "[prune][wanda][conv][fixtures]") {
  const auto dir = fixtures() / "digits_cnn";
  auto g = io::load_onnx(dir / "digits_cnn_bn.opset13.onnx");
  const auto norms = runtime::weight_input_norms(g, {{{"input", npy_tensor(dir / "x_calib.npy")}}});
  REQUIRE(norms.at("conv1.weight").size() == 9);
  REQUIRE(norms.at("conv2.weight").size() == 16 * 9);
  const layer conv1{"conv1", "conv1.weight", false}, conv2{"conv2", "conv2.weight", false}, fc{"fc", "fc.weight", false};
  // conv1 reads the calibration images themselves: same norms, same masks.
  check_method(dir, "digits_cnn_bn.opset13.onnx", {conv1}, "wanda_0.5",
               {.how = prune::method::per_row, .amount = 0.5, .input_norms = {{"conv1.weight", norms.at("conv1.weight")}}});
  // conv2 and fc read activations computed by our runtime (BN, ReLU, pooling), the reference PyTorch's:
  // the masks still agree exactly (no near-tie is flipped by float rounding on these weights).
  for (const char* tag : {"wanda_0.5", "wanda_2_4_0.5"}) {
    auto cfg = prune::prune_config{.how = std::string(tag) == "wanda_0.5" ? prune::method::per_row : prune::method::n_m,
                                   .amount = 0.5, .apply = false, .input_norms = norms};
    cfg.select = [](std::string_view n) { return n == "conv2.weight" || n == "fc.weight"; };
    auto h = io::load_onnx(dir / "digits_cnn_bn.opset13.onnx");
    const auto result = prune::prune_graph(h, cfg);
    for (const auto& l : {conv2, fc}) {
      INFO(tag << " " << l.file_tag);
      const auto ref = io::read_npy(dir / "masks" / (std::string(tag) + "." + l.file_tag + ".npy"));
      const auto& m = result.masks.at(l.onnx_name);
      CHECK(mismatches(m, ref, false) == 0);
    }
  }
}
