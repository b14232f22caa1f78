// The generic passes (identity and dead-node elimination) on a user IR adapted through the customization
// points only (examples/03_user_ir_passes/user_ir.hpp), and the same passes on computation_graph.
#include <catch2/catch.hpp>

#include "../../examples/03_user_ir_passes/user_ir.hpp"
#include "passes_test_util.hpp"

using namespace bigmodel;

static_assert(mutable_graph<toy::model>);
static_assert(mutable_graph<computation_graph>);

TEST_CASE("eliminate_identity and eliminate_dead_nodes run on a user IR", "[passes][user_ir]") {
  toy::model m;
  const int x = m.emit("Input", {});
  const int a = m.emit("Identity", {x});
  const int b = m.emit("Dropout", {m.emit("Identity", {a})});
  (void)m.emit("Sigmoid", {m.emit("Relu", {b})});  // dead chain
  const int out = m.emit("Identity", {b});            // a graph output: kept (its name would change)
  m.results = {m.emit("Relu", {b}), out};

  CHECK(passes::eliminate_identity(m).changes == 3);
  for (const auto& n : m.node_list)
    if (n.what.kind == "Relu") CHECK(n.in == std::vector<int>{x});
  const auto rep = passes::eliminate_dead_nodes().run(m);
  CHECK(rep.passes.at(0).changes == 2);
  CHECK(rep.passes.at(0).op_delta().at("Relu") == -1);
  CHECK(rep.passes.at(0).op_delta().at("Sigmoid") == -1);
  CHECK(m.node_list.size() == 3);  // Input, Identity (output), Relu
}

TEST_CASE("the same generic passes on computation_graph", "[passes][user_ir]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {4});
  const auto a = passes_test::op(g, ops::identity{}, {x});
  (void)passes_test::op(g, ops::relu{}, {a});  // dead
  g.mark_output(passes_test::op(g, ops::sigmoid{}, {passes_test::op(g, ops::dropout{}, {a})}));
  g |= passes::eliminate_identity() | passes::eliminate_dead_nodes();
  CHECK(passes_test::histogram(g) == passes::op_histogram{{"Sigmoid", 1}});
}
