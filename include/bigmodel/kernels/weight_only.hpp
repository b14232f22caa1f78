#pragma once
// The weight-only Linear for small batches (token-by-token decoding, M = 1...8; any M works, in tiles of 8
// rows): y[M x N] = x[M x K] (f32) . dequant(W)^T + bias, W int8 or int4 group-wise (weight_only_packed.hpp),
// read in its packed form and dequantized inside the dot product -- no f32 copy of W.
//
//   auto p = kernels::pack_weight_only({.type = weight_only_type::s4, .n = n, .k = k, .group = 32,
//                                       .values = q, .scales = s});                 // once
//   kernels::linear_weight_only(m, x, ldx, p, bias, y, ldy);                         // each call
//
// How: at M = 1 the kernel is bound by the bytes of W it reads (4096 x 4096 int4 = 8 MB), so the arithmetic
// per weight must stay below a few instructions or int4 cannot be ~2x faster than int8. Converting every
// weight to f32 costs an unpack, a convert and an FMA per 16 weights; instead x is quantized once per call
// to s8, symmetric, per row and chunk of at most 128 k inside a weight group (scale_x = max|x| / 127), and the
// kernel runs integer dot products on the codes: vpdpbusd (AVX-512 VNNI) takes 64 u8 codes x s8 x per
// instruction, so 64 bytes of int4 (128 weights) need two masks (the high nibbles stay in place, x16, undone
// once per chunk) and two vpdpbusd per row; VNNI tiles of 2-8 rows (weight_only__tile.inc) shift the high nibbles
// down instead and keep one s32 accumulator per row and panel, so each broadcast of x feeds 2-4 panels. Per chunk:
//   y += scale_w * scale_x * (sum_k u * xq - z * sum_k xq)    (u: code, z: zero offset; W = (u - z) * scale_w)
// The bracket is an exact integer below 2^24 (so exact in f32); the f32 work is a few FMAs per chunk.
//
// Error: |x - scale_x * xq| <= scale_x / 2 = max|x_chunk| / 254 for every k, hence
//   |y - y_exact| <= (max_k |x[m][k]| / 254) * sum_k |W[n][k]|  (+ f32 rounding of ~ (chunks + 2) steps),
// where y_exact uses the dequantized weights and the unquantized x. When x is already on the grid (every
// chunk's max|x| is 127 * its scale and the values are multiples of it), y is exact up to f32 rounding.
// tests/kernels/weight_only_test.cpp checks both. A NaN or Inf in a chunk of x makes its row's outputs NaN.
//
// weight_only_options::precise adds a second s8 digit per x: the residual x - scale_x * xq, quantized the same
// way, runs as one more row through the same tiles, and the two rows are summed. The bound above shrinks by
// ~254x (about 2^-16 of max|x|, like a 16-bit x), at twice the integer work -- which costs nothing while the
// kernel waits for weights (M = 1 from DRAM) and up to 2x when it does not. The runtime uses it, so weight-only
// models keep the accuracy of dequantizing to f32.
//
// Scales: the packed headers hold them as f16 when every scale is an f16 value (weight_only_matrix::scale_storage;
// quantize with weight_scheme::f16_scales to get such scales): the same numbers, so the same results, in fewer
// bytes -- at M = 1 the kernel is bound by the bytes it reads, and f32 scales of int4 groups of 32 are a fifth of them.
//
// Dispatch as the int8 GEMM: the ISA is active_isa() (force_isa() > BIGMODEL_ISA > best), and must be the one
// the weights were packed for. Threads: the columns are cut into tasks of ~256 (a tiling that does not
// depend on the thread count) handed to exec.parallel_for.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "../core/error.hpp"
#include "aligned_buffer.hpp"
#include "isa.hpp"
#include "parallel_for.hpp"
#include "status.hpp"
#include "weight_only__avx2.hpp"
#include "weight_only__avx512.hpp"
#include "weight_only__portable.hpp"
#include "weight_only_packed.hpp"

namespace bigmodel::kernels {

namespace detail {

[[nodiscard]] inline const wo_kernels& weight_only_kernels_for(isa i) noexcept {
  switch (i) {
#if BIGMODEL_KERNELS_X86
    case isa::avx512vnni: return avx512vnni::weight_only_kernels();
    case isa::avx512bw: return avx512bw::weight_only_kernels();
    case isa::avx2: return avx2::weight_only_kernels();
#endif
    case isa::xsimd: return xsimd_baseline::weight_only_kernels();
    default: break;
  }
  return scalar::weight_only_kernels();
}

// One chunk of one row of x: s8 codes (q must be zeroed by the caller), their scale and the sum of the codes.
inline void wo_quantize_chunk(const float* x, std::size_t len, std::int8_t* q, float& scale, float& sum) noexcept {
  using fb = xsimd::batch<float>;
  using ib = xsimd::batch<std::int32_t>;
  constexpr std::size_t lanes = fb::size;
  fb vmax(0.0f), vbad(0.0f);  // vbad sums x - x: 0 unless some x is NaN or infinite
  std::size_t j = 0;
  for (; j + lanes <= len; j += lanes) {
    const fb v = fb::load_unaligned(x + j);
    vmax = xsimd::max(vmax, xsimd::abs(v));
    vbad += v - v;
  }
  alignas(64) float tmax[lanes], tbad[lanes];
  vmax.store_aligned(tmax);
  vbad.store_aligned(tbad);
  float amax = 0.0f, bad = 0.0f;
  for (std::size_t t = 0; t < lanes; ++t) {
    amax = std::max(amax, tmax[t]);
    bad += tbad[t];
  }
  for (std::size_t t = j; t < len; ++t) {
    amax = std::max(amax, std::fabs(x[t]));
    bad += x[t] - x[t];
  }
  sum = 0.0f;
  if (bad != 0.0f || !(amax <= std::numeric_limits<float>::max())) {  // poison the row's outputs
    scale = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  if (amax == 0.0f) {
    scale = 0.0f;
    return;
  }
  const float inv = 127.0f / amax;
  alignas(64) std::int32_t codes[lanes];
  std::int32_t s = 0;
  for (j = 0; j + lanes <= len; j += lanes) {
    const fb v = xsimd::min(xsimd::max(fb::load_unaligned(x + j) * fb(inv), fb(-127.0f)), fb(127.0f));
    const ib c = xsimd::nearbyint_as_int(v);
    c.store_aligned(codes);
    for (std::size_t t = 0; t < lanes; ++t) {
      q[j + t] = static_cast<std::int8_t>(codes[t]);
      s += codes[t];
    }
  }
  for (; j < len; ++j) {
    const auto c = static_cast<std::int32_t>(std::nearbyint(std::clamp(x[j] * inv, -127.0f, 127.0f)));
    q[j] = static_cast<std::int8_t>(c);
    s += c;
  }
  scale = amax / 127.0f;
  sum = static_cast<float>(s);
}

struct wo_scratch {
  aligned_buffer xq;
  std::vector<float> scale, sum, residual, y2;
};
inline wo_scratch& wo_buffers() noexcept {
  thread_local wo_scratch s;
  return s;
}

}  // namespace detail

struct weight_only_options {
  bool precise = false;  // two s8 digits per x (see the top of this file)
  execution exec{};
};

// noexcept form: ok, or why the call cannot run (nothing is written then). bias (N values) may be null.
// x and y must not overlap.
[[nodiscard]] inline status run_linear_weight_only(std::size_t m, const float* x, std::size_t ldx, const packed_weight_only& w,
                                                   const float* bias, float* y, std::size_t ldy,
                                                   const weight_only_options& opt = {}) noexcept {
  if (w.empty()) return status::empty_weights;
  const isa run = active_isa();
  if (!is_supported(run)) return status::isa_unsupported;
  if (w.target() != run) return status::isa_mismatch;
  if (m == 0) return status::ok;
  if (x == nullptr || y == nullptr) return status::null_pointer;
  if (ldx < w.k() || ldy < w.n()) return status::bad_leading_dimension;
  detail::note_used(run);

  const auto& chunks = w.chunks();
  const std::size_t kp = w.k_padded(), nc = chunks.size(), digits = opt.precise ? 2 : 1, rows = m * digits;
  detail::wo_scratch& s = detail::wo_buffers();
  try {
    s.xq.reserve(rows * kp);
    s.scale.resize(rows * nc);
    s.sum.resize(rows * nc);
    if (opt.precise) {
      s.residual.resize(detail::wo_chunk_max);
      s.y2.resize(rows * w.n());
    }
  } catch (...) {
    return status::execution_failed;
  }
  auto* xq = reinterpret_cast<std::int8_t*>(s.xq.data());
  std::memset(xq, 0, rows * kp);
  for (std::size_t r = 0; r < m; ++r)
    for (std::size_t c = 0; c < nc; ++c) {
      const std::size_t hi = r * digits, len = chunks[c].len;
      const float* xc = x + r * ldx + chunks[c].k0;
      std::int8_t* q = xq + hi * kp + chunks[c].x_offset;
      detail::wo_quantize_chunk(xc, len, q, s.scale[hi * nc + c], s.sum[hi * nc + c]);
      if (!opt.precise) continue;
      const float scale = s.scale[hi * nc + c];
      for (std::size_t t = 0; t < len; ++t) s.residual[t] = xc[t] - scale * static_cast<float>(q[t]);
      detail::wo_quantize_chunk(s.residual.data(), len, q + kp, s.scale[(hi + 1) * nc + c], s.sum[(hi + 1) * nc + c]);
    }

  // Precise: the kernel writes both digits' rows (no bias) to y2, summed into y below.
  const detail::wo_problem pr = opt.precise ? detail::wo_problem{&w, rows, xq, kp, s.scale.data(), s.sum.data(), nullptr, s.y2.data(), w.n()}
                                            : detail::wo_problem{&w, rows, xq, kp, s.scale.data(), s.sum.data(), bias, y, ldy};
  const detail::wo_kernels& ks = detail::weight_only_kernels_for(run);
  const std::size_t quad = detail::wo_panel_quad, quads = w.panels() / quad;
  const std::size_t quads_per_task = std::max<std::size_t>(1, 256 / (quad * w.nr()));
  const std::size_t tasks = (quads + quads_per_task - 1) / quads_per_task;
  auto task = [&](std::size_t t) {
    const std::size_t q_end = std::min(quads, (t + 1) * quads_per_task);
    for (std::size_t q = t * quads_per_task; q < q_end; ++q)
      for (std::size_t row0 = 0; row0 < rows; row0 += ks.max_rows) {
        const std::size_t tile = std::min(ks.max_rows, rows - row0), step = w.int4() ? ks.int4_panels[tile - 1] : ks.int8_panels[tile - 1];
        const detail::wo_tile_fn fn = w.int4() ? ks.int4[tile - 1] : ks.int8[tile - 1];
        for (std::size_t p = q * quad; p < (q + 1) * quad; p += step) fn(pr, row0, p);
      }
  };
  if (!opt.exec.parallel_for || tasks == 1) {
    for (std::size_t t = 0; t < tasks; ++t) task(t);
  } else {
    try {
      opt.exec.parallel_for(tasks, task);
    } catch (...) {
      return status::execution_failed;
    }
  }
  if (opt.precise) {
    const std::size_t n = w.n();
    for (std::size_t r = 0; r < m; ++r) {
      const float* a = s.y2.data() + 2 * r * n;
      float* yr = y + r * ldy;
      for (std::size_t j = 0; j < n; ++j) yr[j] = (a[j] + a[n + j]) + (bias != nullptr ? bias[j] : 0.0f);
    }
  }
  return status::ok;
}

// Throws bigmodel::error with id "kernels.<status>" (e.g. "kernels.isa_mismatch") if the call cannot run.
inline void linear_weight_only(std::size_t m, const float* x, std::size_t ldx, const packed_weight_only& w, const float* bias,
                               float* y, std::size_t ldy, const weight_only_options& opt = {}) {
  const status st = run_linear_weight_only(m, x, ldx, w, bias, y, ldy, opt);
  if (st != status::ok)
    throw error("kernels." + std::string(to_string(st)), "weight-only linear cannot run",
                "m=" + std::to_string(m) + " n=" + std::to_string(w.n()) + " k=" + std::to_string(w.k()) + " ldx=" +
                    std::to_string(ldx) + " ldy=" + std::to_string(ldy) + " packed for " + std::string(isa_name(w.target())) +
                    ", active " + std::string(isa_name(active_isa())));
}

}  // namespace bigmodel::kernels
