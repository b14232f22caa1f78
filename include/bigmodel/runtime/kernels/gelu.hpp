#pragma once
// Fused GELU (erf form or tanh approximation).

#include "activation.hpp"
#include "elementwise.hpp"

namespace bigmodel::runtime::kernels {

inline void run(const ops::gelu& op, kernel_context& c) {
  if (op.approximate == "tanh") unary_f32(c, [](float v) { return gelu_tanh(v); });
  else unary_f32(c, [](float v) { return gelu_erf(v); });
}

}  // namespace bigmodel::runtime::kernels
