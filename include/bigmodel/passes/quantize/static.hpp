#pragma once
// Static int8 quantization (QDQ): activation ranges come from calibration inputs (observers.hpp), weights
// are quantized like weight-only int8. Every selected MatMul / Gemm / Conv reads
//
//   A' = DequantizeLinear(QuantizeLinear(A, a_scale, a_zp u8), a_scale, a_zp)      once per activation
//   W' = DequantizeLinear(W_q s8, w_scale [out], 0, axis = output axis)           (weight_only.hpp)
//
// the standard QDQ form ONNX Runtime turns into QLinearMatMul / QLinearConv / MatMulIntegerToFloat; our
// runtime computes it in f32 with exactly the rounding int8 hardware sees. The report's notes give each
// activation's observed range and its scale / zero point.

#include <map>
#include <string>
#include <vector>

#include "../../runtime/calibration.hpp"
#include "observers.hpp"
#include "weight_only.hpp"

namespace bigmodel::quant {

struct static_config {
  layer_selection layers{.scheme = {weight_type::s8, granularity_kind::per_channel, 0, symmetry::symmetric}};
  observer_options observer{};
};

// The observed range of each activation entering a selected layer, keyed by value name.
template <class OpSet>
[[nodiscard]] std::map<std::string, observer> calibrate(const basic_computation_graph<OpSet>& g,
                                                       const std::vector<named_tensors>& calibration,
                                                       const std::vector<value_id>& activations, const observer_options& opt) {
  std::map<std::string, observer> obs;
  for (auto v : activations) obs.emplace(g.name_of(v), observer(opt));
  auto check = [&](const std::string& name, const dynamic_tensor& t) {
    require(t.type() == dtype::f32, "calibration.dtype", "activation is " + std::string(bigmodel::name(t.type())) + ", not f32",
            "value '" + name + "'");
    return t.span<float>();
  };
  runtime::observe_values(g, calibration, activations, [&](const std::string& name, const dynamic_tensor& t) {
    obs.at(name).observe_range(check(name, t), "value '" + name + "'");
  });
  if (needs_histogram(opt.kind))
    runtime::observe_values(g, calibration, activations,
                            [&](const std::string& name, const dynamic_tensor& t) { obs.at(name).observe_histogram(check(name, t)); });
  return obs;
}

template <class OpSet>
quantize_report quantize_static(basic_computation_graph<OpSet>& g, const std::vector<named_tensors>& calibration,
                                const static_config& cfg = {}) {
  require(!calibration.empty(), "calibration.empty", "the calibration set is empty");
  std::vector<std::pair<graph_layer, weight_scheme>> chosen;
  std::vector<value_id> activations;
  for (const auto& l : find_layers(g)) {
    const auto s = cfg.layers.scheme_for(l.ref());
    if (!s) continue;
    const value_id a = g.inputs(l.node)[0];
    if (!a.valid() || g.is_constant(a)) continue;
    validate_layer(g, l, *s);
    chosen.emplace_back(l, *s);
    if (std::find(activations.begin(), activations.end(), a) == activations.end()) activations.push_back(a);
  }
  quantize_report rep;
  if (chosen.empty()) return rep;
  const auto obs = calibrate(g, calibration, activations, cfg.observer);  // throws before the graph changes
  bool int4 = false;
  for (const auto& [l, s] : chosen) int4 = int4 || s.type == weight_type::s4;
  if (int4) raise_opset(g, 21, "int4 DequantizeLinear");

  std::map<std::uint32_t, value_id> dequantized_activation;
  for (auto a : activations) {
    const std::string name = g.name_of(a);
    const auto& o = obs.at(name);
    const auto [lo, hi] = o.range();
    const quant_param p = choose_quant_param<std::uint8_t>(lo, hi, symmetry::affine, "value '" + name + "'");
    const value_id scale = add_constant(g, name + "_scale", dynamic_tensor::scalar(p.scale));
    const value_id zp = add_constant(g, name + "_zero_point", dynamic_tensor::scalar(static_cast<std::uint8_t>(p.zero_point)));
    const value_id q = g.add_value(name + "_quantized"), dq = g.add_value(name + "_dequantized");
    g.add_node(ops::quantize_linear{}, {a, scale, zp}, {q}, g.unique_node_name(name + "_QuantizeLinear"));
    g.add_node(ops::dequantize_linear{}, {q, scale, zp}, {dq}, g.unique_node_name(name + "_DequantizeLinear"));
    dequantized_activation.emplace(a.index, dq);
    const auto [mn, mx] = o.min_max();
    rep.notes.push_back("activation '" + name + "': observed [" + std::to_string(mn) + ", " + std::to_string(mx) + "], quantized over [" +
                        std::to_string(lo) + ", " + std::to_string(hi) + "], scale " + std::to_string(p.scale) + ", zero point " +
                        std::to_string(p.zero_point));
  }
  for (const auto& [l, s] : chosen) g.set_input(l.node, 0, dequantized_activation.at(g.inputs(l.node)[0].index));
  detail::replace_weights(g, chosen, rep);
  return rep;
}

}  // namespace bigmodel::quant
