// Constant folding, dead-node, identity and common-subexpression elimination on hand-built graphs.
#include <catch2/catch.hpp>

#include "passes_test_util.hpp"

using namespace bigmodel;
using namespace passes_test;

TEST_CASE("fold_constants folds all-constant nodes through the runtime's kernels", "[passes][fold]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 4});
  const auto w = constant(g, "w", random_tensor({4, 3}, 1));
  const dynamic_tensor w0 = *g.constant_value(w);
  const auto wt = op(g, ops::transpose{ops::ints{1, 0}}, {w});          // constant
  const auto w2 = op(g, ops::transpose{ops::ints{1, 0}}, {wt});         // constant
  const auto two = op(g, ops::constant{dynamic_tensor::scalar(2.0f)}, {});
  const auto w3 = op(g, ops::mul{}, {w2, two});                         // constant
  const auto y = op(g, ops::matmul{}, {x, w3});                         // not constant
  g.mark_output(y);
  const auto ref = g;
  const auto r = passes::fold_constants(g, runtime::kernel_evaluator{});
  CHECK(r.changes == 4);
  CHECK(histogram(g) == passes::op_histogram{{"MatMul", 1}});
  const auto x0 = random_tensor({5, 4}, 2);
  CHECK(relative_error(ref, g, {{"x", x0}}) == 0.0);
  // The folded weight is 2 * w exactly.
  const auto* folded = g.constant_value(g.inputs(g.nodes()[0])[1]);
  REQUIRE(folded);
  CHECK(folded->span<float>()[1] == 2.0f * w0.span<float>()[1]);
}

TEST_CASE("fold_constants: Shape of static dims without an evaluator, opaque ops and graph outputs left alone", "[passes][fold]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 8, 64});
  const auto s = op(g, ops::shape{}, {x});
  const auto d1 = op(g, ops::gather{0}, {s, ints(g, "i1", {1})});      // 8: static
  const auto d0 = op(g, ops::gather{0}, {s, ints(g, "i0", {0})});      // batch: dynamic
  const auto target = op(g, ops::concat{0}, {d0, d1, ints(g, "last", {64})});
  const auto y = op(g, ops::reshape{}, {x, target});
  g.mark_output(y);
  const auto rnd = op(g, ops::opaque{"", "RandomNormal", {}}, {});
  const auto z = op(g, ops::add{}, {rnd, scalar(g, "one", 1.0f)});
  g.mark_output(z);
  const auto r = passes::fold_constants(g);
  CHECK(r.changes == 1);  // the Gather of dim 1
  CHECK(count(g, "Gather") == 1);
  CHECK(count(g, "Shape") == 1);
  CHECK(count(g, "RandomNormal") == 1);
  CHECK(count(g, "Add") == 1);
}

TEST_CASE("fold_constants: a kernel error names the node", "[passes][fold]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {2});
  const auto a = constant(g, "a", random_tensor({2, 3}, 1));
  const auto b = constant(g, "b", random_tensor({2, 3}, 2));
  const auto bad = g.add_node(ops::matmul{}, {a, b}, 1);  // [2,3] x [2,3]
  g.at(bad).name = "bad_matmul";
  g.mark_output(op(g, ops::add{}, {x, g.outputs(bad)[0]}));
  try {
    (void)passes::fold_constants(g, runtime::kernel_evaluator{});
    FAIL("no error");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Catch::Contains("bad_matmul"));
  }
}

TEST_CASE("eliminate_dead_nodes removes unread nodes and initializers", "[passes][dead]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {4});
  const auto y = op(g, ops::relu{}, {x});
  g.mark_output(y);
  const auto unused = op(g, ops::sigmoid{}, {op(g, ops::add{}, {x, scalar(g, "c", 1.0f)})});
  (void)unused;
  CHECK(passes::eliminate_dead_nodes(g).changes == 3);  // Sigmoid, Add, the initializer c
  CHECK(histogram(g) == passes::op_histogram{{"Relu", 1}});
  CHECK(!g.find_value("c"));
}

TEST_CASE("eliminate_identity: Identity, Dropout, no-op Reshape/Transpose/Cast, Transpose and Reshape chains", "[passes][identity]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {2, 3, 4});
  auto v = op(g, ops::identity{}, {x});
  v = op(g, ops::dropout{}, {v});
  v = op(g, ops::reshape{}, {v, ints(g, "same", {0, 3, -1})});              // no-op
  v = op(g, ops::transpose{ops::ints{0, 1, 2}}, {v});                      // identity perm
  v = op(g, ops::cast{dtype::f32}, {v});                                   // same type
  v = op(g, ops::transpose{ops::ints{0, 2, 1}}, {v});
  v = op(g, ops::transpose{ops::ints{1, 0, 2}}, {v});                      // merges into one
  v = op(g, ops::reshape{}, {v, ints(g, "flat", {6, 4})});
  v = op(g, ops::reshape{}, {v, ints(g, "back", {4, 6})});                  // chain: one Reshape of the transpose
  const auto y = op(g, ops::relu{}, {v});
  g.mark_output(y);
  const auto ref = g;
  const auto r = passes::eliminate_identity(g);
  CHECK(r.changes >= 7);
  CHECK(histogram(g) == passes::op_histogram{{"Relu", 1}, {"Reshape", 1}, {"Transpose", 1}});
  CHECK(relative_error(ref, g, {{"x", random_tensor({2, 3, 4}, 3)}}) == 0.0);
}

TEST_CASE("eliminate_identity: cancelling Transposes vanish; a graph output fed by an input stays", "[passes][identity]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {2, 3});
  const auto t = op(g, ops::transpose{}, {op(g, ops::transpose{}, {x})});
  g.mark_output(op(g, ops::relu{}, {t}));
  const auto id = op(g, ops::identity{}, {x});
  g.mark_output(id);
  (void)passes::eliminate_identity(g);
  CHECK(histogram(g) == passes::op_histogram{{"Identity", 1}, {"Relu", 1}});
  CHECK(g.inputs(g.producer(g.graph_outputs()[0]))[0] == x);
}

TEST_CASE("eliminate_identity leaves a Dropout whose mask is read", "[passes][identity]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {4});
  const auto d = g.add_node(ops::dropout{}, {x}, 2);
  g.mark_output(op(g, ops::relu{}, {g.outputs(d)[0]}));
  g.mark_output(g.outputs(d)[1]);
  CHECK(passes::eliminate_identity(g).changes == 0);
  CHECK(count(g, "Dropout") == 1);
}

TEST_CASE("eliminate_common_subexpressions merges equal nodes and equal initializers", "[passes][cse]") {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, {"batch", 4});
  const auto w1 = constant(g, "w1", random_tensor({4, 4}, 5));
  const auto w2 = constant(g, "w2", *g.constant_value(w1));  // same values, another name
  const auto a = op(g, ops::matmul{}, {x, w1});
  const auto b = op(g, ops::matmul{}, {x, w2});
  const auto s1 = op(g, ops::softmax{-1}, {a});
  const auto s2 = op(g, ops::softmax{0}, {b});  // different attribute: kept
  g.mark_output(op(g, ops::add{}, {s1, s2}));
  const auto ref = g;
  const auto r = passes::eliminate_common_subexpressions(g);
  CHECK(r.changes == 2);  // the initializer, the second MatMul
  CHECK(histogram(g) == passes::op_histogram{{"Add", 1}, {"MatMul", 1}, {"Softmax", 2}});
  CHECK(relative_error(ref, g, {{"x", random_tensor({3, 4}, 6)}}) == 0.0);
}
