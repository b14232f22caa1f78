#pragma once
// int8 attention: marks the fused Attention ops (passes::fuse_attention's ops::attention) to run q·kᵀ and p·v as
// int8 products (ops::attention::int8; runtime/kernels/attention.hpp). The dynamic and static int8 schemes quantize
// the projections around them; this pass does the same for the two products inside, which take ~13 % of an int8
// BERT-like encoder layer in f32. Nothing is stored: q, k, v and the softmax's weights are quantized at run time
// (per query row / key / channel), so the graph's inputs and weights stay as they are, and decompose (for a
// standard ONNX export) writes the f32 form back.

#include <string>

#include "../../graph/computation_graph.hpp"
#include "../../graph/ops.hpp"
#include "graph_layers.hpp"

namespace bigmodel::quant {

// Sets int8 = on (1) or off (0) on every Attention node; returns a report whose `changes` counts the nodes whose
// attribute changed and whose notes name them.
template <class OpSet>
quantize_report quantize_attention(basic_computation_graph<OpSet>& g, bool on = true) {
  quantize_report r;
  for (auto n : g.nodes()) {
    if (!g.alive(n)) continue;
    auto* a = g.template op_as<ops::attention>(n);
    if (a == nullptr || (a->int8 != 0) == on) continue;
    a->int8 = on ? 1 : 0;
    ++r.changes;
    r.notes.push_back("Attention " + g.at(n).name + (on ? ": int8 q.kT and p.v" : ": f32 q.kT and p.v"));
  }
  return r;
}

}  // namespace bigmodel::quant
