#pragma once
// Fused activations (the epilogue of Gemm/MatMul/Conv after fusion passes), applied in place.

#include <cmath>
#include <span>

#include "../../graph/ops.hpp"

namespace bigmodel::runtime::kernels {

[[nodiscard]] inline float gelu_erf(float x) noexcept { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
[[nodiscard]] inline float gelu_tanh(float x) noexcept {
  return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

inline void apply_activation(const ops::activation& a, std::span<float> y) {
  using k = ops::activation_kind;
  switch (a.kind) {
    case k::none: return;
    case k::relu: for (auto& v : y) v = v > 0 ? v : 0.0f; return;
    case k::gelu: for (auto& v : y) v = gelu_erf(v); return;
    case k::gelu_tanh: for (auto& v : y) v = gelu_tanh(v); return;
    case k::sigmoid: for (auto& v : y) v = 1.0f / (1.0f + std::exp(-v)); return;
    case k::tanh: for (auto& v : y) v = std::tanh(v); return;
    case k::clip: for (auto& v : y) v = std::min(std::max(v, a.min), a.max); return;
  }
}

}  // namespace bigmodel::runtime::kernels
