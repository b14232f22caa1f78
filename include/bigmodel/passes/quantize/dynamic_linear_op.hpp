#pragma once
// ops::dynamic_linear (com.bigmodel "DynamicLinear"): the fused dynamic-int8 Linear, with its runtime kernel
// as a member (kernels::linear_dynamic). It depends only on the kernels and the tensor types, so an op set
// (even default_op_set) can list it. fuse_dynamic_linear (dynamic_linear.hpp) creates it.
//
//   Y = DynamicLinear(A f32 [..., K], W_q s8 [K, N], W_scale f32 [N] or scalar [, bias f32 [N]])
//     = act((DynamicQuantizeLinear(A) x W_q) * A_scale * W_scale + bias), activations u8 per tensor (per_row = 0,
//       ONNX's semantics) or per row (per_row = 1); act (attribute `activation`): "" (none), "relu", "gelu" (erf
//       form) -- both evaluated in the GEMM's epilogue while the tile is in cache -- or "gelu_tanh" (applied to
//       each block of rows right after the GEMM).

#include <cstdint>
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "../../graph/attribute.hpp"
#include "../../kernels/linear_dynamic.hpp"
#include "../../kernels/vector_math.hpp"
#include "../../tensor/dynamic_tensor.hpp"

namespace bigmodel::ops {

struct dynamic_linear {
  static constexpr std::string_view onnx_type = "DynamicLinear";
  static constexpr std::string_view domain = "com.bigmodel";
  std::int64_t per_row = 0;  // 1: one activation scale per row (PyTorch-like); 0: per tensor (ONNX's DynamicQuantizeLinear)
  std::string activation{};  // fused activation: "", "relu", "gelu" or "gelu_tanh"
  std::shared_ptr<const kernels::packed_weights> packed{};  // W_q packed for the kernel; null: packed at each run
  static constexpr auto fields() {
    return std::tuple{field{"per_row", &dynamic_linear::per_row}, field{"activation", &dynamic_linear::activation}};
  }
  friend bool operator==(const dynamic_linear& a, const dynamic_linear& b) {
    return a.per_row == b.per_row && a.activation == b.activation;
  }
  [[nodiscard]] static bool known_activation(std::string_view a) noexcept {
    return a.empty() || a == "relu" || a == "gelu" || a == "gelu_tanh";
  }

  // Runtime kernel (the session calls op.run(ctx)). Inputs: A f32 [..., K], W_q s8 [K, N], W_scale f32 [N] or
  // scalar, optional bias f32 [N]. Output f32 [..., N].
  template <class Context>
  void run(Context& c) const {
    const auto& a = c.in(0);
    const auto x = c.f32(0);
    const auto& wq = c.in(1);
    c.check(wq.type() == dtype::s8 && wq.rank() == 2, "DynamicLinear weights must be s8 [K, N]");
    c.check(a.rank() >= 1 && a.dim(a.rank() - 1) == wq.dim(0), "activation width does not match the weights' K");
    const auto k = static_cast<std::size_t>(wq.dim(0)), n = static_cast<std::size_t>(wq.dim(1));
    const auto scale = c.f32(2);
    c.check(scale.size() == 1 || scale.size() == n, "weight scales must be a scalar or one per output column");
    const float* bias = nullptr;
    if (c.has(3)) {
      const auto b = c.f32(3);
      c.check(b.size() == n, "bias must have one value per output column");
      bias = b.data();
    }
    std::shared_ptr<const kernels::packed_weights> w = packed;
    if (!w || w->k() != k || w->n() != n)
      w = std::make_shared<const kernels::packed_weights>(
          kernels::pack_weights(wq.template span<std::int8_t>().data(), k, n, n, kernels::weight_layout::k_by_n));
    shape_t os = a.shape();
    os.back() = static_cast<std::int64_t>(n);
    auto y = c.out(0, dtype::f32, os).template mutable_span<float>();
    const std::size_t m = k ? x.size() / k : 0;
    c.check(known_activation(activation), "unknown fused activation '" + activation + "'");
    kernels::linear_options opt;
    opt.activations = per_row ? kernels::granularity::per_row : kernels::granularity::per_tensor;
    opt.exec = c.execution();
    if (activation == "relu") opt.act = kernels::activation::relu;
    if (activation == "gelu") opt.act = kernels::activation::gelu;
    kernels::linear_dynamic(m, x.data(), k, *w, scale.data(), scale.size() == n && n > 1, bias, y.data(), n, opt);
    if (activation == "gelu_tanh" && m * n > 0) {
      constexpr std::size_t rows_per_block = 16;
      float* out = y.data();
      c.parallel_for((m + rows_per_block - 1) / rows_per_block, [&](std::size_t b) {
        const std::size_t r0 = b * rows_per_block, r1 = std::min(m, r0 + rows_per_block);
        kernels::vmath::gelu_tanh(out + r0 * n, out + r0 * n, (r1 - r0) * n);
      });
    }
  }
};

}  // namespace bigmodel::ops
