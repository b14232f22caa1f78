#pragma once
// fuse_gelu: the two GELU decompositions PyTorch exports become one Gelu node (ops::gelu):
//   erf:  x * 0.5 * (1 + erf(x / sqrt 2))            (Div by sqrt 2 or Mul by 1/sqrt 2; the 0.5 on x or last)
//   tanh: x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   (x^3 as Pow(x, 3) or x * (x * x))
// Constants must match to 1e-4 relative. Leaves alone: any intermediate read elsewhere.

#include <cmath>

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

namespace detail {

struct gelu_match {
  std::vector<node_id> nodes;
  value_id x, y;
};

// Binary node n of type Op with one constant input close to `c`: the other input, or invalid.
template <class Op, class OpSet>
value_id operand_with_constant(const basic_computation_graph<OpSet>& g, node_id n, double c) {
  if (!n.valid() || !g.template op_as<Op>(n)) return {};
  const int cs = constant_slot(g, n);
  if (cs < 0 || !near(scalar_of(g, g.inputs(n)[static_cast<std::size_t>(cs)]), c)) return {};
  return g.inputs(n)[static_cast<std::size_t>(1 - cs)];
}

// From `one_plus` = Add(f(x), 1): the remaining x * 0.5 * (...) in any of PyTorch's orders.
template <class OpSet>
bool match_gelu_tail(const basic_computation_graph<OpSet>& g, node_id inner, gelu_match& m) {
  const node_id add = sole_consumer(g, g.outputs(inner)[0]);
  if (!operand_with_constant<ops::add>(g, add, 1.0).valid()) return false;
  const node_id m1 = sole_consumer(g, g.outputs(add)[0]);
  if (!m1.valid() || !g.template op_as<ops::mul>(m1)) return false;
  const value_id other = other_input(g, m1, g.inputs(m1)[0] == g.outputs(add)[0] ? 0 : 1);
  m.nodes.insert(m.nodes.end(), {inner, add, m1});
  if (other == m.x) {  // (x * (1 + f)) * 0.5
    const node_id m2 = sole_consumer(g, g.outputs(m1)[0]);
    if (!operand_with_constant<ops::mul>(g, m2, 0.5).valid()) return false;
    m.nodes.push_back(m2);
    m.y = g.outputs(m2)[0];
    return true;
  }
  if (const node_id h = producer_as<ops::mul>(g, other); h.valid() && operand_with_constant<ops::mul>(g, h, 0.5) == m.x) {
    m.nodes.push_back(h);  // (0.5 x) * (1 + f)
    m.y = g.outputs(m1)[0];
    return true;
  }
  if (near(scalar_of(g, other), 0.5)) {  // x * ((1 + f) * 0.5)
    const node_id m2 = sole_consumer(g, g.outputs(m1)[0]);
    if (!m2.valid() || !g.template op_as<ops::mul>(m2) || other_input(g, m2, g.inputs(m2)[0] == g.outputs(m1)[0] ? 0 : 1) != m.x)
      return false;
    m.nodes.push_back(m2);
    m.y = g.outputs(m2)[0];
    return true;
  }
  return false;
}

template <class OpSet>
std::optional<gelu_match> match_gelu_erf(const basic_computation_graph<OpSet>& g, node_id erf) {
  const node_id scale = g.producer(g.inputs(erf)[0]);
  if (!scale.valid() || !single_consumer(g, g.inputs(erf)[0])) return std::nullopt;
  gelu_match m;
  m.x = operand_with_constant<ops::div>(g, scale, std::sqrt(2.0));
  if (m.x.valid() && g.inputs(scale)[0] != m.x) m.x = {};  // x / c, not c / x
  if (!m.x.valid()) m.x = operand_with_constant<ops::mul>(g, scale, std::sqrt(0.5));
  if (!m.x.valid()) return std::nullopt;
  m.nodes.push_back(scale);
  if (!match_gelu_tail(g, erf, m)) return std::nullopt;
  return m;
}

// x^3 as Pow(x, 3), x * (x * x) or (x * x) * x: the nodes, given the cube value and x.
template <class OpSet>
bool match_cube(const basic_computation_graph<OpSet>& g, value_id cube, value_id x, std::vector<node_id>& nodes) {
  if (const node_id p = producer_as<ops::pow>(g, cube); p.valid()) {
    if (g.inputs(p)[0] != x || !near(scalar_of(g, g.inputs(p)[1]), 3.0, 1e-6)) return false;
    return nodes.push_back(p), true;
  }
  const node_id outer = producer_as<ops::mul>(g, cube);
  if (!outer.valid()) return false;
  const auto& in = g.inputs(outer);
  const std::size_t xs = in[0] == x ? 0 : 1;
  if (in[xs] != x) return false;
  const node_id sq = producer_as<ops::mul>(g, in[1 - xs]);
  if (!sq.valid() || g.inputs(sq)[0] != x || g.inputs(sq)[1] != x) return false;
  nodes.insert(nodes.end(), {outer, sq});
  return true;
}

template <class OpSet>
std::optional<gelu_match> match_gelu_tanh(const basic_computation_graph<OpSet>& g, node_id th) {
  gelu_match m;
  const node_id u = producer_as<ops::mul>(g, g.inputs(th)[0]);
  const value_id w = operand_with_constant<ops::mul>(g, u, std::sqrt(2.0 / 3.14159265358979323846));
  const node_id sum = producer_as<ops::add>(g, w);
  if (!w.valid() || !sum.valid()) return std::nullopt;
  for (std::size_t s = 0; s < 2 && !m.x.valid(); ++s) {
    const node_id k = producer_as<ops::mul>(g, g.inputs(sum)[1 - s]);
    const value_id cube = operand_with_constant<ops::mul>(g, k, 0.044715);
    m.nodes = {u, sum, k};
    if (cube.valid() && match_cube(g, cube, g.inputs(sum)[s], m.nodes)) m.x = g.inputs(sum)[s];
  }
  if (!m.x.valid() || !match_gelu_tail(g, th, m)) return std::nullopt;
  return m;
}

struct fuse_gelu_impl {
  static constexpr std::string_view name = "fuse_gelu";
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const no_config&) {
    rewrite_result r;
    for (auto n : topological_order(g)) {
      if (!g.alive(n)) continue;
      std::optional<gelu_match> m;
      std::string approximate = "none";
      if (g.template op_as<ops::erf>(n)) m = match_gelu_erf(g, n);
      else if (g.template op_as<ops::tanh>(n)) m = match_gelu_tanh(g, n), approximate = "tanh";
      if (!m) continue;
      replace_subgraph(g, m->nodes, ops::gelu{approximate}, {m->x}, {m->y});
      ++r.changes;
    }
    remove_dead_nodes(g);
    return r;
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::fuse_gelu_impl> fuse_gelu{};

}  // namespace bigmodel::passes
