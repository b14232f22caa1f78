// The int8 peer: oneDNN's dnnl::matmul, u8 source x s8 weights -> s32, weights in format_tag::any reordered
// once outside the timed loop (its prepacked, fastest form), one thread (OMP_NUM_THREADS=1, set in main).

#include "peers.hpp"

#if defined(BIGMODEL_BENCH_DNNL)

#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

namespace bench {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct onednn_matmul::impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  std::vector<std::uint8_t> a_data;
  std::vector<std::int8_t> w_data;
  std::vector<std::int32_t> c_data;
  dnnl::memory a, c;
  std::vector<dnnl::memory> w;
  std::size_t next = 0;
};

onednn_matmul::onednn_matmul(shape s, std::size_t copies) : impl_(new impl) {
  impl& x = *impl_;
  const auto m = static_cast<dnnl::memory::dim>(s.m), n = static_cast<dnnl::memory::dim>(s.n), kk = static_cast<dnnl::memory::dim>(s.k);
  const dnnl::memory::desc a_md({m, kk}, dt::u8, tag::ab), b_any({kk, n}, dt::s8, tag::any), c_md({m, n}, dt::s32, tag::ab);
  x.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_any, c_md), x.eng);
  x.prim = dnnl::matmul(x.pd);
  x.a_data = random_values<std::uint8_t>(s.m * s.k, 0, 255, 2);
  x.w_data = random_values<std::int8_t>(s.n * s.k, -128, 127, 1);
  x.c_data.resize(s.m * s.n);
  x.a = dnnl::memory(a_md, x.eng, x.a_data.data());
  x.c = dnnl::memory(c_md, x.eng, x.c_data.data());
  // The same weights as ours: PyTorch's N x K, i.e. the K x N matrix in column-major order (tag ba).
  dnnl::memory w_user({{kk, n}, dt::s8, tag::ba}, x.eng, x.w_data.data());
  for (std::size_t i = 0; i < copies; ++i) {
    x.w.emplace_back(x.pd.weights_desc(), x.eng);
    dnnl::reorder(w_user, x.w.back()).execute(x.strm, w_user, x.w.back());
  }
  x.strm.wait();
}
onednn_matmul::~onednn_matmul() = default;

void onednn_matmul::run() {
  impl& x = *impl_;
  x.prim.execute(x.strm, {{DNNL_ARG_SRC, x.a}, {DNNL_ARG_WEIGHTS, x.w[x.next]}, {DNNL_ARG_DST, x.c}});
  x.strm.wait();
  x.next = x.next + 1 == x.w.size() ? 0 : x.next + 1;
}
const char* onednn_matmul::implementation() const { return impl_->pd.impl_info_str(); }
bool onednn_matmul::available() { return true; }

namespace {
void onednn_u8s8(benchmark::State& state, shape s, bool cold) {
  onednn_matmul mm(s, cold ? cold_copies(s.n * s.k) : 1);
  for (auto _ : state) mm.run();
  state.SetLabel(mm.implementation());
  set_ops(state, s);
  if (cold) set_weight_bandwidth(state, s);
}

const bool registered = [] {
  for (const shape& s : anchor_shapes) benchmark::RegisterBenchmark(name("onednn", s).c_str(), onednn_u8s8, s, false)->UseRealTime();
  for (const shape& s : cold_shapes) benchmark::RegisterBenchmark(name("onednn_cold", s).c_str(), onednn_u8s8, s, true)->UseRealTime();
  return true;
}();
}  // namespace

}  // namespace bench

#else  // without oneDNN the paired benchmark compares against Eigen and the peak only

namespace bench {
struct onednn_matmul::impl {};
onednn_matmul::onednn_matmul(shape, std::size_t) {}
onednn_matmul::~onednn_matmul() = default;
void onednn_matmul::run() {}
const char* onednn_matmul::implementation() const { return "unavailable"; }
bool onednn_matmul::available() { return false; }
}  // namespace bench

#endif  // BIGMODEL_BENCH_DNNL
