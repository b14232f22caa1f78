#pragma once
// runtime::output_check(reference, feeds): a `check` for pass pipelines. Runs the reference graph once
// on the sample inputs; the returned callable runs a candidate graph on the same inputs and returns the
// largest relative error over its outputs, max |y - y_ref| / max |y_ref| per output (infinity when an
// output is missing or changed shape).
//   auto rep = passes::optimize(passes::level::extended, runtime::kernel_evaluator{})
//                  .run(g, {.tolerance = 1e-5}, runtime::output_check(g, {{"input", x}}));

#include <algorithm>
#include <cmath>
#include <limits>

#include "session.hpp"

namespace bigmodel::runtime {

// max |a - b| / max |b| over all elements (f32/f64/integers via as_double); infinity on a shape mismatch.
[[nodiscard]] inline double max_relative_error(const dynamic_tensor& a, const dynamic_tensor& b) {
  if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < b.numel(); ++i) {
    const double x = a.as_double(i), y = b.as_double(i);
    if (std::isnan(x) != std::isnan(y)) return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(x - y));
    scale = std::max(scale, std::abs(y));
  }
  return scale > 0 ? diff / scale : diff;
}

[[nodiscard]] inline double max_relative_error(const named_tensors& got, const named_tensors& want) {
  double err = 0;
  for (const auto& [name, t] : want) {
    const dynamic_tensor* g = nullptr;
    for (const auto& [n, v] : got)
      if (n == name) g = &v;
    err = std::max(err, g ? max_relative_error(*g, t) : std::numeric_limits<double>::infinity());
  }
  return err;
}

template <class OpSet>
[[nodiscard]] auto output_check(const basic_computation_graph<OpSet>& reference, named_tensors feeds) {
  named_tensors want = basic_session<OpSet>(reference).run(feeds);
  return [feeds = std::move(feeds), want = std::move(want)](const basic_computation_graph<OpSet>& g) -> double {
    return max_relative_error(basic_session<OpSet>(g).run(feeds), want);
  };
}

}  // namespace bigmodel::runtime
