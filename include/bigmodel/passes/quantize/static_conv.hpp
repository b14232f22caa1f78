#pragma once
// The fast path of static int8 Conv: ops::static_conv (static_conv_op.hpp) in place of the QDQ form
// quantize_static writes, so the runtime computes 2-D convolutions in int8 instead of emulating the rounding
// in f32.
//
//   X_q = QuantizeLinear(X, s_x, zp_x)                                   (kept: shared by every reader)
//   Conv(DequantizeLinear(X_q, s_x, zp_x), DequantizeLinear(W_q s8 [M, C/g, kh, kw], s_w, 0, axis = 0) [, bias]) [-> Relu]
//     ==>  StaticConv(X_q, s_x, zp_x, W_q, s_w [, bias])
//
// and, where a StaticConv's result is read only by a QuantizeLinear, that QuantizeLinear moves into the GEMM's
// requantizing epilogue (the op writes u8). Like StaticLinear the op is not in default_op_set: use quant_op_set.
// Save the standard QDQ form (before fusing) for other runtimes.

#include <memory>
#include <string>
#include <vector>

#include "static_conv_op.hpp"
#include "static_linear.hpp"

namespace bigmodel::quant {

// Fuses every QDQ 2-D Conv with an u8 per-tensor activation and s8 symmetric weights (per tensor or per output
// channel) into ops::static_conv, then moves each QuantizeLinear that alone reads a fused result into that op's
// epilogue. Returns the number of layers fused. Conv layers whose pattern differs (a fused activation other than
// ReLU, weights not constant, 1-D or 3-D) are left as they are.
template <class OpSet>
  requires(OpSet::template contains<ops::static_conv> && OpSet::template contains<ops::static_linear>)
std::size_t fuse_static_conv(basic_computation_graph<OpSet>& g) {
  std::vector<node_id> made;
  for (const auto layer : g.nodes()) {
    if (!g.alive(layer)) continue;
    const auto* cv = g.template op_as<ops::conv>(layer);
    if (!cv) continue;
    if (cv->act.kind != ops::activation_kind::none && cv->act.kind != ops::activation_kind::relu) continue;
    if (cv->group < 1) continue;
    const auto ins = g.inputs(layer);
    if (ins.size() < 2 || !ins[0].valid() || !ins[1].valid()) continue;
    value_id x[3], w[2];
    if (!detail::quantized_activation(g, ins[0], x) || !detail::quantized_weight(g, ins[1], 4, 0, w)) continue;
    const auto* wq = g.constant_value(w[0]);
    const std::int64_t m = wq->dim(0);
    if (m % cv->group != 0) continue;
    if (!cv->kernel_shape.empty() && (cv->kernel_shape.size() != 2 || cv->kernel_shape[0] != wq->dim(2) || cv->kernel_shape[1] != wq->dim(3)))
      continue;
    value_id bias;
    if (ins.size() > 2 && ins[2].valid()) {
      const auto* b = g.constant_value(ins[2]);
      if (!b || b->type() != dtype::f32 || b->rank() != 1 || b->numel() != m) continue;
      bias = ins[2];
    }
    std::vector<node_id> tail{layer};
    value_id out = g.outputs(layer)[0];
    bool relu = cv->act.kind == ops::activation_kind::relu;
    if (!relu) {
      const node_id r = detail::only_consumer(g, out);
      if (r.valid() && g.template op_as<ops::relu>(r)) relu = true, tail.push_back(r), out = g.outputs(r)[0];
    }
    ops::static_conv op;
    op.auto_pad = cv->auto_pad;
    op.dilations = cv->dilations;
    op.pads = cv->pads;
    op.strides = cv->strides;
    op.group = cv->group;
    op.relu = relu ? 1 : 0;
    op.packed = std::make_shared<const std::vector<kernels::packed_weights>>(
        ops::static_conv::pack(wq->template span<std::int8_t>().data(), m, wq->dim(1), wq->dim(2), wq->dim(3), cv->group));
    made.push_back(detail::replace_layer(g, tail, out, std::move(op), x, w, bias, g.at(layer).name + "_StaticConv"));
  }
  return detail::finish_fusion<ops::static_conv>(g, made);
}

}  // namespace bigmodel::quant
