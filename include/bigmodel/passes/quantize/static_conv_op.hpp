#pragma once
// ops::static_conv (com.bigmodel "StaticConv"): the fused static-int8 2-D Conv, run by the int8 GEMM
// (kernels::gemm) like ops::static_linear: each image is transposed to channels-last, unfolded into rows (one
// per output pixel: the window's kh x kw x C/group values, so that each window position copies its channels
// as one run of bytes; padding = the input zero point, i.e. the real value 0), the rows of a batch of images
// are multiplied by the s8 weights of each group (reordered to [kh, kw, C/group] and packed once) in one GEMM,
// and the GEMM's epilogue dequantizes, adds the bias, applies ReLU and,
// when the next layer reads the result quantized, requantizes. fuse_static_conv (static_conv.hpp) creates it
// from the QDQ form quantize_static writes.
//
//   Y = StaticConv(X_q u8 [N, C, H, W], x_scale f32 [], x_zero_point u8 [],
//                  W_q s8 [M, C/group, kh, kw], w_scale f32 [M] or [], [bias f32 [M]], [y_scale f32 [], y_zero_point u8 []])
//     v[n][m][p] = (sum over the window (X_q - x_zp) W_q) * x_scale * w_scale[m] + bias[m];  v = max(v, 0) if relu
//     Y = v (f32), or Y = saturate(round(v / y_scale) + y_zp) (u8) when y_scale and y_zero_point are given.
// Attributes as ONNX Conv: auto_pad, dilations, group, pads, strides (kernel_shape comes from W_q).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

  // W_q ([M, C/group, kh, kw], s8, contiguous) packed per group, each output channel's weights reordered to
  // [kh, kw, C/group]: the order of the unfolded rows.
  [[nodiscard]] static std::vector<kernels::packed_weights> pack(const std::int8_t* w, std::int64_t m, std::int64_t cig,
                                                                 std::int64_t kh, std::int64_t kw, std::int64_t groups) {
    std::vector<kernels::packed_weights> out;
    const std::int64_t mg = m / groups, k = cig * kh * kw;
    std::vector<std::int8_t> reordered(static_cast<std::size_t>(mg * k));
    for (std::int64_t gi = 0; gi < groups; ++gi) {
      for (std::int64_t o = 0; o < mg; ++o) {
        const std::int8_t* src = w + (gi * mg + o) * k;
        std::int8_t* dst = reordered.data() + o * k;
        for (std::int64_t ch = 0; ch < cig; ++ch)
          for (std::int64_t t = 0; t < kh * kw; ++t) dst[t * cig + ch] = src[ch * kh * kw + t];
      }
      out.push_back(kernels::pack_weights(reordered.data(), static_cast<std::size_t>(k), static_cast<std::size_t>(mg),
                                          static_cast<std::size_t>(k), kernels::weight_layout::n_by_k));
    }
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
      w = std::make_shared<const std::vector<kernels::packed_weights>>(pack(wq.template span<std::int8_t>().data(), co, cig, kh, kw, group));

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

    // Images per GEMM call: as many as keep the unfolded rows of all groups within ~512 KiB (at least one image),
    // so that small images make one large GEMM rather than many small ones.
    const std::int64_t row_bytes = pix * kk;  // one image, one group
    const std::int64_t chunk =
        std::clamp<std::int64_t>((std::int64_t{1} << 19) / std::max<std::int64_t>(row_bytes * group, 1), 1, n);
    // Per-thread scratch, kept between runs: one image channels-last [h, w, C], the unfolded rows
    // [group][chunk x pix, kk] and the GEMM's result [chunk x pix, M/group].
    thread_local std::vector<std::uint8_t> hwc, rows, out8;
    thread_local std::vector<float> out32;
    hwc.resize(static_cast<std::size_t>(h * wd * ci));
    rows.resize(static_cast<std::size_t>(chunk * row_bytes * group));
    if (requantize) out8.resize(static_cast<std::size_t>(chunk * pix * cog));
    else out32.resize(static_cast<std::size_t>(chunk * pix * cog));
    const std::uint8_t* xd = x.template span<std::uint8_t>().data();
    const unfold_geometry geo{win, h, wd, ci, cig, kk, x_zp};
    const std::int64_t group_rows = chunk * row_bytes;
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0);
      for (std::int64_t bi = 0; bi < nb; ++bi) {
        to_channels_last(xd + (b0 + bi) * ci * h * wd, ci, h * wd, hwc.data());
        for (std::int64_t gi = 0; gi < group; ++gi)
          unfold(hwc.data() + gi * cig, group == 1, geo, rows.data() + gi * group_rows + bi * row_bytes);
      }
      for (std::int64_t gi = 0; gi < group; ++gi) {
        kernels::epilogue ep = base;
        ep.w_scale = per_channel ? w_scale.data() + gi * cog : w_scale.data();
        ep.bias = bias ? bias + gi * cog : nullptr;
        const auto& pw = (*w)[static_cast<std::size_t>(gi)];
        const std::uint8_t* a = rows.data() + gi * group_rows;
        const auto m = static_cast<std::size_t>(nb * pix), k = static_cast<std::size_t>(kk), ng = static_cast<std::size_t>(cog);
        // [images x pix, M/group] -> the NCHW output's channels gi * M/group ... of each image.
        if (requantize) {
          kernels::gemm(m, a, k, pw, out8.data(), ng, ep, c.execution());
          scatter(out8.data(), y8, b0, nb, gi, co, cog, pix);
        } else {
          kernels::gemm(m, a, k, pw, out32.data(), ng, ep, c.execution());
          scatter(out32.data(), y32, b0, nb, gi, co, cog, pix);
        }
      }
    }
  }

 private:
  struct unfold_geometry {
    runtime::kernels::window2d win;
    std::int64_t h, w, c, cig, kk;
    std::uint8_t pad;
  };

  // [C, pixels] -> [pixels, C].
  static void to_channels_last(const std::uint8_t* src, std::int64_t c, std::int64_t pixels, std::uint8_t* dst) {
    if (c == 1) {
      std::copy_n(src, pixels, dst);
      return;
    }
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t p = 0; p < pixels; ++p) dst[p * c + ch] = src[ch * pixels + p];
  }

  // n bytes (small, typically a few to a few hundred) without a library call per run.
  static void copy_bytes(std::uint8_t* d, const std::uint8_t* s, std::int64_t n) {
    if (n >= 16) {
      std::int64_t i = 0;
      for (; i + 16 <= n; i += 16) std::memcpy(d + i, s + i, 16);
      if (i < n) std::memcpy(d + n - 16, s + n - 16, 16);  // overlapping tail: the same bytes again
    } else if (n >= 8) {
      std::memcpy(d, s, 8);
      std::memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
      std::memcpy(d, s, 4);
      std::memcpy(d + n - 4, s + n - 4, 4);
    } else {
      for (std::int64_t i = 0; i < n; ++i) d[i] = s[i];
    }
  }

  // One image (channels-last [h, w, C], src pointing at the group's first channel) unfolded into rows: for each
  // output pixel p, rows[p][(ky * kw + kx) * cig + ch]; outside the input, the pad value (the input zero point).
  // With one group and no horizontal dilation, a window row whose columns all lie inside the input is one run of
  // kw x C bytes.
  static void unfold(const std::uint8_t* src, bool whole_rows, const unfold_geometry& g, std::uint8_t* rows) {
    const auto& v = g.win;
    const std::int64_t line = g.w * g.c;  // bytes per input row
    const bool runs = whole_rows && v.dw == 1;
    for (std::int64_t oy = 0; oy < v.oh; ++oy)
      for (std::int64_t ox = 0; ox < v.ow; ++ox) {
        std::uint8_t* d = rows + (oy * v.ow + ox) * g.kk;
        const std::int64_t ix0 = ox * v.sw - v.pl;
        const bool inside = ix0 >= 0 && ix0 + (v.kw - 1) * v.dw < g.w;
        for (std::int64_t ky = 0; ky < v.kh; ++ky) {
          const std::int64_t iy = oy * v.sh - v.pt + ky * v.dh;
          if (iy < 0 || iy >= g.h) {
            std::fill_n(d, v.kw * g.cig, g.pad);
            d += v.kw * g.cig;
            continue;
          }
          const std::uint8_t* s = src + iy * line;
          if (runs && inside) {
            copy_bytes(d, s + ix0 * g.c, v.kw * g.c);
            d += v.kw * g.c;
            continue;
          }
          for (std::int64_t kx = 0; kx < v.kw; ++kx, d += g.cig) {
            const std::int64_t ix = ix0 + kx * v.dw;
            if (ix >= 0 && ix < g.w) copy_bytes(d, s + ix * g.c, g.cig);
            else std::fill_n(d, g.cig, g.pad);
          }
        }
      }
  }

  // The GEMM result [nb x pix, cog] of images b0 ... b0 + nb - 1 and group gi into the NCHW output [N, co, pix],
  // eight pixels at a time (gathered, then stored as one run).
  template <class T>
  static void scatter(const T* r, T* y, std::int64_t b0, std::int64_t nb, std::int64_t gi, std::int64_t co,
                      std::int64_t cog, std::int64_t pix) {
    constexpr std::int64_t step = 8;
    for (std::int64_t bi = 0; bi < nb; ++bi) {
      const T* rb = r + bi * pix * cog;
      T* dst = y + ((b0 + bi) * co + gi * cog) * pix;
      std::int64_t p0 = 0;
      for (; p0 + step <= pix; p0 += step)
        for (std::int64_t o = 0; o < cog; ++o) {
          T t[step];
          for (std::int64_t j = 0; j < step; ++j) t[j] = rb[(p0 + j) * cog + o];
          std::copy_n(t, step, dst + o * pix + p0);
        }
      for (; p0 < pix; ++p0)
        for (std::int64_t o = 0; o < cog; ++o) dst[o * pix + p0] = rb[p0 * cog + o];
    }
  }
};

}  // namespace bigmodel::ops
