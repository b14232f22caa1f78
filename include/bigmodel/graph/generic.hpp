#pragma once
// Graph algorithms written only against the concepts (concepts.hpp), so they run on computation_graph
// and on any user IR adapted through the customization points.

#include <algorithm>
#include <cstddef>
#include <map>
#include <vector>

#include "../core/error.hpp"
#include "concepts.hpp"

namespace bigmodel {

// Number of nodes whose op satisfies pred(op).
template <graph G, class Pred>
std::size_t count_nodes_if(G& g, Pred pred) {
  std::size_t n = 0;
  for (auto node : bigmodel::nodes(g)) n += pred(bigmodel::op_of(g, node)) ? 1 : 0;
  return n;
}

// Nodes ordered so that producers come first (Kahn; ties keep the IR's node order). Throws graph.cycle.
// Needs only equality on handles: O(nodes x edges), meant for small IRs and for checking.
template <graph G>
std::vector<node_handle_t<G>> generic_topological_order(G& g) {
  using node_t = node_handle_t<G>;
  std::vector<node_t> all;
  for (auto n : bigmodel::nodes(g)) all.push_back(n);
  auto producer_index = [&](const auto& v) -> std::ptrdiff_t {
    for (std::size_t i = 0; i < all.size(); ++i)
      for (const auto& o : bigmodel::outputs(g, all[i]))
        if (o == v) return static_cast<std::ptrdiff_t>(i);
    return -1;
  };
  std::vector<std::vector<std::size_t>> deps(all.size());
  for (std::size_t i = 0; i < all.size(); ++i)
    for (const auto& v : bigmodel::inputs(g, all[i]))
      if (auto p = producer_index(v); p >= 0) deps[i].push_back(static_cast<std::size_t>(p));
  std::vector<bool> done(all.size(), false);
  std::vector<node_t> order;
  while (order.size() < all.size()) {
    bool progressed = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (done[i] || !std::all_of(deps[i].begin(), deps[i].end(), [&](std::size_t d) { return done[d]; })) continue;
      done[i] = true;
      order.push_back(all[i]);
      progressed = true;
    }
    if (!progressed) throw error("graph.cycle", "the graph has a cycle", "user IR");
  }
  return order;
}

// Removes every node for which is_pass_through(op) holds and that has exactly one input and one output:
// its consumers read its input instead. Returns how many were removed.
template <mutable_graph G, class Pred>
std::size_t eliminate_pass_through(G& g, Pred is_pass_through) {
  std::size_t removed = 0;
  for (bool again = true; again;) {
    again = false;
    for (auto n : bigmodel::nodes(g)) {
      if (!is_pass_through(bigmodel::op_of(g, n))) continue;
      auto ins = bigmodel::inputs(g, n);
      auto outs = bigmodel::outputs(g, n);
      if (std::ranges::distance(ins) != 1 || std::ranges::distance(outs) != 1) continue;
      const auto in = *std::ranges::begin(ins);
      const auto out = *std::ranges::begin(outs);
      bigmodel::replace_uses(g, out, in);
      bigmodel::erase_node(g, n);
      ++removed;
      again = true;
      break;  // handles may be invalidated by the erase
    }
  }
  return removed;
}

}  // namespace bigmodel
