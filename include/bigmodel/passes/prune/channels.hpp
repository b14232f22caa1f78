#pragma once
// Structured removal of output channels: the model really shrinks. Removing output channel c of a Gemm /
// MatMul / Conv removes row c of its weight and bias, follows the channel through the ops in between and
// removes the matching inputs of every consumer layer. Layers whose outputs meet elementwise (both
// branches of a residual Add, a chain of Adds along a residual stream, a gated Mul) form one coupling
// group (channel_groups.hpp) and lose the same channels, chosen on the group's combined score
// (channel_scores.hpp). A group whose channels reach anything without a known channel mapping (a graph
// input or output, Softmax, a normalization over channels, Concat, a Reshape to a computed shape...) is
// refused with the reason in the report -- or, when the caller named the layer in `channels`, by throwing
// bigmodel::error -- never guessed at.

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../../graph/computation_graph.hpp"
#include "../../graph/shape_inference.hpp"
#include "channel_groups.hpp"
#include "channel_scores.hpp"
#include "mask.hpp"

namespace bigmodel::prune {

struct channel_config {
  // Fraction of each group's channels to remove (with `global`: of all candidate groups' channels).
  double amount = 0.25;
  channel_criterion criterion = channel_criterion::l2;
  // Which layers (by weight name) lose channels; default: every layer that can. A coupling group is
  // pruned when all its layers are selected, and refused (reported) when only some are.
  std::function<bool(std::string_view)> select = {};
  // Explicit channels to remove for some layers (by weight name), instead of the criterion; applied
  // whatever `select` says. Coupled layers named together must name the same channels; a named layer that
  // cannot be pruned is an error, not a report line.
  std::map<std::string, std::vector<std::size_t>, std::less<>> channels = {};
  // One threshold across all candidate groups, on scores normalized per group by their mean (see
  // channel_detail::global_lowest), instead of the same fraction of every group.
  bool global = false;
  // Per-layer amounts (by weight name) overriding `amount`, also under `global`; coupled layers must agree.
  std::map<std::string, double, std::less<>> layer_amounts = {};
  // criterion::activation: per-input L2 norms of each consumer layer's calibration activations, keyed by
  // its weight name (runtime::weight_input_norms(g, calibration)).
  activation_norms input_norms = {};
};

struct channel_report {
  struct layer {
    std::string weight;
    std::size_t channels_before = 0, channels_after = 0;
    std::string group;  // the coupled layers' weights, "a + b" (just the weight when it is alone)
  };
  std::vector<layer> pruned;
  std::vector<std::string> refused;  // "weight: reason", or "a + b: reason" for a coupling group
  std::size_t parameters_before = 0, parameters_after = 0;
};

namespace channel_detail {

inline dynamic_tensor slice_axis(const dynamic_tensor& t, std::size_t axis, const std::vector<std::size_t>& keep) {
  auto shape = t.shape();
  const std::size_t outer = static_cast<std::size_t>(std::accumulate(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(axis), std::int64_t{1}, std::multiplies<>()));
  const std::size_t inner = static_cast<std::size_t>(std::accumulate(shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, shape.end(), std::int64_t{1}, std::multiplies<>()));
  const std::size_t n = static_cast<std::size_t>(shape[axis]);
  const std::size_t elem = bit_size(t.type()) / 8;
  shape[axis] = static_cast<std::int64_t>(keep.size());
  dynamic_tensor out(t.type(), shape);
  const std::byte* src = t.data();
  std::byte* dst = out.mutable_data();
  for (std::size_t o = 0; o < outer; ++o)
    for (std::size_t k = 0; k < keep.size(); ++k)
      std::memcpy(dst + (o * keep.size() + k) * inner * elem, src + (o * n + keep[k]) * inner * elem, inner * elem);
  return out;
}

// One coupling group and what happens to it.
struct plan {
  group gr;
  std::vector<std::string> weights;  // producers' weight names
  std::string label;                 // "a + b"
  bool named = false;                // some layer named in cfg.channels
  std::vector<std::size_t> remove;
  std::optional<std::vector<double>> global_scores;  // set while waiting for the global threshold
};

inline std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " + ") + n;
  return out;
}

// The channels the caller named for the group (all named members must agree), or nullopt.
inline std::optional<std::vector<std::size_t>> named_channels(const plan& p, const channel_config& cfg) {
  std::optional<std::vector<std::size_t>> out;
  std::string first;
  for (const auto& w : p.weights) {
    const auto it = cfg.channels.find(w);
    if (it == cfg.channels.end()) continue;
    auto c = it->second;
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    if (!c.empty() && c.back() >= p.gr.channels)
      throw error("prune.channel_index", "channel " + std::to_string(c.back()) + " does not exist (layer has " +
                                             std::to_string(p.gr.channels) + ")", w);
    if (out && *out != c)
      throw error("prune.channels_coupled", "'" + first + "' and '" + w +
                                                "' are coupled (their channels meet elementwise) but were given different channels",
                  p.label);
    if (!out) first = w;
    out = std::move(c);
  }
  return out;
}

// The per-layer amount override of the group, if any (all overridden members must agree).
inline std::optional<double> group_amount(const plan& p, const channel_config& cfg) {
  std::optional<double> out;
  for (const auto& w : p.weights) {
    const auto it = cfg.layer_amounts.find(w);
    if (it == cfg.layer_amounts.end()) continue;
    if (out && *out != it->second)
      throw error("prune.amount", "coupled layers were given different amounts (" + std::to_string(*out) + " and " +
                                      std::to_string(it->second) + ")", p.label);
    out = it->second;
  }
  return out;
}

template <class OpSet>
void apply_plan(basic_computation_graph<OpSet>& g, const plan& p) {
  std::vector<std::size_t> keep;
  for (std::size_t c = 0, r = 0; c < p.gr.channels; ++c) {
    if (r < p.remove.size() && p.remove[r] == c) ++r;
    else keep.push_back(c);
  }
  for (const auto& c : p.gr.cuts) {
    auto& init = g.at(c.constant).initializer;
    init = slice_axis(*init, c.where.axis, expand(c.where, p.gr.channels, keep));
    g.at(c.constant).shape = to_symbolic(init->shape());
  }
  for (const auto& r : p.gr.reshapes) {
    const value_id old = g.inputs(r.node)[1];
    auto t = g.constant_value(old)->to_ints();
    t[r.index] = t[r.index] / static_cast<std::int64_t>(p.gr.channels) * static_cast<std::int64_t>(keep.size());
    auto shape = dynamic_tensor::from<std::int64_t>({static_cast<std::int64_t>(t.size())}, t);
    if (g.uses(old).size() == 1) {
      g.at(old).initializer = std::move(shape);
    } else {  // shared with other Reshapes: this one gets its own target
      const value_id v = g.add_value(g.name_of(old) + "_pruned");
      g.at(v).type = dtype::s64;
      g.at(v).shape = symbolic_shape{static_cast<std::int64_t>(t.size())};
      g.at(v).initializer = std::move(shape);
      g.set_input(r.node, 1, v);
      if (g.uses(old).empty() && !g.at(old).is_input && !g.at(old).is_output) g.erase_value(old);
    }
  }
  for (auto v : p.gr.values) g.at(v).shape.reset();
}

}  // namespace channel_detail

// Removes output channels of the graph's layers (and the matching inputs of their consumers). Throws
// bigmodel::error for invalid amounts, unknown or unprunable layers named in cfg.channels, inconsistent
// requests for coupled layers and missing or malformed calibration norms.
template <class OpSet>
channel_report remove_channels(basic_computation_graph<OpSet>& g, const channel_config& cfg) {
  namespace cd = channel_detail;
  channel_report rep;
  auto count_params = [&] {
    std::size_t n = 0;
    g.visit_parameters([&](std::string_view, const dynamic_tensor& t) { n += static_cast<std::size_t>(t.numel()); });
    return n;
  };
  rep.parameters_before = count_params();
  (void)amount_to_count(cfg.amount, 1, "channel pruning");  // validates the amounts before any change
  for (const auto& [w, a] : cfg.layer_amounts) (void)amount_to_count(a, 1, w);
  infer_shapes(g);  // the walk needs ranks and the extents around reshapes

  // 1. Coupling groups, in topological order of their first layer.
  std::vector<cd::plan> plans;
  std::set<std::string, std::less<>> grouped, prunable;
  cd::group_finder<OpSet> finder(g);
  for (auto n : topological_order(g)) {
    const auto p = cd::as_producer(g, n);
    if (!p) continue;
    const std::string& wname = g.name_of(p->weight);
    prunable.insert(wname);
    if (grouped.contains(wname)) continue;
    cd::plan pl{finder.find(*p), {}, {}, false, {}, {}};
    pl.weights.push_back(wname);
    for (const auto& q : pl.gr.producers)
      if (g.name_of(q.weight) != wname) pl.weights.push_back(g.name_of(q.weight));
    for (const auto& w : pl.weights) grouped.insert(w);
    pl.label = cd::join_names(pl.weights);
    for (const auto& w : pl.weights) pl.named = pl.named || cfg.channels.contains(w);
    plans.push_back(std::move(pl));
  }
  for (const auto& [w, c] : cfg.channels)
    if (!prunable.contains(w))
      throw error("prune.unknown_layer", "no Gemm / MatMul / Conv with a constant f32 weight of this name", w);

  // 2. What each group loses.
  std::vector<std::size_t> pooled;  // plans waiting for the global threshold
  for (std::size_t i = 0; i < plans.size(); ++i) {
    auto& pl = plans[i];
    const std::size_t selected = cfg.select ? static_cast<std::size_t>(std::count_if(
                                                  pl.weights.begin(), pl.weights.end(), [&](const std::string& w) { return cfg.select(w); }))
                                            : pl.weights.size();
    if (!pl.gr.refused.empty()) {
      if (pl.named) throw error("prune.refused", "cannot remove channels: " + pl.gr.refused, pl.label);
      if (selected) rep.refused.push_back(pl.label + ": " + pl.gr.refused);
      continue;
    }
    if (pl.named) {
      pl.remove = *cd::named_channels(pl, cfg);
      if (pl.remove.size() == pl.gr.channels)
        throw error("prune.refused", "removing every channel would disconnect the model", pl.label);
      continue;
    }
    if (selected == 0) continue;
    if (selected < pl.weights.size()) {
      for (const auto& w : pl.weights)
        if (!cfg.select(w)) {
          rep.refused.push_back(pl.label + ": coupled with '" + w + "', which is not selected");
          break;
        }
      continue;
    }
    auto scores = cd::channel_scores(g, pl.gr, cfg.criterion, cfg.input_norms);
    const auto amount = cd::group_amount(pl, cfg);
    if (cfg.global && !amount) {
      pl.global_scores = std::move(scores);
      pooled.push_back(i);
      continue;
    }
    const std::size_t k = amount_to_count(amount.value_or(cfg.amount), pl.gr.channels, pl.label);
    if (k == pl.gr.channels) {
      rep.refused.push_back(pl.label + ": removing every channel would disconnect the model");
      continue;
    }
    pl.remove = cd::lowest(scores, k);
  }
  if (!pooled.empty()) {
    std::vector<std::vector<double>> scores;
    for (auto i : pooled) scores.push_back(*plans[i].global_scores);
    auto removed = cd::global_lowest(scores, cfg.amount);
    for (std::size_t j = 0; j < pooled.size(); ++j) plans[pooled[j]].remove = std::move(removed[j]);
  }

  // 3. Slice.
  for (const auto& pl : plans) {
    if (pl.remove.empty()) continue;
    cd::apply_plan(g, pl);
    for (const auto& w : pl.weights) rep.pruned.push_back({w, pl.gr.channels, pl.gr.channels - pl.remove.size(), pl.label});
  }
  infer_shapes(g);
  rep.parameters_after = count_params();
  return rep;
}

}  // namespace bigmodel::prune
