// Structured channel removal: the model shrinks, shapes stay consistent, and removing channels whose
// contribution is already zero changes no output (the exact check).
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/prune.hpp>
#include <bigmodel/runtime/session.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

using namespace bigmodel;
namespace fs = std::filesystem;

namespace {
fs::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  REQUIRE(src != nullptr);
  return fs::path(src) / "tests" / "fixtures";
}

dynamic_tensor load_input(const fs::path& file) {
  const auto a = io::read_npy(file);
  dynamic_tensor t(a.type, a.shape);
  std::memcpy(t.mutable_data(), a.data.data(), a.data.size());
  return t;
}

std::vector<float> run(const computation_graph& g, const dynamic_tensor& x) {
  session s(g);
  const auto y = s.run({{"input", x}});
  const auto v = y[0].span<float>();
  return {v.begin(), v.end()};
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double scale = 0, diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return diff / scale;
}

// Zeroes output channels of a layer: weight slices along out_axis and the bias entries.
void zero_channels(computation_graph& g, const std::string& weight, const std::string& bias, std::size_t out_axis,
                   const std::vector<std::size_t>& channels) {
  auto& w = *g.at(g.value_of(weight)).initializer;
  w = w.clone();
  const auto s = w.mutable_span<float>();
  const auto n = static_cast<std::size_t>(w.dim(out_axis));
  const std::size_t per = s.size() / n;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const std::size_t c = out_axis == 0 ? i / per : i % n;
    if (std::find(channels.begin(), channels.end(), c) != channels.end()) s[i] = 0.0f;
  }
  auto& b = *g.at(g.value_of(bias)).initializer;
  b = b.clone();
  for (auto c : channels) b.mutable_span<float>()[c] = 0.0f;
}
}  // namespace

TEST_CASE("removing already-dead MLP channels changes no output and shrinks the weights", "[prune][channels]") {
  auto g = io::load_onnx(fixtures() / "digits_mlp" / "digits_mlp.opset13.onnx");
  const auto x = load_input(fixtures() / "digits_mlp" / "x_test.npy");
  zero_channels(g, "fc1.weight", "fc1.bias", 0, {3, 17, 100});
  zero_channels(g, "fc2.weight", "fc2.bias", 0, {0, 127});
  const auto before = run(g, x);

  SECTION("explicit channels") {
    const auto rep = prune::remove_channels(g, {.channels = {{"fc1.weight", {3, 17, 100}}, {"fc2.weight", {127, 0}}}});
    CHECK(rep.pruned.size() == 2);
  }
  SECTION("chosen by the L2 criterion (the dead channels have norm 0)") {
    const auto rep = prune::remove_channels(
        g, {.amount = 3.0 / 256.0, .select = [](std::string_view n) { return n == "fc1.weight"; }});
    REQUIRE(rep.pruned.size() == 1);
    (void)prune::remove_channels(g, {.amount = 2.0 / 128.0, .select = [](std::string_view n) { return n == "fc2.weight"; }});
  }
  CHECK(g.constant_value(g.value_of("fc1.weight"))->shape() == shape_t{253, 64});
  CHECK(g.constant_value(g.value_of("fc1.bias"))->shape() == shape_t{253});
  CHECK(g.constant_value(g.value_of("fc2.weight"))->shape() == shape_t{126, 253});
  CHECK(g.constant_value(g.value_of("fc3.weight"))->shape() == shape_t{10, 126});
  CHECK(max_rel_diff(run(g, x), before) < 1e-5);
}

TEST_CASE("the last layer is refused: its channels are the model's outputs", "[prune][channels]") {
  auto g = io::load_onnx(fixtures() / "digits_mlp" / "digits_mlp.opset13.onnx");
  const auto rep = prune::remove_channels(g, {.amount = 0.25});
  CHECK(rep.pruned.size() == 2);
  REQUIRE(rep.refused.size() == 1);
  CHECK(rep.refused[0].find("fc3.weight: its channels reach the graph output 'logits'") != std::string::npos);
  CHECK(rep.parameters_after < rep.parameters_before);
  // 25 % of 256 and of 128 channels gone: fewer parameters by exactly the removed rows and columns.
  const std::size_t removed = 64 * 64 + 64 + (128 * 256 - 96 * 192) + 32 + 10 * 32;
  CHECK(rep.parameters_before - rep.parameters_after == removed);
  const auto x = load_input(fixtures() / "digits_mlp" / "x_test.npy");
  CHECK(run(g, x).size() == 360 * 10);
}

TEST_CASE("CNN channels are followed through ReLU, pooling and Flatten; BatchNorm is cut too", "[prune][channels]") {
  const auto x = load_input(fixtures() / "digits_cnn" / "x_test.npy");
  SECTION("exact check on the BN-folded CNN") {
    auto g = io::load_onnx(fixtures() / "digits_cnn" / "digits_cnn.opset13.onnx");
    std::string w1, b1, w2, b2;  // the folded convs' initializers, found from the graph
    for (auto n : g.nodes())
      if (g.op_as<ops::conv>(n)) {
        (w1.empty() ? w1 : w2) = g.name_of(g.inputs(n)[1]);
        (b1.empty() ? b1 : b2) = g.name_of(g.inputs(n)[2]);
      }
    REQUIRE(!w2.empty());
    zero_channels(g, w1, b1, 0, {2, 5});
    zero_channels(g, w2, b2, 0, {31});
    const auto before = run(g, x);
    const auto rep = prune::remove_channels(g, {.channels = {{w1, {2, 5}}, {w2, {31}}}});
    CHECK(rep.pruned.size() == 2);
    CHECK(g.constant_value(g.value_of(w1))->shape() == shape_t{14, 1, 3, 3});
    CHECK(g.constant_value(g.value_of(w2))->shape() == shape_t{31, 14, 3, 3});
    CHECK(g.constant_value(g.value_of("fc.weight"))->shape() == shape_t{10, 31});
    CHECK(max_rel_diff(run(g, x), before) < 1e-5);
  }
  SECTION("with BatchNormalization nodes") {
    auto g = io::load_onnx(fixtures() / "digits_cnn" / "digits_cnn_bn.opset17.onnx");
    const auto rep = prune::remove_channels(g, {.amount = 0.25, .criterion = prune::channel_criterion::l1});
    REQUIRE(rep.pruned.size() == 2);
    CHECK(rep.pruned[0].channels_after == 12);
    CHECK(rep.pruned[1].channels_after == 24);
    for (auto n : g.nodes())
      if (g.op_as<ops::batch_norm>(n)) {
        const auto c = g.constant_value(g.inputs(n)[1])->dim(0);
        CHECK((c == 12 || c == 24));
      }
    CHECK(run(g, x).size() == 360 * 10);
  }
}

TEST_CASE("layers whose channel mapping is unknown are refused with a reason, untouched", "[prune][channels]") {
  auto g = io::load_onnx(fixtures() / "tiny_encoder" / "tiny_encoder.opset13.onnx");
  const auto x = load_input(fixtures() / "tiny_encoder" / "x_test.npy");
  const auto before = run(g, x);
  const auto rep = prune::remove_channels(g, {.amount = 0.25});
  CHECK(rep.pruned.empty());
  CHECK(rep.refused.size() >= 7);
  for (const auto& r : rep.refused) CHECK(r.find(": ") != std::string::npos);
  CHECK(rep.parameters_after == rep.parameters_before);
  CHECK(max_rel_diff(run(g, x), before) == 0.0);
}

TEST_CASE("bad channel requests are errors", "[prune][channels]") {
  auto g = io::load_onnx(fixtures() / "digits_mlp" / "digits_mlp.opset13.onnx");
  CHECK_THROWS_AS(prune::remove_channels(g, {.channels = {{"fc1.weight", {256}}}}), error);
  CHECK_THROWS_AS(prune::remove_channels(g, {.amount = 1.5}), error);
}
