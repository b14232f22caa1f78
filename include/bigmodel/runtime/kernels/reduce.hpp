#pragma once
// ReduceMean / ReduceSum over any set of axes (attribute form up to opset 17, input form from 13/18), f32.

#include "../kernel_context.hpp"
#include "shape_ops.hpp"

namespace bigmodel::runtime::kernels {

template <class Op>
void reduce_f32(const Op& op, kernel_context& c, bool mean) {
  const auto& t = c.in(0);
  const auto x = c.f32(0);
  auto axes = axes_of(op.axes, c, 1);
  if (axes.empty() && op.noop_with_empty_axes) return c.alias(0, t);
  std::vector<bool> red(t.rank(), axes.empty());
  for (auto a : axes) red[static_cast<std::size_t>(c.axis(a, t.rank()))] = true;
  shape_t kept_shape, os;
  std::int64_t count = 1;
  for (std::size_t d = 0; d < t.rank(); ++d) {
    kept_shape.push_back(red[d] ? 1 : t.dim(d));
    if (red[d]) count *= t.dim(d);
    if (!red[d]) os.push_back(t.dim(d));
    else if (op.keepdims) os.push_back(1);
  }
  auto y = c.out(0, dtype::f32, os).mutable_span<float>();
  std::fill(y.begin(), y.end(), 0.0f);
  // Walk the input; each element adds into its reduced position.
  std::array<std::vector<std::int64_t>, 1> st{broadcast_strides(kept_shape, t.shape())};
  std::int64_t i = 0;
  for_each_broadcast<1>(t.shape(), st, [&](const std::array<std::int64_t, 1>& o) { y[static_cast<std::size_t>(o[0])] += x[static_cast<std::size_t>(i++)]; });
  if (mean && count > 0)
    for (auto& v : y) v /= static_cast<float>(count);
}

inline void run(const ops::reduce_mean& op, kernel_context& c) { reduce_f32(op, c, true); }
inline void run(const ops::reduce_sum& op, kernel_context& c) { reduce_f32(op, c, false); }

}  // namespace bigmodel::runtime::kernels
