// libFuzzer entry point for the ONNX reader (bigmodel::io::onnx::parse_model). Built two ways (see
// CMakeLists.txt): by clang++ with -fsanitize=fuzzer,address,undefined as a real fuzzer, and by the normal
// compiler into onnx_fuzz_replay, which runs every file of the seed corpus and the regression folder.
//
// Properties checked: parsing never crashes or reads out of bounds (sanitizers); malformed input only
// throws bigmodel::error; anything that parses serializes, and serialize(parse(serialize(m))) is stable;
// the tensor accessors and external-data helpers behave on whatever parsed.

#include <bigmodel/io/onnx.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

namespace onnx = bigmodel::io::onnx;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "onnx fuzz: property violated: %s\n", what);
    std::abort();
  }
}

void poke_tensor(const onnx::tensor_proto& t) {
  try {
    (void)onnx::element_count(t);
    if (!t.is_external() && t.dims.size() < 8) (void)onnx::tensor_to_vector<float>(t);
  } catch (const bigmodel::error&) {
  }
  if (t.is_external()) {
    try {
      const auto info = onnx::external_data_info(t);
      (void)onnx::resolve_external_path("/nonexistent-bigmodel-fuzz-dir", info.location);
    } catch (const bigmodel::error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = bigmodel::io::shared_bytes::copy_of(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  onnx::model_proto m;
  try {
    m = onnx::parse_model(bytes);
  } catch (const bigmodel::error&) {
    return 0;
  }
  const auto once = onnx::serialize_model(m);
  onnx::model_proto again;
  try {
    again = onnx::parse_model(bigmodel::io::shared_bytes::copy_of(once));
  } catch (const bigmodel::error& e) {
    std::fprintf(stderr, "re-parse failed: %s\n", e.what());
    check(false, "our own output parses");
  }
  const auto twice = onnx::serialize_model(again);
  check(once.size() == twice.size() && (once.empty() || std::memcmp(once.data(), twice.data(), once.size()) == 0),
        "serialization is stable");
  onnx::for_each_tensor(m.graph, poke_tensor);
  for (const auto& n : m.graph.node) {
    try {
      (void)onnx::attribute_int(n, "axis", 0);
      (void)onnx::attribute_ints(n, "perm");
    } catch (const bigmodel::error&) {
    }
  }
  (void)onnx::opset_version(m);
  return 0;
}
