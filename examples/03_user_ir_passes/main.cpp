// Example 03: bigmodel's generic passes on a user's own IR (toy::model, adapted by ADL free functions in
// user_ir.hpp): identity and dead-node elimination through the graph concepts, with the same report as on
// bigmodel's computation_graph.
#include <bigmodel/passes.hpp>

#include <cstdio>

#include "user_ir.hpp"

static_assert(bigmodel::mutable_graph<toy::model>);

int main() {
  toy::model m;
  const int x = m.emit("Input", {});
  const int a = m.emit("Identity", {x});
  const int b = m.emit("Relu", {a});
  const int c = m.emit("Dropout", {b});
  (void)m.emit("Relu", {x});  // dead: nobody reads it
  m.results = {m.emit("Add", {c, b})};

  namespace passes = bigmodel::passes;
  const auto report = (passes::eliminate_identity() | passes::eliminate_dead_nodes()).run(m);
  for (const auto& p : report.passes) {
    std::printf("%-22s changes %zu:", p.name.c_str(), p.changes);
    for (const auto& [type, delta] : p.op_delta()) std::printf(" %s %+ld", type.c_str(), delta);
    std::printf("\n");
  }
  std::printf("nodes left:");
  for (const auto& n : m.node_list) std::printf(" %s", n.what.kind.c_str());
  std::printf("\n");
  return m.node_list.size() == 3 ? 0 : 1;  // Input, Relu, Add
}
