// Vectorized math rows vs the scalar std:: loops (what runtime/kernels did before), one thread.
// Names: <function>/<impl>/<n>; impl = std (scalar loop over std::exp / std::erf / std::tanh), or an ISA
// (kernels::vmath::kernels_for(isa): avx512bw = the AVX-512 code, avx2, scalar = the portable code).

#include <benchmark/benchmark.h>

#include <bigmodel/kernels/vector_math.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {
namespace k = bigmodel::kernels;

struct data {
  std::vector<float> x, y, scale, bias;
  explicit data(std::size_t n) : x(n), y(n), scale(n), bias(n) {
    std::mt19937 rng(1);
    std::normal_distribution<float> d(0.0f, 2.0f);
    for (std::size_t i = 0; i < n; ++i) x[i] = d(rng), scale[i] = 1.0f + 0.1f * d(rng), bias[i] = 0.1f * d(rng);
  }
};

// The scalar loops, as the runtime kernels had them.
void std_exp(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void std_gelu_erf(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}
void std_gelu_tanh(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    y[i] = 0.5f * x[i] * (1.0f + std::tanh(0.79788456080286536f * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
}
void std_softmax(const float* x, float* y, std::size_t n) {
  float mx = -INFINITY;
  for (std::size_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (std::size_t i = 0; i < n; ++i) sum += (y[i] = std::exp(x[i] - mx));
  const float inv = 1.0f / sum;
  for (std::size_t i = 0; i < n; ++i) y[i] *= inv;
}
void std_layer_norm(const float* x, float* y, std::size_t n, const float* s, const float* b) {
  float mean = 0.0f;
  for (std::size_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<float>(n);
  float var = 0.0f;
  for (std::size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<float>(n);
  const float inv = 1.0f / std::sqrt(var + 1e-5f);
  for (std::size_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * s[i] + b[i];
}

enum class fn { exp, gelu_erf, gelu_tanh, softmax, layer_norm };
constexpr const char* fn_name[] = {"exp", "gelu_erf", "gelu_tanh", "softmax", "layer_norm"};

void run(benchmark::State& state, fn f, int impl) {  // impl < 0: std; else an isa
  const auto n = static_cast<std::size_t>(state.range(0));
  data d(n);
  const k::detail::vm_table* t = impl < 0 ? nullptr : &k::vmath::kernels_for(static_cast<k::isa>(impl));
  for (auto _ : state) {
    switch (f) {
      case fn::exp: t ? t->exp(d.x.data(), d.y.data(), n) : std_exp(d.x.data(), d.y.data(), n); break;
      case fn::gelu_erf: t ? t->gelu_erf(d.x.data(), d.y.data(), n) : std_gelu_erf(d.x.data(), d.y.data(), n); break;
      case fn::gelu_tanh: t ? t->gelu_tanh(d.x.data(), d.y.data(), n) : std_gelu_tanh(d.x.data(), d.y.data(), n); break;
      case fn::softmax: t ? t->softmax(d.x.data(), d.y.data(), n) : std_softmax(d.x.data(), d.y.data(), n); break;
      case fn::layer_norm:
        if (t) t->layer_norm(d.x.data(), d.y.data(), n, d.scale.data(), false, d.bias.data(), false, 1e-5f);
        else std_layer_norm(d.x.data(), d.y.data(), n, d.scale.data(), d.bias.data());
        break;
    }
    benchmark::DoNotOptimize(d.y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

const int registered = [] {
  for (fn f : {fn::exp, fn::gelu_erf, fn::gelu_tanh, fn::softmax, fn::layer_norm}) {
    std::vector<std::pair<std::string, int>> impls{{"std", -1}};
    for (k::isa i : {k::isa::avx512bw, k::isa::avx2, k::isa::scalar})
      if (k::is_supported(i)) impls.emplace_back(std::string(k::isa_name(i)), static_cast<int>(i));
    for (const auto& [name, impl] : impls) {
      const std::string label = std::string(fn_name[static_cast<int>(f)]) + "/" + name;
      benchmark::RegisterBenchmark(label.c_str(), [f, impl = impl](benchmark::State& s) { run(s, f, impl); })
          ->Arg(768)
          ->Arg(3072);
    }
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
