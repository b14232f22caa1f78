// ONNX models made by tests/io/data/make_models.py (onnx helper and torch.onnx.export): load -> save gives
// the same bytes; typed contents read back; unknown (future) fields survive; built models pass the ONNX
// checker when Python's onnx is installed.

#include <catch2/catch.hpp>

#include <bigmodel/io/onnx.hpp>

#include <cmath>
#include <cstdlib>

#include "io_test_util.hpp"

namespace {

namespace onnx = bigmodel::io::onnx;
using bigmodel::dtype;
using bigmodel::io::shared_bytes;

const onnx::node_proto* find_node(const onnx::graph_proto& g, std::string_view op) {
  for (const auto& n : g.node)
    if (n.op_type == op) return &n;
  return nullptr;
}

}  // namespace

TEST_CASE("every test model re-serializes byte for byte", "[io][onnx]") {
  for (const char* name : {"mlp.onnx", "typed.onnx", "qdq.onnx", "future.onnx", "external.onnx", "torch_mlp.onnx"}) {
    INFO(name);
    const auto path = io_test::data_dir() / name;
    const shared_bytes bytes = bigmodel::io::read_file(path);
    const auto m = onnx::parse_model(bytes);
    CHECK(io_test::same_bytes(onnx::serialize_model(m), bytes.span()));

    // load_model -> save_model in place (external data: the side file is kept as it is)
    io_test::scratch_dir dir;
    std::filesystem::copy_file(path, dir / name);
    const auto side = io_test::data_dir() / (std::string(name) + ".data");
    if (std::filesystem::exists(side)) std::filesystem::copy_file(side, dir / (std::string(name) + ".data"));
    const auto loaded = onnx::load_model(dir / name);
    onnx::save_model(loaded, dir / name);
    CHECK(io_test::same_bytes(bigmodel::io::read_file(dir / name).span(), bytes.span()));
    if (std::filesystem::exists(side))
      CHECK(bigmodel::io::read_file(side) == bigmodel::io::read_file(dir / (std::string(name) + ".data")));
  }
}

TEST_CASE("mlp.onnx contents", "[io][onnx]") {
  const auto m = onnx::load_model(io_test::data_dir() / "mlp.onnx");
  CHECK(m.ir_version == 8);
  CHECK(onnx::opset_version(m) == 13);
  CHECK(onnx::opset_version(m, "ai.onnx") == 13);
  CHECK(onnx::opset_version(m, "com.microsoft") == 0);
  CHECK(m.producer_name == "bigmodel-tests");
  CHECK(m.doc_string == "test model");
  REQUIRE(m.metadata_props.size() == 2);
  CHECK(m.graph.name == "mlp");
  CHECK(m.graph.doc_string == "a small MLP");
  REQUIRE(m.graph.node.size() == 3);
  const auto& fc1 = m.graph.node[0];
  CHECK(fc1.op_type == "Gemm");
  CHECK(fc1.input == std::vector<std::string>{"x", "w1", "b1"});
  CHECK(onnx::attribute_float(fc1, "alpha", 0.f) == 1.f);
  CHECK(onnx::attribute_int(fc1, "transB", 7) == 0);
  CHECK(onnx::attribute_int(fc1, "transA", 7) == 7);
  CHECK_THROWS_AS(onnx::attribute_int(fc1, "alpha", 0), bigmodel::error);
  CHECK(m.graph.node[1].doc_string == "activation");

  REQUIRE(m.graph.input.size() == 1);
  const auto& x = m.graph.input[0];
  REQUIRE(x.type);
  REQUIRE(x.type->tensor_type);
  CHECK(x.type->tensor_type->elem_type == static_cast<int>(dtype::f32));
  REQUIRE(x.type->tensor_type->shape);
  REQUIRE(x.type->tensor_type->shape->dim.size() == 2);
  CHECK(x.type->tensor_type->shape->dim[0].dim_param == "batch");
  CHECK(x.type->tensor_type->shape->dim[1].dim_value == 8);

  const auto* w1 = onnx::find_initializer(m.graph, "w1");
  REQUIRE(w1);
  CHECK(w1->type() == dtype::f32);
  CHECK(w1->dims == std::vector<std::int64_t>{8, 16});
  CHECK(onnx::element_count(*w1) == 128);
  const auto bytes = onnx::tensor_bytes(*w1);
  CHECK(bytes.size() == 128 * 4);
  const auto v = onnx::tensor_to_vector<float>(*w1);
  REQUIRE(v.size() == 128);
  float first;
  std::memcpy(&first, bytes.data(), 4);
  CHECK(v[0] == first);
  CHECK(onnx::tensor_to_vector<double>(*w1)[5] == static_cast<double>(v[5]));
  if (auto span = onnx::tensor_span<float>(*w1)) CHECK((*span)[127] == v[127]);
  CHECK_FALSE(onnx::tensor_span<std::int32_t>(*w1).has_value());
}

TEST_CASE("raw_data views the file buffer (no copy)", "[io][onnx]") {
  const shared_bytes bytes = bigmodel::io::read_file(io_test::data_dir() / "mlp.onnx");
  std::weak_ptr<const void> owner = bytes.owner();
  onnx::tensor_proto w2;
  {
    auto m = onnx::parse_model(bytes);
    w2 = *onnx::find_initializer(m.graph, "w2");
    CHECK(bytes.contains(w2.raw_data.data()));
  }
  CHECK_FALSE(owner.expired());  // the tensor keeps the buffer alive
  CHECK(onnx::tensor_to_vector<float>(w2).size() == 64);
}

TEST_CASE("typed tensor fields convert", "[io][onnx]") {
  const auto m = onnx::load_model(io_test::data_dir() / "typed.onnx");
  const auto& g = m.graph;
  auto init = [&](std::string_view n) -> const onnx::tensor_proto& {
    const auto* t = onnx::find_initializer(g, n);
    REQUIRE(t);
    return *t;
  };
  CHECK(onnx::tensor_to_vector<float>(init("f32")) == std::vector<float>{1.0f, -2.5f, 3.25f, 0.0f});
  CHECK(onnx::tensor_to_vector<std::int64_t>(init("i64")) == std::vector<std::int64_t>{1, -2, std::int64_t{1} << 40});
  CHECK(onnx::tensor_to_vector<int>(init("i8")) == std::vector<int>{-128, -1, 0, 127});
  CHECK(onnx::tensor_to_vector<std::int64_t>(init("u16")) == std::vector<std::int64_t>{0, 65535});
  CHECK(onnx::tensor_to_vector<double>(init("f64")) == std::vector<double>{1.5, -1e300});
  CHECK(onnx::tensor_to_vector<std::uint64_t>(init("u64")) == std::vector<std::uint64_t>{0, ~std::uint64_t{0}});
  CHECK(onnx::tensor_to_vector<std::int64_t>(init("u32")) == std::vector<std::int64_t>{4000000000});
  CHECK(onnx::tensor_to_vector<int>(init("bool")) == std::vector<int>{1, 0, 1});
  CHECK(onnx::tensor_to_vector<float>(init("f16")) == std::vector<float>{1.5f, -2.0f});
  CHECK(onnx::tensor_to_vector<std::int32_t>(init("i32")) == std::vector<std::int32_t>{-7, 2147483647});
  CHECK(init("str").string_data == std::vector<std::string>{"hello", ""});
  CHECK_THROWS_AS(onnx::tensor_to_vector<float>(init("str")), bigmodel::error);
  CHECK_THROWS_AS(onnx::tensor_bytes(init("f32")), bigmodel::error);  // typed fields, no raw bytes

  // If with then/else subgraphs, every attribute kind on the custom node
  const auto* if_node = find_node(g, "If");
  REQUIRE(if_node);
  const auto* then_b = onnx::find_attribute(*if_node, "then_branch");
  REQUIRE(then_b);
  CHECK(then_b->kind() == onnx::attribute_type::graph);
  REQUIRE(then_b->g);
  CHECK(then_b->g->node.at(0).op_type == "Identity");
  const auto* custom = find_node(g, "Custom");
  REQUIRE(custom);
  CHECK(custom->domain == "test.domain");
  CHECK(onnx::attribute_float(*custom, "f", 0) == 0.5f);
  CHECK(onnx::attribute_int(*custom, "i", 0) == -3);
  CHECK(onnx::attribute_string(*custom, "s") == "text");
  CHECK(onnx::attribute_floats(*custom, "floats") == std::vector<float>{1.0f, 2.0f});
  CHECK(onnx::attribute_ints(*custom, "ints") == std::vector<std::int64_t>{-1, 0, std::int64_t{1} << 33});
  CHECK(onnx::find_attribute(*custom, "strings")->strings == std::vector<std::string>{"a", "bc"});
  CHECK(onnx::tensor_to_vector<int>(onnx::find_attribute(*custom, "tensors")->tensors.at(0)) == std::vector<int>{3});
  CHECK(onnx::find_attribute(*custom, "graphs")->graphs.at(0).name == "then");
  const auto* sp = onnx::find_attribute(*custom, "sp");
  REQUIRE(sp);
  CHECK(sp->kind() == onnx::attribute_type::sparse_tensor);
  REQUIRE(sp->sparse_tensor);
  CHECK(sp->sparse_tensor->dims == std::vector<std::int64_t>{4});
  CHECK(onnx::tensor_to_vector<float>(sp->sparse_tensor->values) == std::vector<float>{5.0f, 6.0f});
  REQUIRE(g.sparse_initializer.size() == 1);
  CHECK(g.sparse_initializer[0].values.name == "spi");

  // output without shape: rank unknown; scalar input: empty shape
  CHECK_FALSE(g.output.at(2).type->tensor_type->shape.has_value());
  CHECK(g.input.at(0).type->tensor_type->shape->dim.empty());

  std::size_t tensors = 0;
  onnx::for_each_tensor(g, [&](const onnx::tensor_proto&) { ++tensors; });
  CHECK(tensors == 11 + 2 + 1 + 1 + 2 + 2);  // initializers, sparse init, Constant value, tensors attr, sp, sparse_value
}

TEST_CASE("fields from a future ONNX version survive load -> modify -> save", "[io][onnx]") {
  const auto path = io_test::data_dir() / "future.onnx";
  auto m = onnx::load_model(path);
  CHECK(m.meta.unknown.size() == 4);
  CHECK(m.graph.meta.unknown.size() == 4);
  CHECK(m.graph.node.at(1).meta.unknown.size() == 4);
  CHECK(m.graph.initializer.at(0).meta.unknown.size() == 4);
  CHECK(m.meta.unknown[0].number == 30);

  // A modification elsewhere keeps them, and the modification is visible.
  m.graph.node.at(0).name = "renamed";
  const auto bytes = onnx::serialize_model(m);
  const auto back = onnx::parse_model(io_test::bytes_of(bytes));
  CHECK(back.graph.node.at(0).name == "renamed");
  CHECK(back.meta.unknown.size() == 4);
  CHECK(back.graph.node.at(1).meta.unknown.size() == 4);
  CHECK(back.graph.initializer.at(0).meta.unknown.size() == 4);
  CHECK(back.graph.initializer.at(0).meta.unknown[1].record == m.graph.initializer.at(0).meta.unknown[1].record);
  // the rest is unchanged: putting the name back gives the original bytes
  auto restored = back;
  restored.graph.node.at(0).name = "fc1";
  CHECK(io_test::same_bytes(onnx::serialize_model(restored), bigmodel::io::read_file(path).span()));
}

TEST_CASE("qdq.onnx: per-axis QDQ and integer matmul nodes", "[io][onnx]") {
  const auto m = onnx::load_model(io_test::data_dir() / "qdq.onnx");
  const auto* dq = find_node(m.graph, "DequantizeLinear");
  REQUIRE(dq);
  CHECK(onnx::attribute_int(*dq, "axis", 1) == 1);
  CHECK(onnx::tensor_to_vector<float>(*onnx::find_initializer(m.graph, "w_scale")) == std::vector<float>{0.1f, 0.2f, 0.3f});
  CHECK(onnx::find_initializer(m.graph, "w_q")->type() == dtype::s8);
  CHECK(onnx::find_initializer(m.graph, "z1")->dims.empty());
  CHECK(find_node(m.graph, "MatMulInteger")->input.size() == 3);
  CHECK(find_node(m.graph, "QLinearMatMul")->input.size() == 8);
  CHECK(find_node(m.graph, "DynamicQuantizeLinear")->output.size() == 3);
}

namespace {

// x (f32 [batch, 4]) -> DynamicQuantizeLinear -> MatMulInteger with a per-column zero point -> Cast ->
// Mul by per-column scale; and a QDQ weight path with per-axis scales, plus QLinearMatMul.
onnx::model_proto build_quantized_model() {
  onnx::model_proto m;
  m.ir_version = onnx::default_ir_version;
  m.producer_name = "bigmodel";
  m.opset_import.push_back({.domain = "", .version = 13, .meta = {}});
  auto& g = m.graph;
  g.name = "quantized";
  const std::vector<std::int8_t> wq = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12};
  const float scales[] = {0.5f, 0.25f, 0.125f};
  const std::int8_t zps[] = {0, 0, 0};
  const std::uint8_t zp_u8[] = {0, 0, 0};
  g.initializer.push_back(onnx::make_tensor("w_q", {4, 3}, wq));
  g.initializer.push_back(onnx::make_scale_tensor("w_scale", scales, true));
  g.initializer.push_back(onnx::make_zero_point_tensor<std::int8_t>("w_zp", zps, true));
  g.initializer.push_back(onnx::make_zero_point_tensor<std::uint8_t>("w_zp_u8", zp_u8, true));
  g.initializer.push_back(onnx::make_scalar("y_scale", 0.1f));
  g.initializer.push_back(onnx::make_scalar("y_zp", std::uint8_t{128}));
  g.initializer.push_back(onnx::make_tensor("w_u8", {4, 3}, std::vector<std::uint8_t>(12, 130)));
  g.initializer.push_back(onnx::make_scale_tensor("w_u8_scale", std::span<const float>(scales, 1), false));
  g.initializer.push_back(onnx::make_zero_point_tensor<std::uint8_t>("w_u8_zp", std::span<const std::uint8_t>(zp_u8, 1), false));
  g.node.push_back(onnx::make_dynamic_quantize_linear("x", "x_q", "x_scale", "x_zp", "dql"));
  g.node.push_back(onnx::make_matmul_integer("x_q", "w_u8", "x_zp", "w_zp_u8", "acc", "mmi"));
  g.node.push_back(onnx::make_dequantize_linear("w_q", "w_scale", "w_zp", "w", 1, "dq"));
  g.node.push_back(onnx::make_quantize_linear("w", "w_scale", "w_zp", "w_rq", 1, "q"));
  g.node.push_back(onnx::make_node("MatMul", {"x", "w"}, {"y_f"}, {}, "mm"));
  g.node.push_back(onnx::make_qlinear_matmul("x_q", "x_scale", "x_zp", "w_u8", "w_u8_scale", "w_u8_zp", "y_scale", "y_zp", "y_q",
                                             "qlmm"));
  g.node.push_back(onnx::make_node("Transpose", {"w_rq"}, {"w_t"}, {onnx::make_attribute("perm", std::vector<std::int64_t>{1, 0})}));
  g.input.push_back(onnx::make_tensor_value_info("x", dtype::f32, std::vector<onnx::shape_dim>{"batch", 4}));
  g.output.push_back(onnx::make_tensor_value_info("acc", dtype::s32, std::vector<onnx::shape_dim>{"batch", 3}));
  g.output.push_back(onnx::make_tensor_value_info("y_f", dtype::f32, std::vector<onnx::shape_dim>{"batch", 3}));
  g.output.push_back(onnx::make_tensor_value_info("y_q", dtype::u8, std::vector<onnx::shape_dim>{"batch", 3}));
  g.output.push_back(onnx::make_tensor_value_info("w_t", dtype::s8, std::vector<onnx::shape_dim>{3, 4}));
  return m;
}

}  // namespace

TEST_CASE("built quantized model round-trips and passes the ONNX checker", "[io][onnx]") {
  const auto m = build_quantized_model();
  const auto bytes = onnx::serialize_model(m);
  const auto back = onnx::parse_model(io_test::bytes_of(bytes));
  CHECK(io_test::same_bytes(onnx::serialize_model(back), bytes));
  CHECK(back.graph.node.size() == 7);
  CHECK(onnx::attribute_int(back.graph.node[2], "axis", -1) == 1);
  CHECK(back.graph.node[1].input == std::vector<std::string>{"x_q", "w_u8", "x_zp", "w_zp_u8"});
  CHECK(onnx::tensor_to_vector<float>(*onnx::find_initializer(back.graph, "w_scale")) == std::vector<float>{0.5f, 0.25f, 0.125f});
  CHECK(onnx::find_initializer(back.graph, "y_scale")->dims.empty());
  CHECK(onnx::tensor_to_vector<int>(*onnx::find_initializer(back.graph, "w_q"))[11] == -12);
  CHECK(onnx::make_matmul_integer("a", "b", "", "", "y").input.size() == 2);

  io_test::scratch_dir dir;
  const auto path = dir / "quantized.onnx";
  onnx::save_model(m, path);
  if (!io_test::python_onnx_available()) {
    WARN("skipped: /usr/bin/python3 with the onnx package not found, onnx.checker not run");
    return;
  }
  const std::string cmd = "/usr/bin/python3 -c \"import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)\" '" +
                          path.string() + "'";
  CHECK(std::system(cmd.c_str()) == 0);
  // and the saved test models re-saved by us also pass
  for (const char* name : {"mlp.onnx", "qdq.onnx", "torch_mlp.onnx"}) {
    const auto out = dir / name;
    onnx::save_model(onnx::load_model(io_test::data_dir() / name), out);
    const std::string c2 = "/usr/bin/python3 -c \"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]))\" '" + out.string() + "'";
    CHECK(std::system(c2.c_str()) == 0);
  }
}

TEST_CASE("attributes of every kind serialize and parse back", "[io][onnx]") {
  onnx::graph_proto sub;
  sub.name = "body";
  sub.node.push_back(onnx::make_node("Identity", {"a"}, {"b"}));
  auto n = onnx::make_node("Custom", {"in"}, {"out"},
                           {onnx::make_attribute("f", 1.25f), onnx::make_attribute("i", -5), onnx::make_attribute("s", "str"),
                            onnx::make_attribute("fs", std::vector<float>{0.5f, -0.5f}),
                            onnx::make_attribute("is", std::vector<std::int64_t>{-1, 1}),
                            onnx::make_attribute("ss", std::vector<std::string>{"x", ""}),
                            onnx::make_attribute("t", onnx::make_scalar("tv", 3.0)),
                            onnx::make_attribute("ts", std::vector<onnx::tensor_proto>{onnx::make_scalar("a", std::int64_t{4})}),
                            onnx::make_attribute("g", sub), onnx::make_attribute("gs", std::vector<onnx::graph_proto>{sub, sub}),
                            onnx::make_attribute("zero", 0), onnx::make_attribute("zf", 0.0f), onnx::make_attribute("es", "")},
                           "n", "my.domain");
  const auto bytes = onnx::serialize_message(n);
  const auto back = onnx::parse_message<onnx::node_proto>(io_test::bytes_of(bytes));
  CHECK(io_test::same_bytes(onnx::serialize_message(back), bytes));
  CHECK(back.domain == "my.domain");
  CHECK(onnx::attribute_float(back, "f", 0) == 1.25f);
  CHECK(onnx::attribute_int(back, "i", 0) == -5);
  CHECK(onnx::attribute_string(back, "s") == "str");
  CHECK(onnx::attribute_floats(back, "fs") == std::vector<float>{0.5f, -0.5f});
  CHECK(onnx::attribute_ints(back, "is") == std::vector<std::int64_t>{-1, 1});
  CHECK(onnx::find_attribute(back, "ss")->strings == std::vector<std::string>{"x", ""});
  CHECK(onnx::tensor_to_vector<double>(onnx::find_attribute(back, "t")->t) == std::vector<double>{3.0});
  CHECK(onnx::find_attribute(back, "g")->g->node.at(0).op_type == "Identity");
  CHECK(onnx::find_attribute(back, "gs")->graphs.size() == 2);
  // default values are still written when they are the attribute's value
  CHECK(onnx::attribute_int(back, "zero", 9) == 0);
  CHECK(onnx::find_attribute(back, "zero")->meta.has(3));
  CHECK(onnx::find_attribute(back, "zf")->meta.has(2));
  CHECK(onnx::find_attribute(back, "es")->meta.has(4));
}

TEST_CASE("tensor constructors check sizes", "[io][onnx]") {
  CHECK_THROWS_AS(onnx::make_tensor("t", {2, 2}, std::vector<float>{1, 2, 3}), bigmodel::error);
  CHECK_THROWS_AS(onnx::make_tensor("t", {-1}, std::vector<float>{}), bigmodel::error);
  const std::vector<bigmodel::s4x2> packed = {bigmodel::s4x2::pack(1, -1), bigmodel::s4x2::pack(7, 0)};
  const auto t4 = onnx::make_tensor("s4", {3}, packed);  // 3 int4 values in 2 bytes
  CHECK(t4.type() == dtype::s4);
  CHECK(onnx::tensor_bytes(t4).size() == 2);
  const auto t = onnx::make_tensor("b", {2}, std::vector<bigmodel::bf16>{bigmodel::to_bf16(1.0f), bigmodel::to_bf16(-3.0f)});
  CHECK(onnx::tensor_to_vector<float>(t) == std::vector<float>{1.0f, -3.0f});
  CHECK(onnx::tensor_to_vector<bigmodel::f16>(t)[1] == bigmodel::to_f16(-3.0f));
  CHECK_THROWS_AS(onnx::make_scale_tensor("s", std::vector<float>{1, 2}, false), bigmodel::error);
}
