#pragma once
// fuse_layer_norm: the decomposition PyTorch's exporter writes before opset 17,
//   m = ReduceMean(x, axes); d = x - m; v = ReduceMean(d ^ 2, axes); y = d / Sqrt(v + eps) * gamma + beta
// becomes LayerNormalization(x, gamma, beta){axis = first normalized axis, epsilon = eps}.
// The normalized axes must be the trailing ones; gamma and beta constants that broadcast only over them.
// Leaves alone: any intermediate read elsewhere, keepdims = 0, other exponents, non-trailing axes,
// a normalization without the gamma Mul.

#include <algorithm>

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

namespace detail {

template <class OpSet>
std::optional<ops::ints> reduce_axes(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto& op = *g.template op_as<ops::reduce_mean>(n);
  if (op.keepdims != 1) return std::nullopt;
  if (op.axes) return *op.axes;
  if (g.inputs(n).size() > 1 && g.inputs(n)[1].valid())
    if (const auto* t = constant_of(g, g.inputs(n)[1])) return t->to_ints();
  return std::nullopt;
}

// The trailing normalized axes as a negative first axis (-k), or nullopt.
inline std::optional<std::int64_t> trailing_axis(ops::ints axes, std::optional<std::size_t> rank) {
  for (auto& a : axes) {
    if (a >= 0) {
      if (!rank) return std::nullopt;
      a -= static_cast<std::int64_t>(*rank);
    }
  }
  std::sort(axes.begin(), axes.end());
  if (axes.empty() || axes.back() != -1) return std::nullopt;
  for (std::size_t i = 0; i + 1 < axes.size(); ++i)
    if (axes[i] + 1 != axes[i + 1]) return std::nullopt;
  return axes.front();
}

// gamma/beta broadcast only over the last -axis dims (leading 1s allowed).
inline bool fits_normalized(const dynamic_tensor& t, std::int64_t axis) {
  const auto k = static_cast<std::size_t>(-axis);
  for (std::size_t i = 0; i + k < t.rank(); ++i)
    if (t.dim(i) != 1) return false;
  return true;
}

struct layer_norm_match {
  std::vector<node_id> nodes;
  value_id x, gamma, beta, y;
  std::int64_t axis = -1;
  float eps = 0;
};

template <class OpSet>
std::optional<layer_norm_match> match_layer_norm(const basic_computation_graph<OpSet>& g, node_id div) {
  const value_id d = g.inputs(div)[0];
  const node_id sq = producer_as<ops::sqrt>(g, g.inputs(div)[1]);
  if (!sq.valid()) return std::nullopt;
  const node_id ad = producer_as<ops::add>(g, g.inputs(sq)[0]);
  if (!ad.valid() || constant_slot(g, ad) < 0) return std::nullopt;
  const int cs = constant_slot(g, ad);
  const auto eps = scalar_of(g, g.inputs(ad)[static_cast<std::size_t>(cs)]);
  const node_id rm2 = producer_as<ops::reduce_mean>(g, g.inputs(ad)[static_cast<std::size_t>(1 - cs)]);
  if (!eps || !rm2.valid()) return std::nullopt;
  const node_id pw = producer_as<ops::pow>(g, g.inputs(rm2)[0]);
  if (!pw.valid() || g.inputs(pw)[0] != d || !near(scalar_of(g, g.inputs(pw)[1]), 2.0, 1e-6)) return std::nullopt;
  const node_id sb = producer_op<ops::sub>(g, d);
  if (!sb.valid() || g.uses(d).size() != 2 || g.at(d).is_output) return std::nullopt;
  const value_id x = g.inputs(sb)[0];
  const node_id rm1 = producer_as<ops::reduce_mean>(g, g.inputs(sb)[1]);
  if (!rm1.valid() || g.inputs(rm1)[0] != x) return std::nullopt;
  const auto a1 = reduce_axes(g, rm1), a2 = reduce_axes(g, rm2);
  if (!a1 || a1 != a2) return std::nullopt;
  const auto axis = trailing_axis(*a1, rank_of(g, x));
  if (!axis) return std::nullopt;
  layer_norm_match m{{rm1, sb, pw, rm2, ad, sq, div}, x, {}, {}, g.outputs(div)[0], *axis, static_cast<float>(*eps)};
  // * gamma (required), + beta (optional)
  const node_id mul = sole_consumer(g, m.y);
  if (!mul.valid() || !g.template op_as<ops::mul>(mul)) return std::nullopt;
  const int gs = constant_slot(g, mul);
  if (gs < 0 || g.inputs(mul)[static_cast<std::size_t>(1 - gs)] != m.y) return std::nullopt;
  m.gamma = g.inputs(mul)[static_cast<std::size_t>(gs)];
  if (!fits_normalized(*constant_of(g, m.gamma), m.axis)) return std::nullopt;
  m.nodes.push_back(mul);
  m.y = g.outputs(mul)[0];
  const node_id add = sole_consumer(g, m.y);
  if (add.valid() && g.template op_as<ops::add>(add)) {
    const int bs = constant_slot(g, add);
    if (bs >= 0 && g.inputs(add)[static_cast<std::size_t>(1 - bs)] == m.y &&
        fits_normalized(*constant_of(g, g.inputs(add)[static_cast<std::size_t>(bs)]), m.axis)) {
      m.beta = g.inputs(add)[static_cast<std::size_t>(bs)];
      m.nodes.push_back(add);
      m.y = g.outputs(add)[0];
    }
  }
  return m;
}

struct fuse_layer_norm_impl {
  static constexpr std::string_view name = "fuse_layer_norm";
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const no_config&) {
    infer_shapes(g);
    rewrite_result r;
    for (auto n : topological_order(g)) {
      if (!g.alive(n) || !g.template op_as<ops::div>(n)) continue;
      const auto m = match_layer_norm(g, n);
      if (!m) continue;
      std::vector<value_id> in{m->x, m->gamma};
      if (m->beta.valid()) in.push_back(m->beta);
      replace_subgraph(g, m->nodes, ops::layer_norm{m->axis, m->eps, 1}, std::move(in), {m->y});
      ++r.changes;
    }
    remove_dead_nodes(g);
    return r;
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::fuse_layer_norm_impl> fuse_layer_norm{};

// fuse_add_layer_norm: a residual Add(a, b) read by LayerNormalization becomes AddLayerNormalization(a, b,
// scale[, bias]) -> y [, a + b]: one pass over the rows instead of two. The sum stays an output when anything
// else reads it (pre-LN blocks add it again after the next sublayer). Only Adds of two computed tensors whose
// shapes inference found equal (no broadcast, no constant bias) are fused.
namespace detail {

[[nodiscard]] inline bool same_static_or_symbolic(const std::optional<symbolic_shape>& a, const std::optional<symbolic_shape>& b) {
  if (!a || !b || a->size() != b->size()) return false;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const auto& x = (*a)[i];
    if (!x.known() && x.symbol.empty()) return false;  // unknown dims may differ
    if (!(x == (*b)[i])) return false;
  }
  return true;
}

struct fuse_add_layer_norm_impl {
  static constexpr std::string_view name = "fuse_add_layer_norm";
  template <class OpSet>
    requires(OpSet::template contains<ops::add_layer_norm>)
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const no_config&) {
    infer_shapes(g);
    rewrite_result r;
    for (auto n : topological_order(g)) {
      if (!g.alive(n)) continue;
      const auto* ln = g.template op_as<ops::layer_norm>(n);
      if (!ln) continue;
      const auto outs = g.outputs(n);
      bool extra_outputs = false;
      for (std::size_t i = 1; i < outs.size(); ++i) extra_outputs = extra_outputs || outs[i].valid();
      if (extra_outputs) continue;
      const value_id sum = g.inputs(n)[0];
      const node_id add = g.producer(sum);
      if (!add.valid() || !g.template op_as<ops::add>(add)) continue;
      const value_id a = g.inputs(add)[0], b = g.inputs(add)[1];
      if (!a.valid() || !b.valid() || constant_of(g, a) || constant_of(g, b)) continue;
      if (g.at(a).type != dtype::f32 || g.at(b).type != dtype::f32) continue;
      if (!same_static_or_symbolic(g.at(a).shape, g.at(b).shape)) continue;
      const bool keep_sum = g.at(sum).is_output || g.uses(sum).size() > 1;
      std::vector<value_id> in{a, b};
      for (std::size_t i = 1; i < g.inputs(n).size(); ++i) in.push_back(g.inputs(n)[i]);
      const ops::add_layer_norm op{ln->axis, ln->epsilon};
      const value_id y = outs[0];
      const std::string node_name = g.at(n).name;
      g.erase_node(n);
      g.erase_node(add);
      std::vector<value_id> new_out{y};
      if (keep_sum) new_out.push_back(sum);
      else g.erase_value(sum);
      g.add_node(op, std::move(in), std::move(new_out), g.unique_node_name(node_name.empty() ? "AddLayerNorm" : node_name + "_add"));
      ++r.changes;
    }
    return r;
  }
  // Op sets without the fused op: nothing to do.
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>&, const no_config&) {
    return {};
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::fuse_add_layer_norm_impl> fuse_add_layer_norm{};

}  // namespace bigmodel::passes
