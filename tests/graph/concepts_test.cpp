// Concept suites (static_assert, with negative cases) and the customization points' lookup order:
// member, then ADL free function, then graph_traits specialization, then the derived default.

#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>

#include <string>
#include <vector>

using namespace bigmodel;

// ---- a user IR adapted through ADL free functions (in the IR's namespace, the IR type untouched) ----
namespace adl_ir {
struct node {
  std::string op;
  std::vector<int> in, out;
  bool dead = false;
};
struct ir {
  std::vector<node> ns;
  int next_value = 100;
};
inline std::vector<int> nodes(const ir& g) {
  std::vector<int> v;
  for (int i = 0; i < static_cast<int>(g.ns.size()); ++i)
    if (!g.ns[static_cast<std::size_t>(i)].dead) v.push_back(i);
  return v;
}
inline const std::string& op_of(const ir& g, int n) { return g.ns[static_cast<std::size_t>(n)].op; }
inline const std::vector<int>& inputs(const ir& g, int n) { return g.ns[static_cast<std::size_t>(n)].in; }
inline const std::vector<int>& outputs(const ir& g, int n) { return g.ns[static_cast<std::size_t>(n)].out; }
inline int add_node(ir& g, const std::string& op, const std::vector<int>& in) {
  g.ns.push_back({op, in, {g.next_value++}, false});
  return static_cast<int>(g.ns.size()) - 1;
}
inline void erase_node(ir& g, int n) { g.ns[static_cast<std::size_t>(n)].dead = true; }
inline void replace_uses(ir& g, int from, int to) {
  for (auto& n : g.ns)
    for (auto& v : n.in)
      if (v == from) v = to;
}
}  // namespace adl_ir

// ---- a read-only IR adapted with a graph_traits specialization ----
namespace traits_ir {
struct layer {
  const char* kind;
  int src, dst;
};
struct net {
  std::vector<layer> layers;
};
}  // namespace traits_ir
template <>
struct bigmodel::graph_traits<traits_ir::net> {
  static std::vector<std::size_t> nodes(const traits_ir::net& n) {
    std::vector<std::size_t> v(n.layers.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
    return v;
  }
  static std::string_view op_of(const traits_ir::net& n, std::size_t i) { return n.layers[i].kind; }
  static std::vector<int> inputs(const traits_ir::net& n, std::size_t i) { return {n.layers[i].src}; }
  static std::vector<int> outputs(const traits_ir::net& n, std::size_t i) { return {n.layers[i].dst}; }
};

// ---- parameter-only models ----
namespace weights {
struct mlp {
  std::vector<float> w1, w2;
};
template <class F>
void visit_parameters(mlp& m, F&& f) {
  f("w1", m.w1);
  f("w2", m.w2);
}
struct member_model {
  std::vector<float> w;
  template <class F>
  void visit_parameters(F&& f) {
    f("w", w);
  }
};
}  // namespace weights

// ---- negative cases ----
struct nodes_only {
  std::vector<int> nodes() const { return {}; }
};
struct not_a_range {
  int nodes() const { return 0; }
  int op_of(int) const { return 0; }
  std::vector<int> inputs(int) const { return {}; }
  std::vector<int> outputs(int) const { return {}; }
};

static_assert(graph<computation_graph>);
static_assert(mutable_graph<computation_graph>);
static_assert(parameterized<computation_graph>);
static_assert(graph<const computation_graph>);
static_assert(!mutable_graph<const computation_graph>);
static_assert(std::is_same_v<node_handle_t<computation_graph>, node_id>);
static_assert(std::is_same_v<value_handle_t<computation_graph>, value_id>);
static_assert(std::is_same_v<op_value_t<computation_graph>, computation_graph::op_type>);

static_assert(graph<adl_ir::ir>);
static_assert(mutable_graph<adl_ir::ir>);
static_assert(!parameterized<adl_ir::ir>);
static_assert(graph<traits_ir::net>);
static_assert(!mutable_graph<traits_ir::net>);

static_assert(parameterized<weights::mlp>);
static_assert(parameterized<weights::member_model>);
static_assert(!graph<weights::mlp>);

static_assert(!graph<int>);
static_assert(!graph<std::vector<int>>);
static_assert(!graph<nodes_only>);
static_assert(!graph<not_a_range>);
static_assert(!parameterized<int>);
static_assert(!parameterized<nodes_only>);

// The op set is a type list users extend.
struct my_swiglu {
  static constexpr std::string_view onnx_type = "SwiGLU";
  static constexpr std::string_view domain = "com.example";
  friend bool operator==(const my_swiglu&, const my_swiglu&) = default;
};
using my_ops = default_op_set::extend<my_swiglu>;
static_assert(my_ops::contains<my_swiglu> && my_ops::contains<ops::gemm> && !default_op_set::contains<my_swiglu>);
static_assert(graph<basic_computation_graph<my_ops>>);

TEST_CASE("customization points: member, ADL, traits, derived defaults", "[graph][concepts]") {
  adl_ir::ir g;
  g.ns = {{"Relu", {1}, {2}}, {"Identity", {2}, {3}}, {"Neg", {3}, {4}}};
  CHECK(bigmodel::nodes(g).size() == 3);
  CHECK(bigmodel::op_of(g, 1) == "Identity");
  CHECK(bigmodel::consumers(g, 3) == std::vector<int>{2});  // default: scan
  CHECK(bigmodel::producer_of(g, 3) == std::optional<int>{1});
  CHECK(generic_topological_order(g) == std::vector<int>{0, 1, 2});
  CHECK(count_nodes_if(g, [](const std::string& op) { return op == "Identity"; }) == 1);
  CHECK(eliminate_pass_through(g, [](const std::string& op) { return op == "Identity"; }) == 1);
  CHECK(g.ns[2].in == std::vector<int>{2});
  CHECK(bigmodel::nodes(g).size() == 2);
  const int n = bigmodel::add_node(g, std::string("Tanh"), std::vector<int>{4});
  CHECK(bigmodel::outputs(g, n) == std::vector<int>{100});

  traits_ir::net t{{{"conv", 0, 1}, {"relu", 1, 2}}};
  CHECK(generic_topological_order(t) == std::vector<std::size_t>{0, 1});
  CHECK(bigmodel::op_of(t, std::size_t{1}) == "relu");

  weights::mlp m{{1, 2}, {3}};
  std::size_t total = 0;
  bigmodel::visit_parameters(m, [&](std::string_view, auto& w) { total += w.size(); });
  CHECK(total == 3);

  // computation_graph through the same CPOs (members); consumers uses the graph's own use lists.
  computation_graph cg;
  auto x = cg.add_input("x", dtype::f32, {2});
  const auto r = bigmodel::add_node(cg, ops::relu{}, std::vector<value_id>{x});
  CHECK(bigmodel::consumers(cg, x) == std::vector<node_id>{r});
  CHECK(generic_topological_order(cg) == topological_order(cg));
  basic_computation_graph<my_ops> mine;
  auto in = mine.add_input("x", dtype::f32, {2});
  mine.add_node(my_swiglu{}, {in}, 1);
  CHECK(op_type_name(mine.op_of(mine.nodes()[0])) == "SwiGLU");
}
