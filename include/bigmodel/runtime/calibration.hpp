#pragma once
// Calibration: run a graph on sample inputs and observe intermediate values. Activation-aware pruning
// (per-input L2 norms of each layer's activations) and static quantization (observer ranges) use it.

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "session.hpp"

namespace bigmodel::runtime {

// Runs g on every batch of `calibration`, calling observe(value_name, tensor) for each value in `values`
// (intermediate values are made extra outputs of a copy of the graph; g itself is untouched).
template <class OpSet>
void observe_values(const basic_computation_graph<OpSet>& g, const std::vector<named_tensors>& calibration,
                    const std::vector<value_id>& values,
                    const std::function<void(const std::string&, const dynamic_tensor&)>& observe) {
  require(!calibration.empty(), "calibration.empty", "the calibration set is empty");
  auto probe = g;  // copies share weights; only the output list changes
  for (auto v : values) probe.mark_output(v);
  basic_session<OpSet> s(probe);
  for (std::size_t b = 0; b < calibration.size(); ++b) {
    named_tensors out;
    try {
      out = s.run(calibration[b]);
    } catch (const error& e) {
      throw error("calibration.bad_input", std::string("calibration batch ") + std::to_string(b) + " does not fit the model: " + e.what());
    }
    for (auto v : values) observe(g.name_of(v), out[g.name_of(v)]);
  }
}

// Per-input-feature L2 norms of the activations entering every MatMul / Gemm whose B is a constant
// weight, keyed by the weight's name (the Wanda score's ||X_j||_2). Conv layers are not covered.
template <class OpSet>
[[nodiscard]] std::map<std::string, std::vector<float>, std::less<>> weight_input_norms(
    const basic_computation_graph<OpSet>& g, const std::vector<named_tensors>& calibration) {
  std::map<std::string, std::vector<std::string>> weights_of_activation;
  std::vector<value_id> acts;
  for (auto n : g.nodes()) {
    const bool mm = g.template op_as<ops::matmul>(n) != nullptr;
    const auto* gm = g.template op_as<ops::gemm>(n);
    if (!mm && !(gm && !gm->trans_a)) continue;
    const auto& in = g.inputs(n);
    if (in.size() < 2 || !g.is_constant(in[1]) || g.is_constant(in[0])) continue;
    const std::string& a = g.name_of(in[0]);
    if (!weights_of_activation.contains(a)) acts.push_back(in[0]);
    weights_of_activation[a].push_back(g.name_of(in[1]));
  }
  std::map<std::string, std::vector<double>> sums;
  observe_values(g, calibration, acts, [&](const std::string& name, const dynamic_tensor& t) {
    require(t.type() == dtype::f32 && t.rank() >= 1, "calibration.dtype", "activation is not a float tensor", name);
    const auto features = static_cast<std::size_t>(t.dim(t.rank() - 1));
    auto& acc = sums[name];
    if (acc.empty()) acc.assign(features, 0.0);
    require(acc.size() == features, "calibration.shape", "activation width changed between batches", name);
    const auto v = t.span<float>();
    for (std::size_t k = 0; k < v.size(); ++k) acc[k % features] += static_cast<double>(v[k]) * v[k];
  });
  std::map<std::string, std::vector<float>, std::less<>> norms;
  for (const auto& [act, ws] : weights_of_activation) {
    std::vector<float> n;
    for (double s : sums[act]) n.push_back(static_cast<float>(std::sqrt(s)));
    for (const auto& w : ws) norms[w] = n;
  }
  return norms;
}

}  // namespace bigmodel::runtime
