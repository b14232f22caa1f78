#pragma once
// Dynamic int8 quantization (PyTorch's quantize_dynamic, ONNX Runtime's quantize_dynamic): weights are
// quantized now, activations at run time. Each selected MatMul / Gemm with a constant weight becomes the
// standard ONNX form ONNX Runtime's own quantizer writes (benchmarks/ort/quantize_like_ort.py):
//
//   A_q, A_scale, A_zp = DynamicQuantizeLinear(A)          once per distinct activation
//   Y_i32 = MatMulInteger(A_q, W_q [K, N], A_zp, W_zp)     W_zp: zeros of W_q's type, [N] or scalar
//   Y     = Mul(Cast<f32>(Y_i32), Mul(A_scale, W_scale))   W_scale: [N] per channel, scalar per tensor
//   Y     = Add(Y, C)                                       Gemm's bias, if any
//
// Weights: int8 (or uint8) per output channel or per tensor, symmetric by default (affine gives non-zero
// W_zp). Group-wise and int4 schemes cannot be expressed with MatMulInteger and are refused. Conv layers
// and Gemms with alpha/beta != 1, transA or a fused activation are left in fp32 (noted in the report).
// fuse_dynamic_linear (dynamic_linear.hpp) turns the pattern into one op that runs kernels::linear_dynamic.

#include <map>
#include <string>

#include "graph_layers.hpp"
#include "tensors.hpp"

namespace bigmodel::quant {

struct dynamic_config {
  layer_selection layers{.scheme = {weight_type::s8, granularity_kind::per_channel, 0, symmetry::symmetric},
                         .op_types = {"MatMul", "Gemm"}};
};

namespace detail {
inline void check_dynamic_scheme(const weight_scheme& s, const std::string& where) {
  if (s.type != weight_type::s8 && s.type != weight_type::u8)
    throw error("quant.scheme", "dynamic quantization needs int8 or uint8 weights, not " + describe(s), where);
  if (s.granularity == granularity_kind::per_group)
    throw error("quant.scheme", "MatMulInteger has no group-wise scales (use weight-only quantization for " + describe(s) + ")", where);
}

template <class OpSet>
std::string dynamic_skip_reason(const basic_computation_graph<OpSet>& g, const graph_layer& l) {
  if (l.op_type == "Conv") return "Conv stays fp32 in dynamic quantization";
  if (g.is_constant(g.inputs(l.node)[0])) return "its activation is a constant";
  if (const auto* gm = g.template op_as<ops::gemm>(l.node)) {
    if (gm->alpha != 1.0f || gm->beta != 1.0f || gm->trans_a) return "Gemm with alpha/beta != 1 or transA";
    if (gm->act.kind != ops::activation_kind::none && gm->act.kind != ops::activation_kind::relu) return "fused activation other than ReLU";
  }
  if (const auto* mm = g.template op_as<ops::matmul>(l.node);
      mm && mm->act.kind != ops::activation_kind::none && mm->act.kind != ops::activation_kind::relu)
    return "fused activation other than ReLU";
  return {};
}

struct dynamic_activation {
  value_id q, scale, zero_point;
};
struct dynamic_weight {
  value_id q, scale, zero_point;
};
}  // namespace detail

template <class OpSet>
quantize_report quantize_dynamic(basic_computation_graph<OpSet>& g, const dynamic_config& cfg = {}) {
  quantize_report rep;
  std::map<std::uint32_t, detail::dynamic_activation> activations;  // by activation value
  std::map<std::uint32_t, detail::dynamic_weight> weights;          // by original weight value
  for (const auto& l : find_layers(g))  // all checks before the graph changes
    if (const auto s = cfg.layers.scheme_for(l.ref()); s && detail::dynamic_skip_reason(g, l).empty()) {
      detail::check_dynamic_scheme(*s, l.where());
      validate_layer(g, l, *s);
    }
  for (const auto& l : find_layers(g)) {
    const auto scheme = cfg.layers.scheme_for(l.ref());
    if (!scheme) continue;
    if (auto why = detail::dynamic_skip_reason(g, l); !why.empty()) {
      rep.notes.push_back(l.where() + " kept fp32: " + why);
      continue;
    }
    const std::vector<value_id> ins = g.inputs(l.node);
    const value_id out = g.outputs(l.node).at(0);
    const std::string base = l.node_name.empty() ? l.weight_name : l.node_name;

    auto wit = weights.find(l.weight.index);
    if (wit == weights.end()) {
      const dynamic_tensor w = *g.constant_value(l.weight);  // a copy (shared storage): adding values moves value_info
      const auto q = quantize_matrix(output_major(w, l.inputs_first), *scheme, l.where());
      const auto k = static_cast<std::int64_t>(q.cols), n = static_cast<std::int64_t>(q.rows);
      detail::dynamic_weight dw{add_constant(g, l.weight_name + "_quantized", values_tensor(q, {k, n}, true)),
                                add_constant(g, l.weight_name + "_scale", scales_tensor(q)),
                                add_constant(g, l.weight_name + "_zero_point", zero_points_tensor(q))};
      wit = weights.emplace(l.weight.index, dw).first;
      rep.layers.push_back({l.where(), "dynamic " + describe(*scheme), q.rows * q.cols, w.bytes(),
                            g.constant_value(dw.q)->bytes() + g.constant_value(dw.scale)->bytes() + g.constant_value(dw.zero_point)->bytes()});
    }
    auto ait = activations.find(ins[0].index);
    if (ait == activations.end()) {
      const std::string a = g.name_of(ins[0]);  // a copy: adding values may move the names
      detail::dynamic_activation da{g.add_value(a + "_quantized"), g.add_value(a + "_scale"), g.add_value(a + "_zero_point")};
      g.add_node(ops::dynamic_quantize_linear{}, {ins[0]}, {da.q, da.scale, da.zero_point}, g.unique_node_name(a + "_DynamicQuantizeLinear"));
      ait = activations.emplace(ins[0].index, da).first;
    }
    const auto& [aq, ascale, azp] = ait->second;
    const auto& [wq, wscale, wzp] = wit->second;
    const bool has_bias = ins.size() > 2 && ins[2].valid();
    const value_id bias = has_bias ? ins[2] : value_id{};
    // A ReLU the optimizer fused into the layer becomes a Relu node after the dequantized result.
    const auto* mm_op = g.template op_as<ops::matmul>(l.node);
    const auto* gm_op = g.template op_as<ops::gemm>(l.node);
    const bool relu = (mm_op && mm_op->act.kind == ops::activation_kind::relu) || (gm_op && gm_op->act.kind == ops::activation_kind::relu);
    g.erase_node(l.node);
    const value_id final_out = out;
    const value_id chain_out = relu ? g.add_value(base + "_pre_relu") : out;
    const value_id y_int = g.add_value(base + "_MatMulInteger_output");
    const value_id y_f = g.add_value(base + "_Cast_output");
    const value_id s = g.add_value(base + "_scales");
    const value_id y = has_bias ? g.add_value(base + "_Mul_output") : chain_out;
    g.add_node(ops::matmul_integer{}, {aq, wq, azp, wzp}, {y_int}, g.unique_node_name(base + "_MatMulInteger"));
    add_cast_to_f32(g, y_int, y_f, base + "_Cast");
    g.add_node(ops::mul{}, {ascale, wscale}, {s}, g.unique_node_name(base + "_scales_Mul"));
    g.add_node(ops::mul{}, {y_f, s}, {y}, g.unique_node_name(base + "_Mul"));
    if (has_bias) g.add_node(ops::add{}, {y, bias}, {chain_out}, g.unique_node_name(base + "_bias_Add"));
    if (relu) g.add_node(ops::relu{}, {chain_out}, {final_out}, g.unique_node_name(base + "_Relu"));
    erase_if_unused(g, l.weight);
    ++rep.changes;
  }
  return rep;
}

}  // namespace bigmodel::quant
