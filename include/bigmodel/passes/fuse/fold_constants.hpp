#pragma once
// fold_constants: replaces every node whose inputs are all constant by initializers holding its outputs.
//
// Layering: passes must not depend on the runtime, so the pass takes an *evaluator* parameter that computes
// one node's outputs from constant inputs. bigmodel::runtime::kernel_evaluator (runtime/constant_evaluator.hpp)
// runs the runtime's own kernels, so folding is exact to what a session would compute:
//   passes::fold_constants(g, runtime::kernel_evaluator{});
//   g |= passes::fold_constants(runtime::kernel_evaluator{}) | ...;
// Without an evaluator the pass still folds what needs no kernel: Constant nodes become initializers,
// Shape of a value whose shape is static, and Gather of static dims out of a Shape (the Shape -> Gather chains
// of PyTorch exports, which are static in every dim but the batch).
// Reshape targets assembled from the input's own dims (Shape -> Gather -> Unsqueeze -> Concat, the batch
// dim of PyTorch exports) become constants with 0 ("copy this dim"), so the shape chains die.
// Leaves alone: opaque ops (they may be random or stateful), nodes writing graph outputs, and results larger
// than max_output_bytes (a folded Expand or ConstantOfShape can be far bigger than its inputs).

#include <concepts>
#include <optional>
#include <string>
#include <vector>

#include "generic_graph.hpp"
#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

// e(op, inputs, output_count, where) -> the outputs, or nullopt when e has no kernel for op; throws
// bigmodel::error naming `where` on bad input.
template <class E, class OpSet>
concept constant_evaluator = requires(const E& e, const typename OpSet::variant& op,
                                      const std::vector<const dynamic_tensor*>& in, std::size_t n, const std::string& where) {
  { e(op, in, n, where) } -> std::convertible_to<std::optional<std::vector<dynamic_tensor>>>;
};

// Evaluates nothing: only the kernel-free folds run.
struct no_evaluator {
  template <class Op>
  std::optional<std::vector<dynamic_tensor>> operator()(const Op&, const std::vector<const dynamic_tensor*>&, std::size_t,
                                                        const std::string&) const {
    return std::nullopt;
  }
};

struct fold_config {
  std::size_t max_output_bytes = std::size_t{64} << 20;
};

namespace detail {

// The node's outputs as initializers (the node is erased).
template <class OpSet>
void replace_by_constants(basic_computation_graph<OpSet>& g, node_id n, std::vector<dynamic_tensor> values) {
  const auto outs = g.outputs(n);
  g.erase_node(n);
  for (std::size_t i = 0; i < outs.size(); ++i) {
    auto& info = g.at(outs[i]);
    info.type = values[i].type();
    info.shape = to_symbolic(values[i].shape());
    info.initializer = std::move(values[i]);
  }
}

// Kernel-free folds: Shape of a static shape, Gather of static dims from a Shape.
template <class OpSet>
std::optional<dynamic_tensor> fold_shape_query(const basic_computation_graph<OpSet>& g, node_id n) {
  if (const auto* s = g.template op_as<ops::shape>(n)) {
    const auto& shp = g.at(g.inputs(n)[0]).shape;
    if (!shp) return std::nullopt;
    const auto r = static_cast<std::int64_t>(shp->size());
    auto clampi = [&](std::int64_t v) { return std::clamp(v < 0 ? v + r : v, std::int64_t{0}, r); };
    std::vector<std::int64_t> dims;
    for (auto i = clampi(s->start); i < clampi(s->end.value_or(r)); ++i) {
      const dim& d = (*shp)[static_cast<std::size_t>(i)];
      if (!d.known()) return std::nullopt;
      dims.push_back(d.value);
    }
    return dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(dims.size())}, dims);
  }
  if (const auto* ga = g.template op_as<ops::gather>(n)) {
    const node_id sn = producer_op<ops::shape>(g, g.inputs(n)[0]);
    const auto* idx = constant_of(g, g.inputs(n)[1]);
    if (!sn.valid() || !idx || ga->axis != 0) return std::nullopt;
    const auto& so = *g.template op_as<ops::shape>(sn);
    const auto& shp = g.at(g.inputs(sn)[0]).shape;
    if (!shp || so.start != 0 || so.end) return std::nullopt;
    const auto r = static_cast<std::int64_t>(shp->size());
    std::vector<std::int64_t> dims;
    for (auto k : idx->to_ints()) {
      if (k < -r || k >= r) throw error("pass.bad_index", "Gather index out of range of the Shape", g.describe(n));
      const dim& d = (*shp)[static_cast<std::size_t>(k < 0 ? k + r : k)];
      if (!d.known()) return std::nullopt;
      dims.push_back(d.value);
    }
    return dynamic_tensor::from<std::int64_t>(idx->shape(), dims);
  }
  return std::nullopt;
}

// One dim of a Shape: Gather(Shape(y), k) (scalar or [1] index), optionally Unsqueezed to [1]; y's dim k.
template <class OpSet>
std::optional<dim> shape_dim_piece(const basic_computation_graph<OpSet>& g, value_id v) {
  node_id n = g.producer(v);
  if (n.valid() && g.template op_as<ops::unsqueeze>(n)) n = g.producer(g.inputs(n)[0]);
  if (!n.valid() || !g.template op_as<ops::gather>(n) || g.template op_as<ops::gather>(n)->axis != 0) return std::nullopt;
  const node_id sn = producer_op<ops::shape>(g, g.inputs(n)[0]);
  const auto* idx = constant_of(g, g.inputs(n)[1]);
  if (!sn.valid() || !idx || idx->numel() != 1 || g.template op_as<ops::shape>(sn)->start != 0) return std::nullopt;
  const auto& shp = g.at(g.inputs(sn)[0]).shape;
  if (!shp) return std::nullopt;
  const auto r = static_cast<std::int64_t>(shp->size());
  auto k = idx->as_int(0);
  if (k < -r || k >= r) return std::nullopt;
  return (*shp)[static_cast<std::size_t>(k < 0 ? k + r : k)];
}

// Reshape(x, Concat(pieces)) whose non-constant pieces are dims of some Shape equal to x's own dims at
// the same position (a symbolic "batch" through the exporter's Shape/Gather/Concat chain): those become
// 0 ("copy the input's dim") and the target a constant.
template <class OpSet>
std::optional<dynamic_tensor> constant_reshape_target(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto* rs = g.template op_as<ops::reshape>(n);
  const node_id cat = rs && !rs->allowzero ? producer_op<ops::concat>(g, g.inputs(n)[1]) : node_id{};
  const auto& xs = g.at(g.inputs(n)[0]).shape;
  if (!cat.valid() || !xs || constant_of(g, g.inputs(n)[1])) return std::nullopt;
  std::vector<std::int64_t> target;
  for (auto piece : g.inputs(cat)) {
    if (const auto* t = constant_of(g, piece)) {
      for (auto d : t->to_ints()) target.push_back(d);
      continue;
    }
    const auto d = shape_dim_piece(g, piece);
    const std::size_t i = target.size();
    if (!d || i >= xs->size() || !(*d == (*xs)[i]) || (!d->known() && d->symbol.empty())) return std::nullopt;
    target.push_back(0);
  }
  return dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(target.size())}, target);
}

template <class OpSet, class E>
rewrite_result fold_constants_now(basic_computation_graph<OpSet>& g, const fold_config& cfg, const E& evaluate) {
  rewrite_result r;
  infer_shapes(g);
  for (auto n : topological_order(g)) {
    if (!g.alive(n)) continue;
    bool writes_output = false;
    for (auto v : g.outputs(n)) writes_output = writes_output || g.at(v).is_output;
    if (writes_output || std::holds_alternative<ops::opaque>(g.op_of(n))) continue;
    if (const auto* c = g.template op_as<ops::constant>(n)) {
      replace_by_constants(g, n, {c->value});
      ++r.changes;
      continue;
    }
    if (auto t = constant_reshape_target(g, n)) {
      g.set_input(n, 1, add_constant(g, g.at(n).name + "_shape", std::move(*t)));
      ++r.changes;
      continue;
    }
    if (auto t = fold_shape_query(g, n)) {
      replace_by_constants(g, n, {std::move(*t)});
      ++r.changes;
      continue;
    }
    std::vector<const dynamic_tensor*> in;
    bool all_constant = !g.inputs(n).empty();
    for (auto v : g.inputs(n)) {
      in.push_back(v.valid() ? g.constant_value(v) : nullptr);
      all_constant = all_constant && (!v.valid() || in.back());
    }
    if (!all_constant) continue;
    auto out = evaluate(g.op_of(n), in, g.outputs(n).size(), g.describe(n));
    if (!out) continue;
    std::size_t bytes = 0;
    for (const auto& t : *out) bytes += t.bytes();
    if (bytes > cfg.max_output_bytes) {
      r.notes.push_back(g.describe(n) + ": result of " + std::to_string(bytes) + " bytes not folded");
      continue;
    }
    if (out->size() != g.outputs(n).size())
      throw error("pass.fold_failed", "the evaluator returned the wrong number of outputs", g.describe(n));
    replace_by_constants(g, n, std::move(*out));
    ++r.changes;
  }
  remove_dead_nodes(g);
  remove_unused_initializers(g);
  return r;
}

}  // namespace detail

struct fold_constants_fn {
  // Runs now.
  template <class OpSet, class E = no_evaluator>
    requires constant_evaluator<E, OpSet>
  rewrite_result operator()(basic_computation_graph<OpSet>& g, const E& evaluate = {}, const fold_config& cfg = {}) const {
    return detail::fold_constants_now(g, cfg, evaluate);
  }
  template <class OpSet>
  rewrite_result operator()(basic_computation_graph<OpSet>& g, const fold_config& cfg) const {
    return detail::fold_constants_now(g, cfg, no_evaluator{});
  }
  // A pass for pipelines.
  template <class E = no_evaluator>
    requires(!std::same_as<E, fold_config> && !detail::is_basic_graph_v<E>)
  [[nodiscard]] auto operator()(E evaluate = {}, fold_config cfg = {}) const {
    return make_pass("fold_constants", [evaluate = std::move(evaluate), cfg]<class OpSet>(basic_computation_graph<OpSet>& g)
                                           -> rewrite_result { return detail::fold_constants_now(g, cfg, evaluate); });
  }
  [[nodiscard]] auto operator()(fold_config cfg) const { return (*this)(no_evaluator{}, cfg); }
};

inline constexpr fold_constants_fn fold_constants{};

}  // namespace bigmodel::passes
