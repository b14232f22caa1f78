// The machine's limits, measured in the same binary: the vpdpbusd peak of one core (what "near the limit"
// means for M >= 128) and its read bandwidth from L2, L3 and DRAM (what bounds M = 1).

#include <bigmodel/core/cpu.hpp>

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "peers.hpp"

// GCC 12 flags the deliberate self-initialization inside _mm512_undefined_*() used by the intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace bench {

// 24 independent accumulator chains, enough to cover vpdpbusd's latency at two instructions per cycle.
// Written in asm: compilers keep an array of 24 vector accumulators in memory, which measures the stores.
#define BIGMODEL_BENCH_DP(r) "vpdpbusd %%zmm1, %%zmm0, %%zmm" #r "\n\t"
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) std::int64_t vnni_chains(std::int64_t iterations) {
  for (std::int64_t i = 0; i < iterations; ++i)
    __asm__ volatile(BIGMODEL_BENCH_DP(8) BIGMODEL_BENCH_DP(9) BIGMODEL_BENCH_DP(10) BIGMODEL_BENCH_DP(11)
                     BIGMODEL_BENCH_DP(12) BIGMODEL_BENCH_DP(13) BIGMODEL_BENCH_DP(14) BIGMODEL_BENCH_DP(15)
                     BIGMODEL_BENCH_DP(16) BIGMODEL_BENCH_DP(17) BIGMODEL_BENCH_DP(18) BIGMODEL_BENCH_DP(19)
                     BIGMODEL_BENCH_DP(20) BIGMODEL_BENCH_DP(21) BIGMODEL_BENCH_DP(22) BIGMODEL_BENCH_DP(23)
                     BIGMODEL_BENCH_DP(24) BIGMODEL_BENCH_DP(25) BIGMODEL_BENCH_DP(26) BIGMODEL_BENCH_DP(27)
                     BIGMODEL_BENCH_DP(28) BIGMODEL_BENCH_DP(29) BIGMODEL_BENCH_DP(30) BIGMODEL_BENCH_DP(31)
                     :
                     :
                     : "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17",
                       "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27",
                       "xmm28", "xmm29", "xmm30", "xmm31");
  return iterations;
}
#undef BIGMODEL_BENCH_DP

__attribute__((target("avx512f"), noinline)) std::int64_t read_all(const std::int32_t* p, std::size_t count) {  // count: multiple of 64, p 64-aligned
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
  for (std::size_t i = 0; i < count; i += 64) {
    s0 = _mm512_add_epi32(s0, _mm512_load_si512(p + i));
    s1 = _mm512_add_epi32(s1, _mm512_load_si512(p + i + 16));
    s2 = _mm512_add_epi32(s2, _mm512_load_si512(p + i + 32));
    s3 = _mm512_add_epi32(s3, _mm512_load_si512(p + i + 48));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3)));
}

namespace {

void vnni_peak(benchmark::State& state) {
  if (!bigmodel::cpu().avx512vnni) {
    state.SkipWithError("no AVX-512 VNNI on this CPU");
    return;
  }
  constexpr std::int64_t iterations = 1 << 16;
  for (auto _ : state) {
    benchmark::DoNotOptimize(vnni_chains(iterations));
  }
  // 24 instructions x 64 multiply-adds x 2 ops per iteration.
  state.counters["GOPS"] = benchmark::Counter(vnni_ops_per_iteration * iterations * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void read_bandwidth(benchmark::State& state) {
  if (!bigmodel::cpu().avx512f) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  const std::size_t bytes = static_cast<std::size_t>(state.range(0));
  std::vector<std::int32_t, std::allocator<std::int32_t>> storage(bytes / 4 + 16, 1);
  auto* p = reinterpret_cast<std::int32_t*>((reinterpret_cast<std::uintptr_t>(storage.data()) + 63) & ~std::uintptr_t{63});
  for (auto _ : state) benchmark::DoNotOptimize(read_all(p, bytes / 4));
  state.counters["GBps"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("limit_vnni_peak", vnni_peak)->UseRealTime();
  benchmark::RegisterBenchmark("limit_read_bw", read_bandwidth)
      ->Arg(512 << 10)   // L2
      ->Arg(16 << 20)    // L3
      ->Arg(512 << 20)   // DRAM
      ->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace bench
