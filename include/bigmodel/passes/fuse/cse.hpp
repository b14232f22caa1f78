#pragma once
// eliminate_common_subexpressions: two nodes with equal ops (all attributes), equal extra attributes and
// the same inputs compute the same values; the later one's uses read the earlier one's outputs. Equal
// initializers (same type, shape and bytes) are merged first so nodes reading copies of a weight match.
// Leaves alone: opaque ops (they may be random or stateful), nodes with no inputs other than Constant,
// and nodes whose outputs are graph outputs (their names would change).

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

struct cse_config {
  bool merge_initializers = true;
};

namespace detail {

template <class OpSet>
std::size_t merge_equal_initializers(basic_computation_graph<OpSet>& g) {
  std::size_t merged = 0;
  std::map<std::tuple<dtype, shape_t, std::size_t>, std::vector<value_id>> buckets;
  for (auto v : g.initializers()) {
    const auto& info = g.at(v);
    if (info.is_input || info.is_output) continue;
    const auto& t = *info.initializer;
    auto& bucket = buckets[{t.type(), t.shape(), t.bytes()}];
    bool done = false;
    for (auto w : bucket)
      if (*g.at(w).initializer == t) {
        g.replace_uses(v, w);
        g.erase_value(v);
        ++merged;
        done = true;
        break;
      }
    if (!done) bucket.push_back(v);
  }
  return merged;
}

template <class OpSet>
[[nodiscard]] bool any_graph_output(const basic_computation_graph<OpSet>& g, node_id n) {
  for (auto v : g.outputs(n))
    if (g.at(v).is_output) return true;
  return false;
}

template <class OpSet>
[[nodiscard]] bool same_computation(const basic_computation_graph<OpSet>& g, node_id a, node_id b) {
  const auto &na = g.at(a), &nb = g.at(b);
  return na.inputs == nb.inputs && na.outputs.size() == nb.outputs.size() && na.op == nb.op &&
         na.extra_attributes == nb.extra_attributes;
}

struct cse_impl {
  static constexpr std::string_view name = "eliminate_common_subexpressions";

  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const cse_config& cfg) {
    rewrite_result r;
    if (cfg.merge_initializers) r.changes += merge_equal_initializers(g);
    // Key: op type and input ids; candidates in a bucket are compared in full.
    std::map<std::pair<std::string, std::vector<std::uint32_t>>, std::vector<node_id>> seen;
    for (auto n : topological_order(g)) {
      const auto& nd = g.at(n);
      if (std::holds_alternative<ops::opaque>(nd.op) || nd.inputs.empty() || any_graph_output(g, n)) continue;
      std::vector<std::uint32_t> key_inputs;
      for (auto v : nd.inputs) key_inputs.push_back(v.index);
      auto& bucket = seen[{std::string(op_type_name(nd.op)), key_inputs}];
      node_id twin{};
      for (auto m : bucket)
        if (same_computation(g, m, n)) twin = m;
      if (!twin.valid()) {
        bucket.push_back(n);
        continue;
      }
      const auto outs = g.outputs(n);
      for (std::size_t i = 0; i < outs.size(); ++i) g.replace_uses(outs[i], g.outputs(twin)[i]);
      g.erase_node(n);
      for (auto v : outs) g.erase_value(v);
      ++r.changes;
    }
    return r;
  }
};
}  // namespace detail

inline constexpr pass_fn<detail::cse_impl, cse_config> eliminate_common_subexpressions{};

}  // namespace bigmodel::passes
