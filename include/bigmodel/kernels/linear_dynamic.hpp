#pragma once
// The dynamic-quantization Linear (what PyTorch's quantize_dynamic Linear and ONNX Runtime's
// DynamicQuantizeLinear + MatMulInteger compute): quantize the f32 activations to u8 on the fly, per row or
// per tensor, asymmetric over [min(x, 0), max(x, 0)]; run the int8 GEMM; dequantize, add bias, activate.
//
// Error: with s = (max - min) / 255 and zp = nearbyint(-min / s), every activation is represented within
// s / 2 (x / s + zp lies in [-0.5, 255.5], so clamping to [0, 255] never moves a value by more than rounding
// does). Hence |y - y_exact| <= (s_row / 2) * sum_k |w_scale[n] * W[k][n]| plus f32 rounding of the result,
// where y_exact uses the dequantized weights. tests/kernels/linear_dynamic_test.cpp checks this bound.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "activation_quantize.hpp"
#include "gemm.hpp"

namespace bigmodel::kernels {

enum class granularity : std::uint8_t { per_row, per_tensor };

struct linear_options {
  granularity activations = granularity::per_row;
  activation act = activation::none;
  execution exec{};
};

namespace detail {

[[nodiscard]] inline activation_quantization choose_quantization(float lo, float hi) noexcept {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  const float scale = (hi - lo) / 255.0f;
  if (!(scale > 0.0f) || !std::isfinite(scale)) return {1.0f, 0};  // all zero (or non-finite input)
  const float zp = std::nearbyint(-lo / scale);
  return {scale, static_cast<std::int32_t>(std::clamp(zp, 0.0f, 255.0f))};
}

struct linear_scratch {
  std::vector<float> scale;
  std::vector<std::int32_t> zero_point;
};
inline linear_scratch& linear_buffers() {
  thread_local linear_scratch s;
  return s;
}

}  // namespace detail

// y[m][n] = act(sum_k x[m][k] * w_scale[n] * W[k][n] + bias[n]) with x quantized to u8 on the fly.
// w_scale: N entries if w_per_channel, else 1. bias_values (N entries) may be null.
// Throws bigmodel::error: "kernels.bad_argument" for null x / y / w_scale or ldx < K or ldy < N, and the ids
// of gemm() ("kernels.isa_mismatch", ...) when the GEMM cannot run.
inline void linear_dynamic(std::size_t m, const float* x, std::size_t ldx, const packed_weights& w, const float* w_scale,
                           bool w_per_channel, const float* bias_values, float* y, std::size_t ldy, const linear_options& opt = {}) {
  const std::size_t k = w.k(), n = w.n();
  const std::string ctx = "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
  require(!w.empty(), "kernels.empty_weights", "linear_dynamic: weights were never packed", ctx);
  require(w_scale != nullptr, "kernels.bad_argument", "linear_dynamic: null weight scales", ctx);
  if (m == 0) return;
  require(x != nullptr && y != nullptr, "kernels.bad_argument", "linear_dynamic: null x or y", ctx);
  require(ldx >= k && ldy >= n, "kernels.bad_argument", "linear_dynamic: leading dimension too small", ctx);

  // x is quantized straight into the GEMM's packed A layout (detail::run_gemm_produced): no u8 copy of x and
  // no separate packing pass. Single-threaded, one row block at a time right before the block is multiplied,
  // so the packed block is still in cache when the tiles read it; with threads, each tile by the first task
  // that needs it (the scales of its rows are written before any task reads them). Per row, min / max reads
  // the row from memory and the quantization reads it again from L1.
  detail::linear_scratch& s = detail::linear_buffers();
  epilogue ep = dequantize(1.0f, 0, w_scale, w_per_channel) | bias(bias_values) | epilogues::activation_t{opt.act};
  activation_quantization tensor_q{1.0f, 0};
  const bool per_row = opt.activations == granularity::per_row;
  const detail::row_path path = detail::activation_row_path();
  if (per_row) {
    s.scale.resize(m);
    s.zero_point.resize(m);
    ep.a_row_scale = s.scale.data();
    ep.a_row_zero_point = s.zero_point.data();
  } else {
    float lo = x[0], hi = lo;
    for (std::size_t i = 0; i < m; ++i) detail::min_max_with(path, x + i * ldx, k, lo, hi);
    tensor_q = detail::choose_quantization(lo, hi);
    ep.a_scale = tensor_q.scale;
    ep.a_zero_point = tensor_q.zero_point;
  }
  const detail::a_producer produce = [&](std::size_t r0, std::size_t rows, std::size_t, std::size_t kp, std::uint8_t* dst) {
    activation_quantization q[detail::max_tile_rows];
    for (std::size_t i = 0; i < rows; ++i) {
      if (per_row) {
        const float* row = x + (r0 + i) * ldx;
        float lo = row[0], hi = lo;
        detail::min_max_with(path, row, k, lo, hi);
        q[i] = detail::choose_quantization(lo, hi);
        s.scale[r0 + i] = q[i].scale;
        s.zero_point[r0 + i] = q[i].zero_point;
      } else {
        q[i] = tensor_q;
      }
    }
    detail::quantize_tile_packed_with(path, x + r0 * ldx, ldx, rows, k, kp, q, dst);
  };
  // a is not read (A comes from produce) but must be non-null for can_implement.
  const gemm_args args = make_gemm_args(m, reinterpret_cast<const std::uint8_t*>(x), k, w, y, ldy, ep);
  const status st = detail::run_gemm_produced(args, produce, opt.exec);
  if (st != status::ok)
    throw error("kernels." + std::string(to_string(st)), "linear_dynamic: int8 gemm cannot run",
                ctx + " packed for " + std::string(isa_name(w.target())) + ", active " + std::string(isa_name(active_isa())));
}

}  // namespace bigmodel::kernels
