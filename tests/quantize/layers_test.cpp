// Hand-built layers: the right output axis for MatMul [K, N], Gemm with and without transB and Conv; per
// tensor / per channel / per group; symmetric and affine; per-layer rules; the graph form each pass
// writes; graph passes agree with parameter-level fake quantization; a user struct of Eigen matrices.
#include "quantize_test_util.hpp"

#include <random>

using namespace bigmodel;
using namespace qtest;

namespace {

dynamic_tensor random_tensor(shape_t shape, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  dynamic_tensor t(dtype::f32, std::move(shape));
  for (auto& v : t.mutable_span<float>()) v = d(rng);
  return t;
}

enum class kind { matmul, gemm, gemm_trans_b, conv };

// input [4, 64] (Conv: [2, 8, 5, 5]) -> layer -> "logits"; the weight is named "w", the node "layer".
computation_graph one_layer(kind k, std::int64_t n = 6, std::int64_t kdim = 64) {
  computation_graph g;
  const bool conv = k == kind::conv;
  const value_id x = g.add_input("input", dtype::f32, conv ? symbolic_shape{2, 8, 5, 5} : symbolic_shape{4, kdim});
  const shape_t ws = conv ? shape_t{n, 8, 3, 3} : k == kind::gemm_trans_b ? shape_t{n, kdim} : shape_t{kdim, n};
  const value_id w = g.add_initializer("w", random_tensor(ws, 7));
  const value_id y = g.value("logits");
  if (k == kind::matmul) g.add_node(ops::matmul{}, {x, w}, {y}, "layer");
  else if (k == kind::conv) g.add_node(ops::conv{}, {x, w}, {y}, "layer");
  else {
    const value_id b = g.add_initializer("b", random_tensor({n}, 8));
    g.add_node(ops::gemm{.trans_b = k == kind::gemm_trans_b}, {x, w, b}, {y}, "layer");
  }
  g.mark_output(y);
  return g;
}

dynamic_tensor input_for(kind k, std::int64_t kdim = 64) {
  return k == kind::conv ? random_tensor({2, 8, 5, 5}, 3) : random_tensor({4, kdim}, 3);
}

template <class Op>
const Op* find_op(const computation_graph& g, node_id* where = nullptr) {
  for (auto n : g.nodes())
    if (const auto* op = g.op_as<Op>(n)) {
      if (where) *where = n;
      return op;
    }
  return nullptr;
}

// Same weights rounded by the parameter-level algorithm: the graph pass must compute exactly this.
dynamic_tensor fake_quantized_output(kind k, const quant::weight_scheme& s) {
  auto g = one_layer(k);
  const bool inputs_first = k == kind::matmul || k == kind::gemm;
  quant::quantize_parameters(g, {.select = [&](std::string_view n) { return n == "w" ? std::optional(s) : std::nullopt; },
                                 .inputs_first = [&](std::string_view) { return inputs_first; }});
  return run(g, input_for(k));
}

}  // namespace

TEST_CASE("weight-only per channel uses the output axis of each op") {
  const std::pair<kind, std::int64_t> cases[] = {{kind::matmul, 1}, {kind::gemm, 1}, {kind::gemm_trans_b, 0}, {kind::conv, 0}};
  for (const auto& [k, axis] : cases) {
    INFO("kind " << int(k));
    auto g = one_layer(k);
    const auto rep = quant::quantize_weights(g);
    REQUIRE(rep.changes == 1);
    node_id dq;
    const auto* op = find_op<ops::dequantize_linear>(g, &dq);
    REQUIRE(op != nullptr);
    CHECK(op->axis == axis);
    const auto& scale = *g.constant_value(g.inputs(dq)[1]);
    CHECK(scale.numel() == 6);  // one per output channel
    CHECK(g.constant_value(g.inputs(dq)[0])->type() == dtype::s8);
    CHECK(!g.find_value("w"));  // the f32 weight is gone
    CHECK(run(g, input_for(k)) == fake_quantized_output(k, quant::weight_scheme{}));
  }
}

TEST_CASE("per-channel scales are max|w| / 127 of each output channel (MatMul [K, N])") {
  auto g = one_layer(kind::matmul);
  const auto w = g.constant_value(g.value_of("w"))->clone();
  (void)quant::quantize_weights(g);
  node_id dq;
  (void)find_op<ops::dequantize_linear>(g, &dq);
  const auto scale = g.constant_value(g.inputs(dq)[1])->span<float>();
  const auto v = w.span<float>();
  for (std::size_t n = 0; n < 6; ++n) {
    float amax = 0;
    for (std::size_t kk = 0; kk < 64; ++kk) amax = std::max(amax, std::abs(v[kk * 6 + n]));
    CHECK(scale[n] == amax / 127.0f);
  }
}

TEST_CASE("per tensor, per group, affine, uint8 and int4 agree with parameter-level fake quantization") {
  using quant::granularity_kind;
  using quant::weight_type;
  const quant::weight_scheme schemes[] = {
      {weight_type::s8, granularity_kind::per_tensor, 0, symmetry::symmetric},
      {weight_type::s8, granularity_kind::per_channel, 0, symmetry::affine},
      {weight_type::u8, granularity_kind::per_channel, 0, symmetry::affine},
      {weight_type::s8, granularity_kind::per_group, 16, symmetry::symmetric},
      {weight_type::s4, granularity_kind::per_group, 32, symmetry::symmetric},
      {weight_type::s4, granularity_kind::per_group, 8, symmetry::affine},
      {weight_type::s4, granularity_kind::per_channel, 0, symmetry::symmetric},
      {weight_type::s4, granularity_kind::per_group, 32, symmetry::symmetric, true},
      {weight_type::u8, granularity_kind::per_channel, 0, symmetry::affine, true},
      {weight_type::f16}, {weight_type::bf16},
  };
  for (const auto k : {kind::matmul, kind::gemm, kind::gemm_trans_b, kind::conv})
    for (const auto& s : schemes) {
      if (k == kind::conv && s.granularity == granularity_kind::per_group && 72 % s.group_size != 0) continue;
      INFO("kind " << int(k) << " scheme " << quant::describe(s));
      auto g = one_layer(k);
      quant::weight_only_config cfg;
      cfg.layers.scheme = s;
      REQUIRE(quant::quantize_weights(g, cfg).changes == 1);
      CHECK(run(g, input_for(k)) == fake_quantized_output(k, s));
      if (s.type == weight_type::s4) CHECK(quant::default_opset(g) == 21);
      // the stored weight takes 1 byte (int8), half a byte (int4) or 2 bytes (fp16/bf16) per parameter
      std::size_t stored = 0;
      g.visit_parameters([&](std::string_view name, const dynamic_tensor& t) {
        if (name.find("_quantized") != std::string_view::npos || name.find("_fp16") != std::string_view::npos ||
            name.find("_bf16") != std::string_view::npos)
          stored = t.bytes();
      });
      const std::size_t params = k == kind::conv ? 6 * 72 : 6 * 64;
      CHECK(stored == (s.type == weight_type::s4 ? params / 2 : quant::is_integer(s.type) ? params : params * 2));
    }
}

TEST_CASE("f16 scales: each the smallest f16 value at least the f32 scheme's scale, weights within half a step") {
  using quant::granularity_kind;
  using quant::weight_type;
  for (const auto sym : {symmetry::symmetric, symmetry::affine})
    for (const std::size_t group : {std::size_t{16}, std::size_t{0}}) {
      quant::weight_scheme s{weight_type::s4, group ? granularity_kind::per_group : granularity_kind::per_channel, group, sym};
      INFO(quant::describe(s));
      const auto w = random_tensor({6, 64}, 11, -0.3f, 0.3f);  // Gemm transB layout: [outputs, inputs]
      const quant::const_weight_view view = matrix_view(w.span<float>().data(), 6, 64, 64);
      const auto q32 = quant::quantize_matrix(view, s, "w");
      s.f16_scales = true;
      const auto q16 = quant::quantize_matrix(view, s, "w");
      REQUIRE(q16.params.size() == q32.params.size());
      for (std::size_t i = 0; i < q16.params.size(); ++i) {
        const float s16 = q16.params[i].scale, s32 = q32.params[i].scale;
        CHECK(to_float(to_f16(s16)) == s16);  // an f16 value
        CHECK(s16 >= s32);
        // the next f16 below is under the f32 scale (10 mantissa bits: one step is at most 2^-10 relative)
        CHECK(to_float(f16::from_bits(static_cast<std::uint16_t>(to_f16(s16).bits - 1))) < s32);
        CHECK(q16.params[i].zero_point == q32.params[i].zero_point);
      }
      for (std::size_t r = 0; r < 6; ++r)
        for (std::size_t c = 0; c < 64; ++c) CHECK(std::fabs(q16.dequantized(r, c) - view(r, c)) <= 0.5f * q16.param(r, c).scale * 1.0001f);
    }
  quant::weight_scheme huge{weight_type::s8, granularity_kind::per_tensor, 0, symmetry::symmetric, true};
  auto big = random_tensor({2, 4}, 12, 1e7f, 2e7f);  // scale ~ 1.6e5 > 65504
  CHECK_THROWS_WITH(quant::quantize_matrix(matrix_view(big.span<float>().data(), 2, 4, 4), huge, "w"),
                    Catch::Contains("f16 range"));
}

TEST_CASE("group-wise weights: DequantizeLinear over rows of one group, reshaped (and transposed) back") {
  auto g = one_layer(kind::matmul);
  (void)quant::quantize_weights(g, {.layers = {.scheme = quant::scheme_of<per_group<1, 32>, s4x2>()}});
  node_id dq;
  REQUIRE(find_op<ops::dequantize_linear>(g, &dq) != nullptr);
  CHECK(g.constant_value(g.inputs(dq)[0])->shape() == shape_t{12, 32});  // [N * K / G, G]
  CHECK(g.constant_value(g.inputs(dq)[0])->type() == dtype::s4);
  CHECK(g.constant_value(g.inputs(dq)[1])->numel() == 12);
  CHECK(find_op<ops::reshape>(g) != nullptr);
  CHECK(find_op<ops::transpose>(g) != nullptr);
}

TEST_CASE("dynamic int8 writes ONNX Runtime's graph form, per channel and per tensor") {
  for (const auto k : {kind::matmul, kind::gemm, kind::gemm_trans_b}) {
    for (const bool per_channel : {true, false}) {
      INFO("kind " << int(k) << " per channel " << per_channel);
      auto g = one_layer(k);
      const auto x = input_for(k);
      const auto ref = run(g, x);
      auto p = per_channel ? passes::quantize_dynamic() : passes::quantize_dynamic<per_tensor>();
      g |= p;
      node_id mmi;
      REQUIRE(find_op<ops::matmul_integer>(g, &mmi) != nullptr);
      REQUIRE(find_op<ops::dynamic_quantize_linear>(g) != nullptr);
      const auto& wq = *g.constant_value(g.inputs(mmi)[1]);
      CHECK(wq.shape() == shape_t{64, 6});  // [K, N] whatever the original layout
      CHECK(wq.type() == dtype::s8);
      CHECK(g.constant_value(g.inputs(mmi)[3])->numel() == (per_channel ? 6 : 1));
      CHECK((find_op<ops::add>(g) != nullptr) == (k != kind::matmul));  // Gemm's bias
      const auto y = run(g, x);
      CHECK(rel_l2(y, ref) < 0.02);
    }
  }
}

TEST_CASE("per-layer rules: scheme by op type or name pattern, exclusions") {
  computation_graph g;
  const value_id x = g.add_input("input", dtype::f32, {4, 64});
  g.add_initializer("first.weight", random_tensor({64, 64}, 1));
  g.add_initializer("mid.weight", random_tensor({64, 64}, 2));
  g.add_initializer("last.weight", random_tensor({10, 64}, 3));
  g.add_node(ops::matmul{}, {x, g.value_of("first.weight")}, {g.value("h1")}, "first");
  g.add_node(ops::matmul{}, {g.value_of("h1"), g.value_of("mid.weight")}, {g.value("h2")}, "mid");
  g.add_node(ops::gemm{.trans_b = true}, {g.value_of("h2"), g.value_of("last.weight")}, {g.value("logits")}, "last");
  g.mark_output(g.value_of("logits"));
  quant::weight_only_config cfg;
  cfg.layers.exclude = {"first"};
  cfg.layers.rules = {{.op_type = "Gemm", .scheme = quant::scheme_of<per_tensor, std::int8_t>()},
                      {.pattern = "mid*", .scheme = quant::scheme_of<per_group<1, 16>, s4x2>()}};
  const auto rep = quant::quantize_weights(g, cfg);
  REQUIRE(rep.layers.size() == 2);
  CHECK(g.find_value("first.weight"));  // excluded: still f32
  CHECK(rep.layers[0].scheme.find("int4 per group of 16") == 0);
  CHECK(rep.layers[1].scheme.find("int8 per tensor") == 0);
  CHECK(rep.layers[1].bytes_after < rep.layers[1].bytes_before / 3);
  CHECK(quant::glob_match("layer.*.q", "layer.0.q"));
  CHECK(!quant::glob_match("layer.?.q", "layer.10.q"));
}

namespace user {
struct mlp {
  Eigen::MatrixXf w1, w2;  // [out, in]
};
template <class F>
void visit_parameters(mlp& m, F&& f) {
  f("w1", m.w1);
  f("w2", m.w2);
}
}  // namespace user

TEST_CASE("parameter-level quantization runs on a user struct of Eigen matrices") {
  user::mlp m;
  m.w1 = Eigen::MatrixXf::Random(8, 32);
  m.w2 = Eigen::MatrixXf::Random(4, 8);
  const Eigen::MatrixXf before = m.w1;
  const auto rep = quant::quantize_parameters(m, {.scheme = quant::scheme_of<per_group<1, 8>, s4x2>()});
  CHECK(rep.changes == 2);
  for (Eigen::Index r = 0; r < 8; ++r)
    for (Eigen::Index c0 = 0; c0 < 32; c0 += 8) {
      const float amax = before.row(r).segment(c0, 8).cwiseAbs().maxCoeff();
      const float s = amax / 7.0f;
      for (Eigen::Index c = c0; c < c0 + 8; ++c) {
        const float q = std::clamp(std::nearbyint(before(r, c) / s), -8.0f, 7.0f);
        CHECK(m.w1(r, c) == q * s);
      }
    }
  CHECK(rep.layers[0].bytes_after == 8 * 32 / 2);
}
