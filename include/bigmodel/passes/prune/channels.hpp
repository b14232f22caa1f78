#pragma once
// Structured removal of output channels: the model really shrinks. Removing output channel c of a Gemm /
// MatMul / Conv removes row c of its weight and bias, follows the channel through the ops in between
// (activations, per-channel constants, BatchNormalization, pooling, Flatten of a 1x1 map) and removes the
// matching input channel of every consumer layer. A layer whose channels reach anything else (a graph
// output, an Add of two computed branches, Reshape, Concat, Softmax, a normalization over channels...) is
// refused with the reason in the report, never guessed at.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "../../graph/computation_graph.hpp"
#include "../../graph/shape_inference.hpp"
#include "mask.hpp"

namespace bigmodel::prune {

enum class channel_criterion { l1, l2 };

struct channel_config {
  double amount = 0.25;  // fraction of each selected layer's output channels to remove
  channel_criterion criterion = channel_criterion::l2;
  // Which layers (by weight name) lose channels; default: every layer that can.
  std::function<bool(std::string_view)> select = {};
  // Explicit channels to remove for some layers (by weight name), instead of the criterion.
  std::map<std::string, std::vector<std::size_t>, std::less<>> channels = {};
};

struct channel_report {
  struct layer {
    std::string weight;
    std::size_t channels_before = 0, channels_after = 0;
  };
  std::vector<layer> pruned;
  std::vector<std::string> refused;  // "weight: reason"
  std::size_t parameters_before = 0, parameters_after = 0;
};

namespace channel_detail {

// A constant to cut along one axis, and which value to shape-reset afterwards.
struct cut {
  value_id constant;
  std::size_t axis;
};

template <class OpSet>
struct producer {
  node_id node;
  value_id weight;
  std::size_t out_axis;    // axis of the weight holding output channels
  std::size_t channels;
  std::optional<cut> bias;
};

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

// Per-channel constant of an elementwise op: scalar (nothing to cut) or a tensor whose only non-1 dim is
// the channel axis of a value of rank `rank`. Returns the axis to cut in the constant, or nullopt if the
// constant does not broadcast per channel.
inline std::optional<std::optional<std::size_t>> per_channel_axis(const dynamic_tensor& c, std::size_t rank,
                                                                  std::size_t channel_axis, std::size_t channels) {
  if (c.numel() == 1) return std::optional<std::size_t>{};
  const std::size_t r = c.rank();
  if (r > rank) return std::nullopt;
  std::optional<std::size_t> axis;
  for (std::size_t d = 0; d < r; ++d) {
    const std::size_t aligned = rank - r + d;  // numpy broadcasting aligns trailing dims
    if (c.dim(d) == 1) continue;
    if (aligned != channel_axis || static_cast<std::size_t>(c.dim(d)) != channels) return std::nullopt;
    axis = d;
  }
  return axis;
}

template <class OpSet>
class walker {
 public:
  walker(const basic_computation_graph<OpSet>& g, std::size_t channels) : g_(g), channels_(channels) {}

  // Follows v (channel axis `axis` of a value of rank `rank`) to the consumers. False (with reason) when
  // the channel mapping is not known somewhere.
  bool follow(value_id v, std::size_t axis, std::size_t rank) {
    if (g_.at(v).is_output) return refuse("its channels reach the graph output '" + g_.name_of(v) + "'");
    for (const auto& u : g_.uses(v))
      if (!visit(u.node, u.slot, axis, rank)) return false;
    return true;
  }

  std::vector<cut> cuts;           // constants to slice along an axis
  std::vector<value_id> reshaped;  // values whose shapes change
  std::string reason;

 private:
  bool refuse(std::string why) {
    reason = std::move(why);
    return false;
  }
  bool constant_cut(value_id c, std::size_t axis) {
    if (!g_.is_constant(c)) return refuse("'" + g_.name_of(c) + "' is not a constant");
    if (g_.uses(c).size() != 1) return refuse("the constant '" + g_.name_of(c) + "' is shared with other nodes");
    if (g_.constant_value(c)->type() != dtype::f32) return refuse("the constant '" + g_.name_of(c) + "' is not f32");
    cuts.push_back({c, axis});
    return true;
  }
  bool pass_through(node_id n, std::size_t axis, std::size_t rank) {
    const value_id out = g_.outputs(n)[0];
    reshaped.push_back(out);
    return follow(out, axis, rank);
  }

  bool visit(node_id n, std::uint32_t slot, std::size_t axis, std::size_t rank) {
    const auto& op = g_.op_of(n);
    const auto& in = g_.inputs(n);
    const std::string where = g_.describe(n);
    if (std::holds_alternative<ops::relu>(op) || std::holds_alternative<ops::sigmoid>(op) ||
        std::holds_alternative<ops::tanh>(op) || std::holds_alternative<ops::gelu>(op) ||
        std::holds_alternative<ops::erf>(op) || std::holds_alternative<ops::identity>(op) ||
        std::holds_alternative<ops::dropout>(op) || std::holds_alternative<ops::neg>(op) ||
        std::holds_alternative<ops::exp>(op)) {
      if (slot != 0) return refuse("its channels reach a non-data input of " + where);
      return pass_through(n, axis, rank);
    }
    if (std::holds_alternative<ops::clip>(op)) {
      for (std::size_t i = 1; i < in.size(); ++i)
        if (in[i].valid() && (!g_.is_constant(in[i]) || g_.constant_value(in[i])->numel() != 1))
          return refuse("Clip bounds are not scalar constants at " + where);
      return slot == 0 ? pass_through(n, axis, rank) : refuse("its channels reach Clip's bounds at " + where);
    }
    if (std::holds_alternative<ops::add>(op) || std::holds_alternative<ops::sub>(op) ||
        std::holds_alternative<ops::mul>(op) || std::holds_alternative<ops::div>(op)) {
      const value_id other = in[1 - slot];
      if (!g_.is_constant(other))
        return refuse("its channels meet another computed tensor at " + where +
                      " (coupled channels are not pruned yet)");
      const auto a = per_channel_axis(*g_.constant_value(other), rank, axis, channels_);
      if (!a) return refuse("the constant of " + where + " does not broadcast per channel");
      if (*a && !constant_cut(other, **a)) return false;
      return pass_through(n, axis, rank);
    }
    if (std::holds_alternative<ops::batch_norm>(op)) {
      if (slot != 0 || axis != 1) return refuse("unexpected BatchNormalization input at " + where);
      for (std::size_t i = 1; i < 5 && i < in.size(); ++i)
        if (!constant_cut(in[i], 0)) return false;
      return pass_through(n, axis, rank);
    }
    if (std::holds_alternative<ops::max_pool>(op) || std::holds_alternative<ops::average_pool>(op) ||
        std::holds_alternative<ops::global_average_pool>(op)) {
      if (axis != 1) return refuse("pooling over a non-channel axis at " + where);
      return pass_through(n, axis, rank);
    }
    if (const auto* f = std::get_if<ops::flatten>(&op)) {
      const auto& s = g_.at(in[0]).shape;
      bool unit_spatial = f->axis == 1 && axis == 1 && s.has_value();
      for (std::size_t d = 2; unit_spatial && d < s->size(); ++d) unit_spatial = (*s)[d].known() && (*s)[d].value == 1;
      if (!unit_spatial) return refuse("Flatten at " + where + " mixes channels with spatial positions");
      return pass_through(n, 1, 2);
    }
    if (const auto* gm = std::get_if<ops::gemm>(&op)) {
      if (slot != 0 || gm->trans_a || axis != rank - 1 || in.size() < 2)
        return refuse("its channels reach a Gemm input other than A at " + where);
      return constant_cut(in[1], gm->trans_b ? 1 : 0);
    }
    if (std::holds_alternative<ops::matmul>(op)) {
      if (slot != 0 || axis != rank - 1 || !g_.is_constant(in[1]) || g_.constant_value(in[1])->rank() != 2)
        return refuse("its channels reach a MatMul that is not activation x constant matrix at " + where);
      return constant_cut(in[1], 0);
    }
    if (const auto* cv = std::get_if<ops::conv>(&op)) {
      if (slot != 0 || axis != 1 || cv->group != 1)
        return refuse("its channels reach a Conv input other than X, or a grouped Conv, at " + where);
      return constant_cut(in[1], 1);
    }
    return refuse("its channels reach " + std::string(op_type_name(op)) + " at " + where +
                  ", whose channel mapping is not known");
  }

  const basic_computation_graph<OpSet>& g_;
  std::size_t channels_;
};

template <class OpSet>
std::optional<producer<OpSet>> as_producer(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto& in = g.inputs(n);
  if (in.size() < 2 || !g.is_constant(in[1]) || g.constant_value(in[1])->type() != dtype::f32) return std::nullopt;
  const auto& w = *g.constant_value(in[1]);
  producer<OpSet> p{n, in[1], 0, 0, std::nullopt};
  if (const auto* gm = g.template op_as<ops::gemm>(n)) {
    if (gm->trans_a || w.rank() != 2) return std::nullopt;
    p.out_axis = gm->trans_b ? 0 : 1;
  } else if (g.template op_as<ops::matmul>(n)) {
    if (w.rank() != 2) return std::nullopt;
    p.out_axis = 1;
  } else if (const auto* cv = g.template op_as<ops::conv>(n)) {
    if (cv->group != 1 || w.rank() < 3) return std::nullopt;
    p.out_axis = 0;
  } else {
    return std::nullopt;
  }
  p.channels = static_cast<std::size_t>(w.dim(p.out_axis));
  if (in.size() > 2 && in[2].valid()) {
    if (!g.is_constant(in[2])) return std::nullopt;
    const auto& b = *g.constant_value(in[2]);
    if (b.numel() != static_cast<std::int64_t>(p.channels) && b.numel() != 1) return std::nullopt;
    if (b.numel() != 1) p.bias = cut{in[2], b.rank() - 1};
  }
  return p;
}

inline std::vector<std::size_t> weakest_channels(const dynamic_tensor& w, std::size_t out_axis, std::size_t k,
                                                 channel_criterion crit) {
  const std::size_t channels = static_cast<std::size_t>(w.dim(out_axis));
  const std::size_t per = static_cast<std::size_t>(w.numel()) / channels;
  const auto v = w.span<float>();
  std::vector<double> norm(channels, 0.0);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::size_t c = out_axis == 0 ? i / per : i % channels;  // out_axis is 0, or the last of 2
    const double a = std::fabs(static_cast<double>(v[i]));
    norm[c] += crit == channel_criterion::l1 ? a : a * a;
  }
  std::vector<std::size_t> idx(channels);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return norm[a] < norm[b]; });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace channel_detail

// Removes output channels of the graph's layers (and the matching inputs of their consumers).
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
  infer_shapes(g);  // the walk needs ranks, and Flatten needs the spatial extents
  (void)amount_to_count(cfg.amount, 1, "channel pruning");  // validates the amount
  for (auto n : topological_order(g)) {
    const auto p = cd::as_producer(g, n);
    if (!p) continue;
    const std::string wname = g.name_of(p->weight);
    if (cfg.select && !cfg.select(wname)) continue;
    std::vector<std::size_t> remove;
    if (const auto it = cfg.channels.find(wname); it != cfg.channels.end()) {
      remove = it->second;
      std::sort(remove.begin(), remove.end());
      remove.erase(std::unique(remove.begin(), remove.end()), remove.end());
      if (!remove.empty() && remove.back() >= p->channels)
        throw error("prune.channel_index", "channel " + std::to_string(remove.back()) + " does not exist (layer has " +
                                               std::to_string(p->channels) + ")", wname);
    } else {
      remove = cd::weakest_channels(*g.constant_value(p->weight), p->out_axis,
                                    amount_to_count(cfg.amount, p->channels, wname), cfg.criterion);
    }
    if (remove.empty()) continue;
    if (remove.size() == p->channels) {
      rep.refused.push_back(wname + ": removing every channel would disconnect the model");
      continue;
    }
    if (g.uses(p->weight).size() != 1) {
      rep.refused.push_back(wname + ": the weight is shared with other nodes");
      continue;
    }
    const value_id y = g.outputs(n)[0];
    const auto& ys = g.at(y).shape;
    const std::size_t rank = ys ? ys->size() : (g.template op_as<ops::conv>(n) ? 4 : 2);
    const std::size_t axis = g.template op_as<ops::conv>(n) ? 1 : rank - 1;
    cd::walker<OpSet> w(g, p->channels);
    if (!w.follow(y, axis, rank)) {
      rep.refused.push_back(wname + ": " + w.reason);
      continue;
    }
    std::vector<std::size_t> keep;
    for (std::size_t c = 0, r = 0; c < p->channels; ++c) {
      if (r < remove.size() && remove[r] == c) ++r;
      else keep.push_back(c);
    }
    auto apply = [&](const cd::cut& c) {
      auto& init = g.at(c.constant).initializer;
      init = cd::slice_axis(*init, c.axis, keep);
      g.at(c.constant).shape = to_symbolic(init->shape());
    };
    apply({p->weight, p->out_axis});
    if (p->bias) apply(*p->bias);
    for (const auto& c : w.cuts) apply(c);
    g.at(y).shape.reset();
    for (auto v : w.reshaped) g.at(v).shape.reset();
    rep.pruned.push_back({wname, p->channels, keep.size()});
  }
  infer_shapes(g);
  rep.parameters_after = count_params();
  return rep;
}

}  // namespace bigmodel::prune
