// The fp32 peer: Eigen's GEMM (one thread, compiled with -march=native so it uses FMA / AVX-512).

#include <Eigen/Core>

#include "peers.hpp"

namespace bench {

struct eigen_matmul::impl {
  Eigen::MatrixXf a, b, c;
};

eigen_matmul::eigen_matmul(shape s)
    : impl_(new impl{Eigen::MatrixXf::Random(static_cast<Eigen::Index>(s.m), static_cast<Eigen::Index>(s.k)),
                     Eigen::MatrixXf::Random(static_cast<Eigen::Index>(s.k), static_cast<Eigen::Index>(s.n)),
                     Eigen::MatrixXf(static_cast<Eigen::Index>(s.m), static_cast<Eigen::Index>(s.n))}) {}
eigen_matmul::~eigen_matmul() = default;

void eigen_matmul::run() {
  impl_->c.noalias() = impl_->a * impl_->b;
  benchmark::DoNotOptimize(impl_->c.data());
  benchmark::ClobberMemory();
}

namespace {
void eigen_f32(benchmark::State& state, shape s) {
  eigen_matmul mm(s);
  for (auto _ : state) mm.run();
  set_ops(state, s);
}

const bool registered = [] {
  for (const shape& s : anchor_shapes) benchmark::RegisterBenchmark(name("eigen_f32", s).c_str(), eigen_f32, s)->UseRealTime();
  return true;
}();
}  // namespace

}  // namespace bench
