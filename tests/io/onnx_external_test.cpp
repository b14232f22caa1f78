// External tensor data: read through a memory map without copying, written to a side file above a size
// threshold, and locations escaping the model's folder refused.

#include <catch2/catch.hpp>

#include <bigmodel/io/onnx.hpp>

#include <fstream>

#include "io_test_util.hpp"

namespace {

namespace onnx = bigmodel::io::onnx;
namespace fs = std::filesystem;
using bigmodel::dtype;

using io_test::error_id;

// A model with one external f32 tensor of `count` elements at location/offset/length.
onnx::model_proto external_model(const std::string& location, std::size_t count, std::string offset = "0",
                                  std::optional<std::string> length = std::nullopt) {
  onnx::model_proto m;
  m.ir_version = 8;
  m.opset_import.push_back({.domain = "", .version = 17, .meta = {}});
  onnx::tensor_proto t;
  t.name = "w";
  t.data_type = static_cast<int>(dtype::f32);
  t.dims = {static_cast<std::int64_t>(count)};
  t.data_location = 1;
  t.external_data.push_back({.key = "location", .value = location, .meta = {}});
  t.external_data.push_back({.key = "offset", .value = std::move(offset), .meta = {}});
  if (length) t.external_data.push_back({.key = "length", .value = *length, .meta = {}});
  m.graph.initializer.push_back(std::move(t));
  m.graph.node.push_back(onnx::make_node("Identity", {"w"}, {"y"}));
  m.graph.output.push_back(onnx::make_tensor_value_info("y", dtype::f32, std::vector<onnx::shape_dim>{static_cast<std::int64_t>(count)}));
  return m;
}

void write_floats(const fs::path& p, std::size_t n, std::size_t pad_before = 0) {
  std::ofstream f(p, std::ios::binary);
  for (std::size_t i = 0; i < pad_before; ++i) f.put('\0');
  for (std::size_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(i) * 0.5f;
    f.write(reinterpret_cast<const char*>(&v), 4);
  }
}

}  // namespace

TEST_CASE("external data written by onnx is mapped, not copied", "[io][onnx][external]") {
  const auto m = onnx::load_model(io_test::data_dir() / "external.onnx");
  const auto* w1 = onnx::find_initializer(m.graph, "w1");
  REQUIRE(w1);
  CHECK(w1->is_external());
  CHECK_FALSE(w1->has_raw_data());
  const auto info = onnx::external_data_info(*w1);
  CHECK(info.location == "external.onnx.data");
  const auto& data = onnx::tensor_data(*w1);
  CHECK(data.size() == 8 * 16 * 4);
  // all tensors view one mapping of the side file: their pointers lie inside it at their offsets
  const auto* b1 = onnx::find_initializer(m.graph, "b1");
  const auto b1_info = onnx::external_data_info(*b1);
  CHECK(onnx::tensor_bytes(*b1).data() - onnx::tensor_bytes(*w1).data() ==
        static_cast<std::ptrdiff_t>(b1_info.offset) - static_cast<std::ptrdiff_t>(info.offset));
  CHECK(onnx::tensor_data(*b1).owner() == data.owner());
  // same values as the embedded copy in mlp.onnx (same seed)
  const auto embedded = onnx::load_model(io_test::data_dir() / "mlp.onnx");
  CHECK(onnx::tensor_to_vector<float>(*w1) == onnx::tensor_to_vector<float>(*onnx::find_initializer(embedded.graph, "w1")));

  // without load_external the reference is kept and data access says why it fails
  const auto lazy = onnx::load_model(io_test::data_dir() / "external.onnx", {.load_external = false});
  CHECK(error_id([&] { (void)onnx::tensor_bytes(*onnx::find_initializer(lazy.graph, "w1")); }) == "onnx.external_not_loaded");
}

TEST_CASE("external tensor data pointer lies inside the mapping", "[io][onnx][external]") {
  io_test::scratch_dir dir;
  write_floats(dir / "w.bin", 1000, 64);
  onnx::save_model(external_model("w.bin", 1000, "64", "4000"), dir / "m.onnx");
  const auto m = onnx::load_model(dir / "m.onnx");
  const auto& t = m.graph.initializer.at(0);
  const auto& data = onnx::tensor_data(t);
  const auto mapping = bigmodel::io::map_file(dir / "w.bin");  // a second mapping, for its size
  CHECK(data.size() == 4000);
  const auto values = onnx::tensor_to_vector<float>(t);
  CHECK(values[999] == 499.5f);
  // the view belongs to a mapping that ends 4000 bytes after the data (file size 4064, offset 64)
  const auto* owner_map = static_cast<const bigmodel::io::detail::mapping*>(data.owner().get());
  REQUIRE(owner_map);
  CHECK(owner_map->size == mapping.size());
  CHECK(data.data() == static_cast<const std::byte*>(owner_map->addr) + 64);
  auto span = onnx::tensor_span<float>(t);
  REQUIRE(span);
  CHECK(static_cast<const void*>(span->data()) == static_cast<const void*>(data.data()));

  // length missing: to the end of the file
  onnx::save_model(external_model("w.bin", 1000, "64"), dir / "m2.onnx");
  CHECK(onnx::tensor_bytes(onnx::load_model(dir / "m2.onnx").graph.initializer.at(0)).size() == 4000);
}

TEST_CASE("escaping or invalid external locations are refused", "[io][onnx][external]") {
  io_test::scratch_dir dir;
  fs::create_directories(dir / "sub");
  write_floats(dir / "outside.bin", 4);
  write_floats(dir / "sub" / "ok.bin", 4);
  auto load_with = [&](const std::string& location, std::string offset = "0", std::optional<std::string> length = "16") {
    const auto path = dir / "sub" / "m.onnx";
    bigmodel::io::write_file_atomic(path, std::span<const std::byte>(onnx::serialize_model(external_model(location, 4, offset, length))));
    return error_id([&] { (void)onnx::load_model(path); });
  };
  CHECK(load_with("ok.bin") == "no error");
  CHECK(load_with("./ok.bin") == "no error");
  CHECK(load_with("../outside.bin") == "onnx.external_path");
  CHECK(load_with("a/../../outside.bin") == "onnx.external_path");
  CHECK(load_with((dir / "outside.bin").string()) == "onnx.external_path");
  CHECK(load_with("/etc/passwd") == "onnx.external_path");
  CHECK(load_with("") == "onnx.external_data");
  CHECK(load_with(std::string("ok.bin\0x", 8)) == "onnx.external_path");
  fs::create_symlink(dir / "outside.bin", dir / "sub" / "link.bin");
  CHECK(load_with("link.bin") == "onnx.external_path");
  CHECK(load_with("missing.bin") == "io.open");
  CHECK(load_with("ok.bin", "4") == "onnx.external_range");
  CHECK(load_with("ok.bin", "17", std::nullopt) == "onnx.external_range");
  CHECK(load_with("ok.bin", "0", "12") == "onnx.raw_data_size");
  CHECK(load_with("ok.bin", "-1") == "onnx.external_data");
  CHECK(load_with("ok.bin", "0x10") == "onnx.external_data");
  CHECK(load_with("ok.bin", "99999999999999999999999") == "onnx.external_data");
  CHECK(load_with("ok.bin", "18446744073709551615") == "onnx.external_range");
}

TEST_CASE("saving with a threshold moves large tensors to a side file", "[io][onnx][external]") {
  io_test::scratch_dir dir;
  const auto src = onnx::load_model(io_test::data_dir() / "mlp.onnx");
  onnx::save_model(src, dir / "big.onnx", {.external_threshold = 100, .external_file = {}, .external_alignment = 64});
  REQUIRE(fs::exists(dir / "big.onnx.data"));
  const auto m = onnx::load_model(dir / "big.onnx");
  for (const auto& name : {"w1", "w2", "b1"}) {  // 512, 256 and 64 bytes
    const auto* t = onnx::find_initializer(m.graph, name);
    INFO(name);
    CHECK(t->is_external() == (std::string_view(name) != "b1"));
    CHECK(onnx::tensor_to_vector<float>(*t) == onnx::tensor_to_vector<float>(*onnx::find_initializer(src.graph, name)));
    if (t->is_external()) CHECK(onnx::external_data_info(*t).offset % 64 == 0);
  }
  CHECK(fs::file_size(dir / "big.onnx") < fs::file_size(io_test::data_dir() / "mlp.onnx"));
  CHECK_FALSE(onnx::find_initializer(src.graph, "w1")->is_external());  // the source model is untouched

  // re-saving elsewhere without threshold keeps external tensors external, with a new side file
  fs::create_directories(dir / "copy");
  onnx::save_model(m, dir / "copy" / "again.onnx");
  CHECK(fs::exists(dir / "copy" / "again.onnx.data"));
  const auto again = onnx::load_model(dir / "copy" / "again.onnx");
  CHECK(onnx::find_initializer(again.graph, "w1")->is_external());
  CHECK(onnx::tensor_to_vector<float>(*onnx::find_initializer(again.graph, "w2")) ==
        onnx::tensor_to_vector<float>(*onnx::find_initializer(src.graph, "w2")));

  // saving over the model we have mapped is safe (atomic renames keep the old mapping valid)
  onnx::save_model(again, dir / "copy" / "again.onnx");
  CHECK(onnx::tensor_to_vector<float>(*onnx::find_initializer(again.graph, "w2")) ==
        onnx::tensor_to_vector<float>(*onnx::find_initializer(src.graph, "w2")));

  // a huge threshold embeds everything again: same bytes as the original
  onnx::save_model(again, dir / "embedded.onnx", {.external_threshold = std::size_t{1} << 40, .external_file = {}, .external_alignment = 64});
  const auto embedded = onnx::load_model(dir / "embedded.onnx");
  CHECK_FALSE(onnx::find_initializer(embedded.graph, "w1")->is_external());
  CHECK(onnx::tensor_to_vector<float>(*onnx::find_initializer(embedded.graph, "w1")) ==
        onnx::tensor_to_vector<float>(*onnx::find_initializer(src.graph, "w1")));
  CHECK(error_id([&] { onnx::save_model(src, dir / "x.onnx", {.external_threshold = 1, .external_file = "../x.data", .external_alignment = 1}); }) ==
        "onnx.external_path");

  if (io_test::python_onnx_available()) {
    const std::string cmd = "/usr/bin/python3 -c \"import onnx,sys; onnx.checker.check_model(sys.argv[1])\" '" + (dir / "big.onnx").string() + "'";
    CHECK(std::system(cmd.c_str()) == 0);
  } else {
    WARN("skipped: /usr/bin/python3 with the onnx package not found, onnx.checker not run on external data");
  }
}
