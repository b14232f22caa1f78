#pragma once
// Fused GELU (erf form or tanh approximation), vectorized (kernels::vmath).

#include "elementwise.hpp"  // first: kernel_context.hpp names bigmodel::kernels before runtime::kernels exists
#include "activation.hpp"

namespace bigmodel::runtime::kernels {

inline void run(const ops::gelu& op, kernel_context& c) {
  if (op.approximate == "tanh") unary_rows_f32(c, ::bigmodel::kernels::vmath::gelu_tanh);
  else unary_rows_f32(c, ::bigmodel::kernels::vmath::gelu_erf);
}

}  // namespace bigmodel::runtime::kernels
