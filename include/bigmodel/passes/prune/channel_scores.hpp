#pragma once
// Channel importance for structured removal, per coupling group (lower scores are removed first):
//   l1          sum over the group's producers of |w| over the channel's weights (its row of each producer)
//   l2          sqrt of the sum of w^2 over the same weights (the L2 norm of the concatenated rows)
//   activation  sum over the group's consumers of ||W[:, j]||_2 * ||X_j||_2 over the consumer's input
//               columns j that belong to the channel: the channel's weights where it is used, times its
//               calibration activation norm (the structured form of Wanda's |W| * ||X||). A channel that
//               is zero on the calibration set, or whose outgoing weights are zero, scores 0.
// ||X_j||_2 comes from runtime::weight_input_norms (keyed by the consumer's weight; a Conv's entries follow
// its flattened weight's columns, input channel major, then kernel position).

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "channel_groups.hpp"
#include "mask.hpp"

namespace bigmodel::prune {

enum class channel_criterion { l1, l2, activation };

using activation_norms = std::map<std::string, std::vector<float>, std::less<>>;

namespace channel_detail {

template <class OpSet>
std::vector<double> weight_scores(const basic_computation_graph<OpSet>& g, const group& gr, bool l1) {
  std::vector<double> s(gr.channels, 0.0);
  for (const auto& p : gr.producers) {
    const auto v = g.constant_value(p.weight)->template span<float>();
    const std::size_t per = v.size() / gr.channels;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::size_t c = p.out_axis == 0 ? i / per : i % gr.channels;  // out_axis is 0, or the last of 2
      const double a = std::fabs(static_cast<double>(v[i]));
      if (!std::isfinite(a))
        throw error("prune.non_finite", "weight holds NaN or infinity", g.name_of(p.weight));
      s[c] += l1 ? a : a * a;
    }
  }
  if (!l1)
    for (auto& x : s) x = std::sqrt(x);
  return s;
}

template <class OpSet>
std::vector<double> activation_scores(const basic_computation_graph<OpSet>& g, const group& gr,
                                      const activation_norms& norms) {
  std::vector<double> s(gr.channels, 0.0);
  for (const auto& c : gr.consumers) {
    const std::string& name = g.name_of(c.weight);
    const auto& w = *g.constant_value(c.weight);
    const auto it = norms.find(name);
    if (it == norms.end())
      throw error("prune.calibration_missing",
                  "activation-aware channel selection needs the calibration norms of this layer's inputs "
                  "(runtime::weight_input_norms)", name);
    const auto v = w.template span<float>();
    const std::size_t cols = static_cast<std::size_t>(w.dim(c.in_axis)) * c.kernel;
    const std::size_t rows = v.size() / cols;
    if (it->second.size() != cols)
      throw error("prune.calibration_shape", "activation norms have " + std::to_string(it->second.size()) +
                                                 " entries, the layer has " + std::to_string(cols) + " inputs", name);
    std::vector<double> col(cols, 0.0);  // squared column norms of the weight seen as [outputs, inputs]
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double x = static_cast<double>(v[i]);
      col[c.in_axis == 0 ? i / rows : i % cols] += x * x;
    }
    for (std::size_t ch = 0; ch < gr.channels; ++ch)
      for (std::size_t o = 0; o < c.where.outer; ++o)
        for (std::size_t i = 0; i < c.where.inner; ++i)
          for (std::size_t k = 0; k < c.kernel; ++k) {
            const std::size_t j = ((o * gr.channels + ch) * c.where.inner + i) * c.kernel + k;
            const double x = static_cast<double>(it->second[j]);
            if (!(x >= 0.0) || !std::isfinite(x))
              throw error("prune.calibration_value", "activation norm " + std::to_string(j) + " is negative or not finite", name);
            s[ch] += std::sqrt(col[j]) * x;
          }
  }
  for (std::size_t ch = 0; ch < s.size(); ++ch)
    if (!std::isfinite(s[ch]))
      throw error("prune.non_finite", "channel score " + std::to_string(ch) + " is not finite (NaN or infinite weights?)",
                  gr.producers.empty() ? std::string() : g.name_of(gr.producers[0].weight));
  return s;
}

template <class OpSet>
std::vector<double> channel_scores(const basic_computation_graph<OpSet>& g, const group& gr, channel_criterion crit,
                                   const activation_norms& norms) {
  if (crit == channel_criterion::activation) return activation_scores(g, gr, norms);
  return weight_scores(g, gr, crit == channel_criterion::l1);
}

// The k lowest-scoring channels, ascending by index (ties: the lower index goes first).
inline std::vector<std::size_t> lowest(const std::vector<double>& s, std::size_t k) {
  std::vector<std::size_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s[a] < s[b]; });
  idx.resize(std::min(k, idx.size()));
  std::sort(idx.begin(), idx.end());
  return idx;
}

// Global selection: one threshold across groups on scores normalized per group by the group's mean
// channel score (score / mean), so a layer with large weights or a large fan-in does not keep all its
// channels while small layers lose theirs; a channel is judged against its own layer's typical channel.
// round(amount * total channels) are removed, lowest normalized score first (ties: earlier group, lower
// index), never the last channel of a group. Returns the channels to remove per group.
inline std::vector<std::vector<std::size_t>> global_lowest(const std::vector<std::vector<double>>& scores, double amount) {
  struct entry {
    double s;
    std::size_t group, channel;
  };
  std::vector<entry> all;
  for (std::size_t gi = 0; gi < scores.size(); ++gi) {
    const auto& s = scores[gi];
    const double mean = s.empty() ? 0.0 : std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
    for (std::size_t c = 0; c < s.size(); ++c) all.push_back({mean > 0.0 ? s[c] / mean : 0.0, gi, c});
  }
  const std::size_t k = amount_to_count(amount, all.size(), "global channel pruning");
  std::stable_sort(all.begin(), all.end(), [](const entry& a, const entry& b) { return a.s < b.s; });
  std::vector<std::vector<std::size_t>> out(scores.size());
  std::size_t taken = 0;
  for (const auto& e : all) {
    if (taken == k) break;
    if (out[e.group].size() + 1 >= scores[e.group].size()) continue;  // keep one channel per group
    out[e.group].push_back(e.channel);
    ++taken;
  }
  for (auto& r : out) std::sort(r.begin(), r.end());
  return out;
}

}  // namespace channel_detail
}  // namespace bigmodel::prune
