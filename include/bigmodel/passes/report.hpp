#pragma once
// What a pass changed: nodes per op type before/after, parameters and bytes before/after, time.

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../graph/concepts.hpp"
#include "../graph/op_set.hpp"

namespace bigmodel::passes {

using op_histogram = std::map<std::string, std::size_t, std::less<>>;

struct graph_stats {
  op_histogram ops;                // node count per op type
  std::size_t nodes = 0;
  std::size_t parameters = 0;      // elements of all parameters
  std::size_t parameter_bytes = 0;
  std::size_t zero_parameters = 0; // of float parameters: sparsity = zero / parameters
};

struct pass_report {
  std::string name;
  std::size_t changes = 0;  // rewrites the pass made (0: nothing changed)
  graph_stats before, after;
  double seconds = 0.0;
  std::vector<std::string> notes;  // what the pass refused or skipped, and why

  // Node count difference per op type (negative: removed).
  [[nodiscard]] std::map<std::string, long, std::less<>> op_delta() const {
    std::map<std::string, long, std::less<>> d;
    for (const auto& [op, n] : before.ops) d[op] -= static_cast<long>(n);
    for (const auto& [op, n] : after.ops) d[op] += static_cast<long>(n);
    std::erase_if(d, [](const auto& kv) { return kv.second == 0; });
    return d;
  }
};

struct pipeline_report {
  std::vector<pass_report> passes;
  std::size_t iterations = 1;
  [[nodiscard]] std::size_t changes() const {
    std::size_t n = 0;
    for (const auto& p : passes) n += p.changes;
    return n;
  }
};

namespace detail {
template <class W>
void add_parameter(graph_stats& s, const W& w) {
  if constexpr (requires { w.numel(); w.bytes(); w.type(); }) {  // dynamic_tensor
    s.parameters += static_cast<std::size_t>(w.numel());
    s.parameter_bytes += w.bytes();
    if (w.type() == dtype::f32)
      for (float v : w.template span<float>()) s.zero_parameters += v == 0.0f ? 1u : 0u;
  } else if constexpr (requires { w.size(); w.data(); }) {  // Eigen, tensors
    s.parameters += static_cast<std::size_t>(w.size());
    s.parameter_bytes += static_cast<std::size_t>(w.size()) * sizeof(*w.data());
    for (std::size_t i = 0; i < static_cast<std::size_t>(w.size()); ++i) s.zero_parameters += w.data()[i] == 0 ? 1u : 0u;
  }
}
}  // namespace detail

// Statistics of any model: op histogram when it models `graph`, parameters when it models `parameterized`.
template <class G>
[[nodiscard]] graph_stats stats_of(G& g) {
  graph_stats s;
  if constexpr (graph<G>) {
    for (const auto& n : bigmodel::nodes(g)) {
      ++s.nodes;
      if constexpr (requires { op_type_name(bigmodel::op_of(g, n)); })
        ++s.ops[std::string(op_type_name(bigmodel::op_of(g, n)))];
      else
        ++s.ops["node"];
    }
  }
  if constexpr (parameterized<G>) bigmodel::visit_parameters(g, [&](std::string_view, const auto& w) { detail::add_parameter(s, w); });
  return s;
}

}  // namespace bigmodel::passes
