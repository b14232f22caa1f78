#pragma once
// Sensitivity report: for each layer a selection would quantize, the error quantizing only that layer
// adds to the model's outputs on sample inputs (relative L2 over all outputs, and SQNR in dB), so users see
// which layers to keep in fp32; keep_sensitive_fp32 then excludes those above a bound.
//
//   auto rows = quant::sensitivity(g, samples, [](auto& m, const quant::layer_selection& s) {
//     (void)quant::quantize_weights(m, {.layers = s});
//   }, sel);
//   quant::keep_sensitive_fp32(sel, rows, 0.01);

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../../runtime/session.hpp"
#include "graph_layers.hpp"

namespace bigmodel::quant {

struct layer_sensitivity {
  std::string node, weight, scheme;
  double relative_error = 0;  // ||y_q - y|| / ||y|| over every output of every sample batch
  double sqnr_db = 0;         // 20 log10(1 / relative_error)
};

namespace detail {
template <class OpSet>
std::vector<named_tensors> run_all(const basic_computation_graph<OpSet>& g, const std::vector<named_tensors>& inputs) {
  basic_session<OpSet> s{g};
  std::vector<named_tensors> out;
  for (const auto& in : inputs) out.push_back(s.run(in));
  return out;
}
inline double relative_error(const std::vector<named_tensors>& y, const std::vector<named_tensors>& ref, const std::string& layer) {
  double num = 0, den = 0;
  for (std::size_t b = 0; b < ref.size(); ++b)
    for (std::size_t o = 0; o < ref[b].size(); ++o) {
      if (ref[b][o].type() != dtype::f32) continue;
      const auto a = y[b][o].span<float>(), r = ref[b][o].span<float>();
      for (std::size_t i = 0; i < r.size(); ++i) {
        if (!std::isfinite(a[i])) throw error("quant.non_finite", "quantized model produced NaN or infinity", layer);
        num += (double(a[i]) - r[i]) * (double(a[i]) - r[i]);
        den += double(r[i]) * r[i];
      }
    }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}
}  // namespace detail

// quantize(graph&, const layer_selection&) applies a scheme to the layers the selection picks. Rows come
// back most sensitive first.
template <class OpSet, class Quantize>
[[nodiscard]] std::vector<layer_sensitivity> sensitivity(const basic_computation_graph<OpSet>& g, const std::vector<named_tensors>& inputs,
                                                         Quantize&& quantize, const layer_selection& selection = {}) {
  require(!inputs.empty(), "calibration.empty", "the sample set for the sensitivity report is empty");
  const auto ref = detail::run_all(g, inputs);
  std::vector<layer_sensitivity> rows;
  for (const auto& l : find_layers(g)) {
    const auto scheme = selection.scheme_for(l.ref());
    if (!scheme) continue;
    layer_selection only = selection;
    only.filter = [&, base = selection.filter](const layer_ref& r) {
      return r.node == l.node_name && r.weight == l.weight_name && (!base || base(r));
    };
    auto copy = g;
    quantize(copy, only);
    const double e = detail::relative_error(detail::run_all(copy, inputs), ref, l.where());
    rows.push_back({l.node_name, l.weight_name, describe(*scheme), e, e > 0 ? -20.0 * std::log10(e) : INFINITY});
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.relative_error > b.relative_error; });
  return rows;
}

// Excludes (keeps fp32) every layer whose error exceeds `bound`. Returns how many were excluded.
inline std::size_t keep_sensitive_fp32(layer_selection& selection, const std::vector<layer_sensitivity>& rows, double bound) {
  std::size_t n = 0;
  for (const auto& r : rows)
    if (r.relative_error > bound) {
      selection.exclude.push_back(r.weight);
      ++n;
    }
  return n;
}

}  // namespace bigmodel::quant
