#pragma once
// Weight-only quantization: weights stored as int8 / uint8 / int4 or fp16 / bf16, turned back into f32 by a
// standard ONNX node in front of the unchanged MatMul / Gemm / Conv (compute stays f32):
//
//   per tensor / per channel:  W_f = DequantizeLinear(W_q, scale, zero_point, axis = the output axis)
//                              (axis 1 for MatMul's [K, N] and Gemm without transB, 0 for Gemm transB and Conv)
//   per group of G:            W_f = [Transpose] Reshape(DequantizeLinear(W_q [N*K/G, G], scale [N*K/G], zp, axis 0), W.shape)
//                              (the values are stored output-major [N, K] in rows of one group each, so a
//                              per-axis DequantizeLinear applies one scale per group; MatMul's [K, N] weight
//                              gets a Transpose back)
//   fp16 / bf16:               W_f = Cast<f32>(W_h)
//
// int4 needs DequantizeLinear from opset 21: the model's opset is raised when that is safe (opset.hpp),
// else the pass throws "quant.opset" naming the node. Everything is opset 13+ standard ONNX that ONNX Runtime
// runs; constant folding would turn the weights back into f32 in memory, so run no folding after this pass.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph_layers.hpp"
#include "opset.hpp"
#include "tensors.hpp"

namespace bigmodel::quant {

struct weight_only_config {
  layer_selection layers{.scheme = {weight_type::s8, granularity_kind::per_channel, 0, symmetry::symmetric}};
  // Group-wise layers whose input dimension the group size does not divide: false = error naming the layer,
  // true = keep them fp32 (noted in the report; PyTorch's reference int4 recipe does this).
  bool keep_indivisible_fp32 = false;
};

namespace detail {
// Storage axis of the output channels.
inline std::int64_t output_axis(const graph_layer& l) { return l.inputs_first ? 1 : 0; }

template <class OpSet>
value_id dequantized_weight(basic_computation_graph<OpSet>& g, const graph_layer& l, const weight_scheme& s, quantize_report& rep) {
  const dynamic_tensor w = *g.constant_value(l.weight);
  const std::string& name = l.weight_name;
  const value_id out = g.add_value(name + "_dequantized");
  if (!is_integer(s.type)) {
    const value_id h = add_constant(g, name + (s.type == weight_type::f16 ? "_fp16" : "_bf16"), half_tensor(w, s.type, l.where()));
    add_cast_to_f32(g, h, out, name + "_Cast");
    rep.layers.push_back({l.where(), describe(s), static_cast<std::size_t>(w.numel()), w.bytes(), g.constant_value(h)->bytes()});
    return out;
  }
  const auto q = quantize_matrix(output_major(w, l.inputs_first), s, l.where());
  const bool grouped = s.granularity == granularity_kind::per_group;
  const auto groups = static_cast<std::int64_t>(q.rows * q.cols / q.group);
  const value_id vq = add_constant(g, name + "_quantized",
                                   grouped ? values_tensor(q, {groups, static_cast<std::int64_t>(q.group)}, false)
                                           : values_tensor(q, w.shape(), l.inputs_first));
  const value_id vs = add_constant(g, name + "_scale", scales_tensor(q));
  const value_id vz = add_constant(g, name + "_zero_point", zero_points_tensor(q));
  rep.layers.push_back({l.where(), describe(s), q.rows * q.cols, w.bytes(),
                        g.constant_value(vq)->bytes() + g.constant_value(vs)->bytes() + g.constant_value(vz)->bytes()});
  const std::int64_t axis = grouped ? 0 : output_axis(l);
  if (!grouped) {
    g.add_node(ops::dequantize_linear{axis}, {vq, vs, vz}, {out}, g.unique_node_name(name + "_DequantizeLinear"));
    return out;
  }
  const value_id flat = g.add_value(name + "_dequantized_groups");
  g.add_node(ops::dequantize_linear{0}, {vq, vs, vz}, {flat}, g.unique_node_name(name + "_DequantizeLinear"));
  shape_t major = w.shape();  // output-major storage shape
  if (l.inputs_first) major = {w.dim(1), w.dim(0)};
  const value_id shape = add_constant(g, name + "_shape", dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(major.size())}, major));
  if (!l.inputs_first) {
    g.add_node(ops::reshape{}, {flat, shape}, {out}, g.unique_node_name(name + "_Reshape"));
    return out;
  }
  const value_id nk = g.add_value(name + "_dequantized_nk");
  g.add_node(ops::reshape{}, {flat, shape}, {nk}, g.unique_node_name(name + "_Reshape"));
  g.add_node(ops::transpose{ops::ints{1, 0}}, {nk}, {out}, g.unique_node_name(name + "_Transpose"));
  return out;
}
// Every chosen layer reads its weight through the dequantizing nodes (built once per shared weight); the
// f32 weights nobody reads any more are erased.
template <class OpSet>
void replace_weights(basic_computation_graph<OpSet>& g, const std::vector<std::pair<graph_layer, weight_scheme>>& chosen,
                     quantize_report& rep) {
  std::map<std::uint32_t, value_id> done;  // original weight -> its f32 replacement
  for (const auto& [l, s] : chosen) {
    auto it = done.find(l.weight.index);
    if (it == done.end()) it = done.emplace(l.weight.index, dequantized_weight(g, l, s, rep)).first;
    g.set_input(l.node, 1, it->second);
    ++rep.changes;
  }
  for (const auto& [index, replacement] : done) erase_if_unused(g, value_id{index});
}
}  // namespace detail

template <class OpSet>
quantize_report quantize_weights(basic_computation_graph<OpSet>& g, const weight_only_config& cfg = {}) {
  quantize_report rep;
  std::vector<std::pair<graph_layer, weight_scheme>> chosen;
  bool int4 = false;
  for (const auto& l : find_layers(g))
    if (const auto s = cfg.layers.scheme_for(l.ref())) {
      if (cfg.keep_indivisible_fp32 && s->granularity == granularity_kind::per_group && is_integer(s->type) &&
          (s->group_size == 0 || l.cols % s->group_size != 0)) {
        rep.notes.push_back(l.where() + " kept fp32: group size " + std::to_string(s->group_size) + " does not divide " + std::to_string(l.cols));
        continue;
      }
      chosen.emplace_back(l, *s);
      int4 = int4 || s->type == weight_type::s4;
    }
  for (const auto& [l, s] : chosen) validate_layer(g, l, s);  // all checks before the graph changes
  if (int4) raise_opset(g, 21, "int4 DequantizeLinear");
  detail::replace_weights(g, chosen, rep);
  return rep;
}

}  // namespace bigmodel::quant
