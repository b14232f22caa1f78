// computation_graph: construction, use-def chains, validation errors, shape inference, matching and
// rewriting, ONNX import of unknown ops and of older opset forms.

#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>
#include <bigmodel/io/onnx_graph.hpp>

#include <filesystem>

#include "graph_equal.hpp"

using namespace bigmodel;

namespace {

template <class F>
std::string error_id(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.id() + ": " + e.what();
  }
  return "no error";
}

// x -> MatMul(w) -> Add(b) -> Relu -> y
struct mlp_graph {
  computation_graph g;
  value_id x, w, b, y;
  node_id mm, add, relu;
  mlp_graph() {
    x = g.add_input("x", dtype::f32, {"batch", 4});
    w = g.add_initializer("w", dynamic_tensor::from<float>({4, 3}, std::vector<float>(12, 0.5f)));
    b = g.add_initializer("b", dynamic_tensor::from<float>({3}, {1, 2, 3}));
    auto h = g.add_value("h"), z = g.add_value("z");
    y = g.add_value("y");
    mm = g.add_node(ops::matmul{}, {x, w}, {h}, "mm");
    add = g.add_node(ops::add{}, {h, b}, {z}, "add");
    relu = g.add_node(ops::relu{}, {z}, {y}, "relu");
    g.mark_output(y);
  }
};

}  // namespace

TEST_CASE("use-def chains and topological order", "[graph]") {
  mlp_graph m;
  auto& g = m.g;
  CHECK(g.node_count() == 3);
  CHECK(g.producer(g.value_of("h")) == m.mm);
  REQUIRE(g.uses(g.value_of("h")).size() == 1);
  CHECK(g.uses(g.value_of("h"))[0] == use{m.add, 0});
  CHECK(g.consumers_of(m.b) == std::vector<node_id>{m.add});
  CHECK(topological_order(g) == std::vector<node_id>{m.mm, m.add, m.relu});
  // Nodes added out of order (as importers do) still sort.
  computation_graph h;
  h.add_input("a", dtype::f32, {2});
  const auto n2 = h.add_node(ops::relu{}, std::vector<std::string>{"t"}, std::vector<std::string>{"u"}, "second");
  const auto n1 = h.add_node(ops::neg{}, std::vector<std::string>{"a"}, std::vector<std::string>{"t"}, "first");
  CHECK(topological_order(h) == std::vector<node_id>{n1, n2});
  CHECK(h.value("fresh").valid());
}

TEST_CASE("validation errors name the node and value", "[graph][validation]") {
  SECTION("cycle") {
    computation_graph g;
    g.add_input("x", dtype::f32, {2});
    g.add_node(ops::add{}, std::vector<std::string>{"x", "b"}, std::vector<std::string>{"a"}, "n_a");
    g.add_node(ops::relu{}, std::vector<std::string>{"a"}, std::vector<std::string>{"b"}, "n_b");
    const auto e = error_id([&] { validate(g); });
    CHECK_THAT(e, Catch::StartsWith("graph.cycle") && Catch::Contains("n_"));
  }
  SECTION("dangling input") {
    computation_graph g;
    g.add_input("x", dtype::f32, {2});
    g.add_node(ops::add{}, std::vector<std::string>{"x", "nowhere"}, std::vector<std::string>{"y"}, "adder");
    g.mark_output(g.value_of("y"));
    const auto e = error_id([&] { validate(g); });
    CHECK_THAT(e, Catch::StartsWith("graph.dangling_input") && Catch::Contains("adder") && Catch::Contains("nowhere"));
  }
  SECTION("dangling output") {
    computation_graph g;
    g.mark_output(g.value("ghost"));
    CHECK_THAT(error_id([&] { validate(g); }), Catch::StartsWith("graph.dangling_output") && Catch::Contains("ghost"));
  }
  SECTION("duplicate names and double production") {
    mlp_graph m;
    CHECK_THAT(error_id([&] { m.g.add_input("w", dtype::f32, {1}); }), Catch::StartsWith("graph.duplicate_name") && Catch::Contains("'w'"));
    CHECK_THAT(error_id([&] { m.g.add_node(ops::relu{}, {m.x}, {m.g.value_of("h")}, "again"); }),
               Catch::StartsWith("graph.duplicate_value") && Catch::Contains("'h'") && Catch::Contains("mm"));
    CHECK_THAT(error_id([&] { m.g.add_node(ops::relu{}, {m.x}, {m.w}, "onto_weight"); }),
               Catch::StartsWith("graph.duplicate_value") && Catch::Contains("initializer"));
  }
  SECTION("shape mismatch on a supported op") {
    computation_graph g;
    auto a = g.add_input("a", dtype::f32, {"batch", 3});
    auto w = g.add_initializer("w", dynamic_tensor(dtype::f32, {4, 5}));
    g.add_node(ops::matmul{}, {a, w}, 1);
    CHECK_THAT(error_id([&] { validate(g); }), Catch::StartsWith("graph.shape_mismatch") && Catch::Contains("MatMul"));
  }
  SECTION("dtype mismatch on a supported op") {
    computation_graph g;
    auto a = g.add_input("a", dtype::f32, {2});
    auto b = g.add_input("b", dtype::s64, {2});
    g.add_node(ops::add{}, {a, b}, {g.add_value("c")}, "mixed");
    CHECK_THAT(error_id([&] { validate(g); }), Catch::StartsWith("graph.dtype_mismatch") && Catch::Contains("mixed"));
  }
  SECTION("declared shape contradicts the inferred one") {
    mlp_graph m;
    m.g.at(m.g.value_of("h")).shape = symbolic_shape{"batch", 7};
    CHECK_THAT(error_id([&] { validate(m.g); }), Catch::StartsWith("graph.shape_mismatch") && Catch::Contains("'h'"));
  }
  SECTION("arity") {
    computation_graph g;
    auto a = g.add_input("a", dtype::f32, {2});
    g.add_node(ops::add{}, {a}, {g.add_value("c")}, "half_add");
    CHECK_THAT(error_id([&] { validate(g); }), Catch::StartsWith("graph.bad_arity") && Catch::Contains("half_add"));
  }
}

TEST_CASE("shape inference keeps symbolic dims", "[graph][shapes]") {
  computation_graph g;
  auto x = g.add_input("x", dtype::f32, {"batch", 3, 32, 32});
  auto w = g.add_initializer("w", dynamic_tensor(dtype::f32, {8, 3, 3, 3}));
  auto c = g.outputs(g.add_node(ops::conv{.dilations = {}, .kernel_shape = {3, 3}, .pads = {1, 1, 1, 1}, .strides = {2, 2}}, {x, w}))[0];
  auto p = g.outputs(g.add_node(ops::max_pool{.kernel_shape = {2, 2}, .strides = {2, 2}}, {c}))[0];
  auto f = g.outputs(g.add_node(ops::flatten{}, {p}))[0];
  auto fc = g.add_initializer("fc", dynamic_tensor(dtype::f32, {10, 512}));
  auto y = g.outputs(g.add_node(ops::gemm{.trans_b = true}, {f, fc}))[0];
  auto t = g.outputs(g.add_node(ops::transpose{}, {y}))[0];
  auto u = g.outputs(g.add_node(ops::unsqueeze{}, {t, g.add_initializer("ax", dynamic_tensor::from<std::int64_t>({1}, {0}))}))[0];
  auto r = g.outputs(g.add_node(ops::reshape{}, {y, g.add_initializer("shape", dynamic_tensor::from<std::int64_t>({3}, {0, 2, -1}))}))[0];
  auto s = g.outputs(g.add_node(ops::shape{}, {x}))[0];
  auto q = g.outputs(g.add_node(ops::reduce_mean{.axes = ops::ints{1}, .keepdims = 0}, {r}))[0];
  auto cat = g.outputs(g.add_node(ops::concat{.axis = 1}, {y, y}))[0];
  for (auto v : {u, s, q, cat}) g.mark_output(v);
  validate(g);
  CHECK(g.at(c).shape == symbolic_shape{"batch", 8, 16, 16});
  CHECK(g.at(p).shape == symbolic_shape{"batch", 8, 8, 8});
  CHECK(g.at(f).shape == symbolic_shape{"batch", 512});
  CHECK(g.at(y).shape == symbolic_shape{"batch", 10});
  CHECK(g.at(t).shape == symbolic_shape{10, "batch"});
  CHECK(g.at(u).shape == symbolic_shape{1, 10, "batch"});
  CHECK(g.at(r).shape == symbolic_shape{"batch", 2, 5});
  CHECK(g.at(s).shape == symbolic_shape{4});
  CHECK(g.at(s).type == dtype::s64);
  CHECK(g.at(q).shape == symbolic_shape{"batch", 5});
  CHECK(g.at(cat).shape == symbolic_shape{"batch", 20});
}

TEST_CASE("shape inference: Reshape to a run-time target of known length has that rank", "[graph][shapes]") {
  computation_graph g;
  auto x = g.add_input("x", dtype::f32, {"batch", dim{}, 256});  // sequence dim lost (e.g. a sliced position table)
  auto s = g.outputs(g.add_node(ops::shape{}, {x}))[0];
  auto b = g.outputs(g.add_node(ops::gather{}, {s, g.add_initializer("i0", dynamic_tensor::from<std::int64_t>({1}, {0}))}))[0];
  auto t = g.outputs(g.add_node(ops::gather{}, {s, g.add_initializer("i1", dynamic_tensor::from<std::int64_t>({1}, {1}))}))[0];
  auto heads = g.add_initializer("hd", dynamic_tensor::from<std::int64_t>({2}, {4, 64}));
  auto target = g.outputs(g.add_node(ops::concat{.axis = 0}, {b, t, heads}))[0];
  auto r = g.outputs(g.add_node(ops::reshape{}, {x, target}))[0];
  g.mark_output(r);
  validate(g);
  CHECK(g.at(target).shape == symbolic_shape{4});
  REQUIRE(g.at(r).shape);
  CHECK(g.at(r).shape->size() == 4);
  auto x2 = g.add_input("x2", dtype::f32, {"batch", 256});
  auto unknown_len = g.add_input("target2", dtype::s64, {dim{}});
  auto r2 = g.outputs(g.add_node(ops::reshape{}, {x2, unknown_len}))[0];
  g.mark_output(r2);
  validate(g);
  CHECK_FALSE(g.at(r2).shape);
}

TEST_CASE("match finds chains; constraints; safe rewrite", "[graph][match]") {
  mlp_graph m;
  auto& g = m.g;
  std::size_t seen = 0;
  CHECK(match<ops::matmul, ops::add, ops::relu>(g, [&](const chain_match<3>& c) {
          CHECK(c.nodes == std::array<node_id, 3>{m.mm, m.add, m.relu});
          CHECK(c.slots[1] == 0);
          ++seen;
        }) == 1);
  CHECK(seen == 1);
  CHECK(match<ops::add, ops::matmul>(g, [](const auto&) { return true; }) == 0);

  // MatMul + Add(constant) -> Gemm, only when the Add's other input is constant.
  auto fuse = [](computation_graph& gr) {
    return match<ops::matmul, ops::add>(gr, [&](const chain_match<2>& c) {
      const value_id bias = other_input(gr, c.nodes[1], c.slots[1]);
      if (!gr.is_constant(bias)) return false;
      const auto ins = gr.inputs(c.nodes[0]);
      replace_subgraph(gr, c.nodes, ops::gemm{}, {ins[0], ins[1], bias}, {gr.outputs(c.nodes[1])[0]});
      return true;
    });
  };
  CHECK(fuse(g) == 1);
  CHECK(g.node_count() == 2);
  CHECK(!g.find_value("h"));  // internal value erased
  const auto order = topological_order(g);
  CHECK(g.op_as<ops::gemm>(order[0]) != nullptr);
  CHECK(g.name_of(g.outputs(order[0])[0]) == "z");
  validate(g);

  // Two consumers of the MatMul: not a single-consumer chain, nothing fused.
  mlp_graph two;
  two.g.mark_output(two.g.value_of("h"));
  CHECK(fuse(two.g) == 0);
  CHECK(match<ops::matmul, ops::add>(two.g, [](const auto&) {}, {.single_consumer = false}) == 1);
  // Unsafe rewrite: an internal value used outside -> refused, graph untouched.
  CHECK_THAT(error_id([&] {
               std::array<node_id, 2> nodes{two.mm, two.add};
               replace_subgraph(two.g, nodes, ops::gemm{}, {two.x, two.w, two.b}, {two.g.value_of("z")});
             }),
             Catch::StartsWith("graph.unsafe_rewrite") && Catch::Contains("'h'"));
  CHECK(two.g.node_count() == 3);

  // Non-constant bias: the constraint rejects.
  computation_graph h;
  auto a = h.add_input("a", dtype::f32, {2, 2});
  auto bb = h.add_input("bb", dtype::f32, {2});
  auto mmv = h.outputs(h.add_node(ops::matmul{}, {a, a}))[0];
  h.mark_output(h.outputs(h.add_node(ops::add{}, {mmv, bb}))[0]);
  CHECK(fuse(h) == 0);

  // producer_as walks DAG patterns upwards.
  mlp_graph d;
  CHECK(producer_as<ops::add>(d.g, d.g.inputs(d.relu)[0]) == d.add);
  CHECK(!producer_as<ops::matmul>(d.g, d.g.inputs(d.relu)[0]).valid());
}

TEST_CASE("bypass_node, dead nodes, unused initializers", "[graph][rewrite]") {
  computation_graph g;
  auto x = g.add_input("x", dtype::f32, {2});
  auto i1 = g.outputs(g.add_node(ops::relu{}, {x}))[0];
  auto id = g.add_node(ops::identity{}, {i1}, {g.add_value("y")}, "id");
  g.mark_output(g.value_of("y"));
  auto dead = g.add_node(ops::neg{}, {x});
  g.add_initializer("unused", dynamic_tensor::scalar(1.0f));
  CHECK(bypass_node(g, id));  // graph output keeps its name: the Relu now writes "y"
  CHECK(g.name_of(g.graph_outputs()[0]) == "y");
  CHECK(g.op_as<ops::relu>(g.producer(g.value_of("y"))) != nullptr);
  CHECK(remove_dead_nodes(g) == 1);
  CHECK(!g.alive(dead));
  CHECK(remove_unused_initializers(g) == 1);
  CHECK(g.node_count() == 1);
  validate(g);
  // An identity from a graph input to a graph output cannot be bypassed without renaming: refused.
  computation_graph h;
  auto in = h.add_input("in", dtype::f32, {2});
  auto n = h.add_node(ops::identity{}, {in}, {h.add_value("out")}, "id");
  h.mark_output(h.value_of("out"));
  CHECK_FALSE(bypass_node(h, n));
  CHECK(h.node_count() == 1);
}

TEST_CASE("visit_parameters sees every initializer", "[graph]") {
  mlp_graph m;
  std::vector<std::string> names;
  std::int64_t count = 0;
  m.g.visit_parameters([&](std::string_view n, dynamic_tensor& t) {
    names.emplace_back(n);
    count += t.numel();
  });
  CHECK(names == std::vector<std::string>{"w", "b"});
  CHECK(count == 15);
}

TEST_CASE("ONNX: unknown ops and attributes survive; older opset forms import", "[graph][onnx]") {
  namespace ox = io::onnx;
  ox::model_proto m;
  m.ir_version = 8;
  m.producer_name = "test";
  m.opset_import.push_back({"", 11, {}});
  m.opset_import.push_back({"com.example", 1, {}});
  auto& gp = m.graph;
  gp.name = "g";
  gp.input.push_back(ox::make_tensor_value_info("x", dtype::f32, std::vector<ox::shape_dim>{"batch", 1, 4}));
  gp.output.push_back(ox::make_tensor_value_info("z", dtype::f32, std::nullopt));
  gp.node.push_back(ox::make_node("Squeeze", {"x"}, {"s"}, {ox::make_attribute("axes", std::vector<std::int64_t>{1})}, "sq"));
  gp.node.push_back(ox::make_node("FancyOp", {"s"}, {"f"},
                                  {ox::make_attribute("alpha", 0.25f), ox::make_attribute("mode", std::string_view("fast")),
                                   ox::make_attribute("sizes", std::vector<std::int64_t>{1, 2})},
                                  "fancy", "com.example"));
  gp.node.push_back(ox::make_node("Relu", {"f"}, {"z"}, {ox::make_attribute("future_knob", std::int64_t{3})}, "relu"));
  auto g = io::from_model_proto(m);
  const auto order = topological_order(g);
  REQUIRE(order.size() == 3);
  REQUIRE(g.op_as<ops::squeeze>(order[0]));
  CHECK(g.op_as<ops::squeeze>(order[0])->axes == ops::ints{1});
  const auto* fancy = g.op_as<ops::opaque>(order[1]);
  REQUIRE(fancy);
  CHECK(fancy->domain == "com.example");
  CHECK(fancy->type == "FancyOp");
  REQUIRE(fancy->attributes.size() == 3);
  CHECK(std::get<float>(fancy->attributes[0].value) == 0.25f);
  CHECK(std::get<std::string>(fancy->attributes[1].value) == "fast");
  REQUIRE(g.at(order[2]).extra_attributes.size() == 1);  // unknown attribute of a known op
  CHECK(g.at(order[2]).extra_attributes[0].name == "future_knob");
  validate(g);
  CHECK(g.at(g.value_of("s")).shape == symbolic_shape{"batch", 4});

  const auto dir = std::filesystem::temp_directory_path() / ("bigmodel_graph_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  io::save_onnx(g, dir / "a.onnx");
  const auto g2 = io::load_onnx(dir / "a.onnx");
  CHECK(test::graphs_equal(g, g2));
  // Edit the opaque op and a known op: both are rewritten from the structs and still survive.
  std::get<ops::opaque>(g.op_of(order[1])).attributes[0].value = 0.5f;
  g.op_as<ops::squeeze>(order[0])->axes = ops::ints{-2};
  io::save_onnx(g, dir / "b.onnx");
  const auto g3 = io::load_onnx(dir / "b.onnx");
  CHECK(test::graphs_equal(g, g3));
  const auto o3 = topological_order(g3);
  CHECK(std::get<float>(g3.op_as<ops::opaque>(o3[1])->attributes[0].value) == 0.5f);
  CHECK(g3.op_as<ops::squeeze>(o3[0])->axes == ops::ints{-2});
  CHECK(g3.at(o3[2]).extra_attributes.size() == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("dynamic_tensor: views, typed access, aliasing", "[tensor]") {
  auto t = dynamic_tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  CHECK_THAT(error_id([&] { (void)t.span<std::int32_t>(); }), Catch::StartsWith("tensor.dtype_mismatch"));
  auto r = t.reshaped({3, 2});
  CHECK(r.shares_storage_with(t));
  CHECK_THAT(error_id([&] { (void)t.reshaped({4}); }), Catch::StartsWith("tensor.bad_reshape"));
  const float data[] = {7, 8};
  auto v = dynamic_tensor::view(dtype::f32, {2}, data);
  CHECK(v.is_view());
  CHECK(v.span<float>()[1] == 8.0f);
  CHECK_THAT(error_id([&] { (void)v.mutable_span<float>(); }), Catch::StartsWith("tensor.read_only"));
  auto c = v.clone();
  c.mutable_span<float>()[0] = 1;
  CHECK(data[0] == 7.0f);
  CHECK_THAT(error_id([&] { dynamic_tensor(dtype::f32, {-1, 2}); }), Catch::StartsWith("tensor.bad_shape"));
  CHECK(dynamic_tensor::from<std::int64_t>({2}, {3, -4}).to_ints() == std::vector<std::int64_t>{3, -4});
}

TEST_CASE("ONNX writer: required attributes at their C++ default are written; IR version follows the opset", "[graph][onnx]") {
  namespace ox = io::onnx;
  computation_graph g;
  g.opset_imports = {{"", 13}};
  const auto x = g.add_input("x", dtype::s64, {2, 3});
  const auto c = g.add_value("c"), y = g.add_value("y"), z = g.add_value("z");
  g.add_node(ops::cast{dtype::f32}, {x}, {c}, "cast");          // `to` has no ONNX default
  g.add_node(ops::concat{0}, {c, c}, {y}, "concat");            // nor has Concat's `axis`
  g.add_node(ops::softmax{-1}, {y}, {z}, "softmax");            // default axis differs before opset 13
  g.mark_output(z);
  auto m = io::to_model_proto(g);
  CHECK(m.ir_version == 8);
  auto attr = [&](std::string_view op, std::string_view name) {
    for (const auto& n : m.graph.node)
      if (n.op_type == op) return ox::find_attribute(n, name) != nullptr;
    return false;
  };
  CHECK(attr("Cast", "to"));
  CHECK(attr("Concat", "axis"));
  CHECK(attr("Softmax", "axis"));
  const auto back = io::from_model_proto(m);
  CHECK(test::graphs_equal(g, back));

  // An opset a pass raised (int4 DequantizeLinear needs 21) raises the IR version with it; never lowers it.
  g.opset_imports = {{"", 21}};
  CHECK(io::to_model_proto(g).ir_version == 10);
  CHECK(ox::min_ir_version_for_opset(11) == 6);
  CHECK(ox::min_ir_version_for_opset(17) == 8);
  CHECK(ox::min_ir_version_for_opset(19) == 9);
  CHECK(ox::min_ir_version_for_opset(23) == 11);
}
