// The pass framework: composition, in-place runs, reports, fixed point, verification, output checks.
#include <bigmodel/graph.hpp>
#include <bigmodel/passes/pass.hpp>

#include <catch2/catch.hpp>

using namespace bigmodel;

namespace {
// x -> Identity -> Identity -> Relu -> y, plus a dead Relu.
computation_graph small_graph() {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 4});
  const auto a = g.add_node(ops::identity{}, {x}, 1);
  const auto b = g.add_node(ops::identity{}, {g.outputs(a)[0]}, 1);
  const auto r = g.add_node(ops::relu{}, {g.outputs(b)[0]}, 1);
  g.mark_output(g.outputs(r)[0]);
  (void)g.add_node(ops::relu{}, {x}, 1);  // dead
  return g;
}

// Removes one Identity per call (so a fixed point needs several rounds).
auto remove_one_identity() {
  return passes::make_pass("remove_one_identity", [](computation_graph& g) -> std::size_t {
    for (auto n : g.nodes())
      if (g.op_as<ops::identity>(n) && bypass_node(g, n, 0)) return 1;
    return 0;
  });
}
auto remove_dead() {
  return passes::make_pass("remove_dead", [](computation_graph& g) { return remove_dead_nodes(g); });
}
}  // namespace

TEST_CASE("passes compose with | and run in place with |=", "[passes]") {
  auto g = small_graph();
  g |= remove_one_identity() | remove_dead();
  CHECK(g.node_count() == 2);  // one Identity and the live Relu
}

TEST_CASE("a pipeline reports what each pass changed", "[passes]") {
  auto g = small_graph();
  const auto rep = (remove_one_identity() | remove_dead()).run(g);
  REQUIRE(rep.passes.size() == 2);
  CHECK(rep.passes[0].name == "remove_one_identity");
  CHECK(rep.passes[0].changes == 1);
  CHECK(rep.passes[0].before.ops.at("Identity") == 2);
  CHECK(rep.passes[0].after.ops.at("Identity") == 1);
  CHECK(rep.passes[0].op_delta().at("Identity") == -1);
  CHECK(rep.passes[1].changes == 1);
  CHECK(rep.passes[1].op_delta().at("Relu") == -1);
  CHECK(rep.passes[1].seconds >= 0.0);
}

TEST_CASE("fixed point repeats until nothing changes", "[passes]") {
  auto g = small_graph();
  const auto rep = remove_one_identity().run(g, {.fixed_point = true});
  CHECK(rep.iterations == 3);  // two removals, then a round with no change
  CHECK(rep.changes() == 2);
  CHECK(g.node_count() == 2);  // both Identities gone, two Relus left
}

TEST_CASE("verification names the pass that broke the graph", "[passes]") {
  auto g = small_graph();
  auto breaker = passes::make_pass("breaker", [](computation_graph& gr) {
    // Erase the producer of the output: a dangling graph output.
    for (auto n : gr.nodes())
      if (gr.op_as<ops::relu>(n) && gr.at(gr.outputs(n)[0]).is_output) gr.erase_node(n);
    return true;
  });
  try {
    (void)(remove_dead() | breaker).run(g, {.verify = true});
    FAIL("expected pass.invalid_graph");
  } catch (const error& e) {
    CHECK(e.id() == "pass.invalid_graph");
    CHECK(e.context() == "breaker");
  }
}

TEST_CASE("an output check names the first pass that changed the results", "[passes]") {
  auto g = small_graph();
  int calls = 0;
  // A stand-in error measure: 0 after the first pass, large after the second.
  auto check = [&](const computation_graph&) { return ++calls == 1 ? 0.0 : 1.0; };
  try {
    (void)(remove_one_identity() | remove_dead()).run(g, {}, check);
    FAIL("expected pass.output_mismatch");
  } catch (const error& e) {
    CHECK(e.id() == "pass.output_mismatch");
    CHECK(e.context() == "remove_dead");
  }
}
