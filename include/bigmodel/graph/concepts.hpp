#pragma once
// Customization points and concepts, so graph algorithms run on a user's own IR.
//
// Each customization point is a function object (niebloid) that tries, in order:
//   1. a member:             g.nodes(), g.op_of(n), ...
//   2. a free function found by ADL in the user's namespace: nodes(g), op_of(g, n), ...
//   3. a specialization      bigmodel::graph_traits<G>::nodes(g), ...   (adapts a type without touching it)
//   4. a default, where one can be derived (consumers, producer from nodes/inputs/outputs).
// Algorithms ask for the weakest concept they need: `graph` (read), `mutable_graph` (rewrite),
// `parameterized` (weights only: visit_parameters(model, f) with f(std::string_view name, auto& weight)).

#include <concepts>
#include <optional>
#include <ranges>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace bigmodel {

// Specialize to adapt a type you cannot (or don't want to) change; provide any subset of
// static nodes / op_of / inputs / outputs / add_node / erase_node / replace_uses / visit_parameters.
template <class G>
struct graph_traits {};

namespace cpo_detail {

#define BIGMODEL_GRAPH_CPO(NAME)                                                                            \
  void NAME() = delete; /* hides bigmodel::NAME so the unqualified call below is ADL only */              \
  template <class G, class... A>                                                                           \
  concept member_##NAME = requires(G&& g, A&&... a) { std::forward<G>(g).NAME(std::forward<A>(a)...); };   \
  template <class G, class... A>                                                                           \
  concept adl_##NAME = requires(G&& g, A&&... a) { NAME(std::forward<G>(g), std::forward<A>(a)...); };     \
  template <class G, class... A>                                                                           \
  concept traits_##NAME = requires(G&& g, A&&... a) {                                                      \
    graph_traits<std::remove_cvref_t<G>>::NAME(std::forward<G>(g), std::forward<A>(a)...);                 \
  };                                                                                                       \
  struct NAME##_fn {                                                                                       \
    template <class G, class... A>                                                                         \
      requires member_##NAME<G, A...> || adl_##NAME<G, A...> || traits_##NAME<G, A...>                     \
    constexpr decltype(auto) operator()(G&& g, A&&... a) const {                                           \
      if constexpr (member_##NAME<G, A...>) return std::forward<G>(g).NAME(std::forward<A>(a)...);         \
      else if constexpr (adl_##NAME<G, A...>) return NAME(std::forward<G>(g), std::forward<A>(a)...);      \
      else return graph_traits<std::remove_cvref_t<G>>::NAME(std::forward<G>(g), std::forward<A>(a)...);   \
    }                                                                                                      \
  };

BIGMODEL_GRAPH_CPO(nodes)
BIGMODEL_GRAPH_CPO(op_of)
BIGMODEL_GRAPH_CPO(inputs)
BIGMODEL_GRAPH_CPO(outputs)
BIGMODEL_GRAPH_CPO(add_node)
BIGMODEL_GRAPH_CPO(erase_node)
BIGMODEL_GRAPH_CPO(replace_uses)
BIGMODEL_GRAPH_CPO(visit_parameters)
BIGMODEL_GRAPH_CPO(consumers_of)
#undef BIGMODEL_GRAPH_CPO

}  // namespace cpo_detail

inline namespace cpo {
inline constexpr cpo_detail::nodes_fn nodes{};
inline constexpr cpo_detail::op_of_fn op_of{};
inline constexpr cpo_detail::inputs_fn inputs{};
inline constexpr cpo_detail::outputs_fn outputs{};
inline constexpr cpo_detail::add_node_fn add_node{};
inline constexpr cpo_detail::erase_node_fn erase_node{};
inline constexpr cpo_detail::replace_uses_fn replace_uses{};
inline constexpr cpo_detail::visit_parameters_fn visit_parameters{};
}  // namespace cpo

template <class G>
using node_handle_t = std::ranges::range_value_t<decltype(bigmodel::nodes(std::declval<G&>()))>;
template <class G>
using value_handle_t =
    std::ranges::range_value_t<decltype(bigmodel::inputs(std::declval<G&>(), std::declval<node_handle_t<G>>()))>;
template <class G>
using op_value_t = std::remove_cvref_t<decltype(bigmodel::op_of(std::declval<G&>(), std::declval<node_handle_t<G>>()))>;

// Read access: enumerate nodes; for each, its op and its input/output values (any equality-comparable handles).
template <class G>
concept graph = requires(G& g) {
  { bigmodel::nodes(g) } -> std::ranges::input_range;
} && requires(G& g, node_handle_t<G> n) {
  bigmodel::op_of(g, n);
  { bigmodel::inputs(g, n) } -> std::ranges::input_range;
  { bigmodel::outputs(g, n) } -> std::ranges::input_range;
} && std::equality_comparable<node_handle_t<G>> && std::equality_comparable<value_handle_t<G>>;

// Rewrites: add a node computing op from inputs (fresh outputs), erase a node, redirect a value's uses.
template <class G>
concept mutable_graph = graph<G> && requires(G& g, node_handle_t<G> n, value_handle_t<G> v, op_value_t<G> op,
                                             std::vector<value_handle_t<G>> ins) {
  { bigmodel::add_node(g, op, ins) } -> std::convertible_to<node_handle_t<G>>;
  bigmodel::erase_node(g, n);
  bigmodel::replace_uses(g, v, v);
};

namespace cpo_detail {
struct any_parameter_visitor {
  template <class W>
  void operator()(std::string_view, W&) const {}
};
}  // namespace cpo_detail

// Weights only: visit_parameters(model, f) calls f(name, weight) for each parameter.
template <class M>
concept parameterized = requires(M& m) { bigmodel::visit_parameters(m, cpo_detail::any_parameter_visitor{}); };

// ---- defaults derived from the concept ----

// Nodes reading v (member / ADL / traits `consumers_of` when the IR has use lists; else a scan).
struct consumers_fn {
  template <graph G>
  auto operator()(G& g, const value_handle_t<G>& v) const {
    if constexpr (cpo_detail::member_consumers_of<G&, const value_handle_t<G>&> ||
                  cpo_detail::adl_consumers_of<G&, const value_handle_t<G>&> ||
                  cpo_detail::traits_consumers_of<G&, const value_handle_t<G>&>) {
      return cpo_detail::consumers_of_fn{}(g, v);
    } else {
      std::vector<node_handle_t<G>> out;
      for (auto n : bigmodel::nodes(g))
        for (const auto& in : bigmodel::inputs(g, n))
          if (in == v) { out.push_back(n); break; }
      return out;
    }
  }
};
// The node writing v, if any (scan).
struct producer_fn {
  template <graph G>
  std::optional<node_handle_t<G>> operator()(G& g, const value_handle_t<G>& v) const {
    for (auto n : bigmodel::nodes(g))
      for (const auto& out : bigmodel::outputs(g, n))
        if (out == v) return n;
    return std::nullopt;
  }
};
inline namespace cpo {
inline constexpr consumers_fn consumers{};
inline constexpr producer_fn producer_of{};
}  // namespace cpo

}  // namespace bigmodel
