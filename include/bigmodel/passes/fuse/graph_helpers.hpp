#pragma once
// Small queries and edits on basic_computation_graph shared by the fusion passes: constant values (an
// initializer or a Constant node), scalars, static shapes, fresh initializers.

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../../graph/computation_graph.hpp"
#include "../../graph/match.hpp"
#include "../../graph/shape_inference.hpp"

namespace bigmodel::passes::detail {

// The value of v when it is an initializer or the output of a Constant node; else nullptr.
template <class OpSet>
[[nodiscard]] const dynamic_tensor* constant_of(const basic_computation_graph<OpSet>& g, value_id v) {
  if (!v.valid()) return nullptr;
  if (const auto* t = g.constant_value(v)) return t;
  const node_id p = g.producer(v);
  if (p.valid())
    if (const auto* c = g.template op_as<ops::constant>(p)) return &c->value;
  return nullptr;
}

// A one-element floating constant's value.
template <class OpSet>
[[nodiscard]] std::optional<double> scalar_of(const basic_computation_graph<OpSet>& g, value_id v) {
  const auto* t = constant_of(g, v);
  if (!t || t->numel() != 1 || (t->type() != dtype::f32 && t->type() != dtype::f64 && t->type() != dtype::f16))
    return std::nullopt;
  return t->as_double(0);
}

[[nodiscard]] inline bool near(std::optional<double> v, double want, double rel = 1e-4) {
  return v && std::abs(*v - want) <= rel * std::abs(want);
}

// The static shape of v (every dim known), if shape inference found one.
template <class OpSet>
[[nodiscard]] std::optional<shape_t> static_shape(const basic_computation_graph<OpSet>& g, value_id v) {
  if (const auto* t = constant_of(g, v)) return t->shape();
  const auto& s = g.at(v).shape;
  if (!s) return std::nullopt;
  shape_t out;
  for (const auto& d : *s) {
    if (!d.known()) return std::nullopt;
    out.push_back(d.value);
  }
  return out;
}

template <class OpSet>
[[nodiscard]] std::optional<std::size_t> rank_of(const basic_computation_graph<OpSet>& g, value_id v) {
  if (const auto* t = constant_of(g, v)) return t->rank();
  const auto& s = g.at(v).shape;
  if (!s) return std::nullopt;
  return s->size();
}

// A new initializer named after `hint` (made unique).
template <class OpSet>
value_id add_constant(basic_computation_graph<OpSet>& g, std::string_view hint, dynamic_tensor t) {
  std::string n(hint);
  for (std::size_t k = 1; g.find_value(n); ++k) n = std::string(hint) + "_" + std::to_string(k);
  return g.add_initializer(std::move(n), std::move(t));
}

// Adds node `op` reading `inputs`, writing one fresh value named after `hint`; returns that value.
template <class OpSet>
value_id add_op(basic_computation_graph<OpSet>& g, typename basic_computation_graph<OpSet>::op_type op,
                std::vector<value_id> inputs, std::string_view hint) {
  const value_id out = g.add_value(hint);
  const std::string name = g.unique_node_name(std::string(hint));
  g.add_node(std::move(op), std::move(inputs), std::vector<value_id>{out}, name);
  return out;
}

// Shape inference where possible; bad shapes are reported by the pass that needs them.
template <class OpSet>
void infer_shapes_for(basic_computation_graph<OpSet>& g) {
  infer_shapes(g);
}

// The single node reading v (and v is not a graph output), or an invalid id.
template <class OpSet>
[[nodiscard]] node_id sole_consumer(const basic_computation_graph<OpSet>& g, value_id v) {
  if (!single_consumer(g, v)) return {};
  return g.uses(v)[0].node;
}

// The node producing v when its op is Op, without the single-consumer requirement.
template <class Op, class OpSet>
[[nodiscard]] node_id producer_op(const basic_computation_graph<OpSet>& g, value_id v) {
  return producer_as<Op>(g, v, false);
}

// For a binary node: slot of the input that is a constant, or -1.
template <class OpSet>
[[nodiscard]] int constant_slot(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto& in = g.inputs(n);
  if (in.size() != 2) return -1;
  if (constant_of(g, in[1])) return 1;
  if (constant_of(g, in[0])) return 0;
  return -1;
}

// f32 copy of a float constant's values.
[[nodiscard]] inline std::vector<double> values_of(const dynamic_tensor& t) {
  std::vector<double> v(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = t.as_double(static_cast<std::int64_t>(i));
  return v;
}

}  // namespace bigmodel::passes::detail
