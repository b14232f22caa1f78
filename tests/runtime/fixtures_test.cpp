// Our runtime on the PyTorch-exported fixtures: outputs vs PyTorch (max relative error 1e-4), digits
// accuracy vs PyTorch's, and ONNX round trips (load -> save -> load gives the same graph; onnx.checker).

#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/runtime.hpp>

#include "fixture_files.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "../graph/graph_equal.hpp"

namespace fs = std::filesystem;
using namespace bigmodel;

namespace {

using test::fixtures;
using test::load_npy;

struct fixture_result {
  double max_rel = 0;
  double accuracy = 0, reference_accuracy = 0;
};

// Runs the whole test set in one batch; relative error = |ours - torch| / max|torch| per sample row.
fixture_result run_fixture(const std::string& model, const std::string& file) {
  const auto dir = fixtures() / model;
  auto g = io::load_onnx(dir / file);
  validate(g);
  session s{g};
  const auto x = load_npy(dir / "x_test.npy");
  const auto ref = load_npy(dir / "logits_fp32.npy");
  const auto labels = load_npy(dir / "y_test.npy");
  const auto y = s.run({{"input", x}})["logits"];
  REQUIRE(y.shape() == ref.shape());
  const auto a = y.span<float>(), b = ref.span<float>();
  const auto n = ref.dim(0), c = ref.dim(1);
  fixture_result r;
  std::int64_t ours_ok = 0, ref_ok = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double scale = 0;
    for (std::int64_t j = 0; j < c; ++j) scale = std::max(scale, std::abs(double(b[i * c + j])));
    std::int64_t am = 0, bm = 0;
    for (std::int64_t j = 0; j < c; ++j) {
      r.max_rel = std::max(r.max_rel, std::abs(double(a[i * c + j]) - double(b[i * c + j])) / std::max(scale, 1e-12));
      if (a[i * c + j] > a[i * c + am]) am = j;
      if (b[i * c + j] > b[i * c + bm]) bm = j;
    }
    ours_ok += am == labels.as_int(i);
    ref_ok += bm == labels.as_int(i);
  }
  r.accuracy = double(ours_ok) / double(n);
  r.reference_accuracy = double(ref_ok) / double(n);
  std::printf("fixture %-32s max rel err %.3g, accuracy ours %.4f / PyTorch %.4f\n", file.c_str(), r.max_rel, r.accuracy,
              r.reference_accuracy);
  return r;
}

bool have_python_onnx() {
  return fs::exists("/usr/bin/python3") && std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") == 0;
}

}  // namespace

TEST_CASE("runtime reproduces PyTorch on every fixture", "[runtime][fixtures]") {
  const std::pair<const char*, const char*> cases[] = {
      {"digits_mlp", "digits_mlp.opset13.onnx"},     {"digits_mlp", "digits_mlp.opset17.onnx"},
      {"digits_cnn", "digits_cnn.opset13.onnx"},     {"digits_cnn", "digits_cnn.opset17.onnx"},
      {"digits_cnn", "digits_cnn_bn.opset13.onnx"},  {"digits_cnn", "digits_cnn_bn.opset17.onnx"},
      {"tiny_encoder", "tiny_encoder.opset13.onnx"}, {"tiny_encoder", "tiny_encoder.opset17.onnx"},
  };
  for (auto [model, file] : cases) {
    INFO(file);
    if (!fs::exists(fixtures() / model / file)) {
      WARN("fixture missing, skipped: " << file);
      continue;
    }
    const auto r = run_fixture(model, file);
    CHECK(r.max_rel < 1e-4);
    CHECK(r.accuracy == r.reference_accuracy);
  }
}

TEST_CASE("dynamic batch: one session, several batch sizes", "[runtime][fixtures]") {
  const auto dir = fixtures() / "tiny_encoder";
  if (!fs::exists(dir / "tiny_encoder.opset17.onnx")) {
    WARN("fixture missing, skipped");
    return;
  }
  const auto g = io::load_onnx(dir / "tiny_encoder.opset17.onnx");
  session s{g};
  const auto x = load_npy(dir / "x_test.npy");
  const auto full = s.run({{"input", x}})["logits"];
  for (std::int64_t b : {1, 3, 7}) {
    auto part = dynamic_tensor::from<float>({b, 8, 8}, std::vector<float>(x.span<float>().begin(), x.span<float>().begin() + b * 64));
    const auto y = s.run({{"input", part}})["logits"];
    REQUIRE(y.shape() == shape_t{b, 10});
    for (std::int64_t i = 0; i < b * 10; ++i) CHECK(y.span<float>()[static_cast<std::size_t>(i)] == Approx(full.span<float>()[static_cast<std::size_t>(i)]).margin(1e-5));
  }
}

TEST_CASE("ONNX round trip: load -> save -> load gives the same graph; onnx.checker accepts it", "[io][fixtures]") {
  const bool checker = have_python_onnx();
  if (!checker) WARN("python3 with onnx not found: onnx.checker check skipped");
  const auto tmp = fs::temp_directory_path() / ("bigmodel_roundtrip_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  for (const char* rel : {"digits_mlp/digits_mlp.opset13.onnx", "digits_cnn/digits_cnn_bn.opset17.onnx",
                          "tiny_encoder/tiny_encoder.opset13.onnx", "tiny_encoder/tiny_encoder.opset17.onnx"}) {
    INFO(rel);
    const auto src = fixtures() / rel;
    if (!fs::exists(src)) continue;
    const auto g1 = io::load_onnx(src);
    const auto out = tmp / fs::path(rel).filename();
    io::save_onnx(g1, out);
    const auto g2 = io::load_onnx(out);
    CHECK(test::graphs_equal(g1, g2));
    // Unmodified: byte for byte what we read.
    CHECK(io::read_file(src).as_string_view() == io::read_file(out).as_string_view());
    if (checker) {
      const std::string cmd = "/usr/bin/python3 -c \"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\" '" + out.string() + "'";
      CHECK(std::system(cmd.c_str()) == 0);
    }
  }
  // A modified graph (an op changed, a node added) is rewritten from the op structs and still checks.
  auto g = io::load_onnx(fixtures() / "digits_mlp/digits_mlp.opset17.onnx");
  for (auto n : g.nodes())
    if (auto* gm = g.op_as<ops::gemm>(n)) gm->alpha = 1.0f, gm->act.kind = ops::activation_kind::none;
  std::size_t fused = 0;
  fused += match<ops::gemm, ops::relu>(g, [&](const auto& m) {
    auto op = *g.op_as<ops::gemm>(m.nodes[0]);
    op.act.kind = ops::activation_kind::relu;
    auto ins = g.inputs(m.nodes[0]);
    replace_subgraph(g, m.nodes, op, ins, {g.outputs(m.nodes[1])[0]});
    return true;
  });
  CHECK(fused == 2);
  const auto out = tmp / "mlp_fused.onnx";
  io::save_onnx(g, out);
  const auto g2 = io::load_onnx(out);
  CHECK(g2.node_count() == 5);  // written as Gemm + Relu again
  session s1{g}, s2{g2};
  const auto x = load_npy(fixtures() / "digits_mlp/x_test.npy");
  const auto y1 = s1.run({{"input", x}})["logits"], y2 = s2.run({{"input", x}})["logits"];
  CHECK(y1 == y2);
  if (checker) {
    const std::string cmd = "/usr/bin/python3 -c \"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\" '" + out.string() + "'";
    CHECK(std::system(cmd.c_str()) == 0);
  }
  fs::remove_all(tmp);
}
