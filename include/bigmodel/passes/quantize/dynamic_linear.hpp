#pragma once
// The fast path of dynamic int8: one op, ops::dynamic_linear (com.bigmodel "DynamicLinear"), that runs
// kernels::linear_dynamic (int8 GEMM with runtime ISA dispatch) in place of the standard ONNX chain
// quantize_dynamic writes:
//
//   DynamicQuantizeLinear(A) -> MatMulInteger(., W_q s8, ., zeros) -> Cast<f32> -> Mul(., A_scale * W_scale) [-> Add(bias)]
//     ==>  DynamicLinear(A, W_q [K, N], W_scale [N] or scalar [, bias [N]])
//
// A Relu or Gelu (erf or tanh form) reading only the result joins the op as its `activation`.
//
// Same arithmetic: activations per tensor, u8, over [min(A, 0), max(A, 0)], symmetric s8 weights. The op
// keeps the weights packed for the kernel (packed once by the pass, shared by sessions and copies).
//
// The op is not in default_op_set: run the pass on a graph of quant_op_set (io::load_onnx<quant_op_set>
// or a graph built with it) and run it with basic_session<quant_op_set>. Save the standard form (before
// fusing) for other runtimes: a saved DynamicLinear is only readable by bigmodel.

#include <memory>
#include <vector>

#include "../../graph/computation_graph.hpp"
#include "dynamic_linear_op.hpp"
#include "static_conv_op.hpp"
#include "static_linear_op.hpp"
#include "graph_layers.hpp"

namespace bigmodel::quant {

// default_op_set plus the fused quantized ops (DynamicLinear; StaticLinear, static_linear.hpp; StaticConv,
// static_conv.hpp).
using quant_op_set = default_op_set::extend<ops::dynamic_linear, ops::static_linear, ops::static_conv>;

namespace detail {
template <class OpSet>
node_id only_consumer(const basic_computation_graph<OpSet>& g, value_id v) {
  const auto users = g.consumers_of(v);
  return users.size() == 1 && !g.at(v).is_output ? users[0] : node_id{};
}
template <class OpSet>
bool all_zero(const basic_computation_graph<OpSet>& g, value_id v) {
  const auto* t = g.constant_value(v);
  if (!t) return false;
  for (std::int64_t i = 0; i < t->numel(); ++i)
    if (t->as_int(i) != 0) return false;
  return true;
}
template <class OpSet>
void erase_dead(basic_computation_graph<OpSet>& g, node_id n) {
  if (!g.alive(n)) return;
  for (auto o : g.outputs(n))
    if (!g.uses(o).empty() || g.at(o).is_output) return;
  const auto outs = g.outputs(n);
  const auto ins = g.inputs(n);
  g.erase_node(n);
  for (auto o : outs) g.erase_value(o);
  for (auto i : ins)
    if (i.valid() && g.is_constant(i)) erase_if_unused(g, i);
}
}  // namespace detail

// Fuses every standard dynamic-int8 chain with symmetric s8 weights into ops::dynamic_linear. Returns the
// number of chains fused. `per_row` picks the op's activation granularity (per tensor keeps the ONNX
// semantics exactly; per row is more accurate for batched inputs).
template <class OpSet>
  requires(OpSet::template contains<ops::dynamic_linear>)
std::size_t fuse_dynamic_linear(basic_computation_graph<OpSet>& g, bool per_row = false) {
  std::size_t fused = 0;
  for (const auto mmi : g.nodes()) {
    if (!g.alive(mmi) || !g.template op_as<ops::matmul_integer>(mmi)) continue;
    const auto ins = g.inputs(mmi);
    if (ins.size() < 4 || !ins[0].valid()) continue;
    const node_id dql = g.producer(ins[0]);
    if (!dql.valid() || !g.template op_as<ops::dynamic_quantize_linear>(dql) || g.outputs(dql)[2] != ins[2]) continue;
    const auto* wq = g.constant_value(ins[1]);
    if (!wq || wq->type() != dtype::s8 || wq->rank() != 2 || !detail::all_zero(g, ins[3])) continue;
    const node_id cast = detail::only_consumer(g, g.outputs(mmi)[0]);
    if (!cast.valid() || !g.template op_as<ops::cast>(cast) || g.template op_as<ops::cast>(cast)->to != dtype::f32) continue;
    const node_id mul = detail::only_consumer(g, g.outputs(cast)[0]);
    if (!mul.valid() || !g.template op_as<ops::mul>(mul)) continue;
    const value_id s = g.inputs(mul)[0] == g.outputs(cast)[0] ? g.inputs(mul)[1] : g.inputs(mul)[0];
    const node_id smul = g.producer(s);
    if (!smul.valid() || !g.template op_as<ops::mul>(smul)) continue;
    const auto& si = g.inputs(smul);
    const value_id a_scale = g.outputs(dql)[1];
    const value_id w_scale = si[0] == a_scale ? si[1] : si[1] == a_scale ? si[0] : value_id{};
    if (!w_scale.valid() || !g.is_constant(w_scale)) continue;
    const auto n = wq->dim(1);
    if (const auto* ws = g.constant_value(w_scale); ws->type() != dtype::f32 || (ws->numel() != 1 && ws->numel() != n)) continue;
    // optional bias Add of a constant [N]
    value_id out = g.outputs(mul)[0], bias;
    node_id add = detail::only_consumer(g, out);
    if (add.valid() && g.template op_as<ops::add>(add)) {
      const auto& ai = g.inputs(add);
      const value_id b = ai[0] == out ? ai[1] : ai[0];
      if (const auto* bt = g.constant_value(b); bt && bt->type() == dtype::f32 && bt->numel() == n && bt->rank() <= 2) bias = b;
    }
    if (!bias.valid()) add = node_id{};
    const value_id result = add.valid() ? g.outputs(add)[0] : out;
    ops::dynamic_linear op{per_row ? 1 : 0, {}, std::make_shared<const kernels::packed_weights>(kernels::pack_weights(
                                                wq->template span<std::int8_t>().data(), static_cast<std::size_t>(wq->dim(0)),
                                                static_cast<std::size_t>(n), static_cast<std::size_t>(n), kernels::weight_layout::k_by_n))};
    std::vector<value_id> new_in{g.inputs(dql)[0], ins[1], w_scale};
    if (bias.valid()) new_in.push_back(bias);
    const std::string name = g.at(mmi).name + "_DynamicLinear";
    const node_id last = add.valid() ? add : mul;
    // A Relu or Gelu that is the sole reader of the result runs inside the op (the GEMM's epilogue).
    value_id final_out = result;
    const node_id act = detail::only_consumer(g, result);
    if (act.valid() && g.inputs(act)[0] == result) {
      if (g.template op_as<ops::relu>(act)) op.activation = "relu";
      if (const auto* ge = g.template op_as<ops::gelu>(act)) {
        if (ge->approximate == "none") op.activation = "gelu";
        if (ge->approximate == "tanh") op.activation = "gelu_tanh";
      }
      if (!op.activation.empty()) final_out = g.outputs(act)[0];
    }
    g.erase_node(last);
    if (!op.activation.empty()) {
      g.erase_node(act);
      g.erase_value(result);
    }
    g.add_node(op, new_in, {final_out}, g.unique_node_name(name));
    for (const node_id dead : {mul, cast, mmi, smul, dql}) detail::erase_dead(g, dead);
    ++fused;
  }
  if (fused) {
    bool has = false;
    for (const auto& [dom, ver] : g.opset_imports) has = has || dom == "com.bigmodel";
    if (!has) g.opset_imports.emplace_back("com.bigmodel", 1);
  }
  return fused;
}

}  // namespace bigmodel::quant
