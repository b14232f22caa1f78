// The bf16 peer of bench_sgemm: oneDNN's dnnl::matmul with bf16 source and weights and an f32 result, weights in
// format_tag::any reordered once outside the timed loop, the source converted to bf16 once outside it too (ours
// rounds its f32 A inside every call), one thread (OMP_NUM_THREADS=1, set in main). Registered only when the
// build found oneDNN (libdnnl-dev).

#if defined(BIGMODEL_BENCH_DNNL)

#include <benchmark/benchmark.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <bigmodel/core/half.hpp>

#include <cstdint>
#include <vector>

#include "bench_shapes.hpp"

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

std::vector<std::uint16_t> random_bf16(std::size_t count, unsigned seed) {
  const auto ints = bench::random_values<int>(count, -1000, 1000, seed);
  std::vector<std::uint16_t> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = bigmodel::to_bf16(static_cast<float>(ints[i]) * 1e-3f).bits;
  return v;
}

void onednn_bf16(benchmark::State& state, bench::shape s) {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  const auto m = static_cast<dnnl::memory::dim>(s.m), n = static_cast<dnnl::memory::dim>(s.n), kk = static_cast<dnnl::memory::dim>(s.k);
  const dnnl::memory::desc a_md({m, kk}, dt::bf16, tag::ab), b_any({kk, n}, dt::bf16, tag::any), c_md({m, n}, dt::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), eng);
  dnnl::matmul prim(pd);
  auto a_data = random_bf16(s.m * s.k, 1), w_data = random_bf16(s.k * s.n, 2);
  std::vector<float> c_data(s.m * s.n);
  dnnl::memory a(a_md, eng, a_data.data()), c(c_md, eng, c_data.data());
  dnnl::memory w_user({{kk, n}, dt::bf16, tag::ab}, eng, w_data.data());
  dnnl::memory w(pd.weights_desc(), eng);
  dnnl::reorder(w_user, w).execute(strm, w_user, w);
  strm.wait();
  for (auto _ : state) {
    prim.execute(strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, c}});
    strm.wait();
  }
  state.SetLabel(pd.impl_info_str());
  bench::set_ops(state, s);
}

const bool registered = [] {
  for (const bench::shape& s : std::vector<bench::shape>{{1024, 768, 768}, {1024, 3072, 768}, {1024, 768, 3072}, {128, 768, 768}, {1, 4096, 4096}})
    benchmark::RegisterBenchmark(bench::name("sgemm/onednn_bf16", s).c_str(), onednn_bf16, s)->UseRealTime();
  return true;
}();

}  // namespace

#endif  // BIGMODEL_BENCH_DNNL
