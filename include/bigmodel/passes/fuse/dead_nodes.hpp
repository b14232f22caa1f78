#pragma once
// eliminate_dead_nodes: removes nodes none of whose outputs is read or is a graph output (then, on
// bigmodel's graph, the initializers nobody reads). Generic: runs on any `mutable_graph` that also says
// which values are graph outputs (member graph_outputs() or ADL graph_outputs(g)).

#include <vector>

#include "../../graph/topology.hpp"
#include "generic_graph.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

namespace detail {
struct eliminate_dead_nodes_impl {
  static constexpr std::string_view name = "eliminate_dead_nodes";

  template <class G>
    requires mutable_graph<G> && has_graph_outputs<G>
  static rewrite_result apply(G& g, const no_config&) {
    rewrite_result r;
    if constexpr (is_basic_graph_v<G>) {
      r.changes = remove_dead_nodes(g);
      r.changes += remove_unused_initializers(g);
      return r;
    } else {
      // One node at a time: a user IR's node handles may not survive an erase.
      for (bool changed = true; changed;) {
        changed = false;
        for (auto n : bigmodel::nodes(g)) {
          bool live = false;
          for (const auto& v : bigmodel::outputs(g, n))
            live = live || is_graph_output(g, v) || !bigmodel::consumers(g, v).empty();
          if (live) continue;
          const auto dead = n;
          bigmodel::erase_node(g, dead);
          ++r.changes;
          changed = true;
          break;
        }
      }
      return r;
    }
  }
};
}  // namespace detail

inline constexpr pass_fn<detail::eliminate_dead_nodes_impl> eliminate_dead_nodes{};

}  // namespace bigmodel::passes
