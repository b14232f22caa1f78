#pragma once
// Weights (s8, K x N or N x K) repacked once for one ISA's kernel, with the column sums that turn the
// accumulator of shifted / zero-pointed activations back into the exact product.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "../core/error.hpp"
#include "aligned_buffer.hpp"
#include "gemm_config.hpp"
#include "isa.hpp"

namespace bigmodel::kernels {

enum class weight_layout : std::uint8_t {
  k_by_n,  // W[k][n] at w[k * ld + n]  (ONNX MatMul, Gemm transB=0)
  n_by_k,  // W[n][k] at w[n * ld + k]  (PyTorch Linear, Gemm transB=1)
};

class packed_weights {
 public:
  packed_weights() = default;

  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  [[nodiscard]] isa target() const noexcept { return target_; }
  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  [[nodiscard]] std::size_t n() const noexcept { return n_; }
  [[nodiscard]] std::size_t nr() const noexcept { return nr_; }
  [[nodiscard]] std::size_t k_padded() const noexcept { return kp_; }          // K rounded up to k_group
  [[nodiscard]] std::size_t panels() const noexcept { return (n_ + nr_ - 1) / nr_; }
  [[nodiscard]] std::size_t panel_bytes() const noexcept { return kp_ * nr_; }  // stride between panels
  [[nodiscard]] const std::int8_t* data() const noexcept { return reinterpret_cast<const std::int8_t*>(data_.data()); }
  // sum_k W[k][n], panels() * nr() entries (0 past N).
  [[nodiscard]] const std::int32_t* column_sums() const noexcept {
    return reinterpret_cast<const std::int32_t*>(data_.data() + panels() * panel_bytes());
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return panels() * (panel_bytes() + nr_ * sizeof(std::int32_t)); }

  // Sizes this object for K x N weights in `target`'s layout with every byte (padding included) zero, reusing
  // its buffer when that is large enough (no allocation once grown); for packers that write the layout themselves
  // (pack_weights; quantize_pack.hpp's per-call packers of attention's k and v). `target` must be compiled in.
  void reset(std::size_t k, std::size_t n, isa target) {
    target_ = target;
    k_ = k;
    n_ = n;
    nr_ = config_for(target).nr;
    kp_ = (k + k_group - 1) / k_group * k_group;
    data_.reserve(bytes());
    std::memset(data_.data(), 0, bytes());
  }
  [[nodiscard]] std::int8_t* mutable_data() noexcept { return reinterpret_cast<std::int8_t*>(data_.data()); }
  [[nodiscard]] std::int32_t* mutable_column_sums() noexcept {
    return reinterpret_cast<std::int32_t*>(data_.data() + panels() * panel_bytes());
  }

 private:
  aligned_buffer data_;
  isa target_ = isa::scalar;
  std::size_t k_ = 0, n_ = 0, nr_ = 1, kp_ = 0;
};

// Packs W for `target` (default: the ISA that gemm would use now). Packing for an ISA this CPU lacks is
// allowed (it is only a layout); running it here is refused with status::isa_mismatch.
// Throws bigmodel::error ("kernels.bad_argument") on a null pointer, k or n of 0, or ld too small, and
// ("kernels.isa_unsupported") if `target` is not compiled into this build.
inline packed_weights pack_weights(const std::int8_t* w, std::size_t k, std::size_t n, std::size_t ld,
                                   weight_layout layout, std::optional<isa> target = std::nullopt) {
  const std::string ctx = "k=" + std::to_string(k) + " n=" + std::to_string(n) + " ld=" + std::to_string(ld);
  require(w != nullptr, "kernels.bad_argument", "pack_weights: null weight pointer", ctx);
  require(k > 0 && n > 0, "kernels.bad_argument", "pack_weights: empty weight matrix", ctx);
  require(ld >= (layout == weight_layout::k_by_n ? n : k), "kernels.bad_argument",
          "pack_weights: leading dimension smaller than a row", ctx);
  const isa t = target.value_or(active_isa());
  require(is_compiled(t), "kernels.isa_unsupported", "pack_weights: ISA not compiled in", std::string(isa_name(t)));

  packed_weights p;
  p.reset(k, n, t);
  auto* out = p.mutable_data();
  auto* sums = p.mutable_column_sums();
  const std::size_t nr = p.nr();
  for (std::size_t col = 0; col < n; ++col) {
    std::int8_t* panel = out + (col / nr) * p.panel_bytes() + (col % nr) * k_group;
    std::int32_t sum = 0;
    for (std::size_t kk = 0; kk < k; ++kk) {
      const std::int8_t v = layout == weight_layout::k_by_n ? w[kk * ld + col] : w[col * ld + kk];
      panel[(kk / k_group) * nr * k_group + kk % k_group] = v;
      sum += v;
    }
    sums[col] = sum;
  }
  return p;
}

}  // namespace bigmodel::kernels
