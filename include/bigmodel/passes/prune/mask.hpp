#pragma once
// Pruning works on weights seen as matrices [outputs, inputs] (a Linear's [out, in], a Conv's
// [out, in * kh * kw], an ONNX MatMul's [in, out] through a transposed strided view). A mask has that
// shape: 1 keeps the weight, 0 prunes it. Masks can be kept beside the weights and applied later.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../tensor/tensor.hpp"

namespace bigmodel::prune {

using weight_view = tensor_view<float, dextents<2>, layout_stride>;
using const_weight_view = tensor_view<const float, dextents<2>, layout_stride>;
using mask = tensor<std::uint8_t, dextents<2>>;

// An all-ones mask of the weight's shape.
[[nodiscard]] inline mask full_mask(const const_weight_view& w) {
  mask m(w.extent(0), w.extent(1));
  m.fill(1);
  return m;
}

// Zeroes the weights whose mask entry is 0 (through the view: any layout, any orientation).
inline void apply_mask(const weight_view& w, const mask& m) {
  require(w.extent(0) == m.extent(0) && w.extent(1) == m.extent(1), "prune.mask_shape",
          "mask shape does not match the weight");
  for (std::size_t i = 0; i < w.extent(0); ++i)
    for (std::size_t j = 0; j < w.extent(1); ++j)
      if (!m(i, j)) w(i, j) = 0.0f;
}

[[nodiscard]] inline std::size_t count_kept(const mask& m) {
  std::size_t n = 0;
  for (auto v : m) n += v ? 1u : 0u;
  return n;
}

// Number of elements to prune for a fraction `amount` of n, rounding half to even as PyTorch's
// torch.nn.utils.prune does (Python's round). Throws for amounts outside [0, 1].
[[nodiscard]] inline std::size_t amount_to_count(double amount, std::size_t n, std::string_view where = {}) {
  if (!(amount >= 0.0 && amount <= 1.0))
    throw error("prune.amount", "pruning amount must be a fraction in [0, 1], got " + std::to_string(amount),
                std::string(where));
  const double x = amount * static_cast<double>(n);
  return static_cast<std::size_t>(std::nearbyint(x));
}

// Sparsity figures of one layer or a whole model.
struct sparsity_row {
  std::string name;
  std::size_t total = 0;
  std::size_t zeros = 0;
  [[nodiscard]] double sparsity() const noexcept { return total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0; }
};

struct sparsity_report {
  std::vector<sparsity_row> layers;
  [[nodiscard]] sparsity_row total() const {
    sparsity_row t{"total", 0, 0};
    for (const auto& r : layers) {
      t.total += r.total;
      t.zeros += r.zeros;
    }
    return t;
  }
};

[[nodiscard]] inline sparsity_row measure_sparsity(std::string name, const const_weight_view& w) {
  sparsity_row r{std::move(name), w.size(), 0};
  for (std::size_t i = 0; i < w.extent(0); ++i)
    for (std::size_t j = 0; j < w.extent(1); ++j) r.zeros += w(i, j) == 0.0f ? 1u : 0u;
  return r;
}

}  // namespace bigmodel::prune
