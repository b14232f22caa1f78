// bigmodel's int8 GEMM: u8 activations x prepacked s8 weights -> s32, one thread (warm and streamed weights),
// and linear_dynamic (f32 in, per-row u8 quantization, f32 out) on the same shapes.

#include <bigmodel/kernels.hpp>

#include "peers.hpp"

namespace {

namespace k = bigmodel::kernels;
using bench::shape;

void gemm_s32(benchmark::State& state, shape s, bool cold) {
  const auto w = bench::random_values<std::int8_t>(s.n * s.k, -128, 127, 1);
  const auto a = bench::random_values<std::uint8_t>(s.m * s.k, 0, 255, 2);
  std::vector<std::int32_t> c(s.m * s.n);
  std::vector<k::packed_weights> packed;
  const std::size_t copies = cold ? bench::cold_copies(s.n * s.k) : 1;
  for (std::size_t i = 0; i < copies; ++i) packed.push_back(k::pack_weights(w.data(), s.k, s.n, s.k, k::weight_layout::n_by_k));
  std::size_t next = 0;
  for (auto _ : state) {
    k::gemm(s.m, a.data(), s.k, packed[next], c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
    next = next + 1 == copies ? 0 : next + 1;
  }
  state.SetLabel(std::string(k::isa_name(*k::last_used_isa())));
  bench::set_ops(state, s);
  if (cold) bench::set_weight_bandwidth(state, s);
}

void linear_dynamic(benchmark::State& state, shape s) {
  const auto w = bench::random_values<std::int8_t>(s.n * s.k, -128, 127, 1);
  auto x = bench::random_values<float>(s.m * s.k, -1000, 1000, 3);
  for (auto& v : x) v *= 1e-3f;
  std::vector<float> y(s.m * s.n), w_scale(s.n, 0.01f), bias(s.n, 0.5f);
  const auto packed = k::pack_weights(w.data(), s.k, s.n, s.k, k::weight_layout::n_by_k);
  for (auto _ : state) {
    k::linear_dynamic(s.m, x.data(), s.k, packed, w_scale.data(), true, bias.data(), y.data(), s.n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  bench::set_ops(state, s);
}

const bool registered = [] {
  for (const shape& s : bench::anchor_shapes) benchmark::RegisterBenchmark(bench::name("ours", s).c_str(), gemm_s32, s, false)->UseRealTime();
  for (const shape& s : bench::cold_shapes) benchmark::RegisterBenchmark(bench::name("ours_cold", s).c_str(), gemm_s32, s, true)->UseRealTime();
  for (const shape& s : bench::anchor_shapes)
    if (s.m >= 32) benchmark::RegisterBenchmark(bench::name("ours_linear_dynamic", s).c_str(), linear_dynamic, s)->UseRealTime();
  return true;
}();

}  // namespace
