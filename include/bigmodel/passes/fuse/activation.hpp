#pragma once
// fuse_activation: Gemm / MatMul / Conv followed by Relu, Gelu, Sigmoid, Tanh or Clip (constant bounds)
// becomes one node with the activation in its `act` field, which the runtime (and the int8 kernels'
// epilogues) apply while the output is still in cache.
// Leaves alone: an op whose output has other readers or is a graph output, an op that already has an
// activation, a Clip with computed bounds.

#include <cmath>

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

struct activation_config {
  bool relu = true, gelu = true, sigmoid = true, tanh = true, clip = true;
};

namespace detail {

// The fused form of activation node n, if it is one this config fuses.
template <class OpSet>
std::optional<ops::activation> activation_of(const basic_computation_graph<OpSet>& g, node_id n, const activation_config& cfg) {
  using k = ops::activation_kind;
  const auto& op = g.op_of(n);
  if (cfg.relu && std::holds_alternative<ops::relu>(op)) return ops::activation{k::relu};
  if (cfg.sigmoid && std::holds_alternative<ops::sigmoid>(op)) return ops::activation{k::sigmoid};
  if (cfg.tanh && std::holds_alternative<ops::tanh>(op)) return ops::activation{k::tanh};
  if (cfg.gelu && std::holds_alternative<ops::gelu>(op)) {
    const auto& a = std::get<ops::gelu>(op).approximate;
    if (a == "none") return ops::activation{k::gelu};
    if (a == "tanh") return ops::activation{k::gelu_tanh};
    throw error("pass.bad_gelu", "Gelu approximate must be 'none' or 'tanh', got '" + a + "'", g.describe(n));
  }
  if (cfg.clip && std::holds_alternative<ops::clip>(op)) {
    ops::activation a{k::clip, -INFINITY, INFINITY};
    const auto& in = g.inputs(n);
    for (std::size_t slot = 1; slot < 3; ++slot) {
      if (slot >= in.size() || !in[slot].valid()) continue;
      const auto* t = constant_of(g, in[slot]);
      if (!t || t->numel() != 1) return std::nullopt;  // computed bounds
      (slot == 1 ? a.min : a.max) = static_cast<float>(t->as_double(0));
    }
    for (const auto& attr : g.at(n).extra_attributes) {  // opset < 11 form
      if (const auto* f = std::get_if<float>(&attr.value)) {
        if (attr.name == "min") a.min = *f;
        if (attr.name == "max") a.max = *f;
      }
    }
    return a;
  }
  return std::nullopt;
}

template <class Op, class OpSet>
std::size_t fuse_after(basic_computation_graph<OpSet>& g, const activation_config& cfg) {
  std::size_t changes = 0;
  for (auto n : topological_order(g)) {
    if (!g.alive(n)) continue;
    auto* op = g.template op_as<Op>(n);
    if (!op || op->act.kind != ops::activation_kind::none) continue;
    const value_id y = g.outputs(n)[0];
    const node_id a = sole_consumer(g, y);
    if (!a.valid() || g.inputs(a)[0] != y) continue;
    const auto act = activation_of(g, a, cfg);
    if (!act) continue;
    if (!bypass_node(g, a, 0)) continue;
    op->act = *act;
    ++changes;
  }
  return changes;
}

struct fuse_activation_impl {
  static constexpr std::string_view name = "fuse_activation";
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const activation_config& cfg) {
    rewrite_result r;
    r.changes = fuse_after<ops::gemm>(g, cfg) + fuse_after<ops::matmul>(g, cfg) + fuse_after<ops::conv>(g, cfg);
    return r;
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::fuse_activation_impl, activation_config> fuse_activation{};

}  // namespace bigmodel::passes
