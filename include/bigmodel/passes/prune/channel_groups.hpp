#pragma once
// Coupling groups for structured channel removal. Output channel c of a Gemm / MatMul / Conv lives on in
// every value the channel flows through unchanged (activations, per-channel constants, BatchNormalization,
// pooling, Transpose, and Reshape / Flatten where the mapping is known), and in every value it is combined
// with elementwise (Add of a residual branch, Mul of a gate...). All those values form one channel space;
// every layer writing into the space (producers) and reading from it (consumers) must lose the same channels
// together, or shapes stop matching. group_finder walks the space from one producer, forwards and backwards,
// and either returns the whole group or the reason it cannot: the channels reach a graph input or output, or
// an op whose channel mapping is not known (Softmax, a normalization over channels, Concat, a computed
// Reshape...). It never guesses.

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "../../graph/computation_graph.hpp"

namespace bigmodel::prune::channel_detail {

// Where channel c of a group sits along one axis of a tensor: the axis has outer * channels * inner entries
// and channel c owns entries (o * channels + c) * inner + i for o < outer, i < inner. A Conv output has
// outer = inner = 1 along axis 1; flattened [N, C*H*W] it has inner = H*W along axis 1.
struct layout {
  std::size_t axis = 0, outer = 1, inner = 1;
  friend bool operator==(const layout&, const layout&) = default;
};

// The entries along the axis that survive when channels `keep` (sorted) survive.
inline std::vector<std::size_t> expand(const layout& l, std::size_t channels, const std::vector<std::size_t>& keep) {
  std::vector<std::size_t> out;
  out.reserve(l.outer * keep.size() * l.inner);
  for (std::size_t o = 0; o < l.outer; ++o)
    for (auto c : keep)
      for (std::size_t i = 0; i < l.inner; ++i) out.push_back((o * channels + c) * l.inner + i);
  return out;
}

// A constant sliced along one axis (weights, biases, per-channel constants, BatchNormalization parameters).
struct cut {
  value_id constant;
  layout where;
};

// A layer writing the channels: its weight's output axis holds them.
struct producer {
  node_id node;
  value_id weight;
  std::size_t out_axis = 0;
  std::size_t channels = 0;
};

// A layer reading the channels: they are entries of its weight's input axis (a Conv's weight [O, C, k...]
// flattens to columns C * kernel, kernel = product of the kernel dims; 1 for Gemm / MatMul).
struct consumer {
  node_id node;
  value_id weight;
  std::size_t in_axis = 0;
  layout where;  // on the weight's input axis
  std::size_t kernel = 1;
};

// A Reshape whose constant target shape spells the channel axis' extent: entry `index` must shrink too.
struct reshape_fix {
  node_id node;
  std::size_t index = 0;
};

struct group {
  std::size_t channels = 0;
  std::vector<producer> producers;
  std::vector<consumer> consumers;
  std::vector<cut> cuts;  // every constant to slice, weights included
  std::vector<reshape_fix> reshapes;
  std::vector<value_id> values;  // values in the channel space (their shapes change)
  std::string refused;           // why the group cannot be pruned; empty when it can
};

// Maps a channel layout through a reshape (Reshape, Flatten, Squeeze, Unsqueeze: row-major order kept)
// from a tensor of shape `from` to one of shape `to`, or nullopt when channels would be split across axes
// or mixed with a dimension whose extent is unknown. In the flat index a channel owns runs of
// chunk = inner * (product of the dims after the axis) consecutive entries, one run every
// period = channels * chunk entries; the target axis j must hold whole periods, with its trailing dims
// fitting inside one run.
inline std::optional<layout> map_through_reshape(const symbolic_shape& from, const layout& l, std::size_t channels,
                                                 const symbolic_shape& to) {
  std::size_t after = 1;
  for (std::size_t d = l.axis + 1; d < from.size(); ++d) {
    if (!from[d].known()) return std::nullopt;
    after *= static_cast<std::size_t>(from[d].value);
  }
  const std::size_t chunk = l.inner * after, period = channels * chunk;
  std::size_t trailing = 1;  // product of to's dims after j
  for (std::size_t j = to.size(); j-- > 0;) {
    if (!to[j].known() || trailing > chunk) return std::nullopt;
    const auto extent = static_cast<std::size_t>(to[j].value);
    if (chunk % trailing == 0 && extent * trailing % period == 0 && extent * trailing >= period)
      return layout{j, extent * trailing / period, chunk / trailing};
    trailing *= extent;
  }
  return std::nullopt;
}

// Inside the walk a channel axis is counted from the end (0 = last axis): broadcasting aligns trailing
// axes, so an elementwise op keeps the count, and it is known even where shape inference lost the rank
// (after a Reshape to a computed shape, as in attention blocks).
struct place {
  std::size_t back = 0, outer = 1, inner = 1;
  friend bool operator==(const place&, const place&) = default;
};

template <class OpSet>
class group_finder {
 public:
  using graph = basic_computation_graph<OpSet>;
  explicit group_finder(const graph& g) : g_(g) {}

  // The coupling group of producer p (a node that as_producer accepted).
  group find(const producer& p) {
    gr_ = group{};
    gr_.channels = p.channels;
    seen_values_.clear();
    seen_nodes_.clear();
    queue_.clear();
    const value_id y = g_.outputs(p.node)[0];
    std::size_t back = 0;
    if (g_.template op_as<ops::conv>(p.node)) {
      const auto r = rank_of(y);
      if (!r || *r < 2) {
        gr_.refused = "the rank of its output '" + g_.name_of(y) + "' is unknown";
        return gr_;
      }
      back = *r - 2;
    }
    bool ok = join(y, {back, 1, 1});
    for (std::size_t q = 0; ok && q < queue_.size(); ++q) {
      const auto [v, at] = queue_[q];  // a copy: expanding grows the queue
      ok = expand_value(v, at);
    }
    return gr_;
  }

 private:
  bool refuse(std::string why) {
    gr_.refused = std::move(why);
    return false;
  }
  std::optional<std::size_t> rank_of(value_id v) const {
    const auto& s = g_.at(v).shape;
    return s ? std::optional<std::size_t>(s->size()) : std::nullopt;
  }
  // The front-counted axis of place p in v, when v's rank is known and reaches it.
  std::optional<std::size_t> front_axis(value_id v, const place& p) const {
    const auto r = rank_of(v);
    if (!r || p.back >= *r) return std::nullopt;
    return *r - 1 - p.back;
  }
  std::size_t full(const place& p) const { return p.outer * gr_.channels * p.inner; }

  // Adds v (its channels at place p) to the space. Where v's shape is known, its extent must match.
  bool join(value_id v, const place& p) {
    const auto& info = g_.at(v);
    if (const auto it = seen_values_.find(v.index); it != seen_values_.end()) {
      if (it->second == p) return true;
      return refuse("its channels reach '" + info.name + "' along two different axes or layouts");
    }
    if (info.is_output) return refuse("its channels reach the graph output '" + info.name + "'");
    if (info.is_input) return refuse("its channels come from the graph input '" + info.name + "'");
    if (info.initializer) return refuse("its channels come from the constant '" + info.name + "'");
    if (info.shape) {
      const auto a = front_axis(v, p);
      if (!a) return refuse("'" + info.name + "' has no axis for the channels");
      const dim& d = (*info.shape)[*a];
      if (d.known() && static_cast<std::size_t>(d.value) != full(p))
        return refuse("'" + info.name + "' has extent " + to_string(d) + " along axis " + std::to_string(*a) +
                      ", expected " + std::to_string(full(p)) + " (channel counts do not match)");
    }
    seen_values_.emplace(v.index, p);
    gr_.values.push_back(v);
    queue_.emplace_back(v, p);
    return true;
  }

  bool expand_value(value_id v, const place& p) {
    if (const node_id n = g_.producer(v); n.valid()) {
      const auto& outs = g_.outputs(n);
      const auto k = static_cast<std::uint32_t>(std::find(outs.begin(), outs.end(), v) - outs.begin());
      if (!visit(n, true, k, p)) return false;
    }
    for (const auto& u : g_.uses(v))
      if (!visit(u.node, false, u.slot, p)) return false;
    return true;
  }

  // A constant operand sliced where the channels sit; it must be f32, used by this node only, and have
  // the channel extent there.
  bool constant_cut(value_id c, const layout& where) {
    const auto& t = *g_.constant_value(c);
    if (g_.uses(c).size() != 1) return refuse("the constant '" + g_.name_of(c) + "' is shared with other nodes");
    if (t.type() != dtype::f32) return refuse("the constant '" + g_.name_of(c) + "' is not f32");
    const std::size_t want = where.outer * gr_.channels * where.inner;
    if (where.axis >= t.rank() || static_cast<std::size_t>(t.dim(where.axis)) != want)
      return refuse("the constant '" + g_.name_of(c) + "' " + to_string(to_symbolic(t.shape())) + " does not have " +
                    std::to_string(want) + " entries along axis " + std::to_string(where.axis));
    gr_.cuts.push_back({c, where});
    return true;
  }

  // Visits node n, reached through its input `slot` (from_output false) or its output `slot`.
  bool visit(node_id n, bool from_output, std::uint32_t slot, const place& p) {
    const bool terminal = g_.template op_as<ops::gemm>(n) || g_.template op_as<ops::matmul>(n) ||
                          g_.template op_as<ops::conv>(n);
    const auto key = std::pair(n.index, terminal ? int(from_output) : -1);
    if (!seen_nodes_.insert(key).second) return true;
    const auto& op = g_.op_of(n);
    const std::string where = g_.describe(n);
    if (terminal) return from_output ? add_producer(n, p) : add_consumer(n, slot, p);
    const bool one_data_input = is_unary(op) || std::holds_alternative<ops::batch_norm>(op) ||
                                std::holds_alternative<ops::max_pool>(op) || std::holds_alternative<ops::average_pool>(op) ||
                                std::holds_alternative<ops::global_average_pool>(op) || is_reshape(op) ||
                                std::holds_alternative<ops::transpose>(op);
    if (one_data_input && !from_output && slot != 0)
      return refuse("its channels reach an input other than the data input of " + where);
    if (is_unary(op)) return unary(n, p);
    if (is_binary(op)) return binary(n, p);
    if (const auto* bn = std::get_if<ops::batch_norm>(&op)) {
      if (!channel_axis_is_1(g_.inputs(n)[0], p) || bn->training_mode != 0)
        return refuse("its channels reach " + where + " on an axis other than 1, or in training mode");
      for (std::size_t i = 1; i < 5 && i < g_.inputs(n).size(); ++i)
        if (!g_.is_constant(g_.inputs(n)[i])) return refuse("the parameters of " + where + " are not constants");
        else if (!constant_cut(g_.inputs(n)[i], {0, p.outer, p.inner})) return false;
      return same_place(n, p);
    }
    if (std::holds_alternative<ops::max_pool>(op) || std::holds_alternative<ops::average_pool>(op) ||
        std::holds_alternative<ops::global_average_pool>(op)) {
      if (!channel_axis_is_1(g_.inputs(n)[0], p)) return refuse("its channels reach pooling over them at " + where);
      return same_place(n, p);
    }
    if (is_reshape(op)) return reshape(n, from_output, p);
    if (const auto* t = std::get_if<ops::transpose>(&op)) return transpose(n, *t, from_output, p);
    if (std::holds_alternative<ops::concat>(op))
      return refuse("its channels reach Concat at " + where + " (concatenated channels are not followed)");
    return refuse("its channels " + std::string(from_output ? "come from " : "reach ") + std::string(op_type_name(op)) +
                  " at " + where + ", whose channel mapping is not known");
  }

  bool channel_axis_is_1(value_id v, const place& p) const {
    const auto a = front_axis(v, p);
    return a && *a == 1;
  }

  static bool is_unary(const typename graph::op_type& op) {
    return std::holds_alternative<ops::relu>(op) || std::holds_alternative<ops::sigmoid>(op) ||
           std::holds_alternative<ops::tanh>(op) || std::holds_alternative<ops::gelu>(op) ||
           std::holds_alternative<ops::erf>(op) || std::holds_alternative<ops::identity>(op) ||
           std::holds_alternative<ops::dropout>(op) || std::holds_alternative<ops::neg>(op) ||
           std::holds_alternative<ops::exp>(op) || std::holds_alternative<ops::sqrt>(op) ||
           std::holds_alternative<ops::reciprocal>(op) || std::holds_alternative<ops::cast>(op) ||
           std::holds_alternative<ops::clip>(op);
  }
  static bool is_reshape(const typename graph::op_type& op) {
    return std::holds_alternative<ops::reshape>(op) || std::holds_alternative<ops::flatten>(op) ||
           std::holds_alternative<ops::squeeze>(op) || std::holds_alternative<ops::unsqueeze>(op);
  }
  static bool is_binary(const typename graph::op_type& op) {
    return std::holds_alternative<ops::add>(op) || std::holds_alternative<ops::sub>(op) ||
           std::holds_alternative<ops::mul>(op) || std::holds_alternative<ops::div>(op) ||
           std::holds_alternative<ops::pow>(op);
  }

  // Input 0 and every used output carry the channels at the same place.
  bool same_place(node_id n, const place& p) {
    const auto& outs = g_.outputs(n);
    if (std::holds_alternative<ops::max_pool>(g_.op_of(n)) && outs.size() > 1 && outs[1].valid() && !g_.uses(outs[1]).empty())
      return refuse("MaxPool's indices are used at " + g_.describe(n));
    if (!join(g_.inputs(n)[0], p)) return false;
    for (std::size_t k = 0; k < outs.size(); ++k)
      if (outs[k].valid() && (k == 0 || !g_.uses(outs[k]).empty() || g_.at(outs[k]).is_output))
        if (!join(outs[k], p)) return false;
    return true;
  }

  bool unary(node_id n, const place& p) {
    const auto& in = g_.inputs(n);
    for (std::size_t i = 1; i < in.size(); ++i)  // Clip's bounds, Dropout's ratio
      if (in[i].valid() && (!g_.is_constant(in[i]) || g_.constant_value(in[i])->numel() != 1))
        return refuse("the extra inputs of " + g_.describe(n) + " are not scalar constants");
    return same_place(n, p);
  }

  // Broadcasting elementwise op (trailing axes aligned, so the place is the same on every operand): each
  // operand carries the channels (computed operands join the space, constants are sliced) or broadcasts
  // along them (extent 1, or too short to reach the axis). A computed operand of unknown shape is taken
  // to carry them: if it does not, the walk meets a mismatching layer or an unknown op and refuses.
  bool binary(node_id n, const place& p) {
    for (auto v : g_.inputs(n)) {
      if (!v.valid()) continue;
      const auto& shape = g_.at(v).shape;
      if (!shape) {
        if (g_.is_constant(v)) return refuse("the constant '" + g_.name_of(v) + "' has no shape");
        if (!join(v, p)) return false;
        continue;
      }
      const auto a = front_axis(v, p);
      const std::int64_t e = a ? (*shape)[*a].value : 1;
      if (e == 1 && full(p) != 1) continue;
      if (e < 0 || static_cast<std::size_t>(e) != full(p))
        return refuse("'" + g_.name_of(v) + "' neither carries the channels nor broadcasts along them at " + g_.describe(n));
      if (g_.is_constant(v) ? !constant_cut(v, {*a, p.outer, p.inner}) : !join(v, p)) return false;
    }
    return join(g_.outputs(n)[0], p);
  }

  bool reshape(node_id n, bool from_output, const place& p) {
    const std::string where = g_.describe(n);
    const value_id x = g_.inputs(n)[0], y = g_.outputs(n)[0];
    const auto& sx = g_.at(x).shape;
    const auto& sy = g_.at(y).shape;
    if (!sx || !sy) return refuse("the shapes around " + where + " are unknown");
    const auto a = front_axis(from_output ? y : x, p);
    if (!a) return refuse("the shapes around " + where + " do not have the channel axis");
    const layout l{*a, p.outer, p.inner};
    const auto mapped = from_output ? map_through_reshape(*sy, l, gr_.channels, *sx)
                                    : map_through_reshape(*sx, l, gr_.channels, *sy);
    if (!mapped) return refuse("its channels reach " + where + ", which mixes them with other dimensions");
    const layout lx = from_output ? *mapped : l, ly = from_output ? l : *mapped;
    if (std::holds_alternative<ops::reshape>(g_.op_of(n))) {
      const value_id target = g_.inputs(n).size() > 1 ? g_.inputs(n)[1] : value_id{};
      if (!g_.is_constant(target)) return refuse("the target shape of " + where + " is computed at run time");
      const auto t = g_.constant_value(target)->to_ints();
      const bool copies = !g_.template op_as<ops::reshape>(n)->allowzero && lx.axis == ly.axis;
      if (t[ly.axis] == 0 && !copies) return refuse("the target shape of " + where + " copies a changed dimension");
      if (t[ly.axis] > 0) gr_.reshapes.push_back({n, ly.axis});
    }
    return join(x, {sx->size() - 1 - lx.axis, lx.outer, lx.inner}) && join(y, {sy->size() - 1 - ly.axis, ly.outer, ly.inner});
  }

  bool transpose(node_id n, const ops::transpose& t, bool from_output, const place& p) {
    const value_id x = g_.inputs(n)[0], y = g_.outputs(n)[0];
    const auto r = rank_of(x);
    const auto a = front_axis(from_output ? y : x, p);
    if (!r || !a) return refuse("the rank around " + g_.describe(n) + " is unknown");
    std::vector<std::int64_t> perm = t.perm.value_or(std::vector<std::int64_t>{});
    if (perm.empty())
      for (std::size_t i = *r; i-- > 0;) perm.push_back(static_cast<std::int64_t>(i));
    if (perm.size() != *r) return refuse("the permutation of " + g_.describe(n) + " does not match its input");
    std::size_t ax = *a, ay = *a;
    if (from_output) {
      ax = static_cast<std::size_t>(perm[ay]);
    } else {
      const auto it = std::find(perm.begin(), perm.end(), static_cast<std::int64_t>(ax));
      if (it == perm.end()) return refuse("the permutation of " + g_.describe(n) + " is not valid");
      ay = static_cast<std::size_t>(it - perm.begin());
    }
    return join(x, {*r - 1 - ax, p.outer, p.inner}) && join(y, {*r - 1 - ay, p.outer, p.inner});
  }

  bool add_producer(node_id n, const place& p);
  bool add_consumer(node_id n, std::uint32_t slot, const place& p);

  const graph& g_;
  group gr_;
  std::map<std::uint32_t, place> seen_values_;
  std::set<std::pair<std::uint32_t, int>> seen_nodes_;
  std::vector<std::pair<value_id, place>> queue_;
};

// A Gemm / MatMul / Conv whose output channels can be removed: constant f32 weight (rank 2, or >= 3 for an
// ungrouped Conv), constant bias if any.
template <class OpSet>
std::optional<producer> as_producer(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto& in = g.inputs(n);
  if (in.size() < 2 || !g.is_constant(in[1]) || g.constant_value(in[1])->type() != dtype::f32) return std::nullopt;
  const auto& w = *g.constant_value(in[1]);
  producer p{n, in[1], 0, 0};
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
  if (in.size() > 2 && in[2].valid() && !g.is_constant(in[2])) return std::nullopt;
  return p;
}

template <class OpSet>
bool group_finder<OpSet>::add_producer(node_id n, const place& p) {
  const auto q = as_producer(g_, n);
  if (!q) return refuse("its channels come from " + g_.describe(n) + ", which is not a layer with a constant f32 weight");
  const value_id y = g_.outputs(n)[0];
  const bool conv = g_.template op_as<ops::conv>(n) != nullptr;
  const bool at_channels = p.outer == 1 && p.inner == 1 && (conv ? channel_axis_is_1(y, p) : p.back == 0);
  if (!at_channels || q->channels != gr_.channels)
    return refuse("its channels reach the output of " + g_.describe(n) + " on an axis other than its channels");
  if (g_.uses(q->weight).size() != 1) return refuse("the weight '" + g_.name_of(q->weight) + "' is shared with other nodes");
  gr_.producers.push_back(*q);
  if (!constant_cut(q->weight, {q->out_axis, 1, 1})) return false;
  const auto& in = g_.inputs(n);
  if (in.size() > 2 && in[2].valid()) {
    const auto& b = *g_.constant_value(in[2]);
    if (b.rank() >= 1 && b.dim(b.rank() - 1) == static_cast<std::int64_t>(q->channels) &&
        b.numel() == static_cast<std::int64_t>(q->channels))
      return constant_cut(in[2], {b.rank() - 1, 1, 1});
    // A Gemm's C broadcasts like an Add operand: a scalar or a column [M, 1] carries no channels.
    if (b.numel() != 1 && !(b.rank() == 2 && b.dim(1) == 1))
      return refuse("the bias of " + g_.describe(n) + " is not per channel");
  }
  return true;
}

template <class OpSet>
bool group_finder<OpSet>::add_consumer(node_id n, std::uint32_t slot, const place& p) {
  const std::string where = g_.describe(n);
  const auto& in = g_.inputs(n);
  if (slot != 0) return refuse("its channels reach an input other than the data input of " + where);
  const value_id w = in.size() > 1 ? in[1] : value_id{};
  if (!g_.is_constant(w) || g_.constant_value(w)->type() != dtype::f32)
    return refuse("its channels reach " + where + ", which has no constant f32 weight");
  const auto& wt = *g_.constant_value(w);
  consumer c{n, w, 0, {0, p.outer, p.inner}, 1};
  if (const auto* gm = g_.template op_as<ops::gemm>(n)) {
    if (gm->trans_a || p.back != 0 || wt.rank() != 2) return refuse("its channels reach " + where + " on an axis other than K");
    c.in_axis = gm->trans_b ? 1 : 0;
  } else if (g_.template op_as<ops::matmul>(n)) {
    if (p.back != 0 || wt.rank() != 2) return refuse("its channels reach " + where + " on an axis other than K");
    c.in_axis = 0;
  } else {
    const auto* cv = g_.template op_as<ops::conv>(n);
    if (cv->group != 1 || !channel_axis_is_1(in[0], p) || wt.rank() < 3)
      return refuse("its channels reach a grouped Conv, or a Conv on an axis other than its channels, at " + where);
    c.in_axis = 1;
    for (std::size_t d = 2; d < wt.rank(); ++d) c.kernel *= static_cast<std::size_t>(wt.dim(d));
  }
  c.where.axis = c.in_axis;
  if (!constant_cut(w, c.where)) return false;
  gr_.consumers.push_back(c);
  return true;
}

}  // namespace bigmodel::prune::channel_detail
