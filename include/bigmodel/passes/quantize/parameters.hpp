#pragma once
// Parameter-level (weight-only) quantization over any model that models `parameterized`: the library's
// computation_graph or a user's struct of Eigen matrices. Weights are rounded in place to the values the
// scheme stores (fake quantization: what a weight-only int8/int4/fp16/bf16 model computes), exactly as
// the graph passes quantize them, so a user model can be evaluated quantized without any graph.
// Which parameters take part and their orientation follow prune/parameters.hpp: every float matrix by
// default, seen [outputs, inputs] unless `inputs_first` says a weight is stored [inputs, outputs].

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "../prune/parameters.hpp"
#include "graph_layers.hpp"

namespace bigmodel::quant {

struct parameter_config {
  weight_scheme scheme{};
  // Per-parameter scheme (nullopt: leave the parameter alone). Default: `scheme` for every float matrix.
  std::function<std::optional<weight_scheme>(std::string_view)> select = {};
  std::function<bool(std::string_view)> inputs_first = {};
};

// Relative L2 error ||w_q - w|| / ||w|| of each quantized parameter is reported in `notes`.
template <parameterized Model>
quantize_report quantize_parameters(Model& model, const parameter_config& cfg = {}) {
  quantize_report rep;
  bigmodel::visit_parameters(model, [&](std::string_view name, auto& weight) {
    const std::optional<weight_scheme> s = cfg.select ? cfg.select(name) : std::optional<weight_scheme>(cfg.scheme);
    if (!s) return;
    auto view = prune::weight_matrix(weight);
    if (!view) return;
    const weight_view w = cfg.inputs_first && cfg.inputs_first(name) ? prune::transposed(*view) : *view;
    std::vector<float> before;
    for (std::size_t r = 0; r < w.extent(0); ++r)
      for (std::size_t c = 0; c < w.extent(1); ++c) before.push_back(w(r, c));
    fake_quantize(w, *s, name);
    double err = 0, ref = 0;
    for (std::size_t r = 0, i = 0; r < w.extent(0); ++r)
      for (std::size_t c = 0; c < w.extent(1); ++c, ++i) {
        err += (double(w(r, c)) - before[i]) * (double(w(r, c)) - before[i]);
        ref += double(before[i]) * before[i];
      }
    const std::size_t n = w.extent(0) * w.extent(1);
    const std::size_t bits = s->type == weight_type::s4 ? 4 : (s->type == weight_type::f16 || s->type == weight_type::bf16) ? 16 : 8;
    rep.layers.push_back({std::string(name), describe(*s), n, n * sizeof(float), (n * bits + 7) / 8});
    rep.notes.push_back(std::string(name) + ": relative L2 error " + std::to_string(ref > 0 ? std::sqrt(err / ref) : std::sqrt(err)));
    ++rep.changes;
  });
  return rep;
}

}  // namespace bigmodel::quant
