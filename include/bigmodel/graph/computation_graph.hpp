#pragma once
// basic_computation_graph<OpSet>: bigmodel's own graph IR.
//
// Values and nodes live in arrays addressed by value_id / node_id; ids stay valid until the node or value
// is erased (erased slots are tombstones, never reused, so ids held by a pass never alias a new entity).
// Every value knows its producer and its uses (use-def chains are maintained by every mutation).
// Nodes may be added in any order and refer to values by name before they are produced (importers need
// this); validate() then reports what is dangling or cyclic.

#include <algorithm>
#include <concepts>
#include <any>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "../core/error.hpp"
#include "../tensor/dynamic_tensor.hpp"
#include "op_set.hpp"

namespace bigmodel {

struct node_id {
  std::uint32_t index = UINT32_MAX;
  [[nodiscard]] constexpr bool valid() const noexcept { return index != UINT32_MAX; }
  friend constexpr auto operator<=>(node_id, node_id) = default;
};
struct value_id {
  std::uint32_t index = UINT32_MAX;
  [[nodiscard]] constexpr bool valid() const noexcept { return index != UINT32_MAX; }
  friend constexpr auto operator<=>(value_id, value_id) = default;
};

// One dimension: a known size, or a symbol ("batch"), or unknown (neither).
struct dim {
  std::int64_t value = -1;
  std::string symbol;
  constexpr dim() = default;
  template <std::integral I>
  dim(I v) : value(static_cast<std::int64_t>(v)) {}  // implicit so {2, 3} and {"batch", 4} both read naturally
  dim(std::string s) : symbol(std::move(s)) {}
  dim(const char* s) : symbol(s) {}
  [[nodiscard]] bool known() const noexcept { return value >= 0; }
  friend bool operator==(const dim&, const dim&) = default;
};
using symbolic_shape = std::vector<dim>;

[[nodiscard]] inline std::string to_string(const dim& d) {
  return d.known() ? std::to_string(d.value) : (d.symbol.empty() ? std::string("?") : d.symbol);
}
[[nodiscard]] inline std::string to_string(const symbolic_shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + to_string(s[i]);
  return out + "]";
}
[[nodiscard]] inline symbolic_shape to_symbolic(const shape_t& s) { return {s.begin(), s.end()}; }

struct use {
  node_id node;
  std::uint32_t slot = 0;  // input position
  friend bool operator==(const use&, const use&) = default;
};

struct value_info {
  std::string name;
  dtype type = dtype::undefined;
  std::optional<symbolic_shape> shape;  // nullopt: rank unknown
  std::optional<dynamic_tensor> initializer;
  node_id producer;
  std::vector<use> uses;
  bool is_input = false, is_output = false;
  std::string doc_string;
  std::any source;  // importer's proto-level data kept for round trips (e.g. non-tensor types)
  bool alive = true;
  [[nodiscard]] bool is_constant() const noexcept { return initializer.has_value(); }
};

template <class Op>
struct basic_node {
  Op op;
  std::string name;
  std::vector<value_id> inputs;  // an invalid id is an omitted optional input ("" in ONNX)
  std::vector<value_id> outputs;
  std::vector<attribute> extra_attributes;  // attributes the op struct does not interpret
  std::vector<std::string> attribute_order;  // attribute names as the source listed them
  std::string doc_string;
  bool alive = true;
  std::any source;  // importer's proto-level node, written back verbatim while the op is unchanged
};

template <class OpSet = default_op_set>
class basic_computation_graph {
 public:
  using op_set_type = OpSet;
  using op_type = typename OpSet::variant;
  using node_type = basic_node<op_type>;

  std::string name = "graph";
  std::string doc_string;
  std::vector<std::pair<std::string, std::int64_t>> opset_imports{{"", 17}};
  std::any source;  // importer's proto-level model (metadata, unknown fields) kept for round trips

  // ---------------------------------------------------------------- values
  value_id add_input(std::string name, dtype type, symbolic_shape shape) {
    value_id v = new_value(std::move(name));
    auto& info = values_[v.index];
    info.type = type;
    info.shape = std::move(shape);
    info.is_input = true;
    inputs_.push_back(v);
    return v;
  }

  value_id add_initializer(std::string name, dynamic_tensor t) {
    value_id v = new_value(std::move(name));
    auto& info = values_[v.index];
    info.type = t.type();
    info.shape = to_symbolic(t.shape());
    info.initializer = std::move(t);
    return v;
  }

  // Makes an existing value (an initializer, in models of IR < 4) a graph input as well.
  void mark_input(value_id v) {
    auto& info = at(v);
    if (!info.is_input) inputs_.push_back(v);
    info.is_input = true;
  }

  void mark_output(value_id v) {
    auto& info = at(v);
    if (!info.is_output) outputs_.push_back(v);
    info.is_output = true;
  }
  void unmark_output(value_id v) {
    at(v).is_output = false;
    std::erase(outputs_, v);
  }

  // The value with this name, created (unproduced, untyped) if there is none yet.
  value_id value(std::string_view name) {
    if (auto v = find_value(name)) return *v;
    return new_value(std::string(name));
  }
  [[nodiscard]] std::optional<value_id> find_value(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    if (it == by_name_.end()) return std::nullopt;
    return it->second;
  }
  [[nodiscard]] value_id value_of(std::string_view name) const {
    auto v = find_value(name);
    if (!v) throw error("graph.unknown_value", "no value with this name", "value '" + std::string(name) + "'");
    return *v;
  }

  // A fresh value named after `hint`, made unique.
  value_id add_value(std::string_view hint = "v") {
    std::string n(hint);
    for (std::size_t k = 1; by_name_.count(n); ++k) n = std::string(hint) + "_" + std::to_string(k);
    return new_value(std::move(n));
  }

  void rename_value(value_id v, std::string new_name) {
    require(!by_name_.count(new_name), "graph.duplicate_name", "value name already used", "value '" + new_name + "'");
    auto& info = at(v);
    by_name_.erase(info.name);
    info.name = std::move(new_name);
    by_name_.emplace(info.name, v);
  }

  // Removes an unused, unproduced value (dead weights after a fold).
  void erase_value(value_id v) {
    auto& info = at(v);
    require(info.uses.empty() && !info.producer.valid() && !info.is_output, "graph.value_in_use",
            "cannot erase a value that is produced or used", "value '" + info.name + "'");
    if (info.is_input) std::erase(inputs_, v);
    by_name_.erase(info.name);
    info.alive = false;
    info.initializer.reset();
  }

  [[nodiscard]] const value_info& at(value_id v) const { return values_.at(checked(v).index); }
  [[nodiscard]] value_info& at(value_id v) { return values_.at(checked(v).index); }
  [[nodiscard]] const std::string& name_of(value_id v) const { return at(v).name; }
  [[nodiscard]] const std::vector<value_id>& graph_inputs() const noexcept { return inputs_; }
  [[nodiscard]] const std::vector<value_id>& graph_outputs() const noexcept { return outputs_; }
  [[nodiscard]] bool is_constant(value_id v) const { return v.valid() && at(v).initializer.has_value(); }
  [[nodiscard]] const dynamic_tensor* constant_value(value_id v) const {
    return v.valid() && at(v).initializer ? &*at(v).initializer : nullptr;
  }

  // All live values, in creation order.
  [[nodiscard]] std::vector<value_id> values() const {
    std::vector<value_id> out;
    for (std::uint32_t i = 0; i < values_.size(); ++i)
      if (values_[i].alive) out.push_back({i});
    return out;
  }
  [[nodiscard]] std::vector<value_id> initializers() const {
    std::vector<value_id> out;
    for (auto v : values())
      if (values_[v.index].initializer) out.push_back(v);
    return out;
  }

  // ---------------------------------------------------------------- nodes
  // Adds a node reading `inputs` and writing `outputs` (values that no other node produces yet).
  node_id add_node(op_type op, std::vector<value_id> inputs, std::vector<value_id> outputs, std::string name = {}) {
    const node_id n{static_cast<std::uint32_t>(nodes_.size())};
    for (auto o : outputs) {
      auto& info = at(o);
      if (info.producer.valid() || info.initializer || info.is_input)
        throw error("graph.duplicate_value", "value is produced twice",
                    "value '" + info.name + "' by node '" + name + "'" + describe_producer(info));
    }
    for (auto o : outputs) at(o).producer = n;
    if (!name.empty()) node_names_.insert(name);
    for (std::uint32_t s = 0; s < inputs.size(); ++s)
      if (inputs[s].valid()) at(inputs[s]).uses.push_back({n, s});
    nodes_.push_back(node_type{std::move(op), std::move(name), std::move(inputs), std::move(outputs), {}, {}, {}, true, {}});
    return n;
  }
  // By names ("" = omitted optional input); values are created on first mention.
  node_id add_node(op_type op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                   std::string name = {}) {
    std::vector<value_id> in, out;
    for (const auto& s : inputs) in.push_back(s.empty() ? value_id{} : value(s));
    for (const auto& s : outputs) {
      if (auto v = find_value(s); v && (at(*v).producer.valid() || at(*v).initializer || at(*v).is_input))
        throw error("graph.duplicate_value", "value is produced twice",
                    "value '" + s + "' by node '" + name + "'" + describe_producer(at(*v)));
      out.push_back(value(s));
    }
    return add_node(std::move(op), std::move(in), std::move(out), std::move(name));
  }
  // Generic form (mutable_graph CPO): fresh output values, `n_outputs` of them.
  node_id add_node(op_type op, std::vector<value_id> inputs, std::size_t n_outputs = 1) {
    std::vector<value_id> out;
    const std::string base(op_type_name(op));
    for (std::size_t i = 0; i < n_outputs; ++i) out.push_back(add_value(base + "_out"));
    return add_node(std::move(op), std::move(inputs), std::move(out), unique_node_name(base));
  }

  // Removes the node; its outputs stay as unproduced values (rewire or erase them).
  void erase_node(node_id n) {
    auto& nd = at(n);
    for (auto v : nd.inputs)
      if (v.valid()) std::erase_if(at(v).uses, [&](const use& u) { return u.node == n; });
    for (auto v : nd.outputs) at(v).producer = {};
    nd.alive = false;
    nd.inputs.clear();
    nd.outputs.clear();
  }

  // Every use of `from` reads `to` instead (graph outputs too: `to` takes `from`'s place among them).
  void replace_uses(value_id from, value_id to) {
    if (from == to) return;
    auto uses = std::move(at(from).uses);
    at(from).uses.clear();
    for (const auto& u : uses) {
      nodes_[u.node.index].inputs[u.slot] = to;
      at(to).uses.push_back(u);
    }
    if (at(from).is_output) {
      std::replace(outputs_.begin(), outputs_.end(), from, to);
      at(from).is_output = false;
      at(to).is_output = true;
    }
  }

  // Rewires one input of a node.
  void set_input(node_id n, std::uint32_t slot, value_id v) {
    auto& nd = at(n);
    if (slot >= nd.inputs.size()) nd.inputs.resize(slot + 1);
    if (auto old = nd.inputs[slot]; old.valid())
      std::erase_if(at(old).uses, [&](const use& u) { return u.node == n && u.slot == slot; });
    nd.inputs[slot] = v;
    if (v.valid()) at(v).uses.push_back({n, slot});
  }

  [[nodiscard]] const node_type& at(node_id n) const {
    const auto& nd = nodes_.at(n.index);
    if (!nd.alive) throw error("graph.erased_node", "node was erased", "node #" + std::to_string(n.index));
    return nd;
  }
  [[nodiscard]] node_type& at(node_id n) {
    return const_cast<node_type&>(static_cast<const basic_computation_graph&>(*this).at(n));
  }

  // Live nodes, in insertion order (a snapshot: safe to mutate the graph while iterating).
  [[nodiscard]] std::vector<node_id> nodes() const {
    std::vector<node_id> out;
    out.reserve(nodes_.size());
    for (std::uint32_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].alive) out.push_back({i});
    return out;
  }
  [[nodiscard]] std::size_t node_count() const {
    return static_cast<std::size_t>(std::count_if(nodes_.begin(), nodes_.end(), [](auto& n) { return n.alive; }));
  }
  [[nodiscard]] const op_type& op_of(node_id n) const { return at(n).op; }
  [[nodiscard]] op_type& op_of(node_id n) { return at(n).op; }
  [[nodiscard]] const std::vector<value_id>& inputs(node_id n) const { return at(n).inputs; }
  [[nodiscard]] const std::vector<value_id>& outputs(node_id n) const { return at(n).outputs; }
  [[nodiscard]] const std::vector<use>& uses(value_id v) const { return at(v).uses; }
  [[nodiscard]] std::vector<node_id> consumers_of(value_id v) const {
    std::vector<node_id> out;
    for (const auto& u : uses(v))
      if (std::find(out.begin(), out.end(), u.node) == out.end()) out.push_back(u.node);
    return out;
  }
  [[nodiscard]] bool alive(node_id n) const noexcept { return n.index < nodes_.size() && nodes_[n.index].alive; }
  [[nodiscard]] node_id producer(value_id v) const { return v.valid() ? at(v).producer : node_id{}; }

  // The op of node n as Op, or nullptr.
  template <class Op>
  [[nodiscard]] const Op* op_as(node_id n) const { return std::get_if<Op>(&at(n).op); }
  template <class Op>
  [[nodiscard]] Op* op_as(node_id n) { return std::get_if<Op>(&at(n).op); }

  // "node 'name' (Gemm)" for error messages.
  [[nodiscard]] std::string describe(node_id n) const {
    const auto& nd = at(n);
    return "node '" + (nd.name.empty() ? "#" + std::to_string(n.index) : nd.name) + "' (" +
           std::string(op_type_name(nd.op)) + ")";
  }

  [[nodiscard]] std::string unique_node_name(std::string_view hint) {
    std::string n(hint);
    auto& k = name_counters_[n];
    while (node_names_.count(n)) n = std::string(hint) + "_" + std::to_string(++k);
    node_names_.insert(n);
    return n;
  }

  // Parameter-level algorithms (visit_parameters CPO): f(std::string_view name, dynamic_tensor& weight).
  template <class F>
  void visit_parameters(F&& f) {
    for (auto& v : values_)
      if (v.alive && v.initializer) f(std::string_view(v.name), *v.initializer);
  }
  template <class F>
  void visit_parameters(F&& f) const {
    for (const auto& v : values_)
      if (v.alive && v.initializer) f(std::string_view(v.name), *v.initializer);
  }

 private:
  value_id new_value(std::string name) {
    require(!by_name_.count(name), "graph.duplicate_name", "value name already used", "value '" + name + "'");
    const value_id v{static_cast<std::uint32_t>(values_.size())};
    by_name_.emplace(name, v);
    values_.push_back(value_info{});
    values_.back().name = std::move(name);
    return v;
  }
  value_id checked(value_id v) const {
    if (v.index >= values_.size() || !values_[v.index].alive)
      throw error("graph.erased_value", "value id is not valid", "value #" + std::to_string(v.index));
    return v;
  }
  std::string describe_producer(const value_info& info) const {
    if (info.initializer) return ", already an initializer";
    if (info.is_input) return ", already a graph input";
    if (info.producer.valid()) return ", already produced by " + describe(info.producer);
    return {};
  }

  std::vector<value_info> values_;
  std::vector<node_type> nodes_;
  std::vector<value_id> inputs_, outputs_;
  std::unordered_map<std::string, value_id> by_name_;
  std::unordered_set<std::string> node_names_;
  std::unordered_map<std::string, std::size_t> name_counters_;
};

using computation_graph = basic_computation_graph<>;

}  // namespace bigmodel
