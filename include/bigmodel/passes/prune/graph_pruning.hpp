#pragma once
// Pruning a computation_graph: the weights are the constant B inputs of MatMul / Gemm and the constant
// weights of Conv; the graph tells their orientation (MatMul's B and Gemm's B without transB are stored
// [inputs, outputs], so they are pruned through their transpose).

#include <set>
#include <string>

#include "../../graph/computation_graph.hpp"
#include "parameters.hpp"

namespace bigmodel::prune {

struct graph_weights {
  std::set<std::string, std::less<>> prunable;      // every weight matrix of MatMul / Gemm / Conv
  std::set<std::string, std::less<>> inputs_first;  // those stored [inputs, outputs]
};

template <class OpSet>
[[nodiscard]] graph_weights find_graph_weights(const basic_computation_graph<OpSet>& g) {
  graph_weights out;
  for (const auto n : g.nodes()) {
    const auto& ins = g.inputs(n);
    if (ins.size() < 2 || !g.is_constant(ins[1])) continue;
    const std::string& name = g.name_of(ins[1]);
    if (g.template op_as<ops::matmul>(n)) {
      out.prunable.insert(name);
      out.inputs_first.insert(name);
    } else if (const auto* gm = g.template op_as<ops::gemm>(n)) {
      out.prunable.insert(name);
      if (!gm->trans_b) out.inputs_first.insert(name);
    } else if (g.template op_as<ops::conv>(n)) {
      out.prunable.insert(name);
    }
  }
  return out;
}

// Prunes the graph's weight matrices. cfg.select narrows the set further (e.g. exclude the last layer);
// cfg.inputs_first is filled from the graph when empty.
template <class OpSet>
prune_result prune_graph(basic_computation_graph<OpSet>& g, prune_config cfg) {
  const graph_weights w = find_graph_weights(g);
  auto user_select = cfg.select;
  cfg.select = [&w, user_select](std::string_view name) {
    return w.prunable.contains(name) && (!user_select || user_select(name));
  };
  if (!cfg.inputs_first) cfg.inputs_first = [&w](std::string_view name) { return w.inputs_first.contains(name); };
  return prune_parameters(g, cfg);
}

}  // namespace bigmodel::prune
