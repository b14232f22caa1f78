#pragma once
// decompose_for_export: rewrites what standard ONNX lacks back into standard ops, so the saved model
// loads in ONNX Runtime (and any other runtime):
//   Gelu            -> Div/Erf/Add/Mul/Mul (erf form) or Mul/Mul/Mul/Add/Mul/Tanh/Add/Mul/Mul (tanh form)
//   Attention       -> [Transpose] MatMul, Mul(scale), [Add mask], [Add causal mask], Softmax, MatMul
//   fused `act`     -> the op, then a Relu/Sigmoid/Tanh/Clip/Gelu node (Gelu then decomposed)
//   LayerNorm       -> ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add when the model's opset is < 17
//   AddLayerNorm    -> Add, LayerNorm (then as above)
// With {.form = export_form::bigmodel_domain} it changes nothing: the exporter writes the fused ops in the
// com.bigmodel domain (smaller, faster to load back into bigmodel; other runtimes refuse it).
// Bad input (an Attention whose head size or causal extents are unknown) throws bigmodel::error naming the node.

#include <cmath>
#include <limits>

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

enum class export_form { standard, bigmodel_domain };

struct export_config {
  export_form form = export_form::standard;
  bool decompose_layer_norm = true;  // when the model's ONNX opset is below 17
};

namespace detail {

template <class OpSet>
class decomposer {
 public:
  using graph_type = basic_computation_graph<OpSet>;
  using op_type = typename graph_type::op_type;

  decomposer(graph_type& g, node_id n) : g_(g), name_(g.at(n).name.empty() ? "fused" : g.at(n).name) {}

  value_id emit(op_type op, std::vector<value_id> in, std::string_view what) {
    return add_op(g_, std::move(op), std::move(in), name_ + "/" + std::string(what));
  }
  value_id scalar(float v, std::string_view what) { return add_constant(g_, name_ + "/" + std::string(what), dynamic_tensor::scalar(v)); }
  // The last node writes the original output value.
  void finish(op_type op, std::vector<value_id> in, value_id out) {
    g_.add_node(std::move(op), std::move(in), std::vector<value_id>{out}, g_.unique_node_name(name_ + "/out"));
  }

 private:
  graph_type& g_;
  std::string name_;
};

template <class OpSet>
void decompose_gelu(basic_computation_graph<OpSet>& g, node_id n) {
  const bool tanh_form = g.template op_as<ops::gelu>(n)->approximate == "tanh";
  const value_id x = g.inputs(n)[0], y = g.outputs(n)[0];
  decomposer<OpSet> d(g, n);
  g.erase_node(n);
  value_id inner;
  if (tanh_form) {
    const value_id cube = d.emit(ops::mul{}, {x, d.emit(ops::mul{}, {x, x}, "sq")}, "cube");
    const value_id w = d.emit(ops::add{}, {x, d.emit(ops::mul{}, {cube, d.scalar(0.044715f, "c")}, "k")}, "w");
    inner = d.emit(ops::tanh{}, {d.emit(ops::mul{}, {w, d.scalar(0.7978845608028654f, "sqrt_2_pi")}, "u")}, "tanh");
  } else {
    inner = d.emit(ops::erf{}, {d.emit(ops::div{}, {x, d.scalar(1.4142135381698608f, "sqrt2")}, "scaled")}, "erf");
  }
  const value_id a = d.emit(ops::add{}, {inner, d.scalar(1.0f, "one")}, "one_plus");
  d.finish(ops::mul{}, {d.emit(ops::mul{}, {x, a}, "x_times"), d.scalar(0.5f, "half")}, y);
}

template <class OpSet>
void decompose_attention(basic_computation_graph<OpSet>& g, node_id n) {
  const auto op = *g.template op_as<ops::attention>(n);
  const auto in = g.inputs(n);
  const value_id y = g.outputs(n)[0];
  const auto& qs = g.at(in[0]).shape;
  const auto rank = rank_of(g, in[1]);
  if (!qs || !rank || qs->empty() || (!op.k_transposed && *rank < 2))
    throw error("pass.cannot_decompose", "Attention needs known ranks of q and k to be decomposed", g.describe(n));
  float scale = op.scale;
  if (scale == 0.0f) {
    if (!qs->back().known()) throw error("pass.cannot_decompose", "Attention head size unknown (scale 0)", g.describe(n));
    scale = 1.0f / std::sqrt(static_cast<float>(qs->back().value));
  }
  std::optional<dynamic_tensor> causal;
  if (op.causal) {
    const auto qsh = static_shape(g, in[0]), ksh = static_shape(g, in[1]);
    if (!qsh || !ksh) throw error("pass.cannot_decompose", "causal Attention needs static sequence lengths", g.describe(n));
    const std::size_t seq = op.layout == 1 ? 1 : qsh->size() - 2;  // [B, T, H, D] or [..., T, D]
    const std::int64_t t = (*qsh)[seq], s = op.k_transposed ? ksh->back() : (*ksh)[op.layout == 1 ? 1 : ksh->size() - 2];
    dynamic_tensor m(dtype::f32, {t, s});
    auto mv = m.mutable_span<float>();
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t j = i + 1 + (s - t); j < s; ++j) mv[static_cast<std::size_t>(i * s + j)] = std::numeric_limits<float>::lowest();
    causal = std::move(m);
  }
  decomposer<OpSet> d(g, n);
  g.erase_node(n);
  value_id q = in[0], kt = in[1], v = in[2];
  const ops::ints heads_first{0, 2, 1, 3};
  if (op.layout == 1) {  // [B, T, H, D] -> [B, H, T, D]; kT directly as [B, H, D, S]
    q = d.emit(ops::transpose{heads_first}, {in[0]}, "q_heads");
    v = d.emit(ops::transpose{heads_first}, {in[2]}, "v_heads");
    kt = d.emit(ops::transpose{ops::ints{0, 2, 3, 1}}, {in[1]}, "k_t");
  } else if (!op.k_transposed) {
    ops::ints perm(*rank);
    for (std::size_t i = 0; i < *rank; ++i) perm[i] = static_cast<std::int64_t>(i);
    std::swap(perm[*rank - 1], perm[*rank - 2]);
    kt = d.emit(ops::transpose{perm}, {in[1]}, "k_t");
  }
  value_id s = d.emit(ops::mul{}, {d.emit(ops::matmul{}, {q, kt}, "scores"), d.scalar(scale, "scale")}, "scaled");
  if (in.size() > 3 && in[3].valid()) s = d.emit(ops::add{}, {s, in[3]}, "masked");
  if (causal) s = d.emit(ops::add{}, {s, add_constant(g, g.name_of(y) + "_causal_mask", std::move(*causal))}, "causal");
  if (op.layout == 1)
    d.finish(ops::transpose{heads_first}, {d.emit(ops::matmul{}, {d.emit(ops::softmax{-1}, {s}, "probs"), v}, "context")}, y);
  else
    d.finish(ops::matmul{}, {d.emit(ops::softmax{-1}, {s}, "probs"), v}, y);
}

template <class OpSet>
void decompose_layer_norm(basic_computation_graph<OpSet>& g, node_id n, std::int64_t opset) {
  const auto op = *g.template op_as<ops::layer_norm>(n);
  const auto in = g.inputs(n);
  const value_id y = g.outputs(n)[0];
  if (g.outputs(n).size() > 1) throw error("pass.cannot_decompose", "LayerNormalization mean/inv_std_dev outputs", g.describe(n));
  std::int64_t axis = op.axis;
  if (axis >= 0) {
    const auto r = rank_of(g, in[0]);
    if (!r) throw error("pass.cannot_decompose", "LayerNormalization with a positive axis needs the input's rank", g.describe(n));
    axis -= static_cast<std::int64_t>(*r);
  }
  ops::ints axes;
  for (auto a = axis; a < 0; ++a) axes.push_back(a);
  decomposer<OpSet> d(g, n);
  g.erase_node(n);
  auto mean = [&](value_id v, std::string_view what) {
    if (opset >= 18)
      return d.emit(ops::reduce_mean{}, {v, add_constant(g, "layer_norm_axes", dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(axes.size())}, axes))}, what);
    return d.emit(ops::reduce_mean{axes}, {v}, what);
  };
  const value_id dev = d.emit(ops::sub{}, {in[0], mean(in[0], "mean")}, "centered");
  const value_id var = mean(d.emit(ops::pow{}, {dev, d.scalar(2.0f, "two")}, "sq"), "var");
  const value_id sd = d.emit(ops::sqrt{}, {d.emit(ops::add{}, {var, d.scalar(op.epsilon, "eps")}, "var_eps")}, "std");
  const value_id scaled = d.emit(ops::mul{}, {d.emit(ops::div{}, {dev, sd}, "normalized"), in[1]}, "scaled");
  if (in.size() > 2 && in[2].valid()) d.finish(ops::add{}, {scaled, in[2]}, y);
  else d.finish(ops::identity{}, {scaled}, y);
}

// AddLayerNormalization -> Add, LayerNormalization (the sum keeps its value when it is an output); returns the
// LayerNormalization node.
template <class OpSet>
node_id decompose_add_layer_norm(basic_computation_graph<OpSet>& g, node_id n) {
  const auto op = *g.template op_as<ops::add_layer_norm>(n);
  const auto in = g.inputs(n);
  const auto out = g.outputs(n);
  const std::string base = g.at(n).name.empty() ? "add_layer_norm" : g.at(n).name;
  g.erase_node(n);
  value_id sum = out.size() > 1 && out[1].valid() ? out[1] : g.add_value(base + "/sum");
  g.add_node(ops::add{}, {in[0], in[1]}, {sum}, g.unique_node_name(base + "/add"));
  std::vector<value_id> ln_in{sum, in[2]};
  if (in.size() > 3 && in[3].valid()) ln_in.push_back(in[3]);
  return g.add_node(ops::layer_norm{op.axis, op.epsilon, 1}, std::move(ln_in), {out[0]}, g.unique_node_name(base + "/norm"));
}

// Moves a fused activation out of node n into a node of its own after it.
template <class OpSet>
bool unfuse_activation(basic_computation_graph<OpSet>& g, node_id n) {
  using k = ops::activation_kind;
  ops::activation act{};
  std::visit([&](auto& op) {
    if constexpr (requires { op.act; }) act = std::exchange(op.act, ops::activation{});
  }, g.op_of(n));
  if (act.kind == k::none) return false;
  const value_id y = g.outputs(n)[0];
  const value_id pre = g.add_value(g.name_of(y) + "_preact");
  g.at(n).outputs[0] = pre;
  g.at(pre).producer = n;
  g.at(y).producer = {};
  decomposer<OpSet> d(g, n);
  switch (act.kind) {
    case k::relu: d.finish(ops::relu{}, {pre}, y); break;
    case k::sigmoid: d.finish(ops::sigmoid{}, {pre}, y); break;
    case k::tanh: d.finish(ops::tanh{}, {pre}, y); break;
    case k::gelu: d.finish(ops::gelu{"none"}, {pre}, y); break;
    case k::gelu_tanh: d.finish(ops::gelu{"tanh"}, {pre}, y); break;
    case k::clip: {
      const value_id lo = std::isinf(act.min) ? value_id{} : d.scalar(act.min, "min");
      const value_id hi = std::isinf(act.max) ? value_id{} : d.scalar(act.max, "max");
      d.finish(ops::clip{}, {pre, lo, hi}, y);
      break;
    }
    case k::none: break;
  }
  return true;
}

template <class OpSet>
std::int64_t onnx_opset(const basic_computation_graph<OpSet>& g) {
  for (const auto& [domain, version] : g.opset_imports)
    if (same_domain(domain, "")) return version;
  return 17;
}

struct decompose_for_export_impl {
  static constexpr std::string_view name = "decompose_for_export";
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const export_config& cfg) {
    rewrite_result r;
    if (cfg.form == export_form::bigmodel_domain) return r;
    infer_shapes(g);
    for (auto n : g.nodes()) r.changes += unfuse_activation(g, n) ? 1 : 0;
    const auto opset = onnx_opset(g);
    for (auto n : g.nodes()) {
      if (g.template op_as<ops::gelu>(n)) decompose_gelu(g, n), ++r.changes;
      else if (g.template op_as<ops::attention>(n)) decompose_attention(g, n), ++r.changes;
      else if (g.template op_as<ops::layer_norm>(n) && cfg.decompose_layer_norm && opset < 17)
        decompose_layer_norm(g, n, opset), ++r.changes;
      else if constexpr (OpSet::template contains<ops::add_layer_norm>) {
        if (g.template op_as<ops::add_layer_norm>(n)) {
          const node_id ln = decompose_add_layer_norm(g, n);
          ++r.changes;
          if (cfg.decompose_layer_norm && opset < 17) decompose_layer_norm(g, ln, opset);
        }
      }
    }
    return r;
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::decompose_for_export_impl, export_config> decompose_for_export{};

}  // namespace bigmodel::passes
