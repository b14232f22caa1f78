#pragma once
// 2-D convolution (groups, pads, strides, dilations, auto_pad) as im2col + one Eigen GEMM per image and group.

#include <vector>

#include "matmul.hpp"
#include "window.hpp"

namespace bigmodel::runtime::kernels {

inline void run(const ops::conv& op, kernel_context& c) {
  const auto& tx = c.in(0);
  const auto& tw = c.in(1);
  c.check(tx.rank() == 4 && tw.rank() == 4, "only 2-D Conv is supported (input " + to_string(tx.shape()) + ")");
  const auto x = c.f32(0), w = c.f32(1);
  const std::int64_t n = tx.dim(0), ci = tx.dim(1), h = tx.dim(2), wd = tx.dim(3);
  const std::int64_t co = tw.dim(0), cig = tw.dim(1), kh = tw.dim(2), kw = tw.dim(3), g = op.group;
  if (ci != cig * g || co % g != 0)
    c.fail("runtime.shape_mismatch", "Conv channels: input " + to_string(tx.shape()) + ", weight " + to_string(tw.shape()) +
                                         ", group " + std::to_string(g));
  const auto win = resolve_window(op, h, wd, kh, kw, false, c);
  const std::int64_t cog = co / g, kk = cig * kh * kw, pix = win.oh * win.ow;
  auto y = c.out(0, dtype::f32, {n, co, win.oh, win.ow}).mutable_span<float>();
  std::vector<float> col(static_cast<std::size_t>(kk * pix));
  const float* bias = c.has(2) ? c.f32(2).data() : nullptr;
  for (std::int64_t b = 0; b < n; ++b) {
    for (std::int64_t gi = 0; gi < g; ++gi) {
      // im2col: rows = (channel, ky, kx), columns = output pixels
      for (std::int64_t ch = 0; ch < cig; ++ch) {
        const float* src = x.data() + ((b * ci) + gi * cig + ch) * h * wd;
        for (std::int64_t ky = 0; ky < kh; ++ky)
          for (std::int64_t kx = 0; kx < kw; ++kx) {
            float* dst = col.data() + ((ch * kh + ky) * kw + kx) * pix;
            for (std::int64_t oy = 0; oy < win.oh; ++oy) {
              const std::int64_t iy = oy * win.sh - win.pt + ky * win.dh;
              for (std::int64_t ox = 0; ox < win.ow; ++ox) {
                const std::int64_t ix = ox * win.sw - win.pl + kx * win.dw;
                dst[oy * win.ow + ox] = (iy >= 0 && iy < h && ix >= 0 && ix < wd) ? src[iy * wd + ix] : 0.0f;
              }
            }
          }
      }
      float* out = y.data() + (b * co + gi * cog) * pix;
      mmap Y(out, cog, pix);
      Y.noalias() = cmap(w.data() + gi * cog * kk, cog, kk) * cmap(col.data(), kk, pix);
      if (bias) Y.colwise() += Eigen::Map<const Eigen::VectorXf>(bias + gi * cog, cog);
    }
  }
  apply_activation(op.act, y);
}

}  // namespace bigmodel::runtime::kernels
