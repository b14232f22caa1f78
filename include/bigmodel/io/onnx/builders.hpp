#pragma once
// Building and reading nodes, attributes and value infos -- what the exporter and the quantization passes
// use to emit QuantizeLinear / DequantizeLinear (per-tensor or per-axis), DynamicQuantizeLinear,
// MatMulInteger and QLinearMatMul.
//
//   make_attribute(name, value)        float, integer, string, floats, ints, strings, tensor(s), graph(s)
//   make_node(op_type, inputs, outputs, attributes, name, domain)
//   make_tensor_value_info(name, dtype, {1, "batch", 768})
//   make_quantize_linear / make_dequantize_linear / make_dynamic_quantize_linear / make_matmul_integer /
//   make_qlinear_matmul, make_scale_tensor / make_zero_point_tensor (per-tensor: rank 0; per-axis: 1-D)
//   find_attribute, attribute_int/float/string/ints/floats (with defaults), find_initializer,
//   opset_version, for_each_tensor

#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proto.hpp"
#include "tensor.hpp"

namespace bigmodel::io::onnx {

// ---- attributes -----------------------------------------------------------------------------------------
namespace detail {
inline attribute_proto attribute_of(std::string name, attribute_type type, std::uint32_t field) {
  attribute_proto a;
  a.name = std::move(name);
  a.type = static_cast<std::int32_t>(type);
  a.meta.mark(1);
  a.meta.mark(field);
  a.meta.mark(20);
  return a;
}
}  // namespace detail

[[nodiscard]] inline attribute_proto make_attribute(std::string name, float v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::float_, 2);
  a.f = v;
  return a;
}
template <std::integral I>
[[nodiscard]] attribute_proto make_attribute(std::string name, I v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::int_, 3);
  a.i = static_cast<std::int64_t>(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, std::string_view v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::string, 4);
  a.s = std::string(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, const char* v) {
  return make_attribute(std::move(name), std::string_view(v));
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, std::vector<float> v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::floats, 7);
  a.floats = std::move(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, std::vector<std::int64_t> v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::ints, 8);
  a.ints = std::move(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, std::vector<std::string> v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::strings, 9);
  a.strings = std::move(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, tensor_proto v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::tensor, 5);
  a.t = std::move(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, std::vector<tensor_proto> v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::tensors, 10);
  a.tensors = std::move(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, graph_proto v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::graph, 6);
  a.g = std::move(v);
  return a;
}
[[nodiscard]] inline attribute_proto make_attribute(std::string name, std::vector<graph_proto> v) {
  auto a = detail::attribute_of(std::move(name), attribute_type::graphs, 11);
  a.graphs = std::move(v);
  return a;
}

// ---- nodes ----------------------------------------------------------------------------------------------

[[nodiscard]] inline node_proto make_node(std::string op_type, std::vector<std::string> inputs,
                                          std::vector<std::string> outputs, std::vector<attribute_proto> attributes = {},
                                          std::string name = {}, std::string domain = {}) {
  node_proto n;
  n.op_type = std::move(op_type);
  n.input = std::move(inputs);
  n.output = std::move(outputs);
  n.attribute = std::move(attributes);
  n.name = std::move(name);
  n.domain = std::move(domain);
  return n;
}

namespace detail {
// Optional trailing inputs given as "" are dropped (ONNX allows omitting them).
inline std::vector<std::string> trim_inputs(std::vector<std::string> v) {
  while (!v.empty() && v.back().empty()) v.pop_back();
  return v;
}
inline std::vector<attribute_proto> axis_attribute(std::optional<std::int64_t> axis) {
  std::vector<attribute_proto> a;
  if (axis) a.push_back(make_attribute("axis", *axis));
  return a;
}
}  // namespace detail

// y = saturate(round(x / scale) + zero_point). axis: the channel axis for per-axis (1-D) scale/zero_point.
[[nodiscard]] inline node_proto make_quantize_linear(std::string x, std::string scale, std::string zero_point, std::string y,
                                                     std::optional<std::int64_t> axis = {}, std::string name = {}) {
  return make_node("QuantizeLinear", detail::trim_inputs({std::move(x), std::move(scale), std::move(zero_point)}),
                   {std::move(y)}, detail::axis_attribute(axis), std::move(name));
}
// y = (x - zero_point) * scale.
[[nodiscard]] inline node_proto make_dequantize_linear(std::string x, std::string scale, std::string zero_point, std::string y,
                                                       std::optional<std::int64_t> axis = {}, std::string name = {}) {
  return make_node("DequantizeLinear", detail::trim_inputs({std::move(x), std::move(scale), std::move(zero_point)}),
                   {std::move(y)}, detail::axis_attribute(axis), std::move(name));
}
// x (f32) -> y (u8), y_scale (f32 scalar), y_zero_point (u8 scalar).
[[nodiscard]] inline node_proto make_dynamic_quantize_linear(std::string x, std::string y, std::string y_scale,
                                                             std::string y_zero_point, std::string name = {}) {
  return make_node("DynamicQuantizeLinear", {std::move(x)}, {std::move(y), std::move(y_scale), std::move(y_zero_point)}, {},
                   std::move(name));
}
// y (s32) = (a - a_zero_point) x (b - b_zero_point); zero points optional ("" to omit; b's may be per column).
[[nodiscard]] inline node_proto make_matmul_integer(std::string a, std::string b, std::string a_zero_point,
                                                    std::string b_zero_point, std::string y, std::string name = {}) {
  return make_node("MatMulInteger",
                   detail::trim_inputs({std::move(a), std::move(b), std::move(a_zero_point), std::move(b_zero_point)}),
                   {std::move(y)}, {}, std::move(name));
}
[[nodiscard]] inline node_proto make_qlinear_matmul(std::string a, std::string a_scale, std::string a_zero_point,
                                                    std::string b, std::string b_scale, std::string b_zero_point,
                                                    std::string y_scale, std::string y_zero_point, std::string y,
                                                    std::string name = {}) {
  return make_node("QLinearMatMul",
                   {std::move(a), std::move(a_scale), std::move(a_zero_point), std::move(b), std::move(b_scale),
                    std::move(b_zero_point), std::move(y_scale), std::move(y_zero_point)},
                   {std::move(y)}, {}, std::move(name));
}

// Quantization parameter tensors: per-tensor -> rank 0 (exactly one value); per-axis -> 1-D of values.size().
[[nodiscard]] inline tensor_proto make_scale_tensor(std::string name, std::span<const float> scales, bool per_axis) {
  require(per_axis || scales.size() == 1, "onnx.quant_params", "per-tensor scale needs exactly one value", name);
  std::vector<std::int64_t> dims;
  if (per_axis) dims.push_back(static_cast<std::int64_t>(scales.size()));
  return make_tensor(std::move(name), std::move(dims), scales);
}
template <class T>
  requires(std::same_as<T, std::int8_t> || std::same_as<T, std::uint8_t> || std::same_as<T, std::int32_t>)
[[nodiscard]] tensor_proto make_zero_point_tensor(std::string name, std::span<const T> zero_points, bool per_axis) {
  require(per_axis || zero_points.size() == 1, "onnx.quant_params", "per-tensor zero point needs exactly one value", name);
  std::vector<std::int64_t> dims;
  if (per_axis) dims.push_back(static_cast<std::int64_t>(zero_points.size()));
  return make_tensor(std::move(name), std::move(dims), zero_points);
}

// ---- value infos ----------------------------------------------------------------------------------------

// One dimension of a value's shape: a size, or a symbol such as "batch".
struct shape_dim {
  std::variant<std::int64_t, std::string> value;
  shape_dim(std::int64_t v) : value(v) {}               // NOLINT: implicit by design
  shape_dim(int v) : value(std::int64_t{v}) {}          // NOLINT
  shape_dim(std::string s) : value(std::move(s)) {}     // NOLINT
  shape_dim(const char* s) : value(std::string(s)) {}   // NOLINT
};

// A tensor-typed ValueInfoProto. shape = nullopt leaves the rank unknown.
[[nodiscard]] inline value_info_proto make_tensor_value_info(std::string name, dtype type,
                                                             std::optional<std::vector<shape_dim>> shape) {
  value_info_proto v;
  v.name = std::move(name);
  auto& tt = v.type.emplace().tensor_type.emplace();
  tt.elem_type = static_cast<std::int32_t>(type);
  if (shape) {
    auto& s = tt.shape.emplace();
    for (auto& d : *shape) {
      auto& dim = s.dim.emplace_back();
      if (auto* i = std::get_if<std::int64_t>(&d.value)) dim.dim_value = *i;
      else dim.dim_param = std::get<std::string>(d.value);
    }
  }
  return v;
}

// ---- lookups --------------------------------------------------------------------------------------------

[[nodiscard]] inline const attribute_proto* find_attribute(const node_proto& n, std::string_view name) noexcept {
  for (const auto& a : n.attribute)
    if (a.name == name) return &a;
  return nullptr;
}
[[nodiscard]] inline attribute_proto* find_attribute(node_proto& n, std::string_view name) noexcept {
  for (auto& a : n.attribute)
    if (a.name == name) return &a;
  return nullptr;
}

namespace detail {
inline const attribute_proto* typed_attribute(const node_proto& n, std::string_view name, attribute_type want) {
  const attribute_proto* a = find_attribute(n, name);
  if (!a) return nullptr;
  require(a->kind() == want, "onnx.attribute_type",
          "attribute '" + std::string(name) + "' has type " + std::to_string(a->type) + ", expected " +
              std::to_string(static_cast<int>(want)),
          "node '" + n.name + "' (" + n.op_type + ")");
  return a;
}
}  // namespace detail

// Attribute values with a default for absent attributes; a present attribute of another type throws
// onnx.attribute_type.
[[nodiscard]] inline std::int64_t attribute_int(const node_proto& n, std::string_view name, std::int64_t fallback) {
  const auto* a = detail::typed_attribute(n, name, attribute_type::int_);
  return a ? a->i : fallback;
}
[[nodiscard]] inline float attribute_float(const node_proto& n, std::string_view name, float fallback) {
  const auto* a = detail::typed_attribute(n, name, attribute_type::float_);
  return a ? a->f : fallback;
}
[[nodiscard]] inline std::string attribute_string(const node_proto& n, std::string_view name, std::string fallback = {}) {
  const auto* a = detail::typed_attribute(n, name, attribute_type::string);
  return a ? a->s : fallback;
}
[[nodiscard]] inline std::vector<std::int64_t> attribute_ints(const node_proto& n, std::string_view name,
                                                              std::vector<std::int64_t> fallback = {}) {
  const auto* a = detail::typed_attribute(n, name, attribute_type::ints);
  return a ? a->ints : fallback;
}
[[nodiscard]] inline std::vector<float> attribute_floats(const node_proto& n, std::string_view name,
                                                         std::vector<float> fallback = {}) {
  const auto* a = detail::typed_attribute(n, name, attribute_type::floats);
  return a ? a->floats : fallback;
}

[[nodiscard]] inline const tensor_proto* find_initializer(const graph_proto& g, std::string_view name) noexcept {
  for (const auto& t : g.initializer)
    if (t.name == name) return &t;
  return nullptr;
}

// The opset version imported for a domain ("" and "ai.onnx" are the same domain); 0 if not imported.
[[nodiscard]] inline std::int64_t opset_version(const model_proto& m, std::string_view domain = {}) noexcept {
  const auto canon = [](std::string_view d) { return d == "ai.onnx" ? std::string_view{} : d; };
  for (const auto& o : m.opset_import)
    if (canon(o.domain) == canon(domain)) return o.version;
  return 0;
}

// Calls f(tensor_proto&) for every tensor of a graph and its subgraphs: initializers, sparse initializers'
// values and indices, and tensors in node attributes (t, tensors, sparse tensors).
template <class Graph, class F>
  requires std::same_as<std::remove_const_t<Graph>, graph_proto>
void for_each_tensor(Graph& g, F&& f) {
  for (auto& t : g.initializer) f(t);
  for (auto& s : g.sparse_initializer) f(s.values), f(s.indices);
  for (auto& n : g.node)
    for (auto& a : n.attribute) {
      if (a.meta.has(5) || a.kind() == attribute_type::tensor) f(a.t);
      if (a.sparse_tensor) f(a.sparse_tensor->values), f(a.sparse_tensor->indices);
      for (auto& t : a.tensors) f(t);
      for (auto& s : a.sparse_tensors) f(s.values), f(s.indices);
      if (a.g) for_each_tensor(static_cast<Graph&>(*a.g), f);
      for (auto& sg : a.graphs) for_each_tensor(sg, f);
    }
}

}  // namespace bigmodel::io::onnx
