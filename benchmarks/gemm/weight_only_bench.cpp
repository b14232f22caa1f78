// bench_weight_only: the weight-only int4 / int8 kernel at batch M = 1, 4, 8 against our int8 GEMM
// (linear_dynamic: f32 in, u8 activations, s8 weights, f32 out), oneDNN's prepacked u8 x s8 matmul and Eigen's
// f32 GEMV, one thread. Weights stream from DRAM: each implementation cycles through enough copies of its
// weights to overflow the L3 twice (Eigen keeps one copy: 64 MB of f32 for 4096 x 4096, 9 MB for 768 x 3072).
//
//   OMP_NUM_THREADS=1 taskset -c 0 ./bench_weight_only --benchmark_repetitions=7 --benchmark_report_aggregates_only=true
//
// Without --benchmark_filter only these benchmarks run (the linked peers register their GEMM shapes too).

#include <benchmark/benchmark.h>

#include <bigmodel/kernels.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "peers.hpp"

namespace {

namespace k = bigmodel::kernels;
using bench::shape;

const std::vector<shape> shapes{{1, 4096, 4096}, {4, 4096, 4096}, {8, 4096, 4096}, {1, 768, 3072}, {4, 768, 3072}, {8, 768, 3072}};

std::vector<float> random_floats(std::size_t count, float scale, unsigned seed) {
  const auto ints = bench::random_values<int>(count, -1000, 1000, seed);
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = static_cast<float>(ints[i]) * scale;
  return v;
}

void set_counters(benchmark::State& state, const shape& s, std::size_t weight_bytes) {
  bench::set_ops(state, s);
  state.counters["weight_GBps"] = benchmark::Counter(static_cast<double>(weight_bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Ours: W quantized symmetric, `bits` wide, groups of `group` along K (0 = per channel); precise: two s8 digits of x;
// f16: scales that are f16 values, so the packed headers are f16 (half the scale bytes).
void ours_weight_only(benchmark::State& state, shape s, int bits, std::size_t group, bool precise, bool f16) {
  const k::weight_only_type type = bits == 4 ? k::weight_only_type::s4 : k::weight_only_type::s8;
  const std::size_t row_bytes = bits == 4 ? s.k / 2 : s.k, groups = group == 0 ? 1 : s.k / group;
  const auto values = bench::random_values<std::uint8_t>(s.n * row_bytes, 0, 255, 1);
  auto scales = random_floats(s.n * groups, 1e-5f, 4);
  if (f16)
    for (float& v : scales) v = bigmodel::to_float(bigmodel::to_f16(v));
  const k::weight_only_matrix w{type, s.n, s.k, group, values.data(), 0, scales.data(), nullptr,
                                f16 ? k::wo_scale_storage::f16 : k::wo_scale_storage::f32};
  std::vector<k::packed_weight_only> packed;
  packed.push_back(k::pack_weight_only(w));
  const std::size_t copies = bench::cold_copies(packed[0].bytes());
  while (packed.size() < copies) packed.push_back(k::pack_weight_only(w));
  const auto x = random_floats(s.m * s.k, 1e-3f, 3), bias = random_floats(s.n, 1e-3f, 5);
  std::vector<float> y(s.m * s.n);
  std::size_t next = 0;
  for (auto _ : state) {
    k::linear_weight_only(s.m, x.data(), s.k, packed[next], bias.data(), y.data(), s.n, {.precise = precise});
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    next = next + 1 == copies ? 0 : next + 1;
  }
  state.SetLabel(std::string(k::isa_name(*k::last_used_isa())));
  set_counters(state, s, packed[0].bytes());
}

// Our int8 GEMM behind the same f32 interface: per-row u8 activations, per-channel s8 weights.
void ours_int8_gemm(benchmark::State& state, shape s) {
  const auto w = bench::random_values<std::int8_t>(s.n * s.k, -127, 127, 1);
  const std::size_t copies = bench::cold_copies(s.n * s.k);
  std::vector<k::packed_weights> packed;
  for (std::size_t i = 0; i < copies; ++i) packed.push_back(k::pack_weights(w.data(), s.k, s.n, s.k, k::weight_layout::n_by_k));
  const auto x = random_floats(s.m * s.k, 1e-3f, 3), bias = random_floats(s.n, 1e-3f, 5), w_scale = random_floats(s.n, 1e-5f, 4);
  std::vector<float> y(s.m * s.n);
  std::size_t next = 0;
  for (auto _ : state) {
    k::linear_dynamic(s.m, x.data(), s.k, packed[next], w_scale.data(), true, bias.data(), y.data(), s.n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    next = next + 1 == copies ? 0 : next + 1;
  }
  state.SetLabel(std::string(k::isa_name(*k::last_used_isa())));
  set_counters(state, s, packed[0].bytes());
}

void onednn_u8s8(benchmark::State& state, shape s) {
  bench::onednn_matmul mm(s, bench::cold_copies(s.n * s.k));
  for (auto _ : state) mm.run();
  state.SetLabel(mm.implementation());
  set_counters(state, s, s.n * s.k);
}

void eigen_f32(benchmark::State& state, shape s) {
  bench::eigen_matmul mm(s);
  for (auto _ : state) mm.run();
  set_counters(state, s, s.n * s.k * sizeof(float));
}

const bool registered = [] {
  for (const shape& s : shapes) {
    benchmark::RegisterBenchmark(bench::name("wo/ours_int4_g128", s).c_str(), ours_weight_only, s, 4, std::size_t{128}, false, false)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("wo/ours_int4_g128_precise", s).c_str(), ours_weight_only, s, 4, std::size_t{128}, true, false)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("wo/ours_int4_g128_f16", s).c_str(), ours_weight_only, s, 4, std::size_t{128}, false, true)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("wo/ours_int4_g32", s).c_str(), ours_weight_only, s, 4, std::size_t{32}, false, false)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("wo/ours_int4_g32_f16", s).c_str(), ours_weight_only, s, 4, std::size_t{32}, false, true)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("wo/ours_int8_g128", s).c_str(), ours_weight_only, s, 8, std::size_t{128}, false, false)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("wo/ours_int8_gemm", s).c_str(), ours_int8_gemm, s)->UseRealTime();
    if (bench::onednn_matmul::available())
      benchmark::RegisterBenchmark(bench::name("wo/onednn_u8s8", s).c_str(), onednn_u8s8, s)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("wo/eigen_f32", s).c_str(), eigen_f32, s)->UseRealTime();
  }
  return true;
}();

}  // namespace

// One thread everywhere (oneDNN's OpenMP reads OMP_NUM_THREADS when it starts); only our benchmarks by default.
int main(int argc, char** argv) {
  ::setenv("OMP_NUM_THREADS", "1", 1);
  std::vector<char*> args(argv, argv + argc);
  std::string filter = "--benchmark_filter=^wo/";
  bool has_filter = false;
  for (int i = 1; i < argc; ++i) has_filter = has_filter || std::string(argv[i]).rfind("--benchmark_filter", 0) == 0;
  if (!has_filter) args.push_back(filter.data());
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
