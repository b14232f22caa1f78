#pragma once
// Pattern matching and safe rewriting, the tools of fusion passes.
//
//   match<ops::matmul, ops::add>(g, [&](const auto& m) {        // m.nodes[0] is the MatMul, m.nodes[1] the Add
//     if (!g.is_constant(other_input(g, m.nodes[1], m.slots[1]))) return false;   // constraint failed
//     replace_subgraph(g, m.nodes, ops::gemm{}, {...}, {g.outputs(m.nodes[1])[0]});
//     return true;                                               // rewrote: counted
//   });
//
// A chain matches when node i+1 reads output 0 of node i; by default every intermediate output has a single
// consumer and is not a graph output, so removing the chain cannot break other users. DAG patterns are
// matched by anchoring a chain and walking producers with producer_as<Op>().

#include <array>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "topology.hpp"

namespace bigmodel {

struct match_options {
  bool single_consumer = true;  // intermediate outputs have one consumer and are not graph outputs
};

template <std::size_t N>
struct chain_match {
  std::array<node_id, N> nodes{};
  std::array<std::uint32_t, N> slots{};  // slots[i]: which input of nodes[i] reads nodes[i-1] (slots[0] = 0)
};

// True when v has exactly one consuming input and is not a graph output.
template <class OpSet>
[[nodiscard]] bool single_consumer(const basic_computation_graph<OpSet>& g, value_id v) {
  return g.uses(v).size() == 1 && !g.at(v).is_output;
}

// The node producing v if its op is Op (and, if asked, v has a single consumer); else an invalid id.
template <class Op, class OpSet>
[[nodiscard]] node_id producer_as(const basic_computation_graph<OpSet>& g, value_id v, bool require_single = true) {
  if (!v.valid()) return {};
  const node_id p = g.producer(v);
  if (!p.valid() || !g.template op_as<Op>(p)) return {};
  if (require_single && !single_consumer(g, v)) return {};
  return p;
}

// The input of node n other than `slot` for a binary node (the "other operand").
template <class OpSet>
[[nodiscard]] value_id other_input(const basic_computation_graph<OpSet>& g, node_id n, std::uint32_t slot) {
  const auto& in = g.inputs(n);
  return in.size() == 2 ? in[1 - slot] : value_id{};
}

namespace match_detail {
template <class OpSet, class First, class... Rest>
bool extend(const basic_computation_graph<OpSet>& g, std::size_t pos, auto& m, const match_options& opt, auto&& emit) {
  if constexpr (sizeof...(Rest) == 0) {
    return emit();
  } else {
    using Next = std::tuple_element_t<0, std::tuple<Rest...>>;
    const node_id cur = m.nodes[pos];
    if (g.outputs(cur).empty()) return false;
    const value_id out = g.outputs(cur)[0];
    if (opt.single_consumer && !single_consumer(g, out)) return false;
    const auto uses = g.uses(out);  // copy: emit may rewrite
    for (const auto& u : uses) {
      if (!g.alive(u.node) || !g.template op_as<Next>(u.node)) continue;
      m.nodes[pos + 1] = u.node;
      m.slots[pos + 1] = u.slot;
      if (extend<OpSet, Rest...>(g, pos + 1, m, opt, emit)) return true;
    }
    return false;
  }
}
}  // namespace match_detail

// Calls on_match(const chain_match<N>&) for every chain Ops... (in topological order of the first node).
// on_match returns bool: true = accepted (counted; the graph may have been rewritten), false = rejected,
// try other candidates. A void on_match accepts everything. Returns the number of accepted matches.
template <class... Ops, class OpSet, class F>
std::size_t match(basic_computation_graph<OpSet>& g, F&& on_match, match_options opt = {}) {
  static_assert(sizeof...(Ops) > 0, "match<Op...> needs at least one op type");
  using First = std::tuple_element_t<0, std::tuple<Ops...>>;
  std::size_t accepted = 0;
  for (auto n : topological_order(g)) {
    if (!g.alive(n) || !g.template op_as<First>(n)) continue;
    chain_match<sizeof...(Ops)> m;
    m.nodes[0] = n;
    auto emit = [&] {
      if constexpr (std::is_void_v<std::invoke_result_t<F&, const chain_match<sizeof...(Ops)>&>>) {
        on_match(std::as_const(m));
        return true;
      } else {
        return static_cast<bool>(on_match(std::as_const(m)));
      }
    };
    if (match_detail::extend<OpSet, Ops...>(g, 0, m, opt, emit)) ++accepted;
  }
  return accepted;
}

// Replaces the nodes `old` by one node computing `op` from `inputs`; the new node produces `old_outputs`
// (values of the old nodes that the rest of the graph uses: they keep their names and uses). Refuses
// (graph.unsafe_rewrite) when another value of the old nodes is still used outside them, or when an input
// of the new node would be erased with them. Returns the new node.
template <class OpSet>
node_id replace_subgraph(basic_computation_graph<OpSet>& g, std::span<const node_id> old,
                         typename basic_computation_graph<OpSet>::op_type op, std::vector<value_id> inputs,
                         std::vector<value_id> old_outputs, std::string name = {}) {
  auto in_old = [&](node_id n) { return std::find(old.begin(), old.end(), n) != old.end(); };
  auto kept = [&](value_id v) { return std::find(old_outputs.begin(), old_outputs.end(), v) != old_outputs.end(); };
  std::vector<value_id> internal;
  for (auto n : old) {
    for (auto v : g.outputs(n)) {
      if (kept(v)) continue;
      for (const auto& u : g.uses(v))
        if (!in_old(u.node))
          throw error("graph.unsafe_rewrite", "a value inside the replaced subgraph is used outside it",
                      "value '" + g.name_of(v) + "' read by " + g.describe(u.node));
      if (g.at(v).is_output)
        throw error("graph.unsafe_rewrite", "a graph output would be removed", "value '" + g.name_of(v) + "'");
      internal.push_back(v);
    }
  }
  for (auto v : inputs)
    if (v.valid() && g.producer(v).valid() && in_old(g.producer(v)) && !kept(v))
      throw error("graph.unsafe_rewrite", "an input of the new node is produced inside the replaced subgraph",
                  "value '" + g.name_of(v) + "'");
  if (name.empty() && !old.empty()) name = g.at(old.back()).name;
  const std::vector<node_id> to_erase(old.begin(), old.end());
  for (auto n : to_erase) g.erase_node(n);
  for (auto v : internal) g.erase_value(v);
  return g.add_node(std::move(op), std::move(inputs), std::move(old_outputs), std::move(name));
}

// Removes a pass-through node (Identity, Dropout, no-op Reshape...): its consumers read input `slot` instead.
// Returns false (and leaves the graph alone) when the output is a graph output fed by a graph input or an
// initializer (the output's name would change).
template <class OpSet>
bool bypass_node(basic_computation_graph<OpSet>& g, node_id n, std::uint32_t slot = 0) {
  const value_id in = g.inputs(n).at(slot), out = g.outputs(n).at(0);
  if (g.at(out).is_output) {
    const node_id p = g.producer(in);
    if (!p.valid() || g.at(in).is_output || g.uses(in).size() != 1) return false;
    // The producer writes the output directly: keep the graph output's name.
    const auto outs = g.outputs(n);
    g.erase_node(n);
    for (auto v : outs)
      if (v != out) g.erase_value(v);
    auto& pn = g.at(p);
    for (auto& o : pn.outputs)
      if (o == in) o = out;
    g.at(out).producer = p;
    g.at(in).producer = {};
    g.erase_value(in);
    return true;
  }
  g.replace_uses(out, in);
  const auto outs = g.outputs(n);
  g.erase_node(n);
  for (auto v : outs)
    if (g.uses(v).empty() && !g.at(v).is_output) g.erase_value(v);
  return true;
}

}  // namespace bigmodel
