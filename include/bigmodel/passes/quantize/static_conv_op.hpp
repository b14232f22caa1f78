#pragma once
// ops::static_conv (com.bigmodel "StaticConv"): the fused static-int8 2-D Conv, run by the int8 GEMM
// (kernels::gemm) like ops::static_linear: the u8 input is unfolded into rows (one per output pixel, the
// window's C/group x kh x kw values, padding = the input zero point, i.e. the real value 0), multiplied by the
// s8 weights of each group packed once, and the GEMM's epilogue dequantizes, adds the bias, applies ReLU and,
// when the next layer reads the result quantized, requantizes. fuse_static_conv (static_conv.hpp) creates it
// from the QDQ form quantize_static writes.
//
//   Y = StaticConv(X_q u8 [N, C, H, W], x_scale f32 [], x_zero_point u8 [],
//                  W_q s8 [M, C/group, kh, kw], w_scale f32 [M] or [], [bias f32 [M]], [y_scale f32 [], y_zero_point u8 []])
//     v[n][m][p] = (sum over the window (X_q - x_zp) W_q) * x_scale * w_scale[m] + bias[m];  v = max(v, 0) if relu
//     Y = v (f32), or Y = saturate(round(v / y_scale) + y_zp) (u8) when y_scale and y_zero_point are given.
// Attributes as ONNX Conv: auto_pad, dilations, group, pads, strides (kernel_shape comes from W_q).

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "../../graph/attribute.hpp"
#include "../../kernels/gemm.hpp"
#include "../../runtime/kernels/window.hpp"
#include "../../tensor/dynamic_tensor.hpp"
#include "op_inputs.hpp"

namespace bigmodel::ops {

struct static_conv {
  static constexpr std::string_view onnx_type = "StaticConv";
  static constexpr std::string_view domain = "com.bigmodel";
  std::string auto_pad = "NOTSET";
  std::vector<std::int64_t> dilations{}, pads{}, strides{};
  std::int64_t group = 1;
  std::int64_t relu = 0;  // 1: ReLU before the output (and before requantization)
  // W_q of each group packed for the kernel ([M / group, C / group * kh * kw], n_by_k); null: packed at each run.
  std::shared_ptr<const std::vector<kernels::packed_weights>> packed{};
  static constexpr auto fields() {
    return std::tuple{field{"auto_pad", &static_conv::auto_pad}, field{"dilations", &static_conv::dilations},
                      field{"group", &static_conv::group},       field{"pads", &static_conv::pads},
                      field{"strides", &static_conv::strides},   field{"relu", &static_conv::relu}};
  }
  friend bool operator==(const static_conv& a, const static_conv& b) {
    return a.auto_pad == b.auto_pad && a.dilations == b.dilations && a.group == b.group && a.pads == b.pads &&
           a.strides == b.strides && a.relu == b.relu;
  }

  // W_q ([M, C/group, kh, kw], s8, contiguous) packed per group.
  [[nodiscard]] static std::vector<kernels::packed_weights> pack(const std::int8_t* w, std::int64_t m, std::int64_t per_group_k,
                                                                 std::int64_t groups) {
    std::vector<kernels::packed_weights> out;
    const auto mg = static_cast<std::size_t>(m / groups), k = static_cast<std::size_t>(per_group_k);
    for (std::int64_t gi = 0; gi < groups; ++gi)
      out.push_back(kernels::pack_weights(w + static_cast<std::size_t>(gi) * mg * k, k, mg, k, kernels::weight_layout::n_by_k));
    return out;
  }

  template <class Context>
  void run(Context& c) const {
    const auto& x = c.in(0);
    c.check(relu == 0 || relu == 1, "StaticConv: relu must be 0 or 1");
    c.check(x.type() == dtype::u8 && x.rank() == 4, "StaticConv input must be u8 [N, C, H, W]");
    const auto& wq = c.in(3);
    c.check(wq.type() == dtype::s8 && wq.rank() == 4, "StaticConv weights must be s8 [M, C/group, kh, kw]");
    const std::int64_t n = x.dim(0), ci = x.dim(1), h = x.dim(2), wd = x.dim(3);
    const std::int64_t co = wq.dim(0), cig = wq.dim(1), kh = wq.dim(2), kw = wq.dim(3);
    c.check(group >= 1 && co % group == 0 && ci == cig * group,
            "StaticConv channels: input " + to_string(x.shape()) + ", weight " + to_string(wq.shape()) + ", group " +
                std::to_string(group));
    const float x_scale = detail::positive_scale(c, 1, "x_scale");
    const std::uint8_t x_zp = detail::u8_zero_point(c, 2, "x_zero_point");
    const auto w_scale = c.f32(4);
    c.check(w_scale.size() == 1 || w_scale.size() == static_cast<std::size_t>(co),
            "w_scale must be a scalar or one per output channel");
    const bool per_channel = w_scale.size() > 1;
    const float* bias = nullptr;
    if (c.has(5)) {
      const auto b = c.f32(5);
      c.check(b.size() == static_cast<std::size_t>(co), "bias must have one value per output channel");
      bias = b.data();
    }
    const bool requantize = c.has(6) || c.has(7);
    const auto win = runtime::kernels::resolve_window(*this, h, wd, kh, kw, false, c);
    const std::int64_t cog = co / group, kk = cig * kh * kw, pix = win.oh * win.ow;

    std::shared_ptr<const std::vector<kernels::packed_weights>> w = packed;
    const bool fits = w && w->size() == static_cast<std::size_t>(group) &&
                      (*w)[0].k() == static_cast<std::size_t>(kk) && (*w)[0].n() == static_cast<std::size_t>(cog);
    if (!fits)
      w = std::make_shared<const std::vector<kernels::packed_weights>>(pack(wq.template span<std::int8_t>().data(), co, kk, group));

    kernels::epilogue base = kernels::dequantize(x_scale, x_zp, nullptr, per_channel);
    if (relu) base.act = kernels::activation::relu;
    const float y_scale = requantize ? detail::positive_scale(c, 6, "y_scale") : 1.0f;
    const std::uint8_t y_zp = requantize ? detail::u8_zero_point(c, 7, "y_zero_point") : std::uint8_t{0};
    if (requantize) {
      base.requantize = true;
      base.out_scale = y_scale;
      base.out_zero_point = y_zp;
    }
    const shape_t os{n, co, win.oh, win.ow};
    std::uint8_t* y8 = requantize ? c.out(0, dtype::u8, os).template mutable_span<std::uint8_t>().data() : nullptr;
    float* y32 = requantize ? nullptr : c.out(0, dtype::f32, os).template mutable_span<float>().data();
    if (n == 0 || pix == 0 || co == 0) return;

    // Per-thread scratch, kept between runs: the unfolded input [pix, kk] and the GEMM's [pix, M / group] result.
    thread_local std::vector<std::uint8_t> rows, out8;
    thread_local std::vector<float> out32;
    rows.resize(static_cast<std::size_t>(pix * kk));
    if (requantize) out8.resize(static_cast<std::size_t>(pix * cog));
    else out32.resize(static_cast<std::size_t>(pix * cog));
    const std::uint8_t* xd = x.template span<std::uint8_t>().data();
    for (std::int64_t b = 0; b < n; ++b) {
      for (std::int64_t gi = 0; gi < group; ++gi) {
        // rows[p][(ch * kh + ky) * kw + kx]: the order of W_q's [C/group, kh, kw] within one output channel.
        for (std::int64_t oy = 0; oy < win.oh; ++oy)
          for (std::int64_t ox = 0; ox < win.ow; ++ox) {
            std::uint8_t* dst = rows.data() + (oy * win.ow + ox) * kk;
            for (std::int64_t ch = 0; ch < cig; ++ch) {
              const std::uint8_t* src = xd + ((b * ci) + gi * cig + ch) * h * wd;
              for (std::int64_t ky = 0; ky < kh; ++ky) {
                const std::int64_t iy = oy * win.sh - win.pt + ky * win.dh;
                for (std::int64_t kx = 0; kx < kw; ++kx) {
                  const std::int64_t ix = ox * win.sw - win.pl + kx * win.dw;
                  *dst++ = (iy >= 0 && iy < h && ix >= 0 && ix < wd) ? src[iy * wd + ix] : x_zp;
                }
              }
            }
          }
        kernels::epilogue ep = base;
        ep.w_scale = per_channel ? w_scale.data() + gi * cog : w_scale.data();
        ep.bias = bias ? bias + gi * cog : nullptr;
        const auto& pw = (*w)[static_cast<std::size_t>(gi)];
        const auto m = static_cast<std::size_t>(pix), k = static_cast<std::size_t>(kk), ng = static_cast<std::size_t>(cog);
        // [pix, M/group] -> the NCHW output's channels gi * M/group ... for this image.
        if (requantize) {
          kernels::gemm(m, rows.data(), k, pw, out8.data(), ng, ep, c.execution());
          std::uint8_t* dst = y8 + (b * co + gi * cog) * pix;
          for (std::int64_t p = 0; p < pix; ++p)
            for (std::int64_t o = 0; o < cog; ++o) dst[o * pix + p] = out8[static_cast<std::size_t>(p * cog + o)];
        } else {
          kernels::gemm(m, rows.data(), k, pw, out32.data(), ng, ep, c.execution());
          float* dst = y32 + (b * co + gi * cog) * pix;
          for (std::int64_t p = 0; p < pix; ++p)
            for (std::int64_t o = 0; o < cog; ++o) dst[o * pix + p] = out32[static_cast<std::size_t>(p * cog + o)];
        }
      }
    }
  }
};

}  // namespace bigmodel::ops
