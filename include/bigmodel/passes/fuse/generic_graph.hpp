#pragma once
// What the generic passes (dead-node and identity elimination) need from a graph beyond the concepts:
// which values are graph outputs (member graph_outputs(), or ADL graph_outputs(g)), and an op's ONNX type
// name (bigmodel::op_type_name, or the user's own op_type_name found by ADL).

#include <algorithm>
#include <ranges>
#include <string_view>
#include <type_traits>

#include "../../graph/computation_graph.hpp"
#include "../../graph/concepts.hpp"

namespace bigmodel::passes::detail {

template <class G>
inline constexpr bool is_basic_graph_v = false;
template <class OpSet>
inline constexpr bool is_basic_graph_v<basic_computation_graph<OpSet>> = true;

template <class G>
concept member_graph_outputs = requires(const G& g) { { g.graph_outputs() } -> std::ranges::range; };
template <class G>
concept adl_graph_outputs = requires(const G& g) { { graph_outputs(g) } -> std::ranges::range; };
template <class G>
concept has_graph_outputs = member_graph_outputs<G> || adl_graph_outputs<G>;

template <has_graph_outputs G>
[[nodiscard]] bool is_graph_output(const G& g, const value_handle_t<G>& v) {
  auto check = [&](const auto& outs) { return std::ranges::find(outs, v) != std::ranges::end(outs); };
  if constexpr (member_graph_outputs<G>) return check(g.graph_outputs());
  else return check(graph_outputs(g));
}

template <class G>
[[nodiscard]] std::string_view op_name(G& g, const node_handle_t<G>& n) {
  using bigmodel::op_type_name;
  return std::string_view(op_type_name(bigmodel::op_of(g, n)));
}

// Number of elements of a range (input_range friendly).
template <class R>
[[nodiscard]] std::size_t count_of(R&& r) {
  std::size_t k = 0;
  for (auto&& x : r) (void)x, ++k;
  return k;
}

}  // namespace bigmodel::passes::detail
