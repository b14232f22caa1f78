#pragma once
// A user's own small IR, adapted to bigmodel's graph concepts by free functions found by ADL -- the
// types themselves know nothing of bigmodel.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace toy {

struct op {
  std::string kind;  // "Input", "Identity", "Relu", "Add", ...
};
struct node {
  int id;
  op what;
  std::vector<int> in, out;  // value ids
};
struct model {
  std::vector<node> node_list;
  std::vector<int> results;  // values the model returns
  int next_value = 0;

  int value() { return next_value++; }
  int emit(std::string kind, std::vector<int> in) {
    const int v = value();
    node_list.push_back({static_cast<int>(node_list.size()) + 1000 * v, {std::move(kind)}, std::move(in), {v}});
    return v;
  }
};

// ---- bigmodel's customization points, by ADL ----
inline std::vector<int> nodes(const model& m) {
  std::vector<int> ids;
  for (const auto& n : m.node_list) ids.push_back(n.id);
  return ids;
}
inline const node& find(const model& m, int id) {
  return *std::find_if(m.node_list.begin(), m.node_list.end(), [&](const node& n) { return n.id == id; });
}
inline const op& op_of(const model& m, int id) { return find(m, id).what; }
inline const std::vector<int>& inputs(const model& m, int id) { return find(m, id).in; }
inline const std::vector<int>& outputs(const model& m, int id) { return find(m, id).out; }
inline const std::vector<int>& graph_outputs(const model& m) { return m.results; }
inline int add_node(model& m, const op& o, const std::vector<int>& in) {
  const int v = m.emit(o.kind, in);
  return m.node_list.back().id + 0 * v;
}
inline void erase_node(model& m, int id) {
  std::erase_if(m.node_list, [&](const node& n) { return n.id == id; });
}
inline void replace_uses(model& m, int from, int to) {
  for (auto& n : m.node_list) std::replace(n.in.begin(), n.in.end(), from, to);
  std::replace(m.results.begin(), m.results.end(), from, to);
}
// The op's ONNX type name (what bigmodel's passes and reports look at).
inline std::string_view op_type_name(const op& o) { return o.kind; }

}  // namespace toy
