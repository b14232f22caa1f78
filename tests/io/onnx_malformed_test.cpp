// Malformed ONNX input: each error class gives bigmodel::error with its id and a context naming the
// offset and field; truncation at every offset and byte corruption never crash (run under ASan/UBSan).

#include <catch2/catch.hpp>

#include <bigmodel/io/onnx.hpp>

#include "io_test_util.hpp"

namespace {

namespace onnx = bigmodel::io::onnx;
namespace pb = bigmodel::io::protobuf;
using bigmodel::dtype;

struct outcome {
  std::string id = "no error";
  std::string context;
};

outcome parse_outcome(const std::vector<std::byte>& bytes) {
  try {
    (void)onnx::parse_model(io_test::bytes_of(bytes));
  } catch (const bigmodel::error& e) {
    return {e.id(), e.context()};
  }
  return {};
}

template <class Encode>
std::vector<std::byte> wire(Encode&& e) {
  return pb::serialize(std::forward<Encode>(e));
}

// ModelProto { graph { initializer { <tensor fields> } } }
template <class Tensor>
std::vector<std::byte> model_with_tensor(Tensor&& tensor_fields) {
  return wire([&](auto& w) {
    w.field_int64(1, 8);
    w.field_message(7, [&](auto& g) { g.field_message(5, [&](auto& t) { tensor_fields(t); }); });
  });
}

// Graphs nested `depth` times through If-style graph attributes.
onnx::graph_proto nested_graph(int depth) {
  onnx::graph_proto g;
  g.name = "level" + std::to_string(depth);
  if (depth > 1) g.node.push_back(onnx::make_node("If", {"c"}, {"o"}, {onnx::make_attribute("then_branch", nested_graph(depth - 1))}));
  return g;
}

}  // namespace

TEST_CASE("truncation at every offset gives an error or a valid prefix parse", "[io][onnx][malformed]") {
  for (const char* name : {"mlp.onnx", "typed.onnx", "future.onnx", "qdq.onnx"}) {
    INFO(name);
    const auto full = bigmodel::io::read_file(io_test::data_dir() / name);
    std::size_t errors = 0;
    for (std::size_t n = 0; n < full.size(); ++n) {
      std::vector<std::byte> prefix(full.data(), full.data() + n);
      const auto o = parse_outcome(prefix);
      if (o.id != "no error") {
        ++errors;
        CHECK(o.id.rfind("onnx.", 0) == 0);
        CHECK(o.context.find("offset ") != std::string::npos);
      }
    }
    CHECK(errors > full.size() / 2);
  }
}

TEST_CASE("corrupting any byte never crashes; what parses re-serializes stably", "[io][onnx][malformed]") {
  const auto full = bigmodel::io::read_file(io_test::data_dir() / "typed.onnx");
  for (std::size_t i = 0; i < full.size(); ++i) {
    for (const int mask : {0xff, 0x80, 0x07}) {
      std::vector<std::byte> b(full.data(), full.data() + full.size());
      b[i] ^= static_cast<std::byte>(mask);
      try {
        const auto m = onnx::parse_model(io_test::bytes_of(b));
        const auto once = onnx::serialize_model(m);
        const auto twice = onnx::serialize_model(onnx::parse_model(io_test::bytes_of(once)));
        CHECK(io_test::same_bytes(once, twice));
      } catch (const bigmodel::error& e) {
        CHECK(e.id().rfind("onnx.", 0) == 0);
      }
    }
  }
}

TEST_CASE("each error class is reported with its id and field", "[io][onnx][malformed]") {
  SECTION("wrong wire type") {
    const auto o = parse_outcome(wire([](auto& w) { w.field_string(1, "eight"); }));  // ir_version as bytes
    CHECK(o.id == "onnx.wire_type");
    CHECK(o.context == "offset 0");
    const auto o2 = parse_outcome(wire([](auto& w) {
      w.field_message(7, [](auto& g) { g.field_message(1, [](auto& n) { n.field_int64(4, 3); }); });  // op_type as varint
    }));
    CHECK(o2.id == "onnx.wire_type");
    CHECK(o2.context == "offset 4, field graph.node[0]");
  }
  SECTION("length past the end, huge declared sizes") {
    auto b = wire([](auto& w) { w.field_string(2, "producer"); });
    b.pop_back();
    CHECK(parse_outcome(b).id == "onnx.length_past_end");
    // a tensor declaring 2^60 bytes of raw_data in a 20-byte file: refused before any allocation
    auto huge = wire([](auto& w) { w.field_message(7, [](auto& g) { g.field_message(5, [](auto& t) { t.tag(9, pb::wire_type::length_delimited); t.varint(std::uint64_t{1} << 60); }); }); });
    const auto o = parse_outcome(huge);
    CHECK(o.id == "onnx.length_past_end");
    std::vector<std::byte> raw = {std::byte{0x3a}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0x0f}};
    CHECK(parse_outcome(raw).id == "onnx.length_past_end");
  }
  SECTION("varints over 10 bytes and overflowing") {
    std::vector<std::byte> b = {std::byte{0x08}};
    for (int i = 0; i < 10; ++i) b.push_back(std::byte{0x80});
    b.push_back(std::byte{0x01});
    CHECK(parse_outcome(b).id == "onnx.varint_too_long");
    std::vector<std::byte> c = {std::byte{0x08}};
    for (int i = 0; i < 9; ++i) c.push_back(std::byte{0xff});
    c.push_back(std::byte{0x7f});
    CHECK(parse_outcome(c).id == "onnx.varint_overflow");
  }
  SECTION("negative and overflowing dims") {
    const auto neg = parse_outcome(model_with_tensor([](auto& t) {
      t.field_int64(1, 2);
      t.field_int64(1, -3);
      t.field_int32(2, 1);
    }));
    CHECK(neg.id == "onnx.bad_dims");
    CHECK(neg.context.find("graph.initializer[0]") != std::string::npos);
    const auto over = parse_outcome(model_with_tensor([](auto& t) {
      t.field_int64(1, std::int64_t{1} << 40);
      t.field_int64(1, std::int64_t{1} << 40);
      t.field_int32(2, 1);
    }));
    CHECK(over.id == "onnx.bad_dims");
    const auto shape = parse_outcome(wire([](auto& w) {
      w.field_message(7, [](auto& g) {
        g.field_message(11, [](auto& vi) {
          vi.field_string(1, "x");
          vi.field_message(2, [](auto& tp) {
            tp.field_message(1, [](auto& tt) {
              tt.field_message(2, [](auto& s) { s.field_message(1, [](auto& d) { d.field_int64(1, -1); }); });
            });
          });
        });
      });
    }));
    CHECK(shape.id == "onnx.bad_dims");
    CHECK(shape.context.find("graph.input[0].type.tensor_type.shape.dim[0]") != std::string::npos);
  }
  SECTION("raw_data size not matching the shape") {
    const auto o = parse_outcome(model_with_tensor([](auto& t) {
      t.field_int64(1, 3);
      t.field_int32(2, static_cast<int>(dtype::f32));
      t.field_string(8, "w");
      t.field_string(9, std::string(11, 'x'));
    }));
    CHECK(o.id == "onnx.raw_data_size");
    CHECK(o.context.find("graph.initializer[0]") != std::string::npos);
    // int4: 3 elements need 2 bytes
    CHECK(parse_outcome(model_with_tensor([](auto& t) {
            t.field_int64(1, 3);
            t.field_int32(2, static_cast<int>(dtype::s4));
            t.field_string(9, "ab");
          })).id == "no error");
  }
  SECTION("packed fixed-size payload of the wrong length") {
    CHECK(parse_outcome(model_with_tensor([](auto& t) {
            t.field_int32(2, 1);
            t.field_string(4, "abcdef");  // float_data packed: 6 bytes
          })).id == "onnx.packed_size");
  }
  SECTION("nesting too deep") {
    onnx::model_proto ok;
    ok.graph = nested_graph(60);
    CHECK(parse_outcome(onnx::serialize_model(ok)).id == "no error");
    onnx::model_proto deep;
    deep.graph = nested_graph(200);
    const auto o = parse_outcome(onnx::serialize_model(deep));
    CHECK(o.id == "onnx.nesting_too_deep");
    CHECK(o.context.find("node[0].attribute[0].g") != std::string::npos);
    // the limit is configurable
    CHECK_THROWS_AS(onnx::parse_model(io_test::bytes_of(onnx::serialize_model(ok)), {.max_graph_depth = 10, .source = "m.onnx"}),
                    bigmodel::error);
  }
  SECTION("many empty messages: bounded memory") {
    const auto b = wire([](auto& w) {
      w.field_message(7, [](auto& g) {
        g.field_message(1, [](auto& n) {
          for (int i = 0; i < 20000; ++i) n.field_string(5, "");  // 20000 empty attributes in 40 KB
        });
      });
    });
    const onnx::parse_options tight{.max_graph_depth = 64, .source = {}, .max_expansion = 128, .min_budget = 0};
    try {
      (void)onnx::parse_model(io_test::bytes_of(b), tight);
      FAIL("no error");
    } catch (const bigmodel::error& e) {
      CHECK(e.id() == "onnx.too_large");
    }
    CHECK(parse_outcome(b).id == "no error");  // the default budget has a 64 MB floor
    for (const char* name : {"mlp.onnx", "typed.onnx", "qdq.onnx", "torch_mlp.onnx"})
      CHECK_NOTHROW(onnx::parse_model(bigmodel::io::read_file(io_test::data_dir() / name), tight));
  }
  SECTION("groups and field number 0") {
    CHECK(parse_outcome({std::byte{0x0b}}).id == "onnx.wire_type");
    CHECK(parse_outcome({std::byte{0x02}, std::byte{0x00}}).id == "onnx.field_number");
  }
  SECTION("file name in the context") {
    try {
      (void)onnx::parse_model(io_test::bytes_of({0x08}), {.max_graph_depth = 64, .source = "bad.onnx"});
      FAIL("no error");
    } catch (const bigmodel::error& e) {
      CHECK(e.id() == "onnx.truncated");
      CHECK(e.context() == "bad.onnx: offset 1");
    }
  }
}

TEST_CASE("empty input is an empty model; unknown top-level fields alone are kept", "[io][onnx][malformed]") {
  CHECK(parse_outcome({}).id == "no error");
  const auto b = wire([](auto& w) { w.field_string(1000, "x"); });
  const auto m = onnx::parse_model(io_test::bytes_of(b));
  CHECK(m.meta.unknown.size() == 1);
  CHECK(io_test::same_bytes(onnx::serialize_model(m), b));
}
