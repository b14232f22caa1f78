// Structured channel removal: the model shrinks, shapes stay consistent, and removing channels whose
// contribution is already zero changes no output (the exact check).
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/prune.hpp>
#include <bigmodel/runtime/calibration.hpp>
#include <bigmodel/runtime/session.hpp>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>

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

bool has(const std::vector<std::string>& v, std::string_view what);

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

TEST_CASE("encoder: only the FFN's first layer can lose channels (through the erf GELU); the rest is refused with reasons", "[prune][channels]") {
  auto g = io::load_onnx(fixtures() / "tiny_encoder" / "tiny_encoder.opset13.onnx");
  const auto x = load_input(fixtures() / "tiny_encoder" / "x_test.npy");
  const std::string ff1 = "onnx::MatMul_147";  // layer.ff1, stored [64, 128]
  // Kill channels 3 and 77 of ff1: weight columns and the bias entries of the Add that follows.
  std::string bias;
  for (auto n : g.nodes())
    if (g.op_as<ops::matmul>(n) && g.name_of(g.inputs(n)[1]) == ff1)
      for (auto a : g.consumers_of(g.outputs(n)[0]))
        for (auto v : g.inputs(a))
          if (g.is_constant(v)) bias = g.name_of(v);
  REQUIRE(!bias.empty());
  zero_channels(g, ff1, bias, 1, {3, 77});
  const auto before = run(g, x);
  const auto rep = prune::remove_channels(g, {.amount = 2.0 / 128.0});
  for (const auto& r : rep.refused) UNSCOPED_INFO(r);
  REQUIRE(rep.pruned.size() == 1);
  CHECK(rep.pruned[0].weight == ff1);
  CHECK(rep.pruned[0].channels_after == 126);
  CHECK(rep.refused.size() >= 4);
  for (const auto& r : rep.refused) CHECK(r.find(": ") != std::string::npos);
  CHECK(has(rep.refused, "ReduceMean"));  // the residual stream ends in a decomposed LayerNorm
  CHECK(g.constant_value(g.value_of("onnx::MatMul_148"))->shape() == shape_t{126, 64});
  CHECK(rep.parameters_before - rep.parameters_after == 2 * (64 + 1 + 64));
  CHECK(max_rel_diff(run(g, x), before) < 1e-5);
}

TEST_CASE("bad channel requests are errors", "[prune][channels]") {
  auto g = io::load_onnx(fixtures() / "digits_mlp" / "digits_mlp.opset13.onnx");
  CHECK_THROWS_AS(prune::remove_channels(g, {.channels = {{"fc1.weight", {256}}}}), error);
  CHECK_THROWS_AS(prune::remove_channels(g, {.amount = 1.5}), error);
}

// ---------------------------------------------------------------- hand-built graphs
namespace {
std::vector<float> randoms(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.5f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A Gemm (transB = 1) layer with random weight [out, in] and bias [out] named <name>.weight / <name>.bias.
void dense(computation_graph& g, const std::string& name, const std::string& x, const std::string& y, std::int64_t in,
           std::int64_t out, unsigned seed) {
  g.add_initializer(name + ".weight", dynamic_tensor::from<float>({out, in}, randoms(static_cast<std::size_t>(out * in), seed)));
  g.add_initializer(name + ".bias", dynamic_tensor::from<float>({out}, randoms(static_cast<std::size_t>(out), seed + 100)));
  g.add_node(ops::gemm{.trans_b = true}, {x, name + ".weight", name + ".bias"}, {y}, name);
}

// x [N, 16] -> fc0 (32) = h0; r1 = h0 + fc2(relu(fc1(h0)));  r2 = fb(relu(fa(r1))) + r1;  logits = head(r2).
// fc0, fc2 and fb write the residual stream: one coupling group.
computation_graph residual_mlp() {
  computation_graph g;
  g.add_input("x", dtype::f32, {"N", 16});
  dense(g, "fc0", "x", "h0", 16, 32, 1);
  dense(g, "fc1", "h0", "t1", 32, 24, 2);
  g.add_node(ops::relu{}, {"t1"}, {"a1"}, "relu1");
  dense(g, "fc2", "a1", "t2", 24, 32, 3);
  g.add_node(ops::add{}, {"h0", "t2"}, {"r1"}, "add1");
  dense(g, "fa", "r1", "ta", 32, 20, 4);
  g.add_node(ops::relu{}, {"ta"}, {"aa"}, "relua");
  dense(g, "fb", "aa", "tb", 20, 32, 5);
  g.add_node(ops::add{}, {"tb", "r1"}, {"r2"}, "add2");
  dense(g, "head", "r2", "logits", 32, 10, 6);
  g.mark_output(g.value_of("logits"));
  return g;
}

dynamic_tensor random_input(shape_t shape, unsigned seed) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return dynamic_tensor::from<float>(std::move(shape), randoms(n, seed));
}

std::vector<float> run_on(const computation_graph& g, const std::string& input, const dynamic_tensor& x) {
  session s(g);
  const auto y = s.run({{input, x}});
  const auto v = y[0].span<float>();
  return {v.begin(), v.end()};
}

shape_t shape_of(const computation_graph& g, const std::string& name) { return g.constant_value(g.value_of(name))->shape(); }

std::size_t param_count(const computation_graph& g) {
  std::size_t n = 0;
  g.visit_parameters([&](std::string_view, const dynamic_tensor& t) { n += static_cast<std::size_t>(t.numel()); });
  return n;
}

bool has(const std::vector<std::string>& v, std::string_view what) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(what) != std::string::npos; });
}
}  // namespace

TEST_CASE("residual branches are one coupling group: dead stream channels go from every producer and consumer", "[prune][channels][residual]") {
  auto g = residual_mlp();
  for (const char* l : {"fc0", "fc2", "fb"}) zero_channels(g, std::string(l) + ".weight", std::string(l) + ".bias", 0, {3, 7, 30});
  const auto x = random_input({5, 16}, 42);
  const auto before = run_on(g, "x", x);
  const std::set<std::string> stream{"fc0.weight", "fc2.weight", "fb.weight"};
  const auto rep = prune::remove_channels(
      g, {.amount = 3.0 / 32.0, .select = [&](std::string_view n) { return stream.contains(std::string(n)); }});
  REQUIRE(rep.pruned.size() == 3);
  for (const auto& l : rep.pruned) {
    CHECK(stream.contains(l.weight));
    CHECK(l.channels_before == 32);
    CHECK(l.channels_after == 29);
    CHECK(l.group.find(" + ") != std::string::npos);
  }
  CHECK(shape_of(g, "fc0.weight") == shape_t{29, 16});
  CHECK(shape_of(g, "fc2.weight") == shape_t{29, 24});
  CHECK(shape_of(g, "fb.weight") == shape_t{29, 20});
  CHECK(shape_of(g, "fb.bias") == shape_t{29});
  CHECK(shape_of(g, "fc1.weight") == shape_t{24, 29});
  CHECK(shape_of(g, "fa.weight") == shape_t{20, 29});
  CHECK(shape_of(g, "head.weight") == shape_t{10, 29});
  // 3 rows (+ bias) of each producer, 3 columns of each consumer.
  CHECK(rep.parameters_before - rep.parameters_after == 3 * (16 + 1 + 24 + 1 + 20 + 1) + 3 * (24 + 20 + 10));
  CHECK(max_rel_diff(run_on(g, "x", x), before) < 1e-5);
}

TEST_CASE("pruning the whole residual model: every group loses its share, the head is refused", "[prune][channels][residual]") {
  auto g = residual_mlp();
  const auto rep = prune::remove_channels(g, {.amount = 0.25});
  CHECK(rep.pruned.size() == 5);  // fc0 + fc2 + fb (one group), fc1, fa
  REQUIRE(rep.refused.size() == 1);
  CHECK(rep.refused[0] == "head.weight: its channels reach the graph output 'logits'");
  CHECK(shape_of(g, "fc0.weight") == shape_t{24, 16});  // 8 of 32
  CHECK(shape_of(g, "fc1.weight") == shape_t{18, 24});  // 6 of 24 out, 8 of 32 in
  CHECK(shape_of(g, "fc2.weight") == shape_t{24, 18});
  CHECK(shape_of(g, "fa.weight") == shape_t{15, 24});   // 5 of 20
  CHECK(shape_of(g, "fb.weight") == shape_t{24, 15});
  CHECK(shape_of(g, "head.weight") == shape_t{10, 24});
  CHECK(param_count(g) == rep.parameters_after);
  CHECK(rep.parameters_after == 24 * 17 + 18 * 25 + 24 * 19 + 15 * 25 + 24 * 16 + 10 * 25);
  CHECK(run_on(g, "x", random_input({3, 16}, 1)).size() == 30);
}

TEST_CASE("coupled layers: explicit channels apply to the whole group, partial selections are refused", "[prune][channels][residual]") {
  SECTION("naming one layer of the group prunes all of it") {
    auto g = residual_mlp();
    const auto rep = prune::remove_channels(g, {.amount = 0.0, .channels = {{"fb.weight", {0, 31}}}});
    CHECK(rep.pruned.size() == 3);
    CHECK(shape_of(g, "fc0.weight") == shape_t{30, 16});
    CHECK(shape_of(g, "head.weight") == shape_t{10, 30});
  }
  SECTION("coupled layers named with different channels") {
    auto g = residual_mlp();
    CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"fc0.weight", {1}}, {"fc2.weight", {2}}}}),
                      Catch::Contains("coupled") && Catch::Contains("different channels"));
  }
  SECTION("coupled layers with different amounts") {
    auto g = residual_mlp();
    CHECK_THROWS_AS(prune::remove_channels(g, {.layer_amounts = {{"fc0.weight", 0.25}, {"fb.weight", 0.5}}}), error);
  }
  SECTION("selecting only part of a group") {
    auto g = residual_mlp();
    const auto params = param_count(g);
    const auto rep = prune::remove_channels(g, {.amount = 0.5, .select = [](std::string_view n) { return n == "fc0.weight"; }});
    CHECK(rep.pruned.empty());
    REQUIRE(rep.refused.size() == 1);
    CHECK(rep.refused[0].find("fc0.weight") == 0);
    CHECK(rep.refused[0].find("which is not selected") != std::string::npos);
    CHECK(param_count(g) == params);
  }
}

TEST_CASE("a residual stream fed by the graph input is refused; naming its layer is an error", "[prune][channels][residual]") {
  computation_graph g;
  g.add_input("x", dtype::f32, {"N", 8});
  dense(g, "fc", "x", "t", 8, 8, 7);
  g.add_node(ops::add{}, {"x", "t"}, {"r"}, "add");
  dense(g, "head", "r", "y", 8, 3, 8);
  g.mark_output(g.value_of("y"));
  const auto rep = prune::remove_channels(g, {.amount = 0.5});
  CHECK(rep.pruned.empty());
  CHECK(has(rep.refused, "fc.weight: its channels come from the graph input 'x'"));
  CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"fc.weight", {0}}}}), Catch::Contains("graph input 'x'"));
  CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"head.weight", {0}}}}), Catch::Contains("graph output 'y'"));
  CHECK(shape_of(g, "fc.weight") == shape_t{8, 8});
}

namespace {
// x [N, 2, 4, 4] -> conv1 (4, 3x3 pad 1) -> relu -> conv2 (6, 3x3 pad 1) -> relu -> `tail` -> fc Gemm (5).
// tail: "flatten" (Flatten axis 1), "reshape" (Reshape to the constant [-1, 96]), "reshape0" ([0, -1]),
// "mix" (Reshape to [N, 4, 24]: channels split across two axes) then MatMul by [24, 5].
computation_graph cnn(const std::string& tail) {
  computation_graph g;
  g.add_input("x", dtype::f32, {"N", 2, 4, 4});
  const ops::conv c{.kernel_shape = {3, 3}, .pads = {1, 1, 1, 1}};
  g.add_initializer("conv1.weight", dynamic_tensor::from<float>({4, 2, 3, 3}, randoms(72, 11)));
  g.add_initializer("conv1.bias", dynamic_tensor::from<float>({4}, randoms(4, 12)));
  g.add_node(c, {"x", "conv1.weight", "conv1.bias"}, {"c1"}, "conv1");
  g.add_node(ops::relu{}, {"c1"}, {"a1"}, "relu1");
  g.add_initializer("conv2.weight", dynamic_tensor::from<float>({6, 4, 3, 3}, randoms(216, 13)));
  g.add_initializer("conv2.bias", dynamic_tensor::from<float>({6}, randoms(6, 14)));
  g.add_node(c, {"a1", "conv2.weight", "conv2.bias"}, {"c2"}, "conv2");
  g.add_node(ops::relu{}, {"c2"}, {"a2"}, "relu2");
  if (tail == "flatten") {
    g.add_node(ops::flatten{}, {"a2"}, {"f"}, "flatten");
  } else {
    const std::vector<std::int64_t> target = tail == "reshape" ? std::vector<std::int64_t>{-1, 96}
                                             : tail == "reshape0" ? std::vector<std::int64_t>{0, -1}
                                                                  : std::vector<std::int64_t>{-1, 4, 24};
    g.add_initializer("target", dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(target.size())}, target));
    g.add_node(ops::reshape{}, {"a2", "target"}, {"f"}, "reshape");
  }
  if (tail == "mix") {
    g.add_initializer("fc.weight", dynamic_tensor::from<float>({24, 5}, randoms(120, 15)));
    g.add_node(ops::matmul{}, {"f", "fc.weight"}, {"y"}, "fc");
  } else {
    dense(g, "fc", "f", "y", 96, 5, 15);
  }
  g.mark_output(g.value_of("y"));
  return g;
}
}  // namespace

TEST_CASE("Conv channels through Flatten or Reshape into a Gemm: channel c is H*W consecutive Gemm inputs", "[prune][channels][flatten]") {
  for (const char* tail : {"flatten", "reshape", "reshape0"}) {
    INFO(tail);
    auto g = cnn(tail);
    zero_channels(g, "conv2.weight", "conv2.bias", 0, {1, 4});
    const auto x = random_input({3, 2, 4, 4}, 9);
    const auto before = run_on(g, "x", x);
    const auto fc_before = g.constant_value(g.value_of("fc.weight"))->clone();
    const auto rep = prune::remove_channels(
        g, {.amount = 2.0 / 6.0, .select = [](std::string_view n) { return n == "conv2.weight"; }});
    REQUIRE(rep.pruned.size() == 1);
    CHECK(shape_of(g, "conv2.weight") == shape_t{4, 4, 3, 3});
    REQUIRE(shape_of(g, "fc.weight") == shape_t{5, 64});
    // The fc weight keeps exactly the columns of channels 0, 2, 3, 5 (16 each), in order.
    const auto old_w = fc_before.span<float>();
    const auto new_w = g.constant_value(g.value_of("fc.weight"))->span<float>();
    std::size_t mismatched = 0;
    for (std::size_t o = 0; o < 5; ++o)
      for (std::size_t j = 0, k = 0; j < 96; ++j)
        if (j / 16 != 1 && j / 16 != 4) mismatched += new_w[o * 64 + k++] != old_w[o * 96 + j] ? 1 : 0;
    CHECK(mismatched == 0);
    CHECK(rep.parameters_before - rep.parameters_after == 2 * (4 * 9 + 1) + 2 * 16 * 5);
    if (std::string(tail) == "reshape") CHECK(g.constant_value(g.value_of("target"))->to_ints() == std::vector<std::int64_t>{-1, 64});
    CHECK(max_rel_diff(run_on(g, "x", x), before) < 1e-5);
  }
}

TEST_CASE("the whole CNN at 50 %: conv1 and conv2 lose half their channels, the Gemm 48 of its 96 inputs", "[prune][channels][flatten]") {
  auto g = cnn("reshape");
  const auto rep = prune::remove_channels(g, {.amount = 0.5, .criterion = prune::channel_criterion::l1});
  CHECK(rep.pruned.size() == 2);
  CHECK(has(rep.refused, "fc.weight: its channels reach the graph output 'y'"));
  CHECK(shape_of(g, "conv1.weight") == shape_t{2, 2, 3, 3});
  CHECK(shape_of(g, "conv2.weight") == shape_t{3, 2, 3, 3});
  CHECK(shape_of(g, "fc.weight") == shape_t{5, 48});
  CHECK(rep.parameters_after == 2 * 2 * 9 + 2 + 3 * 2 * 9 + 3 + 5 * 48 + 5 + 2);
  CHECK(run_on(g, "x", random_input({2, 2, 4, 4}, 3)).size() == 10);
}

TEST_CASE("a Reshape that splits channels across axes is refused, not guessed", "[prune][channels][flatten]") {
  auto g = cnn("mix");
  const auto rep = prune::remove_channels(g, {.amount = 0.5});
  CHECK(has(rep.refused, "conv2.weight: its channels reach node 'reshape' (Reshape), which mixes them with other dimensions"));
  CHECK(shape_of(g, "conv2.weight")[0] == 6);
  CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"conv2.weight", {0}}}}), Catch::Contains("mixes them"));
}

TEST_CASE("channel layouts through reshapes, closed form", "[prune][channels][flatten]") {
  using prune::channel_detail::layout;
  using prune::channel_detail::map_through_reshape;
  const symbolic_shape nchw{"N", 6, 4, 4}, flat{"N", 96};
  CHECK(map_through_reshape(nchw, {1, 1, 1}, 6, flat) == layout{1, 1, 16});
  CHECK(map_through_reshape(flat, {1, 1, 16}, 6, nchw) == layout{1, 1, 1});
  CHECK(map_through_reshape(symbolic_shape{"N", 12}, {1, 1, 1}, 12, symbolic_shape{"N", 1, 12}) == layout{2, 1, 1});
  CHECK(map_through_reshape(symbolic_shape{"N", 4, 3, 5}, {2, 1, 1}, 3, symbolic_shape{"N", 60}) == layout{1, 4, 5});
  CHECK(!map_through_reshape(symbolic_shape{"N", 12}, {1, 1, 1}, 12, symbolic_shape{"N", 3, 4}));  // split
  CHECK(!map_through_reshape(nchw, {1, 1, 1}, 6, symbolic_shape{"N", 4, 24}));
  CHECK(!map_through_reshape(symbolic_shape{"N", 6, "H"}, {1, 1, 1}, 6, symbolic_shape{"N", dim{}}));  // unknown extent
  // Expanded indices: channel c owns (o * C + c) * inner + i.
  CHECK(prune::channel_detail::expand(layout{1, 2, 2}, 3, {0, 2}) == std::vector<std::size_t>{0, 1, 4, 5, 6, 7, 10, 11});
}

namespace {
// x [N, 3] -> fc1 (4 channels) -> relu -> fc2 (2) -> y. Channel 0 has the largest weights but fc2 hardly
// reads it; channel 1 has the smallest weights but fc2 reads it strongly.
computation_graph reader_graph() {
  computation_graph g;
  g.add_input("x", dtype::f32, {"N", 3});
  g.add_initializer("fc1.weight", dynamic_tensor::from<float>({4, 3}, {2, 2, 2, 0.1f, 0.1f, 0.1f, 1, 1, 1, 0.5f, 1, 0.5f}));
  g.add_initializer("fc1.bias", dynamic_tensor::from<float>({4}, {0, 0, 0, 0}));
  g.add_node(ops::gemm{.trans_b = true}, {"x", "fc1.weight", "fc1.bias"}, {"h"}, "fc1");
  g.add_node(ops::relu{}, {"h"}, {"a"}, "relu");
  g.add_initializer("fc2.weight", dynamic_tensor::from<float>({2, 4}, {0.001f, 5, 1, 0, 0, 5, 0, 1}));
  g.add_node(ops::gemm{.trans_b = true}, {"a", "fc2.weight"}, {"y"}, "fc2");
  g.mark_output(g.value_of("y"));
  return g;
}
}  // namespace

TEST_CASE("activation-aware channel selection: consumer column norm times calibration activation norm", "[prune][channels][activation]") {
  const auto calib = dynamic_tensor::from<float>({4, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1});
  // By hand: activation norms of the 4 channels sqrt(48), sqrt(0.12), sqrt(12), sqrt(5.5); fc2's column
  // norms 0.001, sqrt(50), 1, 1: scores 0.0069, 2.45, 3.46, 2.35 -> channel 0 goes. By L2 norm of fc1's rows
  // (3.46, 0.17, 1.73, 1.22) channel 1 would go.
  SECTION("activation") {
    auto g = reader_graph();
    const auto norms = runtime::weight_input_norms(g, {{{"x", calib}}});
    REQUIRE(norms.at("fc2.weight").size() == 4);
    CHECK(norms.at("fc2.weight")[0] == Approx(std::sqrt(48.0)));
    CHECK(norms.at("fc2.weight")[1] == Approx(std::sqrt(0.12)));
    const auto rep = prune::remove_channels(g, {.amount = 0.25, .criterion = prune::channel_criterion::activation, .input_norms = norms});
    REQUIRE(rep.pruned.size() == 1);
    CHECK(g.constant_value(g.value_of("fc2.weight"))->span<float>()[0] == 5.0f);  // column 1 is now first
    CHECK(g.constant_value(g.value_of("fc1.weight"))->span<float>()[0] == 0.1f);
  }
  SECTION("l2") {
    auto g = reader_graph();
    (void)prune::remove_channels(g, {.amount = 0.25, .criterion = prune::channel_criterion::l2});
    CHECK(g.constant_value(g.value_of("fc1.weight"))->span<float>()[0] == 2.0f);
    CHECK(g.constant_value(g.value_of("fc2.weight"))->span<float>()[1] == 1.0f);  // column 1 (5, 5) gone
  }
  SECTION("missing or malformed norms are errors") {
    auto g = reader_graph();
    CHECK_THROWS_WITH(prune::remove_channels(g, {.criterion = prune::channel_criterion::activation}),
                      Catch::Contains("calibration norms") && Catch::Contains("fc2.weight"));
    CHECK_THROWS_WITH(prune::remove_channels(g, {.criterion = prune::channel_criterion::activation,
                                                 .input_norms = {{"fc2.weight", {1, 2, 3}}}}),
                      Catch::Contains("3 entries") && Catch::Contains("4 inputs"));
    CHECK(shape_of(g, "fc1.weight") == shape_t{4, 3});
  }
}

TEST_CASE("activation-aware removal of dead channels on the residual model is exact", "[prune][channels][activation]") {
  auto g = residual_mlp();
  for (const char* l : {"fc0", "fc2", "fb"}) zero_channels(g, std::string(l) + ".weight", std::string(l) + ".bias", 0, {5, 6});
  const auto x = random_input({16, 16}, 5);
  const auto before = run_on(g, "x", x);
  const auto norms = runtime::weight_input_norms(g, {{{"x", x}}});
  const auto rep = prune::remove_channels(g, {.amount = 2.0 / 32.0, .criterion = prune::channel_criterion::activation,
                                              .layer_amounts = {{"fc1.weight", 0.0}, {"fa.weight", 0.0}}, .input_norms = norms});
  CHECK(rep.pruned.size() == 3);
  CHECK(shape_of(g, "head.weight") == shape_t{10, 30});
  CHECK(max_rel_diff(run_on(g, "x", x), before) < 1e-5);
}

namespace {
// x [N, 4] -> A (4) -> relu -> B (4) -> relu -> head (2). A's rows have norms 1000, 2000, 3000, 4000;
// B's 1, 1, 1, 5.
computation_graph two_layers() {
  computation_graph g;
  g.add_input("x", dtype::f32, {"N", 4});
  std::vector<float> a(16, 0.0f), b(16, 0.0f);
  for (std::size_t c = 0; c < 4; ++c) a[c * 4] = 1000.0f * static_cast<float>(c + 1);
  for (std::size_t c = 0; c < 4; ++c) b[c * 4 + 1] = c == 3 ? 5.0f : 1.0f;
  g.add_initializer("A.weight", dynamic_tensor::from<float>({4, 4}, a));
  g.add_node(ops::gemm{.trans_b = true}, {"x", "A.weight"}, {"ya"}, "A");
  g.add_node(ops::relu{}, {"ya"}, {"ra"}, "relu_a");
  g.add_initializer("B.weight", dynamic_tensor::from<float>({4, 4}, b));
  g.add_node(ops::gemm{.trans_b = true}, {"ra", "B.weight"}, {"yb"}, "B");
  g.add_node(ops::relu{}, {"yb"}, {"rb"}, "relu_b");
  g.add_initializer("head.weight", dynamic_tensor::from<float>({2, 4}, randoms(8, 3)));
  g.add_node(ops::gemm{.trans_b = true}, {"rb", "head.weight"}, {"y"}, "head");
  g.mark_output(g.value_of("y"));
  return g;
}
std::size_t rows(const computation_graph& g, const std::string& w) { return static_cast<std::size_t>(shape_of(g, w)[0]); }
}  // namespace

TEST_CASE("global channel selection: one threshold on scores normalized by each layer's mean", "[prune][channels][global]") {
  // Normalized L1 scores: A 0.4, 0.8, 1.2, 1.6; B 0.5, 0.5, 0.5, 2.5. Half of the 8 channels: A0, B0, B1, B2.
  auto g = two_layers();
  const auto rep = prune::remove_channels(g, {.amount = 0.5, .criterion = prune::channel_criterion::l1, .global = true});
  CHECK(rows(g, "A.weight") == 3);
  CHECK(rows(g, "B.weight") == 1);
  CHECK(g.constant_value(g.value_of("A.weight"))->span<float>()[0] == 2000.0f);
  CHECK(g.constant_value(g.value_of("B.weight"))->span<float>()[0] == 5.0f);  // column 0 of B went with A0
  CHECK(has(rep.refused, "head.weight"));
  SECTION("amount 1 keeps one channel per layer") {
    auto h = two_layers();
    (void)prune::remove_channels(h, {.amount = 1.0, .global = true});
    CHECK(rows(h, "A.weight") == 1);
    CHECK(rows(h, "B.weight") == 1);
  }
  SECTION("a per-layer amount takes that layer out of the global pool") {
    auto h = two_layers();
    (void)prune::remove_channels(h, {.amount = 0.25, .global = true, .layer_amounts = {{"B.weight", 0.0}}});
    CHECK(rows(h, "A.weight") == 3);  // round(0.25 * 4) of A's 4 channels
    CHECK(rows(h, "B.weight") == 4);
  }
}

TEST_CASE("bad structured-pruning requests are errors naming what is wrong", "[prune][channels]") {
  auto g = residual_mlp();
  const auto params = param_count(g);
  CHECK_THROWS_WITH(prune::remove_channels(g, {.amount = -0.1}), Catch::Contains("[0, 1]"));
  CHECK_THROWS_AS(prune::remove_channels(g, {.amount = 1.5}), error);
  CHECK_THROWS_AS(prune::remove_channels(g, {.amount = std::nan("")}), error);
  CHECK_THROWS_AS(prune::remove_channels(g, {.amount = 0.5, .global = true, .layer_amounts = {{"fa.weight", 2.0}}}), error);
  CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"fc1.weight", {24}}}}), Catch::Contains("channel 24 does not exist"));
  CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"fc1.bias", {0}}}}), Catch::Contains("fc1.bias"));
  std::vector<std::size_t> all(24);
  std::iota(all.begin(), all.end(), std::size_t{0});
  CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"fc1.weight", all}}}), Catch::Contains("every channel"));
  CHECK(param_count(g) == params);  // nothing changed
}

TEST_CASE("removing live CNN channels equals zeroing them in the original model (L2, 25 %)", "[prune][channels][fixtures]") {
  // Independent of the pass: pick each conv's 25 % lowest-L2 filters here, zero their weights and biases
  // (their ReLU outputs become 0, so nothing downstream sees them), and compare with the shrunk model.
  auto g = io::load_onnx(fixtures() / "digits_cnn" / "digits_cnn.opset13.onnx");
  const auto x = load_input(fixtures() / "digits_cnn" / "x_test.npy");
  auto masked = g;
  for (auto n : masked.nodes())
    if (masked.op_as<ops::conv>(n)) {
      const auto& w = *masked.constant_value(masked.inputs(n)[1]);
      const auto c = static_cast<std::size_t>(w.dim(0)), per = static_cast<std::size_t>(w.numel()) / c;
      std::vector<double> norm(c, 0.0);
      const auto v = w.span<float>();
      for (std::size_t i = 0; i < v.size(); ++i) norm[i / per] += static_cast<double>(v[i]) * v[i];
      std::vector<std::size_t> order(c);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return norm[a] < norm[b]; });
      order.resize(c / 4);
      zero_channels(masked, masked.name_of(masked.inputs(n)[1]), masked.name_of(masked.inputs(n)[2]), 0, order);
    }
  const auto rep = prune::remove_channels(g, {.amount = 0.25});
  REQUIRE(rep.pruned.size() == 2);
  CHECK(rep.parameters_after == 2986);
  CHECK(max_rel_diff(run(g, x), run(masked, x)) < 1e-5);
}

TEST_CASE("channels concatenated with another branch are refused with the reason", "[prune][channels]") {
  computation_graph g;
  g.add_input("x", dtype::f32, {"N", 8});
  dense(g, "a", "x", "ya", 8, 6, 21);
  dense(g, "b", "x", "yb", 8, 6, 22);
  g.add_node(ops::concat{.axis = 1}, {"ya", "yb"}, {"cat"}, "cat");
  dense(g, "head", "cat", "y", 12, 3, 23);
  g.mark_output(g.value_of("y"));
  const auto rep = prune::remove_channels(g, {.amount = 0.5});
  CHECK(rep.pruned.empty());
  CHECK(has(rep.refused, "a.weight: its channels reach Concat at node 'cat' (Concat)"));
  CHECK(has(rep.refused, "b.weight: its channels reach Concat at node 'cat' (Concat)"));
  CHECK_THROWS_WITH(prune::remove_channels(g, {.channels = {{"b.weight", {0}}}}), Catch::Contains("Concat"));
}

TEST_CASE("channels followed through Transpose, and through two Reshapes sharing one target shape", "[prune][channels][flatten]") {
  computation_graph g;
  g.add_input("x", dtype::f32, {"N", 2, 3, 3});
  g.add_initializer("conv.weight", dynamic_tensor::from<float>({6, 2, 3, 3}, randoms(108, 31)));
  g.add_initializer("conv.bias", dynamic_tensor::from<float>({6}, randoms(6, 32)));
  g.add_node(ops::conv{.kernel_shape = {3, 3}, .pads = {1, 1, 1, 1}}, {"x", "conv.weight", "conv.bias"}, {"c"}, "conv");
  g.add_node(ops::relu{}, {"c"}, {"a"}, "relu");
  // Head 1: NHWC, then a MatMul over the channels. Heads 2 and 3: [N, 54] through one shared target.
  g.add_node(ops::transpose{.perm = ops::ints{0, 2, 3, 1}}, {"a"}, {"t"}, "nhwc");
  g.add_initializer("m.weight", dynamic_tensor::from<float>({6, 4}, randoms(24, 33)));
  g.add_node(ops::matmul{}, {"t", "m.weight"}, {"y1"}, "m");
  g.add_initializer("target", dynamic_tensor::from<std::int64_t>({2}, {-1, 54}));
  g.add_node(ops::reshape{}, {"a", "target"}, {"f2"}, "reshape2");
  g.add_node(ops::reshape{}, {"a", "target"}, {"f3"}, "reshape3");
  dense(g, "h2", "f2", "y2", 54, 3, 34);
  dense(g, "h3", "f3", "y3", 54, 3, 35);
  for (const char* y : {"y1", "y2", "y3"}) g.mark_output(g.value_of(y));
  zero_channels(g, "conv.weight", "conv.bias", 0, {0, 4});
  const auto x = random_input({2, 2, 3, 3}, 36);
  auto outputs = [&](const computation_graph& m) {
    session s(m);
    const auto y = s.run({{"x", x}});
    std::vector<float> all;
    for (const auto& [name, t] : y) all.insert(all.end(), t.span<float>().begin(), t.span<float>().end());
    return all;
  };
  const auto before = outputs(g);
  const auto rep = prune::remove_channels(g, {.amount = 2.0 / 6.0, .select = [](std::string_view n) { return n == "conv.weight"; }});
  REQUIRE(rep.pruned.size() == 1);
  CHECK(shape_of(g, "m.weight") == shape_t{4, 4});
  CHECK(shape_of(g, "h2.weight") == shape_t{3, 36});
  CHECK(shape_of(g, "h3.weight") == shape_t{3, 36});
  for (const char* r : {"reshape2", "reshape3"})
    for (auto n : g.nodes())
      if (g.at(n).name == r) CHECK(g.constant_value(g.inputs(n)[1])->to_ints() == std::vector<std::int64_t>{-1, 36});
  CHECK(max_rel_diff(outputs(g), before) < 1e-5);
}
