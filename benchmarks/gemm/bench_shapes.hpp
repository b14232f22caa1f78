#pragma once
// The shapes of ../shared/ANCHORS.md and the helpers every peer's benchmark uses the same way.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace bench {

struct shape {
  std::size_t m, n, k;
};

inline const std::vector<shape> anchor_shapes{{1, 4096, 4096},   {8, 4096, 4096},  {32, 4096, 4096}, {128, 4096, 4096},
                                              {512, 4096, 4096}, {128, 768, 768},  {128, 3072, 768}, {128, 768, 3072},
                                              {1024, 1024, 1024}, {2048, 2048, 2048}};
// Weights streamed from memory: M = 1, 8, 32 of the 4096 x 4096 layer.
inline const std::vector<shape> cold_shapes{{1, 4096, 4096}, {8, 4096, 4096}, {32, 4096, 4096}};

inline std::string name(const char* what, const shape& s) {
  return std::string(what) + "/" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

// Enough copies of the weights that cycling through them overflows the 32 MiB L3 twice over.
inline std::size_t cold_copies(std::size_t weight_bytes) {
  constexpr std::size_t target = 64u << 20;
  return std::max<std::size_t>(2, (target + weight_bytes - 1) / weight_bytes);
}

template <class T>
std::vector<T> random_values(std::size_t count, int lo, int hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(count);
  for (auto& x : v) x = static_cast<T>(d(gen));
  return v;
}

// 64-byte aligned int32 storage (the bandwidth probe uses aligned loads).
class aligned_ints {
 public:
  explicit aligned_ints(std::size_t count) : storage_(count + 16, 1) {}
  [[nodiscard]] const std::int32_t* data() const {
    return reinterpret_cast<const std::int32_t*>((reinterpret_cast<std::uintptr_t>(storage_.data()) + 63) & ~std::uintptr_t{63});
  }

 private:
  std::vector<std::int32_t> storage_;
};

inline void set_ops(benchmark::State& state, const shape& s) {
  state.counters["GOPS"] = benchmark::Counter(2.0 * static_cast<double>(s.m * s.n * s.k) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

inline void set_weight_bandwidth(benchmark::State& state, const shape& s) {
  state.counters["weight_GBps"] = benchmark::Counter(static_cast<double>(s.n * s.k) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace bench
