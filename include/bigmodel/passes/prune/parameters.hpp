#pragma once
// Parameter-level pruning over any model that models `parameterized` (visit_parameters(model, f) with
// f(std::string_view name, auto& weight)): the library's computation_graph, or a user's struct of Eigen
// matrices adapted by a member, an ADL function or a graph_traits specialization.
//
// A weight takes part when weight_matrix(weight) yields a float matrix: built in for dynamic_tensor (f32,
// rank >= 2, flattened to [dim0, rest]), Eigen matrices and bigmodel tensors/views of rank 2; a user type
// can provide `as_weight_matrix(weight)` (member or ADL) returning a weight_view.

#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../graph/concepts.hpp"
#include "../../tensor/dynamic_tensor.hpp"
#include "../../tensor/eigen.hpp"
#include "methods.hpp"

namespace bigmodel::prune {

namespace detail {
template <class W>
concept member_matrix = requires(W& w) { { w.as_weight_matrix() } -> std::convertible_to<std::optional<weight_view>>; };
template <class W>
concept adl_matrix = requires(W& w) { { as_weight_matrix(w) } -> std::convertible_to<std::optional<weight_view>>; };
}  // namespace detail

// The matrix view of a weight in its storage orientation (rows = its first dimension), or nullopt when
// the parameter is not a prunable float matrix (biases, norms, integer tensors).
template <class W>
[[nodiscard]] std::optional<weight_view> weight_matrix(W& w) {
  if constexpr (detail::member_matrix<W>) {
    return w.as_weight_matrix();
  } else if constexpr (detail::adl_matrix<W>) {
    return as_weight_matrix(w);
  } else if constexpr (std::is_same_v<W, dynamic_tensor>) {
    if (w.type() != dtype::f32 || w.rank() < 2 || w.numel() == 0) return std::nullopt;
    if (!w.unique() || w.is_view()) w = w.clone();  // copy on write: copies of a dynamic_tensor alias
    const auto rows = static_cast<std::size_t>(w.dim(0));
    const auto cols = static_cast<std::size_t>(w.numel()) / rows;
    return matrix_view(w.template mutable_span<float>().data(), rows, cols, cols);
  } else if constexpr (requires { as_view(w); }) {
    if constexpr (std::is_same_v<std::remove_const_t<typename decltype(as_view(w))::element_type>, float> &&
                  !std::is_const_v<typename decltype(as_view(w))::element_type>) {
      return weight_view(as_view(w));
    } else {
      return std::nullopt;
    }
  } else if constexpr (requires { w.view(); } && std::is_same_v<typename W::value_type, float>) {
    if constexpr (W::rank() == 2) return weight_view(w.view());
    else return std::nullopt;
  } else {
    return std::nullopt;
  }
}

// A matrix stored [inputs, outputs] (an ONNX MatMul's B, a Gemm's B without transB) is pruned through
// its transposed view, so rows are always output channels.
[[nodiscard]] inline weight_view transposed(const weight_view& w) {
  using map = layout_stride::mapping<dextents<2>>;
  return {w.data(), map(dextents<2>(w.extent(1), w.extent(0)), {w.stride(1), w.stride(0)})};
}

enum class method {
  l1_unstructured,      // per layer, lowest |score|
  random_unstructured,  // per layer, seeded
  global_unstructured,  // across all selected layers
  per_row,              // per output row (Wanda's grouping)
  n_m,                  // N of every M consecutive inputs kept
  ln_structured,        // whole rows/columns by Ln norm
};

struct prune_config {
  method how = method::l1_unstructured;
  double amount = 0.5;            // fraction pruned (all but n_m)
  std::size_t n = 2, m = 4;       // n_m
  double norm = 2.0;              // ln_structured: 1, 2, ..., or INFINITY
  int dim = 0;                    // ln_structured: 0 = output channels, 1 = input channels
  std::uint64_t seed = 0;         // random_unstructured
  bool apply = true;              // zero the weights now; else only return the masks
  // Which parameters take part (default: every float matrix). Names as visit_parameters gives them.
  std::function<bool(std::string_view)> select = {};
  // Which of them are stored [inputs, outputs] (default: none; for graphs see graph_pruning.hpp).
  std::function<bool(std::string_view)> inputs_first = {};
  // Activation-aware scoring: the per-input L2 norms of each layer's calibration activations (Wanda).
  // Layers without an entry use the magnitude score.
  std::map<std::string, std::vector<float>, std::less<>> input_norms = {};
};

struct prune_result {
  std::map<std::string, mask, std::less<>> masks;  // in output-major orientation [out, in]
  sparsity_report report;                           // after the masks (measured on the weights if applied)
};

namespace detail {
struct selected_weight {
  std::string name;
  weight_view w;
};

inline mask prune_one(const prune_config& cfg, const selected_weight& s) {
  const const_weight_view w = s.w;
  const auto norms = cfg.input_norms.find(s.name);
  auto run = [&](const auto& score) -> mask {
    switch (cfg.how) {
      case method::l1_unstructured: return unstructured(w, cfg.amount, score, s.name);
      case method::per_row: return per_row(w, cfg.amount, score, s.name);
      case method::n_m: return n_m(w, cfg.n, cfg.m, score, s.name);
      case method::random_unstructured: return random_unstructured(w, cfg.amount, cfg.seed, s.name);
      case method::ln_structured: return ln_structured(w, cfg.amount, cfg.norm, cfg.dim, s.name);
      case method::global_unstructured: break;
    }
    throw error("prune.method", "unknown pruning method", s.name);
  };
  if (norms == cfg.input_norms.end()) return run(magnitude{});
  require(norms->second.size() == w.extent(1), "prune.calibration_shape",
          "activation norms have " + std::to_string(norms->second.size()) + " entries, the layer has " +
              std::to_string(w.extent(1)) + " inputs", s.name);
  return run(wanda{norms->second});
}
}  // namespace detail

// Prunes the model's parameters in place (or only computes masks with apply = false).
template <parameterized Model>
prune_result prune_parameters(Model& model, const prune_config& cfg) {
  std::vector<detail::selected_weight> selected;
  bigmodel::visit_parameters(model, [&](std::string_view name, auto& weight) {
    if (cfg.select && !cfg.select(name)) return;
    auto view = weight_matrix(weight);
    if (!view) return;
    const bool flip = cfg.inputs_first && cfg.inputs_first(name);
    selected.push_back({std::string(name), flip ? transposed(*view) : *view});
  });
  prune_result result;
  if (cfg.how == method::global_unstructured) {
    std::vector<const_weight_view> views;
    for (const auto& s : selected) views.emplace_back(s.w);
    auto masks = global_unstructured(std::span<const const_weight_view>(views), cfg.amount);
    for (std::size_t i = 0; i < selected.size(); ++i) result.masks.emplace(selected[i].name, std::move(masks[i]));
  } else {
    for (const auto& s : selected) result.masks.emplace(s.name, detail::prune_one(cfg, s));
  }
  for (const auto& s : selected) {
    const mask& m = result.masks.at(s.name);
    if (cfg.apply) {
      apply_mask(s.w, m);
      result.report.layers.push_back(measure_sparsity(s.name, s.w));
    } else {
      result.report.layers.push_back({s.name, m.size(), m.size() - count_kept(m)});
    }
  }
  return result;
}

}  // namespace bigmodel::prune
