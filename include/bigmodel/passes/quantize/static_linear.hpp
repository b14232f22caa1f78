#pragma once
// The fast path of static int8: ops::static_linear (static_linear_op.hpp) in place of the QDQ form
// quantize_static writes, so the runtime computes in int8 instead of emulating the rounding in f32.
//
//   X_q = QuantizeLinear(X, s_x, zp_x)                                   (kept: shared by every reader)
//   MatMul(DequantizeLinear(X_q, s_x, zp_x), DequantizeLinear(W_q s8, s_w, 0, axis = out)) [-> Add(bias)] [-> Relu | Gelu]
//   Gemm(DequantizeLinear(X_q ...), DequantizeLinear(W_q ...), bias, transB)                [-> Relu]
//     ==>  StaticLinear(X_q, s_x, zp_x, W_q, s_w [, bias])        (Gelu: erf form only, as the epilogue computes it)
//
// and then, where a StaticLinear's result is read only by a QuantizeLinear (the next layer's input), that
// QuantizeLinear moves into the GEMM's requantizing epilogue: the op writes u8, and a chain of layers stays
// in int8 from one GEMM to the next. Q, K and V projections reading one activation share its X_q: one
// quantization for the three.
//
// Like DynamicLinear the op is not in default_op_set: use quant_op_set (dynamic_linear.hpp). Save the
// standard QDQ form (before fusing) for other runtimes.

#include <memory>
#include <string>
#include <vector>

#include "dynamic_linear.hpp"
#include "static_linear_op.hpp"

namespace bigmodel::quant {

namespace detail {

template <class OpSet>
bool scalar_constant(const basic_computation_graph<OpSet>& g, value_id v, dtype t) {
  const auto* c = g.constant_value(v);
  return c && c->type() == t && c->numel() == 1;
}

// The DequantizeLinear of an activation: (X_q, scale, zero point) with X_q u8, per-tensor constants.
template <class OpSet>
bool quantized_activation(const basic_computation_graph<OpSet>& g, value_id a, value_id (&out)[3]) {
  const node_id dq = g.producer(a);
  if (!dq.valid() || !g.template op_as<ops::dequantize_linear>(dq)) return false;
  const auto& in = g.inputs(dq);
  if (in.size() < 3 || !in[0].valid() || g.is_constant(in[0])) return false;
  if (!scalar_constant(g, in[1], dtype::f32) || !scalar_constant(g, in[2], dtype::u8)) return false;
  out[0] = in[0], out[1] = in[1], out[2] = in[2];
  return true;
}

// The DequantizeLinear of a weight: (W_q s8 of `rank` dimensions, scale [N] or scalar f32, zero points all 0)
// with the per-channel axis on the output dimension n_axis: a MatMul's [K, N] 1, a Gemm transB's [N, K] 0, a
// Conv's [M, C/group, kh, kw] 0.
template <class OpSet>
bool quantized_weight(const basic_computation_graph<OpSet>& g, value_id w, std::size_t rank, std::int64_t n_axis,
                      value_id (&out)[2]) {
  const node_id dq = g.producer(w);
  if (!dq.valid()) return false;
  const auto* op = g.template op_as<ops::dequantize_linear>(dq);
  if (!op) return false;
  const auto& in = g.inputs(dq);
  const auto* wq = in.empty() ? nullptr : g.constant_value(in[0]);
  if (!wq || wq->type() != dtype::s8 || wq->rank() != rank || in.size() < 2) return false;
  const auto* s = g.constant_value(in[1]);
  if (!s || s->type() != dtype::f32) return false;
  if (s->numel() != 1 && (s->numel() != wq->dim(n_axis) || s->rank() != 1 || (op->axis != n_axis && op->axis != n_axis - static_cast<std::int64_t>(rank))))
    return false;
  if (in.size() > 2 && in[2].valid() && !all_zero(g, in[2])) return false;
  out[0] = in[0], out[1] = in[1];
  return true;
}

template <class OpSet>
bool bias_constant(const basic_computation_graph<OpSet>& g, value_id b, std::int64_t n) {
  const auto* t = g.constant_value(b);
  return t && t->type() == dtype::f32 && t->numel() == n && (t->rank() == 1 || (t->rank() == 2 && t->dim(0) == 1));
}

inline void add_bigmodel_domain(std::vector<std::pair<std::string, std::int64_t>>& imports) {
  for (const auto& [dom, ver] : imports)
    if (dom == "com.bigmodel") return;
  imports.emplace_back("com.bigmodel", 1);
}

// Puts `op` in place of a matched layer: the nodes of `tail` (the layer, then what it absorbed: bias, activation)
// and the DequantizeLinear nodes of its input and weight give way to one node writing the tail's last output.
// Its inputs: X_q, x_scale, x_zero_point (x), W_q, w_scale (w), and the bias if valid.
template <class Op, class OpSet>
node_id replace_layer(basic_computation_graph<OpSet>& g, const std::vector<node_id>& tail, value_id out, Op op,
                      const value_id (&x)[3], const value_id (&w)[2], value_id bias, const std::string& name) {
  std::vector<value_id> in{x[0], x[1], x[2], w[0], w[1]};
  if (bias.valid()) in.push_back(bias);
  const node_id dq_x = g.producer(g.inputs(tail.front())[0]), dq_w = g.producer(g.inputs(tail.front())[1]);
  g.erase_node(tail.back());
  const node_id made = g.add_node(std::move(op), in, {out}, g.unique_node_name(name));
  for (auto it = tail.rbegin() + 1; it != tail.rend(); ++it) erase_dead(g, *it);
  erase_dead(g, dq_x);
  erase_dead(g, dq_w);
  return made;
}

// Requantizing epilogues: a fused op (inputs X_q, x_scale, x_zp, W_q, w_scale [, bias]) whose result only a
// QuantizeLinear (u8, per tensor) reads takes that QuantizeLinear's scale and zero point as inputs 6 and 7 and
// writes its u8 output itself.
template <class Op, class OpSet>
void requantize_epilogues(basic_computation_graph<OpSet>& g, const std::vector<node_id>& made) {
  for (const node_id s : made) {
    const value_id y = g.outputs(s)[0];
    const node_id q = only_consumer(g, y);
    if (!q.valid() || !g.template op_as<ops::quantize_linear>(q)) continue;
    const auto& qi = g.inputs(q);
    if (qi.size() < 3 || !scalar_constant(g, qi[1], dtype::f32) || !scalar_constant(g, qi[2], dtype::u8)) continue;
    if (!(g.constant_value(qi[1])->template span<float>()[0] > 0.0f)) continue;
    auto ins = g.inputs(s);
    if (ins.size() == 5) ins.push_back(value_id{});  // no bias
    ins.push_back(qi[1]);
    ins.push_back(qi[2]);
    const value_id yq = g.outputs(q)[0];
    auto op = *g.template op_as<Op>(s);
    const std::string name = g.at(s).name;
    g.erase_node(q);
    g.erase_node(s);
    g.erase_value(y);
    g.add_node(std::move(op), ins, {yq}, name);
  }
}

// A fused op's result read only by a MaxPool whose result only a QuantizeLinear (u8, per tensor) reads: the
// QuantizeLinear moves before the MaxPool, so the requantizing epilogue below takes it and the MaxPool runs on
// u8. Exact: quantization is monotonic (round, then clamp), so the largest quantized value of a window is the
// quantized largest value; padding never wins either way.
template <class OpSet>
void quantize_before_max_pool(basic_computation_graph<OpSet>& g, const std::vector<node_id>& made) {
  for (const node_id s : made) {
    const value_id y = g.outputs(s)[0];
    const node_id mp = only_consumer(g, y);
    if (!mp.valid() || !g.template op_as<ops::max_pool>(mp) || g.inputs(mp)[0] != y) continue;
    const auto& mo = g.outputs(mp);
    if (mo.size() > 1 && mo[1].valid() && (!g.uses(mo[1]).empty() || g.at(mo[1]).is_output)) continue;  // indices read
    const value_id p = mo[0];
    const node_id q = only_consumer(g, p);
    if (!q.valid() || !g.template op_as<ops::quantize_linear>(q)) continue;
    const auto qi = g.inputs(q);
    if (qi.size() < 3 || qi[0] != p || !scalar_constant(g, qi[1], dtype::f32) || !scalar_constant(g, qi[2], dtype::u8)) continue;
    const auto pool = *g.template op_as<ops::max_pool>(mp);
    const auto quant = *g.template op_as<ops::quantize_linear>(q);
    const std::string pool_name = g.at(mp).name, quant_name = g.at(q).name;
    const value_id pq = g.outputs(q)[0];
    const auto dropped = mo;  // the pool's outputs: its result, an unread indices output
    g.erase_node(q);
    g.erase_node(mp);
    for (const value_id v : dropped)
      if (v.valid()) g.erase_value(v);
    const value_id yq = g.add_value(g.name_of(y) + "_quantized");
    g.add_node(quant, {y, qi[1], qi[2]}, {yq}, quant_name);
    g.add_node(pool, {yq}, {pq}, pool_name);
  }
}

// The last step of a fusion pass: requantizing epilogues for the ops it made (a MaxPool after one runs on its
// u8 result), the com.bigmodel import if any.
template <class Op, class OpSet>
std::size_t finish_fusion(basic_computation_graph<OpSet>& g, const std::vector<node_id>& made) {
  quantize_before_max_pool(g, made);
  requantize_epilogues<Op>(g, made);
  if (!made.empty()) add_bigmodel_domain(g.opset_imports);
  return made.size();
}

}  // namespace detail

// Fuses every QDQ MatMul / Gemm with an u8 per-tensor activation and s8 symmetric weights (per tensor or
// per output channel) into ops::static_linear, then moves each QuantizeLinear that alone reads a fused
// result into that op's epilogue. Returns the number of layers fused. Per-group (int4) weights, Conv and
// layers whose pattern differs are left as they are.
template <class OpSet>
  requires(OpSet::template contains<ops::static_linear>)
std::size_t fuse_static_linear(basic_computation_graph<OpSet>& g) {
  std::vector<node_id> made;
  for (const auto layer : g.nodes()) {
    if (!g.alive(layer)) continue;
    const auto* mm = g.template op_as<ops::matmul>(layer);
    const auto* gm = g.template op_as<ops::gemm>(layer);
    if (!mm && !gm) continue;
    const ops::activation act = mm ? mm->act : gm->act;
    if (act.kind != ops::activation_kind::none && act.kind != ops::activation_kind::relu) continue;
    if (gm && (gm->trans_a || gm->alpha != 1.0f)) continue;
    const bool trans_b = gm && gm->trans_b;
    const auto ins = g.inputs(layer);
    if (ins.size() < 2 || !ins[0].valid() || !ins[1].valid()) continue;
    value_id x[3], w[2];
    if (!detail::quantized_activation(g, ins[0], x) || !detail::quantized_weight(g, ins[1], 2, trans_b ? 0 : 1, w)) continue;
    const std::int64_t n = g.constant_value(w[0])->dim(trans_b ? 0 : 1);
    value_id bias;
    if (gm && ins.size() > 2 && ins[2].valid()) {
      if (gm->beta != 1.0f || !detail::bias_constant(g, ins[2], n)) continue;
      bias = ins[2];
    }
    // Nodes the op replaces, last one first: its output becomes the op's output.
    std::vector<node_id> tail{layer};
    value_id out = g.outputs(layer)[0];
    bool relu = act.kind == ops::activation_kind::relu;
    if (mm && !relu) {
      const node_id add = detail::only_consumer(g, out);
      if (add.valid() && g.template op_as<ops::add>(add)) {
        const auto& ai = g.inputs(add);
        const value_id b = ai[0] == out ? ai[1] : ai[0];
        if (detail::bias_constant(g, b, n)) bias = b, tail.push_back(add), out = g.outputs(add)[0];
      }
    }
    bool gelu = false;
    if (!relu) {
      const node_id r = detail::only_consumer(g, out);
      const auto* ge = r.valid() ? g.template op_as<ops::gelu>(r) : nullptr;
      if (r.valid() && g.template op_as<ops::relu>(r)) relu = true, tail.push_back(r), out = g.outputs(r)[0];
      else if (ge && ge->approximate == "none") gelu = true, tail.push_back(r), out = g.outputs(r)[0];
    }
    const auto* wq = g.constant_value(w[0]);
    const auto k = static_cast<std::size_t>(wq->dim(trans_b ? 1 : 0));
    ops::static_linear op{trans_b ? 1 : 0, relu ? 1 : 0,
                          std::make_shared<const kernels::packed_weights>(kernels::pack_weights(
                              wq->template span<std::int8_t>().data(), k, static_cast<std::size_t>(n), trans_b ? k : static_cast<std::size_t>(n),
                              trans_b ? kernels::weight_layout::n_by_k : kernels::weight_layout::k_by_n)),
                          gelu ? 1 : 0};
    made.push_back(detail::replace_layer(g, tail, out, std::move(op), x, w, bias, g.at(layer).name + "_StaticLinear"));
  }
  return detail::finish_fusion<ops::static_linear>(g, made);
}

}  // namespace bigmodel::quant
