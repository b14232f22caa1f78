#pragma once
// ONNX <-> computation_graph.
//
//   auto g = bigmodel::io::load_onnx("model.onnx");     // ops the op set knows become op structs,
//   bigmodel::io::save_onnx(g, "out.onnx");             // the rest ops::opaque; weights are not copied
//
// Round trips are lossless: the proto-level model (metadata, unknown fields), each node's original
// NodeProto and each value's ValueInfoProto / TensorProto stay attached to the graph (std::any `source`
// members) and are written back verbatim while the graph still says the same thing; what a pass changed
// is written from the op structs. Opsets 13-17: axes/splits given as inputs (>= 13) or as attributes
// (older) both import (the op structs keep the attribute form in optional members).
// Fused activations are written as a separate standard node after their op (Gelu in com.bigmodel).

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "../graph/computation_graph.hpp"
#include "../graph/topology.hpp"
#include "../passes/fuse/decompose.hpp"
#include "onnx.hpp"

namespace bigmodel::io {

namespace onnx_graph_detail {

namespace ox = bigmodel::io::onnx;

// What the importer keeps of the file for the exporter.
template <class OpSet>
struct node_source {
  ox::node_proto proto;
  typename OpSet::variant op;  // the op as imported: unchanged op => write proto
};
struct model_source {
  ox::model_proto skeleton;  // the model without nodes, initializers, inputs, outputs, value infos
};

inline dynamic_tensor to_tensor(const ox::tensor_proto& t) {
  const dtype type = t.type();
  const std::string ctx = "tensor '" + t.name + "'";
  for (auto d : t.dims) require(d >= 0, "onnx.bad_dims", "negative dimension", ctx);
  if (ox::has_byte_data(t) && bit_size(type) != 0) {
    const auto& bytes = ox::tensor_data(t);
    const std::size_t n = static_cast<std::size_t>(element_count(t.dims));
    require(bytes.size() == storage_bytes(type, n), "onnx.data_size",
            "tensor has " + std::to_string(bytes.size()) + " bytes, its shape needs " + std::to_string(storage_bytes(type, n)), ctx);
    const std::size_t align = std::max<std::size_t>(bit_size(type) / 8, 1);
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % align == 0)
      return dynamic_tensor::view(type, t.dims, bytes.data(), bytes.owner());  // zero copy
    dynamic_tensor out(type, t.dims);
    if (bytes.size()) std::memcpy(out.mutable_data(), bytes.data(), bytes.size());
    return out;
  }
  return visit_dtype(type, [&]<class T>(T) -> dynamic_tensor {
    if constexpr (std::is_same_v<T, s4x2>) {
      throw error("onnx.tensor_type", "packed 4-bit tensors must use raw_data", ctx);
    } else {
      using V = std::conditional_t<std::is_same_v<T, bool>, std::uint8_t, T>;
      auto v = ox::tensor_to_vector<V>(t);
      dynamic_tensor out(type, t.dims);
      if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(V));
      return out;
    }
  });
}

inline ox::tensor_proto to_proto(const std::string& name, const dynamic_tensor& t) {
  auto keep = std::make_shared<const dynamic_tensor>(t);  // the proto's bytes keep the tensor alive
  return ox::make_tensor(name, t.type(), t.shape(), shared_bytes(keep, keep->data(), keep->bytes()));
}

inline attribute to_attribute(const ox::attribute_proto& a) {
  using k = ox::attribute_type;
  switch (a.kind()) {
    case k::float_: return {a.name, a.f};
    case k::int_: return {a.name, a.i};
    case k::string: return {a.name, a.s};
    case k::tensor: return {a.name, to_tensor(a.t)};
    case k::floats: return {a.name, a.floats};
    case k::ints: return {a.name, a.ints};
    case k::strings: return {a.name, a.strings};
    default: return {a.name, raw_attribute{a.name}};  // sub-graphs etc.: written back from the original proto
  }
}

inline ox::attribute_proto to_attribute_proto(const attribute& a, const ox::node_proto* original) {
  return std::visit([&](const auto& v) -> ox::attribute_proto {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, raw_attribute>) {
      if (original)
        for (const auto& o : original->attribute)
          if (o.name == a.name) return o;
      throw error("onnx.lost_attribute", "an attribute kept as raw has no original to write back", "attribute '" + a.name + "'");
    } else if constexpr (std::is_same_v<V, dynamic_tensor>) {
      return ox::make_attribute(a.name, to_proto("", v));
    } else if constexpr (std::is_same_v<V, std::string>) {
      return ox::make_attribute(a.name, std::string_view(v));
    } else {
      return ox::make_attribute(a.name, v);
    }
  }, a.value);
}

inline std::optional<symbolic_shape> shape_of(const ox::value_info_proto& v, dtype& type) {
  if (!v.type || !v.type->tensor_type) return std::nullopt;
  const auto& tt = *v.type->tensor_type;
  type = static_cast<dtype>(tt.elem_type);
  if (!tt.shape) return std::nullopt;
  symbolic_shape s;
  for (const auto& d : tt.shape->dim) {
    if (d.dim_value) s.push_back(dim{*d.dim_value});
    else if (d.dim_param) s.push_back(dim{*d.dim_param});
    else s.push_back(dim{});
  }
  return s;
}

inline ox::value_info_proto value_info_of(const value_info& v) {
  ox::value_info_proto p;
  p.name = v.name;
  auto& tt = p.type.emplace().tensor_type.emplace();
  tt.elem_type = static_cast<std::int32_t>(v.type);
  if (v.shape) {
    auto& s = tt.shape.emplace();
    for (const auto& d : *v.shape) {
      auto& pd = s.dim.emplace_back();
      if (d.known()) pd.dim_value = d.value;
      else if (!d.symbol.empty()) pd.dim_param = d.symbol;
    }
  }
  return p;
}

// The value_info to write: the original one while it still describes the value, else a fresh one.
inline ox::value_info_proto value_info_for(const value_info& v) {
  if (const auto* orig = std::any_cast<ox::value_info_proto>(&v.source)) {
    dtype t = dtype::undefined;
    const auto s = shape_of(*orig, t);
    if ((!orig->type || !orig->type->tensor_type) || (t == v.type && s == v.shape)) {
      auto p = *orig;
      p.name = v.name;
      return p;
    }
  }
  return value_info_of(v);
}

// Builds the op struct Op from a NodeProto; unknown attributes go to `extra`.
template <class Op>
Op op_from_proto(const ox::node_proto& n, std::vector<attribute>& extra, std::vector<std::string>& order) {
  Op op{};
  for (const auto& ap : n.attribute) {
    order.push_back(ap.name);
    attribute a = to_attribute(ap);
    bool used = false;
    ops::for_each_field<Op>([&](auto f) {
      if (used || f.name != ap.name) return;
      used = true;
      if (!bigmodel::detail::attribute_to_member(a.value, op.*(f.member)))
        throw error("onnx.bad_attribute", "attribute has the wrong kind", "node '" + n.name + "' (" + n.op_type + "), attribute '" + ap.name + "'");
    });
    if constexpr (std::is_same_v<Op, ops::constant>) {
      // value_float(s) / value_int(s) are other spellings of `value`.
      if (!used && (ap.name == "value_float" || ap.name == "value_int" || ap.name == "value_floats" || ap.name == "value_ints")) {
        used = true;
        if (ap.name == "value_float") op.value = dynamic_tensor::scalar(ap.f);
        else if (ap.name == "value_int") op.value = dynamic_tensor::scalar(ap.i);
        else if (ap.name == "value_floats") op.value = dynamic_tensor::from<float>({static_cast<std::int64_t>(ap.floats.size())}, ap.floats);
        else op.value = dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(ap.ints.size())}, ap.ints);
      }
    }
    if (!used) extra.push_back(std::move(a));
  }
  return op;
}

template <class OpSet>
typename OpSet::variant make_op(const ox::node_proto& n, std::vector<attribute>& extra, std::vector<std::string>& order) {
  std::optional<typename OpSet::variant> out;
  OpSet::find_type([&]<class Op>(std::type_identity<Op>) {
    if constexpr (std::is_same_v<Op, ops::opaque>) return false;
    else {
      if (Op::onnx_type != n.op_type || !same_domain(Op::domain, n.domain)) return false;
      out.emplace(op_from_proto<Op>(n, extra, order));
      return true;
    }
  });
  if (out) return *out;
  ops::opaque o{n.domain, n.op_type, {}};
  for (const auto& ap : n.attribute) {
    order.push_back(ap.name);
    o.attributes.push_back(to_attribute(ap));
  }
  return o;
}

// Attributes of an op struct for writing: those the source listed (in its order), then any other field
// that is required or differs from its default, then attributes the op struct does not interpret.
template <class Op, class Node>
std::vector<ox::attribute_proto> attributes_of(const Op& op, const Node& nd, const ox::node_proto* original) {
  std::vector<ox::attribute_proto> out;
  const Op defaults{};
  auto listed = [&](std::string_view name) {
    return std::find(nd.attribute_order.begin(), nd.attribute_order.end(), name) != nd.attribute_order.end();
  };
  auto write = [&](auto f) {
    if (auto v = bigmodel::detail::member_to_attribute(op.*(f.member))) out.push_back(to_attribute_proto(attribute{std::string(f.name), *v}, original));
  };
  for (const auto& name : nd.attribute_order) {
    bool is_field = false;
    ops::for_each_field<Op>([&](auto f) {
      if (f.name == name) is_field = true, write(f);
    });
    if (!is_field)
      if (const auto* a = find_attribute(nd.extra_attributes, name)) out.push_back(to_attribute_proto(*a, original));
  }
  ops::for_each_field<Op>([&](auto f) {
    if (!listed(f.name) && (f.required || !(op.*(f.member) == defaults.*(f.member)))) write(f);
  });
  for (const auto& a : nd.extra_attributes)
    if (!listed(a.name)) out.push_back(to_attribute_proto(a, original));
  return out;
}

}  // namespace onnx_graph_detail

// Builds a graph from a parsed model. Throws bigmodel::error (onnx.*, graph.*) naming the node or value.
template <class OpSet = default_op_set>
basic_computation_graph<OpSet> from_model_proto(const onnx::model_proto& m) {
  namespace d = onnx_graph_detail;
  basic_computation_graph<OpSet> g;
  const auto& gp = m.graph;
  g.name = gp.name;
  g.doc_string = gp.doc_string;
  g.opset_imports.clear();
  for (const auto& o : m.opset_import) g.opset_imports.emplace_back(o.domain, o.version);
  d::model_source src{m};
  src.skeleton.graph.node.clear();
  src.skeleton.graph.initializer.clear();
  src.skeleton.graph.input.clear();
  src.skeleton.graph.output.clear();
  src.skeleton.graph.value_info.clear();
  g.source = std::move(src);

  for (const auto& t : gp.initializer) {
    if (g.find_value(t.name)) throw error("graph.duplicate_name", "initializer name used twice", "initializer '" + t.name + "'");
    const value_id v = g.add_initializer(t.name, d::to_tensor(t));
    g.at(v).source = t;
  }
  for (const auto& in : gp.input) {
    dtype type = dtype::undefined;
    auto shape = d::shape_of(in, type);
    if (auto existing = g.find_value(in.name); existing && g.at(*existing).initializer) {
      g.mark_input(*existing);  // IR < 4: initializers listed as inputs
      continue;
    }
    const value_id v = g.add_input(in.name, type, shape.value_or(symbolic_shape{}));
    if (!shape) g.at(v).shape.reset();
    g.at(v).source = in;
  }
  for (const auto& n : gp.node) {
    std::vector<attribute> extra;
    std::vector<std::string> order;
    auto op = d::make_op<OpSet>(n, extra, order);
    auto original_op = op;
    const node_id id = g.add_node(std::move(op), n.input, n.output, n.name);
    auto& nd = g.at(id);
    nd.extra_attributes = std::move(extra);
    nd.attribute_order = std::move(order);
    nd.doc_string = n.doc_string;
    nd.source = d::node_source<OpSet>{n, std::move(original_op)};
  }
  for (const auto& vi : gp.value_info) {
    const value_id v = g.value(vi.name);
    dtype type = dtype::undefined;
    auto shape = d::shape_of(vi, type);
    auto& info = g.at(v);
    if (!info.initializer) {
      info.type = type;
      info.shape = shape;
    }
    info.source = vi;
  }
  for (const auto& out : gp.output) {
    const value_id v = g.value(out.name);
    dtype type = dtype::undefined;
    auto shape = d::shape_of(out, type);
    auto& info = g.at(v);
    if (!info.initializer && type != dtype::undefined) info.type = type;
    if (!info.initializer && shape) info.shape = shape;
    if (!info.is_input && !info.initializer) info.source = out;
    g.mark_output(v);
  }
  validate_structure(g);
  return g;
}

template <class OpSet = default_op_set>
basic_computation_graph<OpSet> load_onnx(const std::filesystem::path& path) {
  return from_model_proto<OpSet>(onnx::load_model(path));
}

// Writes the graph as a model. Nodes keep the source order when it is still topological.
template <class OpSet>
onnx::model_proto to_model_proto(const basic_computation_graph<OpSet>& g) {
  namespace d = onnx_graph_detail;
  namespace ox = onnx;
  ox::model_proto m;
  if (const auto* src = std::any_cast<d::model_source>(&g.source)) m = src->skeleton;
  else {
    m.ir_version = ox::default_ir_version;
    m.producer_name = "bigmodel";
  }
  m.opset_import.clear();
  bool has_bigmodel_domain = false;
  for (const auto& [dom, ver] : g.opset_imports) {
    auto& o = m.opset_import.emplace_back();
    o.domain = dom;
    o.version = ver;
    has_bigmodel_domain = has_bigmodel_domain || dom == "com.bigmodel";
  }
  auto& gp = m.graph;
  gp.name = g.name;
  gp.doc_string = g.doc_string;

  for (auto v : g.graph_inputs()) {
    const auto& info = g.at(v);
    if (info.initializer) {
      if (const auto* orig = std::any_cast<ox::value_info_proto>(&info.source)) gp.input.push_back(*orig);
      else gp.input.push_back(d::value_info_of(info));
    } else {
      gp.input.push_back(d::value_info_for(info));
    }
  }
  for (auto v : g.initializers()) {
    const auto& info = g.at(v);
    const auto* orig = std::any_cast<ox::tensor_proto>(&info.source);
    if (orig && orig->type() == info.initializer->type() && orig->dims == info.initializer->shape() &&
        (d::to_tensor(*orig) == *info.initializer)) {
      auto t = *orig;
      t.name = info.name;
      gp.initializer.push_back(std::move(t));
    } else {
      gp.initializer.push_back(d::to_proto(info.name, *info.initializer));
    }
  }

  // Node order: the stored order if it is topological, else a topological order.
  std::vector<node_id> order = g.nodes();
  {
    bool ok = true;
    std::unordered_map<std::uint32_t, bool> produced;
    for (auto n : order) {
      for (auto v : g.inputs(n))
        if (v.valid() && g.producer(v).valid() && !produced.count(v.index)) ok = false;
      for (auto v : g.outputs(n)) produced[v.index] = true;
    }
    if (!ok) order = topological_order(g);
  }
  std::size_t fused_counter = 0;
  for (auto n : order) {
    const auto& nd = g.at(n);
    std::vector<std::string> ins, outs;
    for (auto v : nd.inputs) ins.push_back(v.valid() ? g.name_of(v) : std::string{});
    while (!ins.empty() && ins.back().empty()) ins.pop_back();
    for (auto v : nd.outputs) outs.push_back(g.name_of(v));
    const auto* src = std::any_cast<d::node_source<OpSet>>(&nd.source);
    ox::node_proto p;
    ops::activation act{};
    std::visit([&](const auto& op) {
      using Op = std::decay_t<decltype(op)>;
      if constexpr (requires { op.act; }) act = op.act;
      if (src && src->op == typename OpSet::variant(op)) {
        p = src->proto;
        return;
      }
      if constexpr (std::is_same_v<Op, ops::opaque>) {
        std::vector<ox::attribute_proto> attrs;
        for (const auto& a : op.attributes) attrs.push_back(d::to_attribute_proto(a, src ? &src->proto : nullptr));
        p = ox::make_node(op.type, {}, {}, std::move(attrs), {}, op.domain);
      } else {
        Op plain = op;
        if constexpr (requires { plain.act; }) plain.act = {};
        p = ox::make_node(std::string(Op::onnx_type), {}, {}, d::attributes_of(plain, nd, src ? &src->proto : nullptr), {},
                          std::string(Op::domain));
        if (!Op::domain.empty()) has_bigmodel_domain = has_bigmodel_domain || Op::domain == "com.bigmodel";
      }
    }, nd.op);
    p.name = nd.name;
    p.doc_string = nd.doc_string;
    p.input = ins;
    p.output = outs;
    if (act.kind == ops::activation_kind::none) {
      gp.node.push_back(std::move(p));
      continue;
    }
    // Fused activation: the op writes a temporary, a standard activation node writes the real output.
    const std::string tmp = outs.at(0) + "__preact" + std::to_string(fused_counter++);
    p.output[0] = tmp;
    gp.node.push_back(std::move(p));
    using k = ops::activation_kind;
    switch (act.kind) {
      case k::relu: gp.node.push_back(ox::make_node("Relu", {tmp}, {outs[0]}, {}, nd.name + "_relu")); break;
      case k::sigmoid: gp.node.push_back(ox::make_node("Sigmoid", {tmp}, {outs[0]}, {}, nd.name + "_sigmoid")); break;
      case k::tanh: gp.node.push_back(ox::make_node("Tanh", {tmp}, {outs[0]}, {}, nd.name + "_tanh")); break;
      case k::gelu: case k::gelu_tanh:
        gp.node.push_back(ox::make_node("Gelu", {tmp}, {outs[0]},
                                        {ox::make_attribute("approximate", std::string_view(act.kind == k::gelu ? "none" : "tanh"))},
                                        nd.name + "_gelu", "com.bigmodel"));
        has_bigmodel_domain = true;
        break;
      case k::clip: {
        const std::string lo = tmp + "_min", hi = tmp + "_max";
        gp.initializer.push_back(ox::make_scalar(lo, act.min));
        gp.initializer.push_back(ox::make_scalar(hi, act.max));
        gp.node.push_back(ox::make_node("Clip", {tmp, lo, hi}, {outs[0]}, {}, nd.name + "_clip"));
        break;
      }
      case k::none: break;
    }
  }
  if (has_bigmodel_domain &&
      std::none_of(m.opset_import.begin(), m.opset_import.end(), [](auto& o) { return o.domain == "com.bigmodel"; })) {
    auto& o = m.opset_import.emplace_back();
    o.domain = "com.bigmodel";
    o.version = 1;
  }
  for (auto v : g.values()) {
    const auto& info = g.at(v);
    if (info.is_input || info.is_output || info.initializer || !info.producer.valid()) continue;
    // What the file described, and what shape inference found for values it did not describe.
    if (info.source.has_value() || info.type != dtype::undefined) gp.value_info.push_back(d::value_info_for(info));
  }
  for (auto v : g.graph_outputs()) gp.output.push_back(d::value_info_for(g.at(v)));
  // A pass may have raised the opset (int4 DequantizeLinear needs 21): the IR version must be recent enough
  // for it, or checkers and runtimes reject the file. Never lowered.
  for (const auto& o : m.opset_import)
    if (o.domain.empty() || o.domain == "ai.onnx") m.ir_version = std::max(m.ir_version, ox::min_ir_version_for_opset(o.version));
  return m;
}

// Saves atomically (temporary file, then rename). Fused ops that standard ONNX lacks (Gelu, Attention,
// fused activations) are written as their standard decomposition by default, so the file loads in ONNX
// Runtime and other runtimes; `{.form = passes::export_form::bigmodel_domain}` keeps them as com.bigmodel
// ops (smaller, only bigmodel reads them back). g itself is not changed.
// True when g holds an op standard ONNX at the model's opset lacks (so a plain load -> save stays
// byte-identical: nothing is decomposed, no shapes are inferred).
template <class OpSet>
[[nodiscard]] bool has_nonstandard_ops(const basic_computation_graph<OpSet>& g, const passes::export_config& form) {
  const auto opset = passes::detail::onnx_opset(g);
  for (auto n : g.nodes()) {
    const bool nonstandard = std::visit(
        [&](const auto& op) {
          using Op = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<Op, ops::gelu> || std::is_same_v<Op, ops::attention> ||
                        std::is_same_v<Op, ops::add_layer_norm>)
            return true;
          else if constexpr (std::is_same_v<Op, ops::layer_norm>) return form.decompose_layer_norm && opset < 17;
          else if constexpr (requires { op.act.kind; }) return op.act.kind != ops::activation_kind::none;
          else return false;
        },
        g.op_of(n));
    if (nonstandard) return true;
  }
  return false;
}

template <class OpSet>
void save_onnx(const basic_computation_graph<OpSet>& g, const std::filesystem::path& path,
               const onnx::save_options& options = {}, const passes::export_config& form = {}) {
  if (form.form == passes::export_form::bigmodel_domain || !has_nonstandard_ops(g, form)) {
    onnx::save_model(to_model_proto(g), path, options);
    return;
  }
  auto standard = g;  // copies share the weights
  (void)passes::decompose_for_export(standard, form);
  onnx::save_model(to_model_proto(standard), path, options);
}

}  // namespace bigmodel::io
