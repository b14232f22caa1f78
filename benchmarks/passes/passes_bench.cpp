// Runtime latency of each fixture model before and after passes::optimize(level::extended), one thread,
// batch 1 and batch 64 of the fixture's test inputs. Each "optimized" benchmark reports speedup = CPU time
// before / after.
#include <benchmark/benchmark.h>

#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes.hpp>
#include <bigmodel/runtime.hpp>
#include <bigmodel/runtime/constant_evaluator.hpp>

#include <ctime>
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

std::map<std::string, double>& before_ns() {
  static std::map<std::string, double> m;
  return m;
}

void run_model(benchmark::State& state, const std::string& folder, const std::string& file, bool optimized) {
  auto g = io::load_onnx(fixtures() / folder / file);
  if (optimized) g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
  session s{g};
  const named_tensors feeds{{"input", rows(fixtures() / folder / "x_test.npy", state.range(0))}};
  (void)s.run(feeds);
  // Thread CPU time: the machine is shared, wall time is not this run's alone.
  auto cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  const double t0 = cpu_ns();
  std::int64_t iters = 0;
  for (auto _ : state) {
    auto y = s.run(feeds);
    benchmark::DoNotOptimize(y);
    ++iters;
  }
  const double ns = (cpu_ns() - t0) / static_cast<double>(iters);
  const std::string key = file + "/" + std::to_string(state.range(0));
  if (!optimized) before_ns()[key] = ns;
  else if (before_ns().count(key)) state.counters["speedup"] = before_ns()[key] / ns;
  state.counters["nodes"] = static_cast<double>(g.node_count());
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void register_all() {
  const std::pair<const char*, const char*> models[] = {
      {"digits_mlp", "digits_mlp.opset13.onnx"},       {"digits_cnn", "digits_cnn.opset13.onnx"},
      {"digits_cnn", "digits_cnn_bn.opset13.onnx"},    {"tiny_encoder", "tiny_encoder.opset13.onnx"},
      {"tiny_encoder", "tiny_encoder.opset17.onnx"}};
  for (const auto& [folder, file] : models)
    for (bool opt : {false, true}) {
      const std::string name = std::string(file) + (opt ? "/optimized" : "/original");
      benchmark::RegisterBenchmark(name.c_str(), [folder = std::string(folder), file = std::string(file), opt](benchmark::State& s) {
        run_model(s, folder, file, opt);
      })->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
