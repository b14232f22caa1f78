#pragma once
// Mask-producing pruning methods on one weight matrix [outputs, inputs] (or several, for global pruning).
// Each takes a score functor (default |w|); ties are broken by position (lower index pruned first), so
// results are deterministic.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "mask.hpp"
#include "scores.hpp"

namespace bigmodel::prune {

namespace detail {
// Indices of the k smallest scores (ties: lower index first).
inline std::vector<std::size_t> smallest_k(const std::vector<float>& s, std::size_t k) {
  std::vector<std::size_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  k = std::min(k, idx.size());
  auto less = [&](std::size_t a, std::size_t b) { return s[a] < s[b] || (s[a] == s[b] && a < b); };
  std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(), less);
  idx.resize(k);
  return idx;
}
inline void check_weight(const const_weight_view& w, std::string_view where) {
  for (std::size_t i = 0; i < w.extent(0); ++i)
    for (std::size_t j = 0; j < w.extent(1); ++j)
      if (!std::isfinite(w(i, j)))
        throw error("prune.non_finite", "weight holds NaN or infinity at [" + std::to_string(i) + ", " +
                                            std::to_string(j) + "]", std::string(where));
}
}  // namespace detail

// Prunes the round(amount * size) lowest-scoring weights of the matrix (torch.nn.utils.prune.l1_unstructured
// with the default score).
template <score_function Score = magnitude>
[[nodiscard]] mask unstructured(const const_weight_view& w, double amount, const Score& score = {},
                                std::string_view where = {}) {
  detail::check_weight(w, where);
  const std::size_t k = amount_to_count(amount, w.size(), where);
  mask m = full_mask(w);
  for (std::size_t i : detail::smallest_k(score_matrix(w, score, where), k)) m.data()[i] = 0;
  return m;
}

// Prunes every weight whose score is below the threshold.
template <score_function Score = magnitude>
[[nodiscard]] mask by_threshold(const const_weight_view& w, float threshold, const Score& score = {},
                                std::string_view where = {}) {
  detail::check_weight(w, where);
  const auto s = score_matrix(w, score, where);
  mask m = full_mask(w);
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] < threshold) m.data()[i] = 0;
  return m;
}

// Prunes round(amount * size) weights chosen uniformly at random (seeded: the same seed, the same mask).
[[nodiscard]] inline mask random_unstructured(const const_weight_view& w, double amount, std::uint64_t seed,
                                              std::string_view where = {}) {
  const std::size_t k = amount_to_count(amount, w.size(), where);
  std::vector<std::size_t> idx(w.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  // Partial Fisher-Yates: the first k positions become a uniform random k-subset.
  for (std::size_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<std::size_t> d(i, idx.size() - 1);
    std::swap(idx[i], idx[d(rng)]);
  }
  mask m = full_mask(w);
  for (std::size_t i = 0; i < k; ++i) m.data()[idx[i]] = 0;
  return m;
}

// Global pruning: round(amount * total) lowest scores across all the matrices together
// (torch.nn.utils.prune.global_unstructured with L1). One mask per matrix.
template <score_function Score = magnitude>
[[nodiscard]] std::vector<mask> global_unstructured(std::span<const const_weight_view> ws, double amount,
                                                    const Score& score = {}) {
  std::vector<float> all;
  std::vector<std::size_t> offset;
  for (const auto& w : ws) {
    detail::check_weight(w, "global pruning");
    offset.push_back(all.size());
    const auto s = score_matrix(w, score, "global pruning");
    all.insert(all.end(), s.begin(), s.end());
  }
  const std::size_t k = amount_to_count(amount, all.size(), "global pruning");
  std::vector<mask> masks;
  for (const auto& w : ws) masks.push_back(full_mask(w));
  for (std::size_t flat : detail::smallest_k(all, k)) {
    const std::size_t layer =
        static_cast<std::size_t>(std::upper_bound(offset.begin(), offset.end(), flat) - offset.begin()) - 1;
    masks[layer].data()[flat - offset[layer]] = 0;
  }
  return masks;
}

// Per output row: prune round(amount * inputs) lowest scores of every row (Wanda's comparison group; with
// the magnitude score, row-wise magnitude pruning).
template <score_function Score = magnitude>
[[nodiscard]] mask per_row(const const_weight_view& w, double amount, const Score& score = {},
                           std::string_view where = {}) {
  detail::check_weight(w, where);
  const std::size_t k = amount_to_count(amount, w.extent(1), where);
  const auto s = score_matrix(w, score, where);
  mask m = full_mask(w);
  const std::size_t in = w.extent(1);
  for (std::size_t i = 0; i < w.extent(0); ++i) {
    const std::vector<float> row_scores(s.begin() + static_cast<std::ptrdiff_t>(i * in),
                                        s.begin() + static_cast<std::ptrdiff_t>((i + 1) * in));
    for (std::size_t j : detail::smallest_k(row_scores, k)) m(i, j) = 0;
  }
  return m;
}

// N:M semi-structured: in every group of M consecutive inputs of a row, keep the N highest scores
// (2:4 is what sparse tensor cores and sparse kernels expect). M must divide the number of inputs.
template <score_function Score = magnitude>
[[nodiscard]] mask n_m(const const_weight_view& w, std::size_t n, std::size_t m_group, const Score& score = {},
                       std::string_view where = {}) {
  if (m_group == 0 || n > m_group)
    throw error("prune.n_m", "N:M sparsity needs 0 <= N <= M and M > 0, got " + std::to_string(n) + ":" +
                                 std::to_string(m_group), std::string(where));
  if (w.extent(1) % m_group != 0)
    throw error("prune.n_m", "M = " + std::to_string(m_group) + " does not divide the input dimension " +
                                 std::to_string(w.extent(1)), std::string(where));
  detail::check_weight(w, where);
  const auto s = score_matrix(w, score, where);
  mask m = full_mask(w);
  const std::size_t in = w.extent(1);
  std::vector<float> group(m_group);
  for (std::size_t i = 0; i < w.extent(0); ++i)
    for (std::size_t g = 0; g < in; g += m_group) {
      std::copy_n(s.begin() + static_cast<std::ptrdiff_t>(i * in + g), m_group, group.begin());
      for (std::size_t j : detail::smallest_k(group, m_group - n)) m(i, g + j) = 0;
    }
  return m;
}

// Ln-structured: whole rows (dim 0: output channels) or columns (dim 1: input channels) with the lowest
// Ln norm are pruned, round(amount * count) of them. n > 0, or infinity for the max norm
// (torch.nn.utils.prune.ln_structured).
[[nodiscard]] inline mask ln_structured(const const_weight_view& w, double amount, double n, int dim,
                                        std::string_view where = {}) {
  if (dim != 0 && dim != 1)
    throw error("prune.dim", "structured pruning dim must be 0 (rows) or 1 (columns)", std::string(where));
  if (!(n > 0.0))
    throw error("prune.norm", "Ln norm needs n > 0 (or infinity), got " + std::to_string(n), std::string(where));
  detail::check_weight(w, where);
  const std::size_t count = w.extent(static_cast<std::size_t>(dim));
  const std::size_t k = amount_to_count(amount, count, where);
  std::vector<float> norms(count, 0.0f);
  std::vector<double> acc(count, 0.0);
  for (std::size_t i = 0; i < w.extent(0); ++i)
    for (std::size_t j = 0; j < w.extent(1); ++j) {
      const double a = std::fabs(static_cast<double>(w(i, j)));
      double& slot = acc[dim == 0 ? i : j];
      slot = std::isinf(n) ? std::max(slot, a) : slot + std::pow(a, n);
    }
  for (std::size_t c = 0; c < count; ++c)
    norms[c] = static_cast<float>(std::isinf(n) ? acc[c] : std::pow(acc[c], 1.0 / n));
  mask m = full_mask(w);
  for (std::size_t c : detail::smallest_k(norms, k))
    for (std::size_t o = 0; o < w.extent(static_cast<std::size_t>(1 - dim)); ++o) (dim == 0 ? m(c, o) : m(o, c)) = 0;
  return m;
}

}  // namespace bigmodel::prune
