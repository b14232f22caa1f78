// The fused Attention op (runtime/kernels/attention.hpp) through a session, one thread, on the shapes of the
// benchmark models (benchmarks/ort): per run of all batch x heads.
//   lm_mask     the small LM's blocks: [8, 128, 4 heads x 64] in layout 1 (heads interleaved in a row), the
//               causal mask as an f32 tensor of 0 / -inf, as the LM's exported graph gives it
//   lm_causal   the same with the causal attribute and no mask
//   bert        the encoder layer: [8, 12, 128, 64] in layout 0, a [8, 1, 1, 128] additive padding mask of zeros
// Each also as *_int8: the op's int8 form (ops::attention::int8, q·kᵀ and p·v on the int8 GEMM).
// Reported: time per run, and seconds per head (counter per_head). Run:
//   taskset -c 0 ./bench_attention --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <bigmodel/graph.hpp>
#include <bigmodel/runtime.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {
using namespace bigmodel;

dynamic_tensor random_tensor(shape_t s, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(element_count(s)));
  for (auto& x : v) x = d(rng);
  return dynamic_tensor::from<float>(std::move(s), std::move(v));
}

enum class variant { lm_mask, lm_causal, bert };

void attention(benchmark::State& state, variant which, bool int8) {
  const std::int64_t b = 8, t = 128, d = 64, h = which == variant::bert ? 12 : 4;
  const bool layout1 = which != variant::bert;
  const shape_t qs = layout1 ? shape_t{b, t, h, d} : shape_t{b, h, t, d};
  computation_graph g;
  std::vector<value_id> ins;
  const std::vector<dim> qd(qs.begin(), qs.end());
  for (const char* n : {"q", "k", "v"}) ins.push_back(g.add_input(n, dtype::f32, qd));
  named_tensors feeds{{"q", random_tensor(qs, 1)}, {"k", random_tensor(qs, 2)}, {"v", random_tensor(qs, 3)}};
  if (which == variant::lm_mask) {
    std::vector<float> m(static_cast<std::size_t>(t * t), 0.0f);
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t j = i + 1; j < t; ++j) m[static_cast<std::size_t>(i * t + j)] = -std::numeric_limits<float>::infinity();
    feeds.emplace("mask", dynamic_tensor::from<float>({t, t}, std::move(m)));
    ins.push_back(g.add_input("mask", dtype::f32, {t, t}));
  } else if (which == variant::bert) {
    feeds.emplace("mask", dynamic_tensor::from<float>({b, 1, 1, t}, std::vector<float>(static_cast<std::size_t>(b * t), 0.0f)));
    ins.push_back(g.add_input("mask", dtype::f32, {b, 1, 1, t}));
  }
  ops::attention op{.scale = 0.125f, .causal = which == variant::lm_causal ? 1 : 0, .layout = layout1 ? 1 : 0, .int8 = int8 ? 1 : 0};
  g.mark_output(g.outputs(g.add_node(op, ins))[0]);
  session s{g};
  for (auto _ : state) benchmark::DoNotOptimize(s.run(feeds));
  // seconds per head: heads x iterations / time, inverted (printed with an SI prefix: 26u = 26 us)
  state.counters["per_head"] = benchmark::Counter(static_cast<double>(b * h),
                                                  benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace

BENCHMARK_CAPTURE(attention, lm_mask, variant::lm_mask, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(attention, lm_causal, variant::lm_causal, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(attention, bert, variant::bert, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(attention, lm_mask_int8, variant::lm_mask, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(attention, lm_causal_int8, variant::lm_causal, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(attention, bert_int8, variant::bert, true)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
