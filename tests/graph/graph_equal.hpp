#pragma once
// Structural equality of two graphs, by names: same inputs/outputs/initializers (bytes), same nodes in
// the same order with the same ops, attributes and wiring. For round-trip tests.

#include <bigmodel/graph.hpp>

namespace bigmodel::test {

template <class OpSet>
bool graphs_equal(const basic_computation_graph<OpSet>& a, const basic_computation_graph<OpSet>& b) {
  auto names = [](const auto& g, const std::vector<value_id>& vs) {
    std::vector<std::string> out;
    for (auto v : vs) out.push_back(v.valid() ? g.name_of(v) : std::string{});
    return out;
  };
  if (names(a, a.graph_inputs()) != names(b, b.graph_inputs())) return false;
  if (names(a, a.graph_outputs()) != names(b, b.graph_outputs())) return false;
  const auto ia = a.initializers(), ib = b.initializers();
  if (ia.size() != ib.size()) return false;
  for (std::size_t i = 0; i < ia.size(); ++i)
    if (a.name_of(ia[i]) != b.name_of(ib[i]) || !(*a.at(ia[i]).initializer == *b.at(ib[i]).initializer)) return false;
  const auto na = a.nodes(), nb = b.nodes();
  if (na.size() != nb.size()) return false;
  for (std::size_t i = 0; i < na.size(); ++i) {
    const auto &x = a.at(na[i]), &y = b.at(nb[i]);
    if (!(x.op == y.op) || x.name != y.name || names(a, x.inputs) != names(b, y.inputs) ||
        names(a, x.outputs) != names(b, y.outputs) || !(x.extra_attributes == y.extra_attributes))
      return false;
  }
  for (auto v : a.values()) {
    const auto w = b.find_value(a.name_of(v));
    if (!w || a.at(v).type != b.at(*w).type || a.at(v).shape != b.at(*w).shape) return false;
  }
  return true;
}

}  // namespace bigmodel::test
