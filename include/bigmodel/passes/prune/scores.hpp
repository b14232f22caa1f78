#pragma once
// Importance scores. Every pruning method ranks weights by a score functor
// `float score(std::size_t out, std::size_t in, float w)`, so users can plug in their own importance.
// Lower scores are pruned first.

#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "mask.hpp"

namespace bigmodel::prune {

template <class S>
concept score_function = requires(const S& s, std::size_t i, std::size_t j, float w) {
  { s(i, j, w) } -> std::convertible_to<float>;
};

// |w|: magnitude (L1) pruning.
struct magnitude {
  float operator()(std::size_t, std::size_t, float w) const noexcept { return std::fabs(w); }
};

// Activation-aware (Wanda): |W_ij| * ||X_j||_2, with X_j the j-th input feature over calibration samples.
struct wanda {
  std::vector<float> input_norms;  // one per input column
  float operator()(std::size_t, std::size_t j, float w) const noexcept { return std::fabs(w) * input_norms[j]; }

  // Accumulates ||X_j||_2 over calibration activations given as rows [samples, inputs]. For a Conv, feed
  // the im2col rows so that column j matches the weight's flattened input index.
  template <class View>
  static wanda from_activations(const View& x) {
    wanda s;
    s.input_norms.assign(x.extent(1), 0.0f);
    std::vector<double> acc(x.extent(1), 0.0);
    for (std::size_t r = 0; r < x.extent(0); ++r)
      for (std::size_t j = 0; j < x.extent(1); ++j) {
        const double v = static_cast<double>(x(r, j));
        acc[j] += v * v;
      }
    for (std::size_t j = 0; j < acc.size(); ++j) s.input_norms[j] = static_cast<float>(std::sqrt(acc[j]));
    return s;
  }
};

// Scores of every element of w, row-major [out, in]; checks the scores are numbers.
template <score_function Score>
[[nodiscard]] std::vector<float> score_matrix(const const_weight_view& w, const Score& score, std::string_view where) {
  std::vector<float> s(w.size());
  for (std::size_t i = 0; i < w.extent(0); ++i)
    for (std::size_t j = 0; j < w.extent(1); ++j) {
      const float v = static_cast<float>(score(i, j, w(i, j)));
      if (std::isnan(v))
        throw error("prune.nan_score", "importance score is NaN (NaN weight or activation?) at [" +
                                           std::to_string(i) + ", " + std::to_string(j) + "]",
                    std::string(where));
      s[i * w.extent(1) + j] = v;
    }
  return s;
}

}  // namespace bigmodel::prune
