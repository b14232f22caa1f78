#pragma once
// fold_batchnorm: BatchNormalization (inference) right after a Conv or Gemm folds into that op's weights
// and bias: with a = scale / sqrt(var + eps) and b = B - mean * a per channel,
//   W'[c, ...] = W[c, ...] * a[c],   bias'[c] = bias[c] * a[c] + b[c]      (bias = 0 when the op has none).
// a and b are computed in double and the products rounded once to float, so the folded op matches the
// unfolded pair to float rounding. New initializers are written: weights shared with other nodes (or
// with a running session) are never modified.
// Leaves alone (with a note): BN in training mode or whose mean/var/scale/bias are not constant, a Conv/Gemm
// with another reader or a fused activation, non-constant weights, a Gemm bias that is not per-channel.

#include <cmath>
#include <vector>

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

namespace detail {

struct bn_coefficients {
  std::vector<double> a, b;
};

template <class OpSet>
std::optional<bn_coefficients> bn_coefficients_of(const basic_computation_graph<OpSet>& g, node_id bn) {
  const auto& in = g.inputs(bn);
  std::array<const dynamic_tensor*, 4> p{};
  for (std::size_t i = 0; i < 4; ++i)
    if (!(p[i] = constant_of(g, in[i + 1]))) return std::nullopt;
  const auto scale = values_of(*p[0]), bias = values_of(*p[1]), mean = values_of(*p[2]), var = values_of(*p[3]);
  const std::size_t c = scale.size();
  if (bias.size() != c || mean.size() != c || var.size() != c)
    throw error("pass.bad_batchnorm", "BatchNormalization parameters differ in length", g.describe(bn));
  const double eps = g.template op_as<ops::batch_norm>(bn)->epsilon;
  bn_coefficients k;
  for (std::size_t i = 0; i < c; ++i) {
    k.a.push_back(scale[i] / std::sqrt(var[i] + eps));
    k.b.push_back(bias[i] - mean[i] * k.a.back());
  }
  return k;
}

// W scaled along `axis` (0: rows = output channels of Conv / Gemm transB; 1: columns of Gemm).
inline dynamic_tensor scale_weight(const dynamic_tensor& w, const std::vector<double>& a, std::size_t axis) {
  dynamic_tensor out(dtype::f32, w.shape());
  auto o = out.mutable_span<float>();
  const auto in = w.span<float>();
  const std::size_t channels = static_cast<std::size_t>(w.dim(axis));
  std::size_t inner = 1;
  for (std::size_t d = axis + 1; d < w.rank(); ++d) inner *= static_cast<std::size_t>(w.dim(d));
  for (std::size_t i = 0; i < in.size(); ++i)
    o[i] = static_cast<float>(static_cast<double>(in[i]) * a[(i / inner) % channels]);
  return out;
}

// bias' = bias * a + b (scaled by 1/beta for Gemm's C).
inline dynamic_tensor fold_bias(const dynamic_tensor* bias, const bn_coefficients& k, double beta) {
  const std::size_t c = k.a.size();
  dynamic_tensor out(dtype::f32, {static_cast<std::int64_t>(c)});
  auto o = out.mutable_span<float>();
  for (std::size_t i = 0; i < c; ++i) {
    const double b0 = bias ? bias->as_double(static_cast<std::int64_t>(bias->numel() == 1 ? 0 : i)) : 0.0;
    o[i] = static_cast<float>(b0 * k.a[i] + k.b[i] / beta);
  }
  return out;
}

struct fold_batchnorm_impl {
  static constexpr std::string_view name = "fold_batchnorm";

  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const no_config&) {
    rewrite_result r;
    for (auto bn : topological_order(g)) {
      if (!g.alive(bn) || !g.template op_as<ops::batch_norm>(bn)) continue;
      if (try_fold(g, bn, r)) ++r.changes;
    }
    remove_unused_initializers(g);
    return r;
  }

  template <class OpSet>
  static bool try_fold(basic_computation_graph<OpSet>& g, node_id bn, rewrite_result& r) {
    const auto& op = *g.template op_as<ops::batch_norm>(bn);
    auto refuse = [&](const std::string& why) { return r.notes.push_back(g.describe(bn) + ": " + why), false; };
    if (g.inputs(bn).size() < 5) throw error("pass.bad_batchnorm", "BatchNormalization needs 5 inputs", g.describe(bn));
    if (op.training_mode) return refuse("training mode, not folded");
    for (std::size_t i = 1; i < g.outputs(bn).size(); ++i)
      if (!g.uses(g.outputs(bn)[i]).empty() || g.at(g.outputs(bn)[i]).is_output) return refuse("running statistics are read, not folded");
    const value_id x = g.inputs(bn)[0];
    const node_id conv = producer_as<ops::conv>(g, x), gemm = producer_as<ops::gemm>(g, x);
    const node_id prod = conv.valid() ? conv : gemm;
    if (!prod.valid()) return false;  // nothing to fold into (not a refusal worth a note)
    const auto k = bn_coefficients_of(g, bn);
    if (!k) return refuse("scale, bias, mean or variance is not constant, not folded");
    // Copies (shared storage): adding initializers below may move the graph's values.
    const auto* wp = constant_of(g, g.inputs(prod)[1]);
    const auto* bp = g.inputs(prod).size() > 2 ? constant_of(g, g.inputs(prod)[2]) : nullptr;
    const bool has_bias = g.inputs(prod).size() > 2 && g.inputs(prod)[2].valid();
    if (!wp || wp->type() != dtype::f32 || (has_bias && !bp)) return refuse("weights or bias of " + g.describe(prod) + " not constant f32");
    const dynamic_tensor wt = *wp;
    const std::optional<dynamic_tensor> bt = bp ? std::optional<dynamic_tensor>(*bp) : std::nullopt;
    const dynamic_tensor* w = &wt;
    const dynamic_tensor* bias = bt ? &*bt : nullptr;
    const std::string base = g.name_of(g.inputs(prod)[1]);
    if (conv.valid()) {
      auto& c = *g.template op_as<ops::conv>(conv);
      if (c.act.kind != ops::activation_kind::none) return refuse("Conv has a fused activation");
      if (w->dim(0) != static_cast<std::int64_t>(k->a.size())) throw error("pass.bad_batchnorm", "channel count differs from the Conv's", g.describe(bn));
      if (bias && bias->numel() != w->dim(0)) return refuse("Conv bias is not per channel");
      g.set_input(conv, 1, add_constant(g, base + "_bn", scale_weight(*w, k->a, 0)));
      g.set_input(conv, 2, add_constant(g, base + "_bn_bias", fold_bias(bias, *k, 1.0)));
    } else {
      auto& gm = *g.template op_as<ops::gemm>(gemm);
      if (gm.act.kind != ops::activation_kind::none) return refuse("Gemm has a fused activation");
      const std::size_t axis = gm.trans_b ? 0 : 1;
      if (w->rank() != 2 || w->dim(axis) != static_cast<std::int64_t>(k->a.size())) return refuse("Gemm output size differs from the channel count");
      if (bias && !(bias->numel() == 1 || (bias->numel() == w->dim(axis) && bias->shape().back() == w->dim(axis))))
        return refuse("Gemm bias is not per channel");
      const double beta = (has_bias && gm.beta != 0.0f) ? gm.beta : 1.0;
      if (!has_bias || gm.beta == 0.0f) gm.beta = 1.0f;
      g.set_input(gemm, 1, add_constant(g, base + "_bn", scale_weight(*w, k->a, axis)));
      g.set_input(gemm, 2, add_constant(g, base + "_bn_bias", fold_bias(bias && beta != 0.0 ? bias : nullptr, *k, beta)));
    }
    return bypass_node(g, bn, 0);
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::fold_batchnorm_impl> fold_batchnorm{};

}  // namespace bigmodel::passes
