// Adapting a user IR to bigmodel's graph concepts without editing it, then running generic algorithms on it.
//
// acme::network identifies a value with the layer that produces it, so node handles and value handles are
// both layer indices. The adaptation is a graph_traits specialization (ADL free functions in namespace acme
// would work as well); a plain struct of Eigen matrices becomes `parameterized` the same way.

#include <bigmodel/graph.hpp>

#include <cmath>
#include <cstdio>
#include <string_view>

#include "user_ir.hpp"

template <>
struct bigmodel::graph_traits<acme::network> {
  static std::vector<int> nodes(const acme::network& n) {
    std::vector<int> v;
    for (int i = 0; i < static_cast<int>(n.layers.size()); ++i)
      if (!n.layers[static_cast<std::size_t>(i)].removed) v.push_back(i);
    return v;
  }
  static acme::kind op_of(const acme::network& n, int i) { return n.layers[static_cast<std::size_t>(i)].k; }
  static const std::vector<int>& inputs(const acme::network& n, int i) { return n.layers[static_cast<std::size_t>(i)].args; }
  static std::vector<int> outputs(const acme::network&, int i) { return {i}; }
  static int add_node(acme::network& n, acme::kind k, const std::vector<int>& args) {
    n.layers.push_back({k, "added", args, false});
    return static_cast<int>(n.layers.size()) - 1;
  }
  static void erase_node(acme::network& n, int i) { n.layers[static_cast<std::size_t>(i)].removed = true; }
  static void replace_uses(acme::network& n, int from, int to) {
    for (auto& l : n.layers)
      for (auto& a : l.args)
        if (a == from) a = to;
  }
};

template <>
struct bigmodel::graph_traits<acme::mlp_weights> {
  template <class F>
  static void visit_parameters(acme::mlp_weights& m, F&& f) {
    f("w1", m.w1);
    f("b1", m.b1);
    f("w2", m.w2);
    f("b2", m.b2);
  }
};

static_assert(bigmodel::graph<acme::network>);
static_assert(bigmodel::mutable_graph<acme::network>);
static_assert(bigmodel::parameterized<acme::mlp_weights>);
static_assert(!bigmodel::graph<acme::mlp_weights>);

// A parameter-level algorithm written once for any `parameterized` model: zero the small weights.
template <bigmodel::parameterized M>
std::size_t zero_small_weights(M& model, float threshold) {
  std::size_t zeroed = 0;
  bigmodel::visit_parameters(model, [&](std::string_view name, auto& w) {
    if (name.front() != 'w') return;  // biases stay
    for (auto& v : w.reshaped())
      if (std::abs(v) < threshold && v != 0.0f) v = 0.0f, ++zeroed;
  });
  return zeroed;
}

int main() {
  using acme::kind;
  acme::network net{{{kind::input, "x", {}},
                     {kind::dense, "fc1", {0}},
                     {kind::identity, "noop", {1}},
                     {kind::relu, "act", {2}},
                     {kind::dense, "fc2", {3}},
                     {kind::output, "y", {4}}}};

  std::printf("topological order:");
  for (int n : bigmodel::generic_topological_order(net)) std::printf(" %s", net.layers[static_cast<std::size_t>(n)].name.c_str());
  std::printf("\nconsumers of fc1: %zu\n", bigmodel::consumers(net, 1).size());

  const auto removed = bigmodel::eliminate_pass_through(net, [](kind k) { return k == kind::identity; });
  std::printf("identities removed: %zu\n", removed);
  std::printf("dense layers: %zu\n", bigmodel::count_nodes_if(net, [](kind k) { return k == kind::dense; }));
  std::printf("act reads: %s\n", net.layers[net.layers[3].args[0]].name.c_str());

  acme::mlp_weights w{Eigen::MatrixXf::Random(8, 4), Eigen::MatrixXf::Random(4, 2), Eigen::VectorXf::Zero(8),
                      Eigen::VectorXf::Zero(4)};
  const auto zeroed = zero_small_weights(w, 0.5f);
  const auto total = static_cast<std::size_t>(w.w1.size() + w.w2.size());
  std::printf("zeroed %zu of %zu weights\n", zeroed, total);
  const bool ok = removed == 1 && net.layers[3].args[0] == 1 && zeroed > 0 && zeroed < total;
  std::printf("%s\n", ok ? "user IR adapted: OK" : "FAILED");
  return ok ? 0 : 1;
}
