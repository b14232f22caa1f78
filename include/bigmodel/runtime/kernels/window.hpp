#pragma once
// The 2-D window geometry (kernel, strides, dilations, pads, auto_pad, output size) of Conv, pooling and the
// fused int8 StaticConv. Context: anything with check(bool, message) (the runtime's kernel_context).

#include <algorithm>
#include <cstdint>

#include "../../graph/shape_inference.hpp"

namespace bigmodel::runtime::kernels {

// Resolved 2-D window geometry shared by Conv and pooling.
struct window2d {
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0, oh = 0, ow = 0;
};

template <class Op, class Context>
window2d resolve_window(const Op& op, std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw, bool ceil_mode,
                        Context& c) {
  window2d g;
  g.kh = kh, g.kw = kw;
  c.check(op.strides.empty() || op.strides.size() == 2, "strides must have 2 values (2-D)");
  if (!op.strides.empty()) g.sh = op.strides[0], g.sw = op.strides[1];
  if constexpr (requires { op.dilations; }) {
    c.check(op.dilations.empty() || op.dilations.size() == 2, "dilations must have 2 values (2-D)");
    if (!op.dilations.empty()) g.dh = op.dilations[0], g.dw = op.dilations[1];
  }
  // A file's zero or negative stride would divide by zero below, a zero kernel or dilation make no window.
  c.check(g.sh >= 1 && g.sw >= 1 && g.dh >= 1 && g.dw >= 1 && kh >= 1 && kw >= 1,
          "strides, dilations and kernel sizes must be positive");
  if (op.auto_pad == "SAME_UPPER" || op.auto_pad == "SAME_LOWER") {
    auto pad = [&](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t& lo, std::int64_t& hi) {
      const std::int64_t out = (in + s - 1) / s;
      const std::int64_t total = std::max<std::int64_t>((out - 1) * s + d * (k - 1) + 1 - in, 0);
      lo = op.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      hi = total - lo;
    };
    pad(h, kh, g.sh, g.dh, g.pt, g.pb);
    pad(w, kw, g.sw, g.dw, g.pl, g.pr);
  } else if (op.auto_pad != "VALID" && !op.pads.empty()) {
    c.check(op.pads.size() == 4, "only 2-D pads are supported");
    g.pt = op.pads[0], g.pl = op.pads[1], g.pb = op.pads[2], g.pr = op.pads[3];
    // ONNX allows only non-negative pads; a negative one (a crop) would move windows outside the ranges the
    // kernels' unchecked interior loops assume.
    c.check(g.pt >= 0 && g.pl >= 0 && g.pb >= 0 && g.pr >= 0, "pads must not be negative");
  }
  // The output size rule shape inference uses (ceil_mode drops a last window starting in the end padding).
  g.oh = shape_detail::pool_out(h, kh, g.sh, g.pt, g.pb, g.dh, ceil_mode);
  g.ow = shape_detail::pool_out(w, kw, g.sw, g.pl, g.pr, g.dw, ceil_mode);
  c.check(g.oh > 0 && g.ow > 0, "window larger than the padded input");
  return g;
}

}  // namespace bigmodel::runtime::kernels
