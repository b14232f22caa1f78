#pragma once
// eliminate_identity: removes nodes that pass their input through.
//   Generic (any mutable_graph with graph outputs): Identity, and Dropout in inference (no training_mode
//   input, mask output unused).
//   On bigmodel's graph also: Reshape to the input's own shape, Transpose by the identity permutation,
//   Cast to the input's type, Transpose(Transpose(x)) merged into one (or removed when they cancel), and
//   Reshape(Reshape(x)) into one Reshape of x.
// Refuses (leaves alone) a pass-through whose output is a graph output fed straight by a graph input or
// initializer (the output's name would change).

#include <numeric>
#include <optional>
#include <vector>

#include "generic_graph.hpp"
#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

struct identity_config {
  bool reshape = true;    // no-op Reshape and Reshape chains
  bool transpose = true;  // identity / cancelling / mergeable Transposes
  bool cast = true;       // Cast to the same type
};

namespace detail {

template <class G>
[[nodiscard]] bool is_pass_through(G& g, const node_handle_t<G>& n) {
  const auto name = op_name(g, n);
  if (name == "Identity") return true;
  if (name != "Dropout") return false;
  if (count_of(bigmodel::inputs(g, n)) > 2) return false;  // training_mode given: may drop
  std::size_t k = 0;
  for (const auto& v : bigmodel::outputs(g, n))
    if (k++ > 0 && (is_graph_output(g, v) || !bigmodel::consumers(g, v).empty())) return false;  // mask used
  return true;
}

// Reshape target of node n resolved against its input shape: is it the input's shape?
template <class OpSet>
[[nodiscard]] bool reshape_is_noop(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto& op = *g.template op_as<ops::reshape>(n);
  const auto* target = constant_of(g, g.inputs(n)[1]);
  const auto& in_shape = g.at(g.inputs(n)[0]).shape;
  if (!target || !in_shape) return false;
  const auto t = target->to_ints();
  if (t.size() != in_shape->size()) return false;
  int unknown = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const dim& d = (*in_shape)[i];
    if (t[i] == 0 && !op.allowzero) continue;  // copies the input's dim
    if (t[i] == -1) { ++unknown; continue; }
    if (!d.known() || d.value != t[i]) return false;
  }
  return unknown <= 1;  // every other dim equal: the -1 is the remaining one
}

[[nodiscard]] inline ops::ints resolved_perm(const ops::transpose& t, std::size_t rank) {
  if (t.perm) return *t.perm;
  ops::ints p(rank);
  for (std::size_t i = 0; i < rank; ++i) p[i] = static_cast<std::int64_t>(rank - 1 - i);
  return p;
}
[[nodiscard]] inline bool is_identity_perm(const ops::ints& p) {
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<std::int64_t>(i)) return false;
  return true;
}

template <class OpSet>
[[nodiscard]] std::optional<std::size_t> transpose_rank(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto& t = *g.template op_as<ops::transpose>(n);
  if (t.perm) return t.perm->size();
  return rank_of(g, g.inputs(n)[0]);
}

// Transpose rewrites on node n; returns true when it changed something.
template <class OpSet>
bool simplify_transpose(basic_computation_graph<OpSet>& g, node_id n) {
  const auto rank = transpose_rank(g, n);
  if (!rank) return false;
  auto perm = resolved_perm(*g.template op_as<ops::transpose>(n), *rank);
  if (is_identity_perm(perm)) return bypass_node(g, n, 0);
  const node_id inner = producer_op<ops::transpose>(g, g.inputs(n)[0]);
  if (!inner.valid()) return false;
  const auto inner_perm = resolved_perm(*g.template op_as<ops::transpose>(inner), *rank);
  if (inner_perm.size() != perm.size()) return false;
  ops::ints composed(perm.size());  // out[i] = x[inner_perm[perm[i]]]
  for (std::size_t i = 0; i < perm.size(); ++i) composed[i] = inner_perm[static_cast<std::size_t>(perm[i])];
  g.set_input(n, 0, g.inputs(inner)[0]);
  g.template op_as<ops::transpose>(n)->perm = composed;
  if (is_identity_perm(composed)) bypass_node(g, n, 0);
  return true;
}

template <class OpSet>
bool simplify_reshape(basic_computation_graph<OpSet>& g, node_id n) {
  if (reshape_is_noop(g, n)) return bypass_node(g, n, 0);
  const node_id inner = producer_op<ops::reshape>(g, g.inputs(n)[0]);
  const auto* target = constant_of(g, g.inputs(n)[1]);
  if (!inner.valid() || !target) return false;
  for (auto d : target->to_ints())
    if (d == 0 && !g.template op_as<ops::reshape>(n)->allowzero) return false;  // would copy the inner shape's dim
  g.set_input(n, 0, g.inputs(inner)[0]);
  return true;
}

template <class OpSet>
bool simplify_cast(basic_computation_graph<OpSet>& g, node_id n) {
  const auto in = g.inputs(n)[0];
  const dtype from = constant_of(g, in) ? constant_of(g, in)->type() : g.at(in).type;
  if (from == dtype::undefined || from != g.template op_as<ops::cast>(n)->to) return false;
  return bypass_node(g, n, 0);
}

struct eliminate_identity_impl {
  static constexpr std::string_view name = "eliminate_identity";

  template <class G>
    requires mutable_graph<G> && has_graph_outputs<G>
  static rewrite_result apply(G& g, const identity_config& cfg) {
    rewrite_result r;
    if constexpr (is_basic_graph_v<G>) {
      infer_shapes(g);
      for (auto n : topological_order(g)) {
        if (!g.alive(n)) continue;
        bool done = false;
        if (is_pass_through(g, n)) done = bypass_node(g, n, 0);
        else if (cfg.reshape && g.template op_as<ops::reshape>(n)) done = simplify_reshape(g, n);
        else if (cfg.transpose && g.template op_as<ops::transpose>(n)) done = simplify_transpose(g, n);
        else if (cfg.cast && g.template op_as<ops::cast>(n)) done = simplify_cast(g, n);
        r.changes += done ? 1 : 0;
      }
      r.changes += remove_dead_nodes(g);
    } else {
      for (bool changed = true; changed;) {
        changed = false;
        for (auto n : bigmodel::nodes(g)) {
          if (!is_pass_through(g, n)) continue;
          const auto in = *std::ranges::begin(bigmodel::inputs(g, n));
          const auto out = *std::ranges::begin(bigmodel::outputs(g, n));
          if (is_graph_output(g, out)) continue;  // keep the output's name
          const auto node = n;
          bigmodel::replace_uses(g, out, in);
          bigmodel::erase_node(g, node);
          ++r.changes;
          changed = true;
          break;
        }
      }
    }
    return r;
  }
};
}  // namespace detail

inline constexpr pass_fn<detail::eliminate_identity_impl, identity_config> eliminate_identity{};

}  // namespace bigmodel::passes
