// bench_sgemm: our fp32 GEMM (kernels/sgemm.hpp, no -m flags: run-time dispatch) against Eigen compiled with
// -march=native (eigen_bench.cpp), one thread. Ours runs with B packed once ("packed") and with B raw, packed on
// every call ("raw"); Eigen gets B as it is. "bf16" is the bf16 GEMM (kernels/bf16_gemm.hpp) on the same B
// rounded to bf16 and packed once: vdpbf16ps where the CPU has AVX-512 BF16 (label "avx512bf16"), else its
// portable loop (label "portable").
//
//   taskset -c 0 ./bench_sgemm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Without --benchmark_filter only these benchmarks run (the linked Eigen peer registers its own shapes too).

#include <benchmark/benchmark.h>

#include <bigmodel/kernels/bf16_gemm.hpp>
#include <bigmodel/kernels/sgemm.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "peers.hpp"

namespace {

namespace k = bigmodel::kernels;
using bench::shape;

const std::vector<shape> shapes{{1024, 768, 768}, {1024, 3072, 768}, {1024, 768, 3072}, {128, 768, 768}, {1, 4096, 4096}};

std::vector<float> random_floats(std::size_t count, unsigned seed) {
  const auto ints = bench::random_values<int>(count, -1000, 1000, seed);
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = static_cast<float>(ints[i]) * 1e-3f;
  return v;
}

void ours(benchmark::State& state, shape s, bool packed) {
  const auto a = random_floats(s.m * s.k, 1), b = random_floats(s.k * s.n, 2);
  std::vector<float> c(s.m * s.n);
  const k::packed_sgemm_weights p = k::pack_sgemm_weights(b.data(), s.k, s.n, s.n, k::weight_layout::k_by_n);
  for (auto _ : state) {
    if (packed) k::sgemm(s.m, a.data(), s.k, p, c.data(), s.n);
    else k::sgemm(s.m, s.n, s.k, a.data(), s.k, b.data(), s.n, k::weight_layout::k_by_n, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(k::isa_name(*k::last_used_isa())));
  bench::set_ops(state, s);
}

void ours_bf16(benchmark::State& state, shape s) {
  const auto a = random_floats(s.m * s.k, 1), b = random_floats(s.k * s.n, 2);
  std::vector<float> c(s.m * s.n);
  const k::packed_bf16_weights p = k::pack_bf16_weights(b.data(), s.k, s.n, s.n, k::weight_layout::k_by_n);
  for (auto _ : state) {
    k::bf16_gemm(s.m, a.data(), s.k, p, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(k::bf16_dot_native() ? "avx512bf16" : "portable");
  bench::set_ops(state, s);
}

void eigen(benchmark::State& state, shape s) {
  bench::eigen_matmul mm(s);
  for (auto _ : state) mm.run();
  bench::set_ops(state, s);
}

const bool registered = [] {
  for (const shape& s : shapes) {
    benchmark::RegisterBenchmark(bench::name("sgemm/ours_packed", s).c_str(), ours, s, true)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("sgemm/ours_raw", s).c_str(), ours, s, false)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("sgemm/ours_bf16", s).c_str(), ours_bf16, s)->UseRealTime();
    benchmark::RegisterBenchmark(bench::name("sgemm/eigen_native", s).c_str(), eigen, s)->UseRealTime();
  }
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  ::setenv("OMP_NUM_THREADS", "1", 1);
  std::vector<char*> args(argv, argv + argc);
  std::string filter = "--benchmark_filter=^sgemm/";
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
