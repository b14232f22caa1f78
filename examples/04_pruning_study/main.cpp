// Accuracy vs sparsity of every pruning method on the bundled models, no fine-tuning.
// Prints a Markdown table (docs/pruning.md holds its output next to PyTorch's figures).
//   bigmodel-pruning-study tests/fixtures
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/prune.hpp>
#include <bigmodel/runtime/calibration.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using namespace bigmodel;

namespace {
dynamic_tensor npy_tensor(const fs::path& file) {
  const auto a = io::read_npy(file);
  dynamic_tensor t(a.type, a.shape);
  std::memcpy(t.mutable_data(), a.data.data(), a.data.size());
  return t;
}

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
  return 100.0 * static_cast<double>(correct) / static_cast<double>(labels.size());
}

struct study_row {
  const char* name;
  prune::prune_config cfg;
  bool wanda;
};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FIXTURES_DIR (tests/fixtures)\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  using prune::method;
  const std::vector<study_row> rows = {
      {"l1 unstructured 0.3", {.how = method::l1_unstructured, .amount = 0.3}, false},
      {"l1 unstructured 0.5", {.how = method::l1_unstructured, .amount = 0.5}, false},
      {"l1 unstructured 0.7", {.how = method::l1_unstructured, .amount = 0.7}, false},
      {"global l1 0.5", {.how = method::global_unstructured, .amount = 0.5}, false},
      {"global l1 0.7", {.how = method::global_unstructured, .amount = 0.7}, false},
      {"magnitude per row 0.5", {.how = method::per_row, .amount = 0.5}, false},
      {"Wanda per row 0.5", {.how = method::per_row, .amount = 0.5}, true},
      {"magnitude 2:4", {.how = method::n_m, .n = 2, .m = 4}, false},
      {"Wanda 2:4", {.how = method::n_m, .n = 2, .m = 4}, true},
      {"Ln-structured L2 0.25 (masked rows)", {.how = method::ln_structured, .amount = 0.25, .norm = 2}, false},
  };
  std::printf("| method | digits MLP | tiny encoder |\n|---|---|---|\n");
  const std::pair<const char*, const char*> models[] = {{"digits_mlp", "digits_mlp.opset13.onnx"},
                                                       {"tiny_encoder", "tiny_encoder.opset13.onnx"}};
  std::printf("| fp32 (no pruning)");
  for (const auto& [dir, file] : models) std::printf(" | %.2f", accuracy(io::load_onnx(root / dir / file), root / dir));
  std::printf(" |\n");
  for (const auto& r : rows) {
    std::printf("| %s", r.name);
    for (const auto& [dir, file] : models) {
      auto g = io::load_onnx(root / dir / file);
      auto cfg = r.cfg;
      if (r.wanda) cfg.input_norms = runtime::weight_input_norms(g, {{{"input", npy_tensor(root / dir / "x_calib.npy")}}});
      const auto rep = prune::prune_graph(g, cfg);
      std::printf(" | %.2f (%.0f%%)", accuracy(g, root / dir), 100.0 * rep.report.total().sparsity());
    }
    std::printf(" |\n");
  }
  // Structured removal: the model really shrinks.
  auto g = io::load_onnx(root / "digits_mlp" / "digits_mlp.opset13.onnx");
  const auto rep = prune::remove_channels(g, {.amount = 0.25});
  std::printf("\nChannel removal (L2, 25%% of each hidden layer) on the digits MLP: %zu -> %zu parameters, accuracy %.2f%%\n",
              rep.parameters_before, rep.parameters_after, accuracy(g, root / "digits_mlp"));
  return 0;
}
