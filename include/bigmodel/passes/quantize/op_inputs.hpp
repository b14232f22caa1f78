#pragma once
// Checked scalar inputs of the fused static-int8 ops (StaticLinear, StaticConv): a scale must be one positive,
// finite f32, a zero point one u8. Context: the runtime's kernel_context (c.f32, c.in, c.check).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../../tensor/dynamic_tensor.hpp"

namespace bigmodel::ops::detail {

template <class Context>
[[nodiscard]] float positive_scale(Context& c, std::size_t i, const char* what) {
  const auto s = c.f32(i);
  c.check(s.size() == 1, std::string(what) + " must be a scalar");
  c.check(std::isfinite(s[0]) && s[0] > 0.0f, std::string(what) + " must be positive and finite");
  return s[0];
}

template <class Context>
[[nodiscard]] std::uint8_t u8_zero_point(Context& c, std::size_t i, const char* what) {
  const auto& t = c.in(i);
  c.check(t.type() == dtype::u8 && t.numel() == 1, std::string(what) + " must be a u8 scalar");
  return t.template span<std::uint8_t>()[0];
}

}  // namespace bigmodel::ops::detail
