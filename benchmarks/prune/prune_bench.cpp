// Runtime latency of the fixture models before and after prune::remove_channels (L2 criterion, 25 % and
// 50 % of each prunable layer's channels; the output layer is refused, its channels are the logits), one
// thread, batch 1 and 64 of the fixture's test inputs. Counters: parameters, test accuracy (all 360 test
// samples, no fine-tuning). Before the timings it prints a markdown table of parameters and accuracy for
// every criterion (L1, L2, activation-aware with x_calib.npy), per layer and global, at 25 % and 50 %.
#include <benchmark/benchmark.h>

#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/prune.hpp>
#include <bigmodel/runtime/calibration.hpp>
#include <bigmodel/runtime/session.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace bigmodel;

fs::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  return fs::path(src ? src : BIGMODEL_SOURCE_DIR_DEFAULT) / "tests" / "fixtures";
}

dynamic_tensor rows(const fs::path& p, std::int64_t n) {
  auto a = io::read_npy(p);
  auto shape = a.shape;
  shape[0] = std::min(n, shape[0]);
  dynamic_tensor t(a.type, shape);
  std::memcpy(t.mutable_data(), a.data.data(), t.bytes());
  return t;
}

double accuracy(const computation_graph& g, const fs::path& dir) {
  session s(g);
  const auto y = s.run({{"input", rows(dir / "x_test.npy", 1 << 30)}});
  const auto logits = y[0].span<float>();
  const auto labels = io::read_npy(dir / "y_test.npy").to_vector<std::int64_t>();
  std::size_t correct = 0;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    const float* row = logits.data() + r * 10;
    correct += static_cast<std::int64_t>(std::max_element(row, row + 10) - row) == labels[r] ? 1 : 0;
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(labels.size());
}


void run_model(benchmark::State& state, const std::string& folder, const std::string& file, double amount) {
  const fs::path dir = fixtures() / folder;
  auto g = io::load_onnx(dir / file);
  std::size_t params = 0;
  g.visit_parameters([&](std::string_view, const dynamic_tensor& t) { params += static_cast<std::size_t>(t.numel()); });
  if (amount > 0) params = prune::remove_channels(g, {.amount = amount}).parameters_after;
  session s{g};
  const named_tensors feeds{{"input", rows(dir / "x_test.npy", state.range(0))}};
  (void)s.run(feeds);
  for (auto _ : state) {
    auto y = s.run(feeds);
    benchmark::DoNotOptimize(y);
  }
  state.counters["params"] = static_cast<double>(params);
  state.counters["accuracy"] = accuracy(g, dir);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void print_accuracy_table() {
  using prune::channel_criterion;
  const std::pair<const char*, const char*> models[] = {{"digits_mlp", "digits_mlp.opset13.onnx"},
                                                         {"digits_cnn", "digits_cnn.opset13.onnx"},
                                                         {"digits_cnn", "digits_cnn_bn.opset13.onnx"}};
  const std::pair<channel_criterion, const char*> criteria[] = {
      {channel_criterion::l1, "L1"}, {channel_criterion::l2, "L2"}, {channel_criterion::activation, "activation"}};
  std::printf("| model | amount | criterion | selection | parameters | accuracy (%%) |\n|---|---|---|---|---|---|\n");
  for (const auto& [folder, file] : models) {
    const fs::path dir = fixtures() / folder;
    for (double amount : {0.25, 0.5})
      for (const auto& [crit, crit_name] : criteria)
        for (bool global : {false, true}) {
          auto g = io::load_onnx(dir / file);
          prune::channel_config cfg{.amount = amount, .criterion = crit, .global = global};
          if (crit == channel_criterion::activation)
            cfg.input_norms = runtime::weight_input_norms(g, {{{"input", rows(dir / "x_calib.npy", 1 << 30)}}});
          const auto r = prune::remove_channels(g, cfg);
          std::printf("| %s | %.0f %% | %s | %s | %zu -> %zu | %.2f |\n", file, 100 * amount, crit_name,
                      global ? "global" : "per layer", r.parameters_before, r.parameters_after, accuracy(g, dir));
        }
  }
  std::fflush(stdout);
}

void register_all() {
  const std::pair<const char*, const char*> models[] = {{"digits_mlp", "digits_mlp.opset13.onnx"},
                                                         {"digits_cnn", "digits_cnn.opset13.onnx"}};
  for (const auto& [folder, file] : models)
    for (double amount : {0.0, 0.25, 0.5}) {
      const std::string name = std::string(file) + (amount == 0 ? "/original" : amount == 0.25 ? "/channels25" : "/channels50");
      benchmark::RegisterBenchmark(name.c_str(), [folder = std::string(folder), file = std::string(file), amount](benchmark::State& s) {
        run_model(s, folder, file, amount);
      })->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  print_accuracy_table();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
