#pragma once
// Fused activations (the epilogue of Gemm/MatMul/Conv after fusion passes), applied in place. GELU, sigmoid and
// tanh run the vectorized kernels::vmath rows; gelu_erf / gelu_tanh below are the scalar definitions.

#include <cmath>
#include <span>

#include "../../graph/ops.hpp"
#include "../../kernels/vector_math.hpp"

namespace bigmodel::runtime::kernels {

[[nodiscard]] inline float gelu_erf(float x) noexcept { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
[[nodiscard]] inline float gelu_tanh(float x) noexcept {
  return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

inline void apply_activation(const ops::activation& a, std::span<float> y) {
  using k = ops::activation_kind;
  namespace vm = ::bigmodel::kernels::vmath;
  switch (a.kind) {
    case k::none: return;
    case k::relu: for (auto& v : y) v = v > 0 ? v : 0.0f; return;
    case k::gelu: return vm::gelu_erf(y.data(), y.data(), y.size());
    case k::gelu_tanh: return vm::gelu_tanh(y.data(), y.data(), y.size());
    case k::sigmoid: return vm::sigmoid(y.data(), y.data(), y.size());
    case k::tanh: return vm::tanh(y.data(), y.data(), y.size());
    case k::clip: for (auto& v : y) v = std::min(std::max(v, a.min), a.max); return;
  }
}

}  // namespace bigmodel::runtime::kernels
