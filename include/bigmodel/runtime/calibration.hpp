#pragma once
// Calibration: run a graph on sample inputs and observe intermediate values. Activation-aware pruning
// (per-input L2 norms of each layer's activations) and static quantization (observer ranges) use it.

#include <algorithm>
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

// For each column (input channel c, kernel position k) of a 2-D Conv's im2col matrix, adds the sum of
// squares of the input entries that column reads over x [N, C, H, W] (padding reads zeros): the Conv form
// of Wanda's ||X_j||_2^2, in the order of the weight flattened to [out, C * kh * kw].
inline void add_conv_column_squares(const dynamic_tensor& x, const ops::conv& op, std::int64_t kh, std::int64_t kw,
                                    std::vector<double>& acc, const std::string& where) {
  require(x.type() == dtype::f32 && x.rank() == 4, "calibration.shape", "Conv input is not an f32 [N, C, H, W] tensor", where);
  const std::int64_t n = x.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  auto at = [](const ops::ints& v, std::size_t i, std::int64_t dflt) { return v.size() > i ? v[i] : dflt; };
  const std::int64_t k[2] = {kh, kw}, in[2] = {h, w};
  std::vector<std::vector<char>> reads[2];  // reads[d][kernel offset][input index]: some window reads it
  for (std::size_t d = 0; d < 2; ++d) {
    const std::int64_t s = at(op.strides, d, 1), dil = at(op.dilations, d, 1);
    std::int64_t lo = op.auto_pad == "VALID" ? 0 : at(op.pads, d, 0), hi = op.auto_pad == "VALID" ? 0 : at(op.pads, d + 2, 0);
    if (op.auto_pad == "SAME_UPPER" || op.auto_pad == "SAME_LOWER") {
      const std::int64_t total = std::max<std::int64_t>(((in[d] + s - 1) / s - 1) * s + dil * (k[d] - 1) + 1 - in[d], 0);
      lo = op.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      hi = total - lo;
    }
    const std::int64_t out = (in[d] + lo + hi - dil * (k[d] - 1) - 1) / s + 1;
    reads[d].assign(static_cast<std::size_t>(k[d]), std::vector<char>(static_cast<std::size_t>(in[d]), 0));
    for (std::int64_t kk = 0; kk < k[d]; ++kk)
      for (std::int64_t o = 0; o < out; ++o)
        if (const std::int64_t i = o * s + kk * dil - lo; i >= 0 && i < in[d])
          reads[d][static_cast<std::size_t>(kk)][static_cast<std::size_t>(i)] = 1;
  }
  const std::size_t kernel = static_cast<std::size_t>(kh * kw);
  if (acc.empty()) acc.assign(static_cast<std::size_t>(ch) * kernel, 0.0);
  require(acc.size() == static_cast<std::size_t>(ch) * kernel, "calibration.shape", "Conv input channels changed between batches", where);
  const auto v = x.span<float>();
  const auto hw = static_cast<std::size_t>(h * w);
  for (std::size_t b = 0; b < static_cast<std::size_t>(n * ch); ++b) {
    const float* img = v.data() + b * hw;
    for (std::size_t ki = 0; ki < static_cast<std::size_t>(kh); ++ki)
      for (std::size_t kj = 0; kj < static_cast<std::size_t>(kw); ++kj) {
        double sum = 0.0;
        for (std::size_t i = 0; i < static_cast<std::size_t>(h); ++i) {
          if (!reads[0][ki][i]) continue;
          for (std::size_t j = 0; j < static_cast<std::size_t>(w); ++j)
            if (reads[1][kj][j]) sum += static_cast<double>(img[i * static_cast<std::size_t>(w) + j]) * img[i * static_cast<std::size_t>(w) + j];
        }
        acc[(b % static_cast<std::size_t>(ch)) * kernel + ki * static_cast<std::size_t>(kw) + kj] += sum;
      }
  }
}

// Per-input-feature L2 norms of the activations entering every MatMul / Gemm whose B is a constant
// weight, keyed by the weight's name (the Wanda score's ||X_j||_2). For an ungrouped 2-D Conv with a
// constant weight, one norm per column of its weight flattened to [out, C * kh * kw] (the im2col column's
// norm, see add_conv_column_squares), so prune_graph applies Wanda to Conv weights too.
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
  struct conv_layer {
    const ops::conv* op;
    std::string weight;
    std::int64_t kh, kw;
  };
  std::map<std::string, std::vector<conv_layer>> convs_of_activation;
  for (auto n : g.nodes()) {
    const auto* cv = g.template op_as<ops::conv>(n);
    if (!cv || cv->group != 1) continue;
    const auto& in = g.inputs(n);
    if (in.size() < 2 || !g.is_constant(in[1]) || g.is_constant(in[0]) || g.constant_value(in[1])->rank() != 4) continue;
    const auto& w = *g.constant_value(in[1]);
    const std::string& a = g.name_of(in[0]);
    if (!weights_of_activation.contains(a) && !convs_of_activation.contains(a)) acts.push_back(in[0]);
    convs_of_activation[a].push_back({cv, g.name_of(in[1]), w.dim(2), w.dim(3)});
  }
  std::map<std::string, std::vector<double>> sums, conv_sums;
  observe_values(g, calibration, acts, [&](const std::string& name, const dynamic_tensor& t) {
    if (const auto it = convs_of_activation.find(name); it != convs_of_activation.end())
      for (const auto& c : it->second) add_conv_column_squares(t, *c.op, c.kh, c.kw, conv_sums[c.weight], c.weight);
    if (!weights_of_activation.contains(name)) return;
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
  for (const auto& [w, acc] : conv_sums) {
    auto& n = norms[w];
    for (double s : acc) n.push_back(static_cast<float>(std::sqrt(s)));
  }
  return norms;
}

}  // namespace bigmodel::runtime
