#pragma once
// The quantization algorithms as pass values (pass.hpp): `g |= passes::quantize_dynamic()` runs in place,
// `passes::quantize_dynamic(cfg).run(g)` keeps the report (per-layer notes say what stayed fp32 and why).

#include "../pass.hpp"
#include "attention.hpp"
#include "dynamic.hpp"
#include "dynamic_linear.hpp"
#include "static.hpp"
#include "static_conv.hpp"
#include "static_linear.hpp"
#include "weight_only.hpp"

namespace bigmodel::passes {

[[nodiscard]] inline auto quantize_dynamic(quant::dynamic_config cfg = {}) {
  return make_pass("quantize_dynamic", [cfg = std::move(cfg)](auto& g) { return quant::quantize_dynamic(g, cfg); });
}
// quantize_dynamic<per_channel<0>, std::int8_t>(): the weight scheme from the granularity types.
template <granularity Granularity, class Q = std::int8_t>
[[nodiscard]] auto quantize_dynamic(symmetry sym = symmetry::symmetric) {
  quant::dynamic_config cfg;
  cfg.layers.scheme = quant::scheme_of<Granularity, Q>(sym);
  return quantize_dynamic(std::move(cfg));
}

// int8 q·kᵀ and p·v in the fused Attention ops (attention.hpp); quantize_attention(false) sets them back to f32.
[[nodiscard]] inline auto quantize_attention(bool on = true) {
  return make_pass("quantize_attention", [on](auto& g) { return quant::quantize_attention(g, on); });
}

[[nodiscard]] inline auto quantize_weights(quant::weight_only_config cfg = {}) {
  return make_pass("quantize_weights", [cfg = std::move(cfg)](auto& g) { return quant::quantize_weights(g, cfg); });
}
template <granularity Granularity, class Q = std::int8_t>
[[nodiscard]] auto quantize_weights(symmetry sym = symmetry::symmetric) {
  quant::weight_only_config cfg;
  cfg.layers.scheme = quant::scheme_of<Granularity, Q>(sym);
  return quantize_weights(std::move(cfg));
}
// fp16 / bf16 weights (computed in f32): quantize_weights_as<f16>() or <bf16>().
template <class H>
[[nodiscard]] auto quantize_weights_as() {
  quant::weight_only_config cfg;
  cfg.layers.scheme = {quant::weight_type_of<H>()};
  return quantize_weights(std::move(cfg));
}

// Static int8 (QDQ) calibrated on `calibration` (kept by the pass: batches of named inputs).
[[nodiscard]] inline auto quantize_static(std::vector<named_tensors> calibration, quant::static_config cfg = {}) {
  return make_pass("quantize_static", [calibration = std::move(calibration), cfg = std::move(cfg)](auto& g) {
    return quant::quantize_static(g, calibration, cfg);
  });
}

// The fast path of dynamic int8 on graphs of quant::quant_op_set (see dynamic_linear.hpp).
[[nodiscard]] inline auto fuse_dynamic_linear(bool per_row = false) {
  return make_pass("fuse_dynamic_linear", [per_row](auto& g) { return quant::fuse_dynamic_linear(g, per_row); });
}
// The fast path of static int8 (QDQ MatMul/Gemm -> StaticLinear, int8 chains kept in int8; static_linear.hpp).
[[nodiscard]] inline auto fuse_static_linear() {
  return make_pass("fuse_static_linear", [](auto& g) { return quant::fuse_static_linear(g); });
}
// The fast path of static int8 Conv (QDQ Conv -> StaticConv, run on the int8 GEMM; static_conv.hpp).
[[nodiscard]] inline auto fuse_static_conv() {
  return make_pass("fuse_static_conv", [](auto& g) { return quant::fuse_static_conv(g); });
}

}  // namespace bigmodel::passes
