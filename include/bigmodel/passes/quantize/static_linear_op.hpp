#pragma once
// ops::static_linear (com.bigmodel "StaticLinear"): the fused static-int8 Linear, run by the int8 GEMM
// (kernels::gemm) with its epilogue doing dequantization, bias, ReLU and, when the next layer reads the
// result quantized, requantization. fuse_static_linear (static_linear.hpp) creates it from the QDQ form
// quantize_static writes.
//
//   Y = StaticLinear(X_q u8 [..., K], x_scale f32 [], x_zero_point u8 [],
//                    W_q s8 [K, N] (trans_b = 0) or [N, K] (trans_b = 1), w_scale f32 [N] or [],
//                    [bias f32 [N]], [y_scale f32 [], y_zero_point u8 []])
//     v = (sum_k (X_q - x_zp) W_q) * x_scale * w_scale[n] + bias[n];  v = max(v, 0) if relu, GELU(v) (erf form) if gelu
//     Y = v (f32), or Y = saturate(round(v / y_scale) + y_zp) (u8) when y_scale and y_zero_point are given.
//
// The requantized form is what keeps a chain of int8 layers in int8: the u8 result is the next layer's X_q,
// never written out as f32. The rounding is the QuantizeLinear one (half to even) applied to v * (1/y_scale)
// instead of v / y_scale, so a value within one float ulp of a rounding tie may land one step away from what
// the unfused graph computes; tests bound that.

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "../../graph/attribute.hpp"
#include "../../kernels/gemm.hpp"
#include "../../tensor/dynamic_tensor.hpp"
#include "op_inputs.hpp"

namespace bigmodel::ops {

struct static_linear {
  static constexpr std::string_view onnx_type = "StaticLinear";
  static constexpr std::string_view domain = "com.bigmodel";
  std::int64_t trans_b = 0;  // 1: W_q is [N, K] (PyTorch Linear, Gemm transB = 1)
  std::int64_t relu = 0;     // 1: ReLU before the output (and before requantization)
  std::shared_ptr<const kernels::packed_weights> packed{};  // W_q packed for the kernel; null: packed at each run
  std::int64_t gelu = 0;     // 1: GELU (erf form) before the output (and before requantization); not with relu
  static constexpr auto fields() {
    return std::tuple{field{"trans_b", &static_linear::trans_b}, field{"relu", &static_linear::relu},
                      field{"gelu", &static_linear::gelu}};
  }
  friend bool operator==(const static_linear& a, const static_linear& b) {
    return a.trans_b == b.trans_b && a.relu == b.relu && a.gelu == b.gelu;
  }

  template <class Context>
  void run(Context& c) const {
    const auto& x = c.in(0);
    c.check((relu == 0 || relu == 1) && (gelu == 0 || gelu == 1) && !(relu && gelu),
            "StaticLinear: relu and gelu must be 0 or 1, and not both 1");
    c.check(x.type() == dtype::u8 && x.rank() >= 1, "StaticLinear input must be u8 [..., K]");
    const auto& wq = c.in(3);
    c.check(wq.type() == dtype::s8 && wq.rank() == 2, "StaticLinear weights must be s8 and 2-D");
    const auto k = static_cast<std::size_t>(wq.dim(trans_b ? 1 : 0)), n = static_cast<std::size_t>(wq.dim(trans_b ? 0 : 1));
    c.check(static_cast<std::size_t>(x.dim(x.rank() - 1)) == k, "input width does not match the weights' K");
    const float x_scale = detail::positive_scale(c, 1, "x_scale");
    const std::int32_t x_zp = detail::u8_zero_point(c, 2, "x_zero_point");
    const auto w_scale = c.f32(4);
    c.check(w_scale.size() == 1 || w_scale.size() == n, "w_scale must be a scalar or one per output channel");
    const float* bias = nullptr;
    if (c.has(5)) {
      const auto b = c.f32(5);
      c.check(b.size() == n, "bias must have one value per output channel");
      bias = b.data();
    }
    const bool requantize = c.has(6) || c.has(7);
    std::shared_ptr<const kernels::packed_weights> w = packed;
    if (!w || w->k() != k || w->n() != n)
      w = std::make_shared<const kernels::packed_weights>(kernels::pack_weights(
          wq.template span<std::int8_t>().data(), k, n, trans_b ? k : n, trans_b ? kernels::weight_layout::n_by_k : kernels::weight_layout::k_by_n));
    kernels::epilogue ep = kernels::dequantize(x_scale, x_zp, w_scale.data(), w_scale.size() == n && n > 1);
    ep.bias = bias;
    if (relu) ep.act = kernels::activation::relu;
    if (gelu) ep.act = kernels::activation::gelu;
    shape_t os = x.shape();
    os.back() = static_cast<std::int64_t>(n);
    const std::size_t m = k ? static_cast<std::size_t>(x.numel()) / k : 0;
    const std::uint8_t* a = x.template span<std::uint8_t>().data();
    if (requantize) {
      ep.requantize = true;
      ep.out_scale = detail::positive_scale(c, 6, "y_scale");
      ep.out_zero_point = detail::u8_zero_point(c, 7, "y_zero_point");
      auto y = c.out(0, dtype::u8, os).template mutable_span<std::uint8_t>();
      kernels::gemm(m, a, k, *w, y.data(), n, ep, c.execution());
    } else {
      auto y = c.out(0, dtype::f32, os).template mutable_span<float>();
      kernels::gemm(m, a, k, *w, y.data(), n, ep, c.execution());
    }
  }
};

}  // namespace bigmodel::ops
