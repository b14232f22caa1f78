#pragma once
// BatchNormalization in inference mode: y = (x - mean) / sqrt(var + eps) * scale + bias, per channel (axis 1).

#include <cmath>

#include "../kernel_context.hpp"

namespace bigmodel::runtime::kernels {

inline void run(const ops::batch_norm& op, kernel_context& c) {
  const auto& t = c.in(0);
  c.check(op.training_mode == 0, "BatchNormalization in training mode is not supported");
  c.check(t.rank() >= 2, "BatchNormalization input must be at least 2-D");
  const auto x = c.f32(0), scale = c.f32(1), bias = c.f32(2), mean = c.f32(3), var = c.f32(4);
  const std::int64_t ch = t.dim(1);
  c.check(static_cast<std::int64_t>(scale.size()) == ch && static_cast<std::int64_t>(bias.size()) == ch &&
              static_cast<std::int64_t>(mean.size()) == ch && static_cast<std::int64_t>(var.size()) == ch,
          "BatchNormalization parameters must have one value per channel (" + std::to_string(ch) + ")");
  std::int64_t inner = 1;
  for (std::size_t d = 2; d < t.rank(); ++d) inner *= t.dim(d);
  auto y = c.out(0, dtype::f32, t.shape()).mutable_span<float>();
  const std::int64_t n = t.dim(0);
  for (std::int64_t k = 0; k < ch; ++k) {
    const float a = scale[static_cast<std::size_t>(k)] / std::sqrt(var[static_cast<std::size_t>(k)] + op.epsilon);
    const float b = bias[static_cast<std::size_t>(k)] - mean[static_cast<std::size_t>(k)] * a;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::size_t off = static_cast<std::size_t>((i * ch + k) * inner);
      for (std::int64_t j = 0; j < inner; ++j) y[off + static_cast<std::size_t>(j)] = x[off + static_cast<std::size_t>(j)] * a + b;
    }
  }
}

}  // namespace bigmodel::runtime::kernels
