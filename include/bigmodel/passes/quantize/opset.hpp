#pragma once
// Raising a graph's ONNX opset so int4 weights can be stored: DequantizeLinear takes int4 from opset 21.
// Between opsets 13 and 21 most ops only gained element types; the ones whose meaning changed are the
// Reduce* family (axes moved from an attribute to an input in 18), Split (num_outputs, 18),
// GroupNormalization (21) and Pad/Resize details. ReduceMean/ReduceSum with an axes attribute are rewritten
// to the input form; any other op of the changed set is refused with an error naming the node.

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "graph_layers.hpp"

namespace bigmodel::quant {

[[nodiscard]] inline std::int64_t default_opset(const auto& g) {
  for (const auto& [dom, ver] : g.opset_imports)
    if (same_domain(dom, "")) return ver;
  return 0;
}

namespace detail {
// Ops (default domain) whose semantics changed between opset 13 and 21 in ways a rewrite here does not handle.
inline constexpr std::array<std::string_view, 14> changed_by_opset_21{
    "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
    "ReduceSumSquare", "GroupNormalization", "Pad", "Resize", "Col2Im", "ScatterElements", "ScatterND"};

template <class Op, class OpSet>
void axes_to_input(basic_computation_graph<OpSet>& g, node_id n) {
  auto* op = g.template op_as<Op>(n);
  if (!op || !op->axes) return;
  const auto& ax = *op->axes;
  const value_id v = add_constant(g, g.at(n).name + "_axes", dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(ax.size())}, ax));
  op->axes.reset();
  g.set_input(n, 1, v);
  std::erase(g.at(n).attribute_order, std::string("axes"));
}
}  // namespace detail

// Raises the default-domain opset to `target` (no-op when already there). Throws "quant.opset" naming the
// first node whose op changed meaning and cannot be rewritten.
template <class OpSet>
void raise_opset(basic_computation_graph<OpSet>& g, std::int64_t target, std::string_view why) {
  const std::int64_t from = default_opset(g);
  if (from >= target) return;
  if (from < 13)
    throw error("quant.opset", std::string(why) + " needs opset " + std::to_string(target) + "; models below opset 13 are not raised",
                "opset " + std::to_string(from));
  for (const auto n : g.nodes()) {
    const auto& op = g.op_of(n);
    const std::string_view type = op_type_name(op);
    const bool refused = std::find(detail::changed_by_opset_21.begin(), detail::changed_by_opset_21.end(), type) !=
                             detail::changed_by_opset_21.end() ||
                         (g.template op_as<ops::split>(n) && g.template op_as<ops::split>(n)->split_sizes);
    if (refused && same_domain(op_domain(op), ""))
      throw error("quant.opset",
                  std::string(why) + " needs opset " + std::to_string(target) + ", and the model (opset " + std::to_string(from) +
                      ") has an op whose meaning changed since; use int8 weights or convert the model first",
                  g.describe(n));
  }
  for (const auto n : g.nodes()) detail::axes_to_input<ops::reduce_mean>(g, n);
  for (auto& [dom, ver] : g.opset_imports)
    if (same_domain(dom, "")) ver = target;
}

}  // namespace bigmodel::quant
