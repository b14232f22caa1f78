// Ratios that survive a noisy, shared machine: every iteration times ours, oneDNN, Eigen and the VNNI peak
// loop (the same number of int8 ops) back to back, so all four see the same load; the counters are medians
// of the per-iteration ratios. GOPS counters of the individual benchmarks are reported separately.

#include <bigmodel/kernels.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

#include "peers.hpp"

namespace {

namespace k = bigmodel::kernels;
using bench::shape;

template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

void paired(benchmark::State& state, shape s, bool cold, bool with_eigen) {
  const auto w = bench::random_values<std::int8_t>(s.n * s.k, -128, 127, 1);
  const auto a = bench::random_values<std::uint8_t>(s.m * s.k, 0, 255, 2);
  std::vector<std::int32_t> c(s.m * s.n);
  const std::size_t copies = cold ? bench::cold_copies(s.n * s.k) : 1;
  std::vector<k::packed_weights> packed;
  for (std::size_t i = 0; i < copies; ++i) packed.push_back(k::pack_weights(w.data(), s.k, s.n, s.k, k::weight_layout::n_by_k));
  bench::onednn_matmul onednn(s, bench::onednn_matmul::available() ? copies : 0);
  std::unique_ptr<bench::eigen_matmul> eigen;
  if (with_eigen) eigen = std::make_unique<bench::eigen_matmul>(s);
  const double ops = 2.0 * static_cast<double>(s.m * s.n * s.k);
  const auto peak_iterations = static_cast<std::int64_t>(ops / bench::vnni_ops_per_iteration) + 1;
  const bool has_peak = bigmodel::cpu().avx512vnni;

  // Streamed weights: also read the same number of bytes from a cold buffer (rotating over 64 MiB + one
  // copy) with the bandwidth probe, back to back, to give our fraction of the read bandwidth.
  bench::aligned_ints cold_buffer(cold ? (copies + 1) * s.n * s.k / 4 : 0);
  std::vector<double> vs_onednn, vs_eigen, of_peak, ours_gops, weight_gbps, of_read_bw;
  std::size_t next_read = 0;
  std::size_t next = 0, iteration = 0;
  const auto run_ours = [&] {
    k::gemm(s.m, a.data(), s.k, packed[next], c.data(), s.n);
    benchmark::ClobberMemory();
    next = next + 1 == copies ? 0 : next + 1;
  };
  for (auto _ : state) {
    // Warm: each side runs once untimed right before its timed run (with weights streamed, the copies rotate
    // so the timed run still reads cold weights), and the order alternates, so neither pays for the other.
    const bool ours_first = iteration++ % 2 == 0;
    double t_ours = 0, t_onednn = 0;
    const auto time_onednn = [&] {
      if (!bench::onednn_matmul::available()) return;
      if (!cold) onednn.run();
      t_onednn = seconds([&] { onednn.run(); });
    };
    if (!ours_first) time_onednn();
    if (!cold) run_ours();
    t_ours = seconds(run_ours);
    if (ours_first) time_onednn();
    ours_gops.push_back(ops / t_ours * 1e-9);
    weight_gbps.push_back(static_cast<double>(s.n * s.k) / t_ours * 1e-9);
    if (bench::onednn_matmul::available()) vs_onednn.push_back(t_onednn / t_ours);
    if (eigen) vs_eigen.push_back(seconds([&] { eigen->run(); }) / t_ours);
    if (cold && has_peak) {
      const std::int32_t* p = cold_buffer.data() + next_read * (s.n * s.k / 4);
      next_read = next_read == copies ? 0 : next_read + 1;
      of_read_bw.push_back(seconds([&] { benchmark::DoNotOptimize(bench::read_all(p, s.n * s.k / 4)); }) / t_ours);
    }
    if (has_peak) of_peak.push_back(seconds([&] { benchmark::DoNotOptimize(bench::vnni_chains(peak_iterations)); }) / t_ours);
  }
  state.counters["ours_GOPS"] = median(ours_gops);
  if (!vs_onednn.empty()) state.counters["ours_over_onednn"] = median(vs_onednn);
  if (!vs_eigen.empty()) state.counters["ours_over_eigen"] = median(vs_eigen);
  if (!of_peak.empty()) state.counters["peak_fraction"] = median(of_peak);
  if (cold) state.counters["weight_GBps"] = median(weight_gbps);
  if (!of_read_bw.empty()) state.counters["read_bw_fraction"] = median(of_read_bw);
}

// linear_dynamic (f32 in, per-row u8 quantization, fused dequantize + bias, f32 out) against the raw u8 x s8
// -> s32 GEMM on the same weights, back to back: "raw_over_linear_dynamic" is t_raw / t_linear_dynamic.
void paired_linear_dynamic(benchmark::State& state, shape s) {
  const auto w = bench::random_values<std::int8_t>(s.n * s.k, -128, 127, 1);
  const auto a = bench::random_values<std::uint8_t>(s.m * s.k, 0, 255, 2);
  auto x = bench::random_values<float>(s.m * s.k, -1000, 1000, 3);
  for (auto& v : x) v *= 1e-3f;
  std::vector<std::int32_t> c(s.m * s.n);
  std::vector<float> y(s.m * s.n), w_scale(s.n, 0.01f), bias(s.n, 0.5f);
  const auto packed = k::pack_weights(w.data(), s.k, s.n, s.k, k::weight_layout::n_by_k);
  const auto raw = [&] { k::gemm(s.m, a.data(), s.k, packed, c.data(), s.n); };
  const auto ld = [&] { k::linear_dynamic(s.m, x.data(), s.k, packed, w_scale.data(), true, bias.data(), y.data(), s.n); };
  std::vector<double> ratio;
  std::size_t iteration = 0;
  for (auto _ : state) {
    double t_raw = 0, t_ld = 0;
    if (iteration++ % 2 == 0) {
      raw(), t_raw = seconds(raw), ld(), t_ld = seconds(ld);
    } else {
      ld(), t_ld = seconds(ld), raw(), t_raw = seconds(raw);
    }
    benchmark::DoNotOptimize(y.data());
    ratio.push_back(t_raw / t_ld);
  }
  state.counters["raw_over_linear_dynamic"] = median(ratio);
}

const bool registered = [] {
  for (const shape& s : bench::anchor_shapes)
    if (s.m >= 32) benchmark::RegisterBenchmark(bench::name("paired_ld", s).c_str(), paired_linear_dynamic, s)->UseRealTime();
  for (const shape& s : bench::anchor_shapes)
    benchmark::RegisterBenchmark(bench::name("paired", s).c_str(), paired, s, false, true)->UseRealTime();
  for (const shape& s : bench::cold_shapes)
    benchmark::RegisterBenchmark(bench::name("paired_cold", s).c_str(), paired, s, true, false)->UseRealTime();
  return true;
}();

}  // namespace
