#pragma once
// MaxPool (f32, u8, s8), AveragePool (f32; 2-D, pads, strides, ceil_mode, count_include_pad), GlobalAveragePool.

#include <algorithm>
#include <limits>

#include "conv.hpp"

namespace bigmodel::runtime::kernels {

// Elements of type T (the input's and the output's; the caller checked the input's dtype).
template <class T, class Op, class Init, class Step, class Finish>
void pool2d(const Op& op, kernel_context& c, Init init, Step step, Finish finish) {
  const auto& tx = c.in(0);
  c.check(tx.rank() == 4, "only 2-D pooling is supported (input " + to_string(tx.shape()) + ")");
  c.check(op.kernel_shape.size() == 2, "pooling needs a 2-D kernel_shape");
  const auto x = tx.template span<T>();
  const std::int64_t n = tx.dim(0), ch = tx.dim(1), h = tx.dim(2), w = tx.dim(3);
  const auto win = resolve_window(op, h, w, op.kernel_shape[0], op.kernel_shape[1], op.ceil_mode != 0, c);
  auto y = c.out(0, tx.type(), {n, ch, win.oh, win.ow}).template mutable_span<T>();
  // Output rows / columns whose whole window lies inside the input: [y0, y1) x [x0, x1), no checks there.
  auto interior = [](std::int64_t pad, std::int64_t s, std::int64_t k, std::int64_t d, std::int64_t in, std::int64_t out,
                     std::int64_t& lo, std::int64_t& hi) {
    lo = std::min((pad + s - 1) / s, out);
    const std::int64_t last = in - 1 + pad - (k - 1) * d;  // o * s <= last
    hi = std::max(lo, last < 0 ? std::int64_t{0} : std::min(out, last / s + 1));
  };
  std::int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
  interior(win.pt, win.sh, win.kh, win.dh, h, win.oh, y0, y1);
  interior(win.pl, win.sw, win.kw, win.dw, w, win.ow, x0, x1);
  const std::int64_t full = win.kh * win.kw;
  for (std::int64_t p = 0; p < n * ch; ++p) {
    const T* src = x.data() + p * h * w;
    T* dst = y.data() + p * win.oh * win.ow;
    for (std::int64_t oy = 0; oy < win.oh; ++oy)
      for (std::int64_t ox = 0; ox < win.ow; ++ox) {
        auto acc = init();
        if (oy >= y0 && oy < y1 && ox >= x0 && ox < x1) {
          const T* s = src + (oy * win.sh - win.pt) * w + (ox * win.sw - win.pl);
          for (std::int64_t ky = 0; ky < win.kh; ++ky)
            for (std::int64_t kx = 0; kx < win.kw; ++kx) step(acc, s[ky * win.dh * w + kx * win.dw]);
          dst[oy * win.ow + ox] = finish(acc, full, full);
          continue;
        }
        std::int64_t inside = 0, padded = 0;
        for (std::int64_t ky = 0; ky < win.kh; ++ky)
          for (std::int64_t kx = 0; kx < win.kw; ++kx) {
            const std::int64_t iy = oy * win.sh - win.pt + ky * win.dh, ix = ox * win.sw - win.pl + kx * win.dw;
            if (iy < h + win.pb && ix < w + win.pr && iy >= -win.pt && ix >= -win.pl) ++padded;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            step(acc, src[iy * w + ix]);
            ++inside;
          }
        dst[oy * win.ow + ox] = finish(acc, inside, padded);
      }
  }
}

template <class T>
void max_pool2d(const ops::max_pool& op, kernel_context& c) {
  // Padding never wins: the start value is the type's lowest (-inf for f32).
  constexpr T lowest = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  pool2d<T>(op, c, [] { return lowest; }, [](T& a, T v) { a = std::max(a, v); }, [](T a, std::int64_t, std::int64_t) { return a; });
}

// f32, and the 8-bit types ONNX allows (opset 12): the quantizer runs MaxPool on a requantized u8 activation,
// since max commutes with the monotonic quantization.
inline void run(const ops::max_pool& op, kernel_context& c) {
  c.check(c.output_count() == 1, "MaxPool indices output is not supported");
  switch (c.in(0).type()) {
    case dtype::f32: return max_pool2d<float>(op, c);
    case dtype::u8: return max_pool2d<std::uint8_t>(op, c);
    case dtype::s8: return max_pool2d<std::int8_t>(op, c);
    default: c.fail("runtime.dtype_mismatch", "MaxPool input must be f32, u8 or s8, got " + std::string(name(c.in(0).type())));
  }
}

inline void run(const ops::average_pool& op, kernel_context& c) {
  const bool include_pad = op.count_include_pad != 0;
  (void)c.f32(0);  // checks the input is f32
  pool2d<float>(op, c, [] { return 0.0f; }, [](float& a, float v) { a += v; },
         [=](float a, std::int64_t inside, std::int64_t padded) {
           return a / static_cast<float>(std::max<std::int64_t>(include_pad ? padded : inside, 1));
         });
}

inline void run(const ops::global_average_pool&, kernel_context& c) {
  const auto& tx = c.in(0);
  c.check(tx.rank() >= 3, "GlobalAveragePool input must be at least 3-D");
  const auto x = c.f32(0);
  shape_t os = tx.shape();
  std::int64_t inner = 1;
  for (std::size_t d = 2; d < os.size(); ++d) inner *= os[d], os[d] = 1;
  auto y = c.out(0, dtype::f32, os).mutable_span<float>();
  for (std::size_t p = 0; p < y.size(); ++p) {
    double s = 0;
    for (std::int64_t i = 0; i < inner; ++i) s += x[p * static_cast<std::size_t>(inner) + static_cast<std::size_t>(i)];
    y[p] = static_cast<float>(s / static_cast<double>(inner));
  }
}

}  // namespace bigmodel::runtime::kernels
