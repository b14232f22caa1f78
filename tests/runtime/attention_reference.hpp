#pragma once
// Shared by the attention tests: a double-precision reference of the op and a one-node graph of it.
#include <bigmodel/graph.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace bigmodel::test {

inline std::vector<float> vec(const dynamic_tensor& t) { return {t.span<float>().begin(), t.span<float>().end()}; }

// y[h, i, :] = sum_j softmax_j(q_i·k_j·scale + mask[i, j]) v_j, in double; causal hides j > i + S - T.
inline std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                        const std::vector<float>* mask, std::int64_t heads, std::int64_t t, std::int64_t s,
                                        std::int64_t d, std::int64_t dv, bool causal, bool mask_per_head) {
  std::vector<double> y(static_cast<std::size_t>(heads * t * dv), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> p(static_cast<std::size_t>(s));
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < t; ++i) {
      double mx = -INFINITY;
      for (std::int64_t j = 0; j < s; ++j) {
        double acc = 0;
        for (std::int64_t e = 0; e < d; ++e) acc += double(q[(h * t + i) * d + e]) * k[(h * s + j) * d + e];
        acc *= scale;
        if (mask) acc += (*mask)[((mask_per_head ? h * t : 0) + i) * s + j];
        if (causal && j > i + s - t) acc = -INFINITY;
        p[j] = acc;
        mx = std::max(mx, acc);
      }
      double sum = 0;
      for (auto& x : p) sum += (x = std::exp(x - mx));
      for (std::int64_t j = 0; j < s; ++j)
        for (std::int64_t e = 0; e < dv; ++e) y[(h * t + i) * dv + e] += p[j] / sum * v[(h * s + j) * dv + e];
    }
  return y;
}

inline computation_graph attention_graph(const ops::attention& op, bool with_mask) {
  computation_graph g;
  auto input = [&](const std::string& n) {  // rank 4, every dim free
    return g.add_input(n, dtype::f32, {n + "0", n + "1", n + "2", n + "3"});
  };
  std::vector<value_id> ins{input("q"), input("k"), input("v")};
  if (with_mask) ins.push_back(input("mask"));
  auto y = g.outputs(g.add_node(op, ins))[0];
  g.mark_output(y);
  return g;
}

}  // namespace bigmodel::test
