#pragma once
// Topological order and structural validation (dangling inputs, cycles, arity) of a computation graph.

#include <deque>
#include <string>
#include <vector>

#include "computation_graph.hpp"

namespace bigmodel {

// Nodes so that every producer precedes its consumers; ties keep insertion order.
// Throws graph.cycle naming a node on a cycle.
template <class OpSet>
[[nodiscard]] std::vector<node_id> topological_order(const basic_computation_graph<OpSet>& g) {
  const auto all = g.nodes();
  std::vector<std::uint32_t> pending(all.empty() ? 0 : all.back().index + 1, 0);
  for (auto n : all)
    for (auto v : g.inputs(n))
      if (v.valid() && g.producer(v).valid()) ++pending[n.index];
  std::deque<node_id> ready;
  for (auto n : all)
    if (pending[n.index] == 0) ready.push_back(n);
  std::vector<node_id> order;
  order.reserve(all.size());
  while (!ready.empty()) {
    const node_id n = ready.front();
    ready.pop_front();
    order.push_back(n);
    for (auto out : g.outputs(n))
      for (const auto& u : g.uses(out))
        if (--pending[u.node.index] == 0) ready.push_back(u.node);
  }
  if (order.size() != all.size()) {
    for (auto n : all)
      if (pending[n.index] != 0)
        throw error("graph.cycle", "the graph has a cycle", g.describe(n) + " is on or behind a cycle");
  }
  return order;
}

// How many inputs/outputs an op takes (ONNX's arity); opaque and user ops: anything.
struct op_arity {
  std::size_t min_in = 0, max_in = SIZE_MAX, min_out = 1, max_out = SIZE_MAX;
};
template <class Op>
constexpr op_arity arity_of() {
  using namespace ops;
  if constexpr (requires { Op::arity; }) return Op::arity;
  else if constexpr (std::is_same_v<Op, opaque>) return {0, SIZE_MAX, 0, SIZE_MAX};
  else if constexpr (std::is_same_v<Op, add> || std::is_same_v<Op, sub> || std::is_same_v<Op, mul> ||
                     std::is_same_v<Op, div> || std::is_same_v<Op, pow> || std::is_same_v<Op, equal> ||
                     std::is_same_v<Op, less> || std::is_same_v<Op, greater> || std::is_same_v<Op, matmul> ||
                     std::is_same_v<Op, expand> || std::is_same_v<Op, reshape> || std::is_same_v<Op, gather>)
    return {2, 2, 1, 1};
  else if constexpr (std::is_same_v<Op, sqrt> || std::is_same_v<Op, erf> || std::is_same_v<Op, tanh> ||
                     std::is_same_v<Op, relu> || std::is_same_v<Op, sigmoid> || std::is_same_v<Op, exp> ||
                     std::is_same_v<Op, neg> || std::is_same_v<Op, reciprocal> || std::is_same_v<Op, softmax> ||
                     std::is_same_v<Op, logical_not> || std::is_same_v<Op, identity> || std::is_same_v<Op, flatten> ||
                     std::is_same_v<Op, transpose> || std::is_same_v<Op, shape> || std::is_same_v<Op, cast> ||
                     std::is_same_v<Op, global_average_pool> || std::is_same_v<Op, constant_of_shape> ||
                     std::is_same_v<Op, gelu> || std::is_same_v<Op, average_pool>)
    return {1, 1, 1, 1};
  else if constexpr (std::is_same_v<Op, gemm> || std::is_same_v<Op, conv>) return {2, 3, 1, 1};
  else if constexpr (std::is_same_v<Op, where> || std::is_same_v<Op, range>) return {3, 3, 1, 1};
  else if constexpr (std::is_same_v<Op, batch_norm>) return {5, 5, 1, 3};
  else if constexpr (std::is_same_v<Op, layer_norm>) return {2, 3, 1, 3};
  else if constexpr (std::is_same_v<Op, max_pool>) return {1, 1, 1, 2};
  else if constexpr (std::is_same_v<Op, dropout>) return {1, 3, 1, 2};
  else if constexpr (std::is_same_v<Op, constant>) return {0, 0, 1, 1};
  else if constexpr (std::is_same_v<Op, clip>) return {1, 3, 1, 1};
  else if constexpr (std::is_same_v<Op, unsqueeze> || std::is_same_v<Op, squeeze> ||
                     std::is_same_v<Op, reduce_mean> || std::is_same_v<Op, reduce_sum>)
    return {1, 2, 1, 1};
  else if constexpr (std::is_same_v<Op, split>) return {1, 2, 1, SIZE_MAX};
  else if constexpr (std::is_same_v<Op, slice>) return {3, 5, 1, 1};
  else if constexpr (std::is_same_v<Op, concat>) return {1, SIZE_MAX, 1, 1};
  else if constexpr (std::is_same_v<Op, quantize_linear> || std::is_same_v<Op, dequantize_linear>) return {2, 3, 1, 1};
  else if constexpr (std::is_same_v<Op, matmul_integer>) return {2, 4, 1, 1};
  else if constexpr (std::is_same_v<Op, dynamic_quantize_linear>) return {1, 1, 3, 3};
  else if constexpr (std::is_same_v<Op, attention>) return {3, 4, 1, 1};
  else return {};
}

// Structural checks: every input and output is defined, arities match the ops, no cycles.
// Throws graph.dangling_input / graph.dangling_output / graph.bad_arity / graph.cycle.
template <class OpSet>
void validate_structure(const basic_computation_graph<OpSet>& g) {
  auto defined = [&](value_id v) {
    const auto& info = g.at(v);
    return info.producer.valid() || info.is_input || info.initializer.has_value();
  };
  for (auto n : g.nodes()) {
    const auto& nd = g.at(n);
    for (auto v : nd.inputs)
      if (v.valid() && !defined(v))
        throw error("graph.dangling_input", "node input is not produced by any node, input or initializer",
                    g.describe(n) + ", value '" + g.name_of(v) + "'");
    const op_arity a = std::visit([](const auto& op) { return arity_of<std::decay_t<decltype(op)>>(); }, nd.op);
    std::size_t n_in = nd.inputs.size();
    while (n_in > 0 && !nd.inputs[n_in - 1].valid()) --n_in;  // trailing omitted optionals
    if (n_in < a.min_in || n_in > a.max_in || nd.outputs.size() < a.min_out || nd.outputs.size() > a.max_out)
      throw error("graph.bad_arity", "wrong number of inputs or outputs for the op",
                  g.describe(n) + ": " + std::to_string(n_in) + " inputs, " + std::to_string(nd.outputs.size()) +
                      " outputs");
  }
  for (auto v : g.graph_outputs())
    require(defined(v), "graph.dangling_output", "graph output is not produced", "value '" + g.name_of(v) + "'");
  (void)topological_order(g);
}

// Removes nodes none of whose outputs reach a graph output; returns how many were removed.
template <class OpSet>
std::size_t remove_dead_nodes(basic_computation_graph<OpSet>& g) {
  std::size_t removed = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto n : g.nodes()) {
      bool live = false;
      for (auto v : g.outputs(n)) live = live || !g.uses(v).empty() || g.at(v).is_output;
      if (live) continue;
      auto outs = g.outputs(n);
      g.erase_node(n);
      for (auto v : outs) g.erase_value(v);
      ++removed;
      changed = true;
    }
  }
  return removed;
}

// Erases initializers nobody reads (after folds and rewrites).
template <class OpSet>
std::size_t remove_unused_initializers(basic_computation_graph<OpSet>& g) {
  std::size_t removed = 0;
  for (auto v : g.initializers())
    if (g.uses(v).empty() && !g.at(v).is_output && !g.at(v).is_input) g.erase_value(v), ++removed;
  return removed;
}

}  // namespace bigmodel
