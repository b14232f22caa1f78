#pragma once
// Weight-only quantized weights (int8 or int4, group-wise along K, optional zero points) repacked once for one
// ISA's weight-only kernel (weight_only.hpp), which reads them and dequantizes inside the dot product.
//
// What the caller describes (weight_only_matrix): W is N x K, row n = output n, value
//   W[n][k] = (q[n][k] - zp[n][k / G]) * scale[n][k / G]          (zp = 0 when there are no zero points)
// with q of type s8, u8, s4 or u4; int4 values are two per byte, k even in the low nibble. G divides K
// (G = 0 or G = K: one group per row, i.e. per channel).
//
// Packed form. Every value becomes an unsigned code u (s8: q + 128, s4: q + 8, u8 / u4: q) and every zero
// point an offset z in the same domain, so that W = (u - z) * scale for all four types. Columns are cut into
// panels of nr (one SIMD vector of s32 / f32 lanes); the panel count is rounded up to a multiple of 4 (zero
// columns) so that every tile the kernels run is whole. K is cut into groups, each group into chunks of at
// most 128 k (the unit in which the kernel quantizes x), each chunk padded with zero codes to whole blocks of
// 8 k. One block of one panel:
//   int8: two 4-k halves of nr * 4 bytes, the 4 codes of one column adjacent (k0..3, then k4..7)
//   int4: nr * 4 bytes, byte i of column j holds k = i (low nibble) and k = 4 + i (high nibble), so masking
//         the low nibbles gives the k0..3 half of the int8 layout and shifting gives k4..7.
// Per panel and group a header: nr scales, and with zero points nr offsets z (exact small integers), all f32,
// or all f16 when every scale is an f16 value (weight_only_matrix::scale_storage): the same numbers in half
// the bytes, which matters at M = 1 where the kernel waits for bytes (int4 in groups of 32: 4.5 bits per
// weight instead of 5). Headers keep the blocks aligned to nr * 4 bytes (one vector): f16 scales without zero
// points are half that, so the headers of two groups then sit together in front of the first of them (else
// every other block load would straddle two cache lines).
// A panel is one contiguous stream, group after group: the group's header, then its chunks' blocks. The kernel
// thus reads each panel front to back with the scales inline (a separate scale array was one more stream per
// panel, a few cache lines per KiB of codes that the prefetchers served late: ~15 % of the M = 1 time).
// Each panel is padded to an odd number of 64-byte lines. Panels are stored quad-position major: panel i (0..3)
// of every quad of 4 panels, quad after quad, then the next i. A tile of 4 panels reads 4 streams that continue
// into the next tile's 4 panels (the software prefetch runs ahead across the tile boundary) rather than 4
// streams restarting at every tile.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/half.hpp"
#include "aligned_buffer.hpp"
#include "gemm_config.hpp"
#include "isa.hpp"

// Bytes ahead of the current block of each panel that the weight-only kernel prefetches (tuning knob). 3 KiB:
// on a quiet Zen 4 core it beat 1, 2, 4 and 8 KiB at every M (1-8) and shape, AVX-512 and AVX2 kernels alike
// (benchmarks/RESULTS.md, "Prefetch distance"); 1 KiB had been chosen on a loaded machine where the
// differences were within the noise.
#ifndef BIGMODEL_WO_PREFETCH
#define BIGMODEL_WO_PREFETCH 3072
#endif

namespace bigmodel::kernels {

enum class weight_only_type : std::uint8_t { s8, u8, s4, u4 };

// How the packed headers hold the scales (and zero offsets). automatic: f16 when every scale is exactly an
// f16 value (then nothing changes but the bytes), else f32; f16: the caller promises f16 values (an error
// names the first scale that is not one); f32: always f32.
enum class wo_scale_storage : std::uint8_t { automatic, f32, f16 };

[[nodiscard]] constexpr int bits_of(weight_only_type t) noexcept {
  return t == weight_only_type::s4 || t == weight_only_type::u4 ? 4 : 8;
}
[[nodiscard]] constexpr bool is_signed(weight_only_type t) noexcept {
  return t == weight_only_type::s8 || t == weight_only_type::s4;
}

// The caller's quantized weights (not owned; read once by pack_weight_only).
struct weight_only_matrix {
  weight_only_type type = weight_only_type::s4;
  std::size_t n = 0, k = 0;
  std::size_t group = 0;              // along K; 0 (or k) = one group per row
  const void* values = nullptr;       // row n starts at byte n * ld; int4: two per byte, even k in the low nibble
  std::size_t ld = 0;                 // bytes between rows; 0 = rows back to back (k or ceil(k / 2) bytes)
  const float* scales = nullptr;      // [n][k / group], finite
  const void* zero_points = nullptr;  // null: none (symmetric); else [n][k / group], one per byte, same
                                      // signedness as the values (int4: -8..7 or 0..15)
  wo_scale_storage scale_storage = wo_scale_storage::automatic;
};

namespace detail {
inline constexpr std::size_t wo_chunk_max = 128;  // k per quantized block of x (and per s32 accumulation)
inline constexpr std::size_t wo_block_k = 8;      // k per packed block
inline constexpr std::size_t wo_panel_quad = 4;   // panels are allocated in multiples of this

// Panel width of each ISA's weight-only kernel: one vector of s32 / f32 lanes (scalar: one column).
[[nodiscard]] constexpr std::size_t wo_nr(isa i) noexcept {
  switch (i) {
    case isa::avx512vnni:
    case isa::avx512bw: return 16;
    case isa::avx2: return 8;
    case isa::xsimd: return xsimd_lanes();
    case isa::scalar: break;
  }
  return 1;
}
}  // namespace detail

class packed_weight_only {
 public:
  struct chunk {
    std::size_t k0, len;      // first k and count of real k
    std::size_t blocks;       // packed blocks of 8 k (len rounded up)
    std::size_t block_offset; // blocks before this chunk in a panel
    std::size_t x_offset;     // = block_offset * 8: where its k start in a row of quantized x
    std::size_t group;
    std::size_t offset;       // bytes from the start of a panel to this chunk's first block
    std::size_t header;       // bytes from the start of a panel to its group's header (scales, offsets)
  };

  packed_weight_only() = default;

  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  [[nodiscard]] isa target() const noexcept { return target_; }
  [[nodiscard]] weight_only_type type() const noexcept { return type_; }
  [[nodiscard]] bool int4() const noexcept { return bits_of(type_) == 4; }
  [[nodiscard]] bool has_zero_points() const noexcept { return zero_points_; }
  [[nodiscard]] std::size_t n() const noexcept { return n_; }
  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  [[nodiscard]] std::size_t group() const noexcept { return group_; }
  [[nodiscard]] std::size_t groups() const noexcept { return k_ / group_; }
  [[nodiscard]] std::size_t nr() const noexcept { return nr_; }
  [[nodiscard]] std::size_t panels() const noexcept { return panels_; }  // a multiple of 4
  [[nodiscard]] std::size_t block_bytes() const noexcept { return int4() ? nr_ * 4 : nr_ * 8; }
  // nr scales, then (with zero points) nr offsets, f32 or f16: the header in front of each group of a panel.
  [[nodiscard]] bool half_header() const noexcept { return half_header_; }
  [[nodiscard]] std::size_t header_value_bytes() const noexcept { return half_header_ ? 2 : 4; }
  [[nodiscard]] std::size_t header_bytes() const noexcept { return (zero_points_ ? 2 : 1) * nr_ * header_value_bytes(); }
  // Groups whose headers sit together (2: f16 scales without zero points, see the top of this file; else 1).
  [[nodiscard]] std::size_t header_groups() const noexcept { return header_groups_; }
  [[nodiscard]] std::size_t panel_bytes() const noexcept { return panel_bytes_; }
  [[nodiscard]] std::size_t k_padded() const noexcept { return blocks_ * detail::wo_block_k; }
  [[nodiscard]] const std::vector<chunk>& chunks() const noexcept { return chunks_; }
  // Panel i of quad q (p = 4 q + i) lies right after panel i of quad q - 1: a tile's 4 streams run on into the
  // next tile's instead of starting 4 new ones (see the top of this file).
  [[nodiscard]] const std::uint8_t* panel(std::size_t p) const noexcept {
    const std::size_t quad = detail::wo_panel_quad;
    return reinterpret_cast<const std::uint8_t*>(data_.data()) + ((p % quad) * (panels_ / quad) + p / quad) * panel_bytes();
  }
  // Bytes from panel p to panel p + 1 of the same quad.
  [[nodiscard]] std::size_t panel_stride() const noexcept { return panels_ / detail::wo_panel_quad * panel_bytes(); }
  // The header of panel p, group g (inside the panel's stream, in front of the group's blocks), and the scale
  // and offset of its column j as f32.
  [[nodiscard]] const std::uint8_t* header(std::size_t p, std::size_t g) const noexcept { return panel(p) + headers_[g]; }
  [[nodiscard]] float scale(std::size_t p, std::size_t g, std::size_t j) const noexcept { return header_value(p, g, j); }
  [[nodiscard]] float zero(std::size_t p, std::size_t g, std::size_t j) const noexcept {
    return zero_points_ ? header_value(p, g, nr_ + j) : zero_const_;
  }
  // The offset z of every value when there are no zero points (128 for s8, 8 for s4, 0 for unsigned).
  [[nodiscard]] float zero_constant() const noexcept { return zero_const_; }
  // Bytes the kernel streams: packed codes, scales and offsets.
  [[nodiscard]] std::size_t bytes() const noexcept { return panels_ * panel_bytes(); }

  friend packed_weight_only pack_weight_only(const weight_only_matrix&, std::optional<isa>);

 private:
  [[nodiscard]] float header_value(std::size_t p, std::size_t g, std::size_t i) const noexcept {
    const std::uint8_t* h = header(p, g) + i * header_value_bytes();
    if (half_header_) {
      std::uint16_t bits;
      std::memcpy(&bits, h, 2);
      return to_float(f16::from_bits(bits));
    }
    float v;
    std::memcpy(&v, h, 4);
    return v;
  }

  aligned_buffer data_;
  std::vector<chunk> chunks_;
  isa target_ = isa::scalar;
  weight_only_type type_ = weight_only_type::s4;
  bool zero_points_ = false;
  bool half_header_ = false;
  std::size_t n_ = 0, k_ = 0, group_ = 1, nr_ = 1, panels_ = 0, blocks_ = 0;
  std::size_t header_groups_ = 1, panel_bytes_ = 0;
  std::vector<std::size_t> headers_;  // bytes from the start of a panel to the header of each group
  float zero_const_ = 0.0f;
};

namespace detail {
// The value at (n, k) of the caller's matrix as an unsigned code (see the top of this file).
[[nodiscard]] inline std::uint32_t wo_code(const weight_only_matrix& w, std::size_t ld, std::size_t n, std::size_t k) noexcept {
  const auto* row = static_cast<const std::uint8_t*>(w.values) + n * ld;
  if (bits_of(w.type) == 8) return is_signed(w.type) ? static_cast<std::uint32_t>(row[k] ^ 0x80u) : row[k];
  const std::uint32_t nibble = (k % 2 == 0 ? row[k / 2] : row[k / 2] >> 4) & 0x0Fu;
  return is_signed(w.type) ? nibble ^ 0x8u : nibble;  // two's complement int4 + 8
}
}  // namespace detail

// Packs W for `target` (default: the ISA the kernel would use now). Packing for an ISA this CPU lacks is
// allowed (it is only a layout); running it here is refused with status::isa_mismatch.
// Throws bigmodel::error "kernels.bad_argument" on null values or scales, n or k of 0, a group size that does
// not divide k, ld too small, a non-finite scale, a scale that is not an f16 value with scale_storage f16, or an
// int4 zero point out of range; "kernels.isa_unsupported" if `target` is not compiled into this build.
inline packed_weight_only pack_weight_only(const weight_only_matrix& w, std::optional<isa> target = std::nullopt) {
  const std::size_t group = w.group == 0 ? w.k : w.group;
  const bool int4 = bits_of(w.type) == 4;
  const std::size_t row_bytes = int4 ? (w.k + 1) / 2 : w.k, ld = w.ld == 0 ? row_bytes : w.ld;
  const std::string ctx = "n=" + std::to_string(w.n) + " k=" + std::to_string(w.k) + " group=" + std::to_string(w.group) +
                          " ld=" + std::to_string(w.ld);
  require(w.values != nullptr, "kernels.bad_argument", "pack_weight_only: null weight values", ctx);
  require(w.scales != nullptr, "kernels.bad_argument", "pack_weight_only: null scales", ctx);
  require(w.n > 0 && w.k > 0, "kernels.bad_argument", "pack_weight_only: empty weight matrix", ctx);
  require(group <= w.k && w.k % group == 0, "kernels.bad_argument", "pack_weight_only: the group size does not divide K", ctx);
  require(ld >= row_bytes, "kernels.bad_argument", "pack_weight_only: row stride smaller than a row", ctx);
  const isa t = target.value_or(active_isa());
  require(is_compiled(t), "kernels.isa_unsupported", "pack_weight_only: ISA not compiled in", std::string(isa_name(t)));

  const std::size_t groups = w.k / group;
  for (std::size_t i = 0; i < w.n * groups; ++i)
    require(std::isfinite(w.scales[i]), "kernels.bad_argument", "pack_weight_only: non-finite scale",
            ctx + " at row " + std::to_string(i / groups) + " group " + std::to_string(i % groups));
  auto is_half = [](float s) { return to_float(to_f16(s)) == s; };
  bool half_header = w.scale_storage != wo_scale_storage::f32;
  for (std::size_t i = 0; half_header && i < w.n * groups; ++i) {
    if (is_half(w.scales[i])) continue;
    require(w.scale_storage != wo_scale_storage::f16, "kernels.bad_argument", "pack_weight_only: scale is not an f16 value",
            ctx + " at row " + std::to_string(i / groups) + " group " + std::to_string(i % groups));
    half_header = false;
  }
  const float zero_const = is_signed(w.type) ? (int4 ? 8.0f : 128.0f) : 0.0f;
  auto offset = [&](std::size_t i) -> float {  // z of entry i of the zero points, in the code domain
    if (is_signed(w.type)) {
      const int zp = static_cast<const std::int8_t*>(w.zero_points)[i];
      require(!int4 || (zp >= -8 && zp <= 7), "kernels.bad_argument", "pack_weight_only: int4 zero point out of [-8, 7]",
              ctx + " at row " + std::to_string(i / groups) + " group " + std::to_string(i % groups));
      return static_cast<float>(zp) + zero_const;
    }
    const int zp = static_cast<const std::uint8_t*>(w.zero_points)[i];
    require(!int4 || zp <= 15, "kernels.bad_argument", "pack_weight_only: uint4 zero point out of [0, 15]",
            ctx + " at row " + std::to_string(i / groups) + " group " + std::to_string(i % groups));
    return static_cast<float>(zp);
  };

  packed_weight_only p;
  p.target_ = t;
  p.type_ = w.type;
  p.n_ = w.n;
  p.k_ = w.k;
  p.group_ = group;
  p.nr_ = detail::wo_nr(t);
  p.zero_const_ = zero_const;
  p.zero_points_ = w.zero_points != nullptr;
  p.half_header_ = half_header;  // the offsets are integers in [0, 255]: f16 values too
  const std::size_t nr = p.nr_, quad = detail::wo_panel_quad, bb = p.block_bytes(), hb = p.header_bytes(), half = nr * 4;
  p.panels_ = ((w.n + nr - 1) / nr + quad - 1) / quad * quad;
  p.header_groups_ = half_header && w.zero_points == nullptr ? 2 : 1;
  std::size_t offset_bytes = 0, shared = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t slot = g % p.header_groups_;
    if (slot == 0) {  // this group's header (and the next one's)
      shared = offset_bytes;
      offset_bytes += p.header_groups_ * hb;
    }
    const std::size_t header = shared + slot * hb;
    p.headers_.push_back(header);
    for (std::size_t c0 = 0; c0 < group; c0 += detail::wo_chunk_max) {
      const std::size_t len = std::min(detail::wo_chunk_max, group - c0), blocks = (len + detail::wo_block_k - 1) / detail::wo_block_k;
      p.chunks_.push_back({g * group + c0, len, blocks, p.blocks_, p.blocks_ * detail::wo_block_k, g, offset_bytes, header});
      p.blocks_ += blocks;
      offset_bytes += blocks * bb;
    }
  }
  // An odd number of cache lines per panel (zero padding after the last block): the 4 streams of a tile are
  // (panels / 4) panels apart, and with a panel a multiple of 512 B or more they sat a multiple of a large
  // power of two apart -- on the AVX2 test machine int4 g128 f16 at 1 x 4096^2 took 1.45x the time.
  p.panel_bytes_ = (offset_bytes + 63) / 64 * 64;
  if (p.panel_bytes_ / 64 % 2 == 0) p.panel_bytes_ += 64;
  const std::size_t weight_bytes = p.panels_ * p.panel_bytes();
  p.data_.reserve(weight_bytes);
  std::memset(p.data_.data(), 0, weight_bytes);

  auto* out = reinterpret_cast<std::uint8_t*>(p.data_.data());
  for (std::size_t col = 0; col < w.n; ++col) {
    const std::size_t panel = col / nr, j = col % nr;
    std::uint8_t* base = out + (p.panel(panel) - out);
    for (std::size_t g = 0; g < groups; ++g) {
      std::uint8_t* header = base + p.headers_[g];
      auto put = [&](std::size_t i, float v) {
        if (half_header) {
          const std::uint16_t bits = to_f16(v).bits;
          std::memcpy(header + i * 2, &bits, 2);
        } else {
          std::memcpy(header + i * 4, &v, 4);
        }
      };
      put(j, w.scales[col * groups + g]);
      if (w.zero_points != nullptr) put(nr + j, offset(col * groups + g));
    }
    for (const auto& ch : p.chunks_)
      for (std::size_t t = 0; t < ch.len; ++t) {
        const std::uint32_t u = detail::wo_code(w, ld, col, ch.k0 + t);
        std::uint8_t* block = base + ch.offset + (t / detail::wo_block_k) * bb;
        const std::size_t i = t % detail::wo_block_k;
        if (int4) block[j * 4 + i % 4] = static_cast<std::uint8_t>(block[j * 4 + i % 4] | (i < 4 ? u : u << 4));
        else block[(i / 4) * half + j * 4 + i % 4] = static_cast<std::uint8_t>(u);
      }
  }
  return p;
}

namespace detail {

// One call of the kernel: quantized x (per row and chunk: s8 codes, scale, sum of codes) and the output.
struct wo_problem {
  const packed_weight_only* w;
  std::size_t m;
  const std::int8_t* xq;  // [m][k_padded], zero in the padding
  std::size_t ldxq;
  const float* xscale;    // [m][chunks]
  const float* xsum;      // [m][chunks], exact small integers
  const float* bias;      // [n] or null
  float* y;
  std::size_t ldy;
};

// A tile: rows [row0, row0 + Rows) x panels [panel0, panel0 + Panels); Panels = wo_panels_for(Rows, wide, merged).
using wo_tile_fn = void (*)(const wo_problem&, std::size_t row0, std::size_t panel0) noexcept;
inline constexpr std::size_t wo_max_rows = 8;
// Panels per tile (1, 2 or 4: a tile never crosses a group of 4 panels). Each (row, panel) holds one f32
// and two s32 accumulators (k0..3 and k4..7 halves), or one s32 when the tile merges the halves (merged:
// VNNI with 32 registers and at least 2 rows, see weight_only__tile.inc). With 32 vector registers (wide)
// tiles of 3 or 4 rows still take two panels, and merged ones 4 panels up to 4 rows, 2 up to 8: every
// broadcast of x then feeds 2 to 4 panels.
[[nodiscard]] constexpr std::size_t wo_panels_for(std::size_t rows, bool wide, bool merged = false) noexcept {
  if (merged) return rows <= 4 ? 4 : 2;
  return rows == 1 ? 4 : rows == 2 || (wide && rows <= 4) ? 2 : 1;
}

struct wo_kernels {
  std::size_t max_rows;  // rows per tile at most (register budget of the ISA)
  bool wide;             // 32 vector registers (see wo_panels_for)
  wo_tile_fn int4[wo_max_rows];
  wo_tile_fn int8[wo_max_rows];
  std::size_t int4_panels[wo_max_rows];  // panels per tile of int4[i] / int8[i]
  std::size_t int8_panels[wo_max_rows];
};

}  // namespace detail

}  // namespace bigmodel::kernels
