// Latency of the fixture models in our runtime, one thread: fp32 (optimize extended) against the same
// graph quantized as dynamic int8 (DynamicLinear, activations per tensor), static int8 calibrated on x_calib (StaticLinear, int8
// chains requantized in the GEMM epilogue) and int4 weight-only groups of 32. Every quantized benchmark
// reports speedup = fp32 CPU time / its CPU time and the output's relative L2 error against fp32.
// Sessions run the fast paths bigmodel-opt uses: quant::use_fast_paths and the weight-only kernel.
#include <benchmark/benchmark.h>

#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes.hpp>
#include <bigmodel/passes/quantize.hpp>
#include <bigmodel/runtime.hpp>
#include <bigmodel/runtime/constant_evaluator.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace bigmodel;
using graph_t = basic_computation_graph<quant::quant_op_set>;

fs::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  return fs::path(src ? src : BIGMODEL_SOURCE_DIR_DEFAULT) / "tests" / "fixtures";
}

dynamic_tensor rows(const fs::path& p, std::int64_t first, std::int64_t n) {
  auto a = io::read_npy(p);
  auto shape = a.shape;
  n = std::min(n, shape[0] - first);
  shape[0] = n;
  dynamic_tensor t(a.type, shape);
  const std::size_t row = t.bytes() / static_cast<std::size_t>(n);
  std::memcpy(t.mutable_data(), a.data.data() + static_cast<std::size_t>(first) * row, t.bytes());
  return t;
}

enum class variant { fp32, dynamic_int8, static_int8, int4_g32 };
const char* label(variant v) {
  switch (v) {
    case variant::fp32: return "fp32";
    case variant::dynamic_int8: return "int8-dynamic";
    case variant::static_int8: return "int8-static";
    case variant::int4_g32: return "int4-weight-only-g32";
  }
  return "?";
}

graph_t make(const std::string& folder, const std::string& file, variant v) {
  auto g = io::load_onnx<quant::quant_op_set>(fixtures() / folder / file);
  g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
  switch (v) {
    case variant::fp32: break;
    case variant::dynamic_int8:
      (void)quant::quantize_dynamic(g);
      break;
    case variant::static_int8: {
      std::vector<named_tensors> calib;
      for (std::int64_t b = 0; b < 200; b += 50) calib.push_back({{"input", rows(fixtures() / folder / "x_calib.npy", b, 50)}});
      (void)quant::quantize_static(g, calib);
      (void)quant::use_fast_paths(g);
      // What stays QDQ (Conv) reads DequantizeLinear(constant weights): fold it once, as a session
      // would at load, instead of dequantizing the weights on every run.
      g |= passes::fold_constants(runtime::kernel_evaluator{});
      break;
    }
    case variant::int4_g32: {
      quant::weight_only_config cfg;
      cfg.layers.scheme = quant::scheme_of<per_group<1, 32>, s4x2>();
      cfg.keep_indivisible_fp32 = true;
      (void)quant::quantize_weights(g, cfg);
      break;
    }
  }
  (void)quant::use_fast_paths(g);  // DynamicLinear, StaticLinear
  return g;
}

struct baseline {
  double ns = 0;
  dynamic_tensor y;
};
std::map<std::string, baseline>& baselines() {
  static std::map<std::string, baseline> m;
  return m;
}

double cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double rel_l2(const dynamic_tensor& a, const dynamic_tensor& b) {
  double num = 0, den = 0;
  const auto x = a.span<float>(), y = b.span<float>();
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
    num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    den += double(y[i]) * y[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

void run_model(benchmark::State& state, const std::string& folder, const std::string& file, variant v) {
  const auto g = make(folder, file, v);
  runtime::plan_options opt;
  opt.weight_only_kernel = true;  // int4 on kernels::linear_weight_only, weights packed once
  basic_session<quant::quant_op_set> s{g, opt};
  const named_tensors feeds{{"input", rows(fixtures() / folder / "x_test.npy", 0, state.range(0))}};
  auto y = s.run(feeds);
  const double t0 = cpu_ns();  // thread CPU time: the machine is shared, wall time is not this run's alone
  std::int64_t iters = 0;
  for (auto _ : state) {
    auto r = s.run(feeds);
    benchmark::DoNotOptimize(r);
    ++iters;
  }
  const double ns = (cpu_ns() - t0) / static_cast<double>(iters);
  const std::string key = file + "/" + std::to_string(state.range(0));
  const dynamic_tensor& out = y.begin()->second;
  if (v == variant::fp32) baselines()[key] = {ns, out};
  else if (auto it = baselines().find(key); it != baselines().end()) {
    state.counters["speedup"] = it->second.ns / ns;
    state.counters["rel_l2"] = rel_l2(out, it->second.y);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void register_all() {
  const std::pair<const char*, const char*> models[] = {{"digits_mlp", "digits_mlp.opset17.onnx"},
                                                        {"digits_cnn", "digits_cnn.opset17.onnx"},
                                                        {"tiny_encoder", "tiny_encoder.opset17.onnx"}};
  for (const auto& [folder, file] : models)
    for (variant v : {variant::fp32, variant::dynamic_int8, variant::static_int8, variant::int4_g32}) {
      const std::string name = std::string(file) + "/" + label(v);
      benchmark::RegisterBenchmark(name.c_str(), [folder = std::string(folder), file = std::string(file), v](benchmark::State& s) {
        run_model(s, folder, file, v);
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
