#pragma once
// Calibration observers: the float range [lo, hi] an activation is quantized over, from the values it
// took on calibration inputs. min-max and moving-average min-max look at each batch's range; percentile,
// entropy (KL divergence) and MSE choose a clipping range from a histogram over the min-max range.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/quant.hpp"

namespace bigmodel::quant {

enum class observer_kind : std::uint8_t { min_max, moving_average_min_max, percentile, entropy, mse };

[[nodiscard]] constexpr bool needs_histogram(observer_kind k) noexcept {
  return k == observer_kind::percentile || k == observer_kind::entropy || k == observer_kind::mse;
}

struct observer_options {
  observer_kind kind = observer_kind::min_max;
  float averaging_constant = 0.01f;  // moving average: range += c * (batch range - range)
  double percentile = 99.99;         // kept fraction of values, in percent
  std::size_t bins = 2048;           // histogram observers
};

// Per batch: min/max (first pass), then (histogram observers) counts over the final min-max range.
class observer {
 public:
  explicit observer(observer_options o = {}) : opt_(o) {}

  void observe_range(std::span<const float> v, std::string_view where) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (float x : v) {
      if (!std::isfinite(x)) throw error("calibration.non_finite", "calibration produced NaN or infinity", std::string(where));
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    if (v.empty()) return;
    if (!seen_ || opt_.kind != observer_kind::moving_average_min_max) {
      lo_ = seen_ ? std::min(lo_, lo) : lo;
      hi_ = seen_ ? std::max(hi_, hi) : hi;
    } else {
      lo_ += opt_.averaging_constant * (lo - lo_);
      hi_ += opt_.averaging_constant * (hi - hi_);
    }
    seen_ = true;
  }

  void observe_histogram(std::span<const float> v) {
    if (counts_.empty()) counts_.assign(opt_.bins, 0.0);
    const double width = (double(hi_) - lo_) / double(opt_.bins);
    for (float x : v) {
      const double b = width > 0 ? (double(x) - lo_) / width : 0.0;
      counts_[static_cast<std::size_t>(std::clamp(b, 0.0, double(opt_.bins - 1)))] += 1.0;
    }
  }

  [[nodiscard]] bool seen() const noexcept { return seen_; }
  [[nodiscard]] std::pair<float, float> min_max() const noexcept { return {lo_, hi_}; }

  // The range to quantize over (u8 affine for the search of entropy / MSE).
  [[nodiscard]] std::pair<float, float> range() const {
    if (!needs_histogram(opt_.kind) || counts_.empty() || !(hi_ > lo_)) return {lo_, hi_};
    if (opt_.kind == observer_kind::percentile) return percentile_range();
    return search_range(opt_.kind == observer_kind::entropy);
  }

 private:
  [[nodiscard]] double edge(std::size_t b) const { return lo_ + (double(hi_) - lo_) * double(b) / double(counts_.size()); }

  [[nodiscard]] std::pair<float, float> percentile_range() const {
    double total = 0;
    for (double c : counts_) total += c;
    const double cut = total * (100.0 - opt_.percentile) / 100.0;
    std::size_t a = 0, b = counts_.size();
    for (double acc = 0; a < counts_.size() && acc + counts_[a] <= cut; ++a) acc += counts_[a];
    for (double acc = 0; b > a + 1 && acc + counts_[b - 1] <= cut; --b) acc += counts_[b - 1];
    return {static_cast<float>(edge(a)), static_cast<float>(edge(b))};
  }

  // Candidate ranges shrink [lo, hi] toward 0; the one with the least expected squared quantization
  // error (MSE) or the least KL divergence between the clipped histogram and its 256-level quantization.
  [[nodiscard]] std::pair<float, float> search_range(bool kl) const {
    double best = std::numeric_limits<double>::infinity();
    std::pair<float, float> out{lo_, hi_};
    for (int step = 100; step >= 10; --step) {
      const float f = static_cast<float>(step) / 100.0f;
      const float clo = lo_ * f, chi = hi_ * f;
      const double cost = kl ? kl_cost(clo, chi) : mse_cost(clo, chi);
      if (cost < best) best = cost, out = {clo, chi};
    }
    return out;
  }
  [[nodiscard]] double mse_cost(float clo, float chi) const {
    const quant_param p = choose_quant_param<std::uint8_t>(clo, chi, symmetry::affine);
    double err = 0;
    for (std::size_t b = 0; b < counts_.size(); ++b) {
      if (counts_[b] == 0) continue;
      const double x = 0.5 * (edge(b) + edge(b + 1));
      const double d = x - dequantize_value(quantize_value<std::uint8_t>(static_cast<float>(x), p), p);
      err += counts_[b] * d * d;
    }
    return err;
  }
  [[nodiscard]] double kl_cost(float clo, float chi) const {
    const quant_param p = choose_quant_param<std::uint8_t>(clo, chi, symmetry::affine);
    // TensorRT's recipe: P is the histogram inside [clo, chi] with the clipped tails folded into its end
    // bins; Q quantizes the *unfolded* in-range histogram to 256 levels, each level's mass spread evenly over
    // its non-empty bins. A folded tail is a spike Q lacks, so clipping costs what it loses.
    std::size_t first = counts_.size(), last = 0;
    for (std::size_t b = 0; b < counts_.size(); ++b) {
      const double x = 0.5 * (edge(b) + edge(b + 1));
      if (x >= clo && x <= chi) first = std::min(first, b), last = b;
    }
    if (first > last) return std::numeric_limits<double>::infinity();
    std::vector<double> P(counts_.size(), 0.0), level_mass(256, 0.0), level_bins(256, 0.0);
    std::vector<std::int32_t> level(counts_.size(), 0);
    double total = 0, inside = 0;
    for (std::size_t b = 0; b < counts_.size(); ++b) {
      P[std::clamp(b, first, last)] += counts_[b];
      total += counts_[b];
    }
    for (std::size_t b = first; b <= last; ++b) {
      level[b] = quantize_value<std::uint8_t>(static_cast<float>(0.5 * (edge(b) + edge(b + 1))), p);
      level_mass[static_cast<std::size_t>(level[b])] += counts_[b];
      if (counts_[b] > 0) level_bins[static_cast<std::size_t>(level[b])] += 1.0;
      inside += counts_[b];
    }
    if (!(inside > 0)) return std::numeric_limits<double>::infinity();
    double kl = 0;
    for (std::size_t b = first; b <= last; ++b) {
      if (P[b] == 0) continue;
      const auto l = static_cast<std::size_t>(level[b]);
      const double pb = P[b] / total;
      const double qb = counts_[b] > 0 ? level_mass[l] / level_bins[l] / inside : 1e-9;
      kl += pb * std::log(pb / qb);
    }
    return kl;
  }

  observer_options opt_;
  float lo_ = 0, hi_ = 0;
  bool seen_ = false;
  std::vector<double> counts_;
};

}  // namespace bigmodel::quant
