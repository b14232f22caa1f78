#pragma once
// ops::dynamic_linear (com.bigmodel "DynamicLinear"): the fused dynamic-int8 Linear, with its runtime kernel
// as a member (kernels::linear_dynamic). It depends only on the kernels and the tensor types, so an op set
// (even default_op_set) can list it. fuse_dynamic_linear (dynamic_linear.hpp) creates it.
//
//   Y = DynamicLinear(A f32 [..., K], W_q s8 [K, N], W_scale f32 [N] or scalar [, bias f32 [N]])
//     = act((DynamicQuantizeLinear(A) x W_q) * A_scale * W_scale + bias), activations u8 per tensor (per_row = 0,
//       ONNX's semantics) or per row (per_row = 1); act (attribute `activation`): "" (none), "relu", "gelu" (erf
//       form) or "gelu_tanh" (tanh form), evaluated in the GEMM's epilogue while the tile is in registers.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "../../graph/attribute.hpp"
#include "../../kernels/linear_dynamic.hpp"
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
    if (activation == "gelu_tanh") opt.act = kernels::activation::gelu_tanh;
    kernels::linear_dynamic(m, x.data(), k, *w, scale.data(), scale.size() == n && n > 1, bias, y.data(), n, opt);
  }
};

}  // namespace bigmodel::ops
