#pragma once
// MaxPool (f32, u8, s8), AveragePool (f32; 2-D, pads, strides, ceil_mode, count_include_pad), GlobalAveragePool.

#include <algorithm>
#include <limits>
#include <span>
#include <vector>

#include "conv.hpp"

namespace bigmodel::runtime::kernels {

// The input [N, C, H, W] and the output [N, C, oh, ow] of a 2-D pooling op, elements of type T (the input's
// and the output's; the caller checked the input's dtype).
template <class T>
struct pool_io {
  std::span<const T> x;
  std::span<T> y;
  window2d win;
  std::int64_t planes, h, w;  // planes = N x C
};
template <class T, class Op>
pool_io<T> pool_setup(const Op& op, kernel_context& c) {
  const auto& tx = c.in(0);
  c.check(tx.rank() == 4, "only 2-D pooling is supported (input " + to_string(tx.shape()) + ")");
  c.check(op.kernel_shape.size() == 2, "pooling needs a 2-D kernel_shape");
  const std::int64_t h = tx.dim(2), w = tx.dim(3);
  const auto win = resolve_window(op, h, w, op.kernel_shape[0], op.kernel_shape[1], op.ceil_mode != 0, c);
  const auto y = c.out(0, tx.type(), {tx.dim(0), tx.dim(1), win.oh, win.ow}).template mutable_span<T>();
  return {tx.template span<T>(), y, win, tx.dim(0) * tx.dim(1), h, w};
}

// AveragePool: the mean over the window's in-bounds taps, or over the taps inside the padded input
// (count_include_pad); padding counts as zeros.
inline void average_pool2d(const ops::average_pool& op, kernel_context& c) {
  const bool include_pad = op.count_include_pad != 0;
  const auto io = pool_setup<float>(op, c);
  const auto x = io.x;
  const auto y = io.y;
  const auto& win = io.win;
  const std::int64_t planes = io.planes, h = io.h, w = io.w;
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
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* src = x.data() + p * h * w;
    float* dst = y.data() + p * win.oh * win.ow;
    for (std::int64_t oy = 0; oy < win.oh; ++oy)
      for (std::int64_t ox = 0; ox < win.ow; ++ox) {
        float acc = 0.0f;
        if (oy >= y0 && oy < y1 && ox >= x0 && ox < x1) {
          const float* s = src + (oy * win.sh - win.pt) * w + (ox * win.sw - win.pl);
          for (std::int64_t ky = 0; ky < win.kh; ++ky)
            for (std::int64_t kx = 0; kx < win.kw; ++kx) acc += s[ky * win.dh * w + kx * win.dw];
          dst[oy * win.ow + ox] = acc / static_cast<float>(full);
          continue;
        }
        std::int64_t inside = 0, padded = 0;
        for (std::int64_t ky = 0; ky < win.kh; ++ky)
          for (std::int64_t kx = 0; kx < win.kw; ++kx) {
            const std::int64_t iy = oy * win.sh - win.pt + ky * win.dh, ix = ox * win.sw - win.pl + kx * win.dw;
            if (iy < h + win.pb && ix < w + win.pr && iy >= -win.pt && ix >= -win.pl) ++padded;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            acc += src[iy * w + ix];
            ++inside;
          }
        dst[oy * win.ow + ox] = acc / static_cast<float>(std::max<std::int64_t>(include_pad ? padded : inside, 1));
      }
  }
}

// The max of a 2x2 window (rows a and b, columns j and j + 1), from the type's lowest value: NaNs never win.
template <class T>
T max_2x2(T lowest, const T* a, const T* b, std::int64_t j) {
  return std::max(std::max(std::max(std::max(lowest, a[j]), a[j + 1]), b[j]), b[j + 1]);
}

// In-bounds kernel taps [lo, hi) of a window starting at `start` (negative: in the padding) along an axis of
// `in` elements.
inline void pool_taps(std::int64_t start, std::int64_t k, std::int64_t d, std::int64_t in, std::int64_t& lo, std::int64_t& hi) {
  lo = start >= 0 ? 0 : std::min(k, (-start + d - 1) / d);
  hi = start > in - 1 ? lo : std::max(lo, std::min(k, (in - 1 - start) / d + 1));
}

// Per output, the max over the window's in-bounds taps (padding never wins, so it is not visited): the tap
// ranges of every output row and column are computed once, so the loops carry no bounds checks; a 2x2 window
// with unit dilation (CNNs' usual 2x2 / stride 2) runs a branch-free loop over the outputs whose window lies
// inside the input.
// NaNs are skipped, as std::max(acc, v) from the type's lowest value (-inf for f32) skips them.
template <class T>
void max_pool2d(const ops::max_pool& op, kernel_context& c) {
  const auto io = pool_setup<T>(op, c);
  const auto x = io.x;
  const auto y = io.y;
  const auto& win = io.win;
  const std::int64_t planes = io.planes, h = io.h, w = io.w;
  constexpr T lowest = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  // [lo, hi) taps of every output row, then of every output column.
  std::vector<std::int64_t> t(static_cast<std::size_t>(2 * (win.oh + win.ow)));
  std::int64_t* const ty = t.data();
  std::int64_t* const tc = ty + 2 * win.oh;
  for (std::int64_t o = 0; o < win.oh; ++o) pool_taps(o * win.sh - win.pt, win.kh, win.dh, h, ty[2 * o], ty[2 * o + 1]);
  for (std::int64_t o = 0; o < win.ow; ++o) pool_taps(o * win.sw - win.pl, win.kw, win.dw, w, tc[2 * o], tc[2 * o + 1]);
  // Output columns whose window lies inside the input: a contiguous range [x0, x1).
  std::int64_t x0 = 0;
  while (x0 < win.ow && !(tc[2 * x0] == 0 && tc[2 * x0 + 1] == win.kw)) ++x0;
  std::int64_t x1 = x0;
  while (x1 < win.ow && tc[2 * x1] == 0 && tc[2 * x1 + 1] == win.kw) ++x1;
  const bool two_by_two = win.kh == 2 && win.kw == 2 && win.dh == 1 && win.dw == 1;
  if (two_by_two && win.sh == 2 && win.sw == 2 && win.pt == 0 && win.pl == 0 && h == 2 * win.oh && w == 2 * win.ow) {
    // Non-overlapping 2x2 windows tiling every plane exactly: all planes' rows are one run of row pairs.
    const std::int64_t ow = win.ow;
    for (std::int64_t r = 0; r < planes * win.oh; ++r) {
      const T* a = x.data() + 2 * r * w;
      const T* b = a + w;
      T* o = y.data() + r * ow;
      for (std::int64_t i = 0; i < ow; ++i) o[i] = max_2x2(lowest, a, b, 2 * i);
    }
    return;
  }
  for (std::int64_t p = 0; p < planes; ++p) {
    const T* src = x.data() + p * h * w;
    T* dst = y.data() + p * win.oh * win.ow;
    for (std::int64_t oy = 0; oy < win.oh; ++oy) {
      const std::int64_t ky0 = ty[2 * oy], ky1 = ty[2 * oy + 1];
      const std::int64_t row = (oy * win.sh - win.pt) * w;  // the window's first row (ky = 0; may be padding)
      T* out = dst + oy * win.ow;
      auto any = [&](std::int64_t ox) {
        const std::int64_t at = row + ox * win.sw - win.pl;  // + ky * dh * w + kx * dw >= 0 for in-bounds taps
        const std::int64_t kx0 = tc[2 * ox], kx1 = tc[2 * ox + 1];
        T acc = lowest;
        for (std::int64_t ky = ky0; ky < ky1; ++ky)
          for (std::int64_t kx = kx0; kx < kx1; ++kx) acc = std::max(acc, src[at + ky * win.dh * w + kx * win.dw]);
        out[ox] = acc;
      };
      if (!two_by_two || ky0 != 0 || ky1 != 2 || x0 == x1) {
        for (std::int64_t ox = 0; ox < win.ow; ++ox) any(ox);
        continue;
      }
      for (std::int64_t ox = 0; ox < x0; ++ox) any(ox);
      // Both window rows inside: the pairwise max of the two rows, then of adjacent columns (stride 2 spelled
      // out so the compiler vectorizes it).
      const T* a = src + row + x0 * win.sw - win.pl;
      const T* b = a + w;
      T* o = out + x0;
      const std::int64_t m = x1 - x0;
      if (win.sw == 2)
        for (std::int64_t i = 0; i < m; ++i) o[i] = max_2x2(lowest, a, b, 2 * i);
      else
        for (std::int64_t i = 0; i < m; ++i) o[i] = max_2x2(lowest, a, b, i * win.sw);
      for (std::int64_t ox = x1; ox < win.ow; ++ox) any(ox);
    }
  }
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
  (void)c.f32(0);  // checks the input is f32
  average_pool2d(op, c);
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
