#pragma once
// 2:4 semi-structured sparse storage: every group of 4 consecutive weights along the input dimension
// keeps at most 2 values. Stored compressed as the 2 values of each group (zeros where a group has fewer)
// and their positions in the group as 2-bit indices, 4 indices per byte: 8.5 bytes per 16 bytes of f32
// weights. The layout sparse kernels and sparse tensor cores expect; a reference kernel runs it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../tensor/tensor_view.hpp"

namespace bigmodel::kernels {

struct sparse_24_matrix {
  std::size_t rows = 0, cols = 0;        // logical [rows = outputs, cols = inputs], cols % 4 == 0
  std::vector<float> values;             // rows * cols / 2
  std::vector<std::uint8_t> indices;     // 2 bits per value, value 4k+j at bits 2j of byte k

  [[nodiscard]] std::size_t storage_bytes() const noexcept { return values.size() * sizeof(float) + indices.size(); }
  [[nodiscard]] unsigned index(std::size_t v) const noexcept { return (indices[v / 4] >> (2 * (v % 4))) & 3u; }
};

// Compresses a [rows, cols] matrix that is already 2:4 sparse; throws bigmodel::error (naming the row and
// group) when a group holds more than 2 nonzeros or cols is not a multiple of 4.
template <class Layout>
[[nodiscard]] sparse_24_matrix compress_24(const tensor_view<const float, dextents<2>, Layout>& w,
                                           std::string_view name = {}) {
  sparse_24_matrix s;
  s.rows = w.extent(0);
  s.cols = w.extent(1);
  if (s.cols % 4 != 0)
    throw error("sparse.shape", "2:4 storage needs the input dimension to be a multiple of 4, got " + std::to_string(s.cols),
                std::string(name));
  const std::size_t n_values = s.rows * s.cols / 2;
  s.values.assign(n_values, 0.0f);
  s.indices.assign((n_values + 3) / 4, 0);
  std::size_t v = 0;
  for (std::size_t r = 0; r < s.rows; ++r)
    for (std::size_t g = 0; g < s.cols; g += 4) {
      std::size_t kept = 0;
      unsigned pos[2] = {0, 1};  // groups with fewer than 2 nonzeros store explicit zeros at distinct slots
      float val[2] = {0.0f, 0.0f};
      for (unsigned j = 0; j < 4; ++j) {
        const float x = w(r, g + j);
        if (x == 0.0f) continue;
        if (kept == 2)
          throw error("sparse.not_24", "group has more than 2 nonzeros: prune it 2:4 first",
                      std::string(name) + " row " + std::to_string(r) + ", inputs " + std::to_string(g) + ".." +
                          std::to_string(g + 3));
        pos[kept] = j;
        val[kept] = x;
        ++kept;
      }
      if (kept == 1) pos[1] = pos[0] == 0 ? 1 : 0;  // the padding zero takes another slot
      for (unsigned k = 0; k < 2; ++k, ++v) {
        s.values[v] = val[k];
        s.indices[v / 4] = static_cast<std::uint8_t>(s.indices[v / 4] | (pos[k] << (2 * (v % 4))));
      }
    }
  return s;
}

// Dense [rows, cols] (row-major) from the compressed form.
[[nodiscard]] inline std::vector<float> decompress_24(const sparse_24_matrix& s) {
  std::vector<float> d(s.rows * s.cols, 0.0f);
  for (std::size_t v = 0; v < s.values.size(); ++v) {
    const std::size_t group = v / 2;  // groups in row-major order
    d[group * 4 + s.index(v)] += s.values[v];
  }
  return d;
}

// Reference kernel: y[m, n] = sum_k x[m, k] * W[n, k] over the kept weights only (x row-major with leading
// dimension ldx, y with ldy). Reads half the weight values of the dense product.
inline void sparse_24_linear_reference(const float* x, std::size_t m, std::size_t ldx, const sparse_24_matrix& w,
                                       float* y, std::size_t ldy) noexcept {
  const std::size_t groups = w.cols / 4;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t n = 0; n < w.rows; ++n) {
      float acc = 0.0f;
      std::size_t v = n * groups * 2;
      for (std::size_t g = 0; g < groups; ++g, v += 2) {
        const float* xg = x + i * ldx + g * 4;
        acc += w.values[v] * xg[w.index(v)] + w.values[v + 1] * xg[w.index(v + 1)];
      }
      y[i * ldy + n] = acc;
    }
}

}  // namespace bigmodel::kernels
