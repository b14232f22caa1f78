// The weight-only kernel (kernels/weight_only.hpp) against an independent reference: W dequantized to f32
// from the caller's layout (its own nibble and sign handling, no packing) and a double-precision dot product.
//
// Tolerance, per output y[m][n] (documented in weight_only.hpp): the kernel quantizes x to s8 per chunk of
// at most 128 k with scale max|x_chunk| / 127, so each x moves by at most max_k |x[m][k]| / 254 and
//   |y - y_ref| <= 1.01 * (max_k |x[m][k]| / 254) * sum_k |W[n][k]|                  (x quantization)
//                + 4 * 2^-23 * (chunks + 4) * (sum_k |W[n][k] x[m][k]| + that bound + |bias|)   (f32 rounding)
// Every ISA must also agree with the scalar kernel within the f32 term alone (same codes, same integers), and
// with x already on the s8 grid the first term is zero, so the result must match the reference within the f32
// term alone: a wrong scale, zero point, group or nibble for one column shows up far above it.
// The precise mode (a second s8 digit for the residual of x) must meet the first term divided by 254, plus
// 8 * 2^-23 * max_k |x| * sum_k |W| for the f32 rounding of the residual.

#include <catch2/catch.hpp>

#include <bigmodel/kernels.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

namespace k = bigmodel::kernels;
using k::weight_only_type;

std::mt19937& rng() {
  static std::mt19937 gen(20261129);
  return gen;
}
int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }
float uniform_f(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng()); }

#ifdef BIGMODEL_KERNELS_TEST_SMALL
constexpr bool small_sample = true;
#else
constexpr bool small_sample = false;
#endif

// A quantized matrix in the caller's layout, and what it means in f32.
struct quantized {
  weight_only_type type;
  std::size_t n, k, group, ld;
  std::vector<std::uint8_t> values;
  std::vector<float> scales;
  std::vector<std::uint8_t> zero_points;  // raw bytes (s8 or u8 as the type), empty = symmetric
  std::vector<float> dequantized;         // [n][k]
  k::wo_scale_storage storage = k::wo_scale_storage::automatic;

  [[nodiscard]] k::weight_only_matrix matrix() const {
    return {type, n, k, group, values.data(), ld, scales.data(), zero_points.empty() ? nullptr : zero_points.data(), storage};
  }
};

bool is_int4(weight_only_type t) { return t == weight_only_type::s4 || t == weight_only_type::u4; }
bool is_signed_type(weight_only_type t) { return t == weight_only_type::s4 || t == weight_only_type::s8; }

// Value at (n, k) read straight from the caller's bytes.
int raw_value(const quantized& q, std::size_t n, std::size_t kk) {
  const std::uint8_t* row = q.values.data() + n * q.ld;
  if (!is_int4(q.type)) return is_signed_type(q.type) ? static_cast<std::int8_t>(row[kk]) : row[kk];
  const int nib = kk % 2 == 0 ? row[kk / 2] & 15 : row[kk / 2] >> 4;
  return is_signed_type(q.type) && nib >= 8 ? nib - 16 : nib;
}

// q.dequantized from q's values, scales and zero points.
void dequantize(quantized& q) {
  const std::size_t g = q.group == 0 ? q.k : q.group, groups = q.k / g;
  q.dequantized.resize(q.n * q.k);
  for (std::size_t r = 0; r < q.n; ++r)
    for (std::size_t c = 0; c < q.k; ++c) {
      const std::size_t gi = r * groups + c / g;
      int zp = 0;
      if (!q.zero_points.empty()) zp = is_signed_type(q.type) ? static_cast<std::int8_t>(q.zero_points[gi]) : q.zero_points[gi];
      q.dequantized[r * q.k + c] = static_cast<float>(raw_value(q, r, c) - zp) * q.scales[gi];
    }
}

// half_scales: every scale an f16 value (the packer then stores f16 headers); else random f32 scales, which
// are f16 values with probability ~2^-13 each, so the headers stay f32.
quantized make_quantized(weight_only_type type, std::size_t n, std::size_t kk, std::size_t group, bool affine, std::size_t extra_ld,
                         bool half_scales = false) {
  quantized q{type, n, kk, group, 0, {}, {}, {}, {}};
  const std::size_t g = group == 0 ? kk : group, groups = kk / g;
  q.ld = (is_int4(type) ? (kk + 1) / 2 : kk) + extra_ld;
  q.values.resize(n * q.ld);
  for (auto& v : q.values) v = static_cast<std::uint8_t>(uniform(0, 255));
  q.scales.resize(n * groups);
  for (auto& s : q.scales) {
    s = uniform_f(0.002f, 0.02f) * (uniform(0, 3) == 0 ? -1.0f : 1.0f);
    if (half_scales) s = bigmodel::to_float(bigmodel::to_f16(s));
  }
  if (affine) {
    q.zero_points.resize(n * groups);
    const int lo = is_signed_type(type) ? (is_int4(type) ? -8 : -128) : 0;
    const int hi = is_signed_type(type) ? (is_int4(type) ? 7 : 127) : (is_int4(type) ? 15 : 255);
    for (auto& z : q.zero_points) z = static_cast<std::uint8_t>(static_cast<std::int8_t>(uniform(lo, hi)));
  }
  dequantize(q);
  return q;
}

struct expected {
  std::vector<double> y, quant_bound, f32_bound, precise_bound;  // [m][n]
};

expected reference(const quantized& q, std::size_t m, const std::vector<float>& x, std::size_t ldx, const float* bias) {
  const std::size_t n = q.n, kk = q.k, g = q.group == 0 ? kk : q.group;
  const double chunks = static_cast<double>((kk / g) * ((g + 127) / 128));
  expected e{std::vector<double>(m * n), std::vector<double>(m * n), std::vector<double>(m * n), std::vector<double>(m * n)};
  for (std::size_t i = 0; i < m; ++i) {
    double amax = 0.0;
    for (std::size_t t = 0; t < kk; ++t) amax = std::max(amax, std::fabs(static_cast<double>(x[i * ldx + t])));
    for (std::size_t j = 0; j < n; ++j) {
      double acc = 0.0, mag = 0.0, wsum = 0.0;
      for (std::size_t t = 0; t < kk; ++t) {
        const double w = q.dequantized[j * kk + t], xv = x[i * ldx + t];
        acc += w * xv;
        mag += std::fabs(w * xv);
        wsum += std::fabs(w);
      }
      const double b = bias ? bias[j] : 0.0;
      e.y[i * n + j] = acc + b;
      e.quant_bound[i * n + j] = 1.01 * amax / 254.0 * wsum;
      e.f32_bound[i * n + j] = 4.0 * 0x1p-23 * (chunks + 4.0) * (mag + e.quant_bound[i * n + j] + std::fabs(b)) + 1e-30;
      e.precise_bound[i * n + j] = e.quant_bound[i * n + j] / 254.0 + 8.0 * 0x1p-23 * amax * wsum;
    }
  }
  return e;
}

std::vector<k::isa> runnable_isas() {
  std::vector<k::isa> v;
  for (k::isa i : k::compiled_isas()) {
    if (k::is_supported(i)) v.push_back(i);
    else WARN("skipping ISA " << k::isa_name(i) << ": this CPU lacks it (" << bigmodel::cpu().to_string() << ")");
  }
  return v;
}

constexpr float sentinel = -12345.0f;

// Bytes rounded up to an odd number of 64-byte lines (the padded size of a packed panel).
std::size_t odd_lines(std::size_t bytes) {
  std::size_t lines = (bytes + 63) / 64;
  if (lines % 2 == 0) ++lines;
  return lines * 64;
}

// Runs every runnable ISA on one problem; checks against the reference and against the scalar kernel.
void check_problem(const quantized& q, std::size_t m, const std::vector<float>& x, std::size_t ldx, const float* bias,
                   bool on_grid, const std::vector<k::isa>& isas) {
  const std::size_t n = q.n, ldy = n + 2;
  const expected e = reference(q, m, x, ldx, bias);
  std::vector<float> scalar_y[2];
  for (k::isa i : isas) {
    REQUIRE(k::force_isa(i) == k::status::ok);
    const auto packed = k::pack_weight_only(q.matrix());
    REQUIRE(packed.target() == i);
    for (const bool precise : {false, true}) {
      std::vector<float> y(m * ldy, sentinel);
      k::linear_weight_only(m, x.data(), ldx, packed, bias, y.data(), ldy, {.precise = precise});
      REQUIRE(k::last_used_isa() == i);
      std::vector<float>& scalar = scalar_y[precise ? 1 : 0];
      std::size_t bad = 0;
      for (std::size_t r = 0; r < m && bad < 3; ++r) {
        for (std::size_t c = 0; c < n && bad < 3; ++c) {
          const std::size_t t = r * n + c;
          const double got = y[r * ldy + c], want = e.y[t];
          const double tol = (on_grid ? 0.0 : precise ? e.precise_bound[t] : e.quant_bound[t]) + e.f32_bound[t];
          if (!(std::fabs(got - want) <= tol)) {
            ++bad;
            FAIL_CHECK(k::isa_name(i) << (precise ? " precise" : "") << " y[" << r << "][" << c << "] = " << got << ", reference "
                                      << want << ", tolerance " << tol);
          }
          if (i != k::isa::scalar && !scalar.empty() && !(std::fabs(got - scalar[r * ldy + c]) <= 2.0 * e.f32_bound[t])) {
            ++bad;
            FAIL_CHECK(k::isa_name(i) << (precise ? " precise" : "") << " y[" << r << "][" << c << "] = " << got
                                      << ", scalar kernel " << scalar[r * ldy + c]);
          }
        }
        for (std::size_t c = n; c < ldy; ++c) CHECK(y[r * ldy + c] == sentinel);  // nothing past N
      }
      if (i == k::isa::scalar) scalar = y;
    }
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

std::vector<float> random_x(std::size_t m, std::size_t kk, std::size_t ldx) {
  std::vector<float> x(m * ldx, std::numeric_limits<float>::quiet_NaN());  // padding must never be read
  const float scale = uniform_f(0.1f, 10.0f);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t t = 0; t < kk; ++t) x[i * ldx + t] = uniform_f(-scale, scale);
  return x;
}

// x whose quantization is exact: integers in [-127, 127] times a power of two, with 127 at every k = 0 mod 32
// (every chunk starts at such a k, so every chunk's scale is exactly the power of two).
std::vector<float> grid_x(std::size_t m, std::size_t kk, std::size_t ldx) {
  std::vector<float> x(m * ldx, std::numeric_limits<float>::quiet_NaN());
  for (std::size_t i = 0; i < m; ++i) {
    const float unit = std::ldexp(1.0f, uniform(-6, 3));
    for (std::size_t t = 0; t < kk; ++t) x[i * ldx + t] = unit * static_cast<float>(t % 32 == 0 ? (uniform(0, 1) ? 127 : -127) : uniform(-127, 127));
  }
  return x;
}

struct shape_case {
  std::size_t group, k;
};

std::vector<shape_case> shape_cases() {
  // Groups of 32 / 64 / 128 (K a multiple, one group or several), and per channel (group 0 or K, any K:
  // odd K gives a half-used last int4 byte; K > 128 gives several chunks per group, with a tail chunk).
  // Groups of 24 and 40 straddle the AVX2 kernel's 4-block s16 run (wo_s16_blocks): 3 blocks, the one-run form
  // of the tile; 5 blocks, a whole run and a run of one.
  std::vector<shape_case> v{{32, 32}, {32, 96}, {64, 64}, {64, 192}, {128, 128}, {128, 384}, {24, 72}, {40, 80},
                            {0, 1},   {0, 7},   {0, 100}, {0, 301}, {300, 300}};
  if (!small_sample) v.push_back({0, 1001});
  return v;
}

const std::vector<weight_only_type> all_types{weight_only_type::s8, weight_only_type::u8, weight_only_type::s4, weight_only_type::u4};

}  // namespace

TEST_CASE("weight_only: every ISA, M, group, type and zero-point form against the reference", "[kernels][weight_only]") {
  const auto isas = runnable_isas();
  // Every tile shape of the AVX-512 VNNI kernel: 1 row x 4 panels (two accumulators per panel), merged tiles of
  // 2-4 rows x 4 panels and 5-8 rows x 2 panels, and M > 8 (tiles of 8 plus a tail tile).
  const std::vector<std::size_t> ms = small_sample ? std::vector<std::size_t>{1, 2, 3, 5, 8, 9} : std::vector<std::size_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 17};
  const std::vector<std::size_t> ns{1, 5, 16, 17, 33, 70};
  std::size_t case_index = 0;
  for (const shape_case sc : shape_cases())
    for (weight_only_type type : all_types)
      for (bool affine : {false, true}) {
        if (!affine && !is_signed_type(type) && uniform(0, 1) == 0) continue;  // unsigned without zero points: sampled
        const std::size_t n = ns[case_index++ % ns.size()];
        const bool half = case_index % 2 == 0;  // f16 headers every other case
        const quantized q = make_quantized(type, n, sc.k, sc.group, affine, case_index % 3 == 0 ? 5 : 0, half);
        std::vector<float> bias(n);
        for (auto& b : bias) b = uniform_f(-1.0f, 1.0f);
        for (std::size_t m : ms) {
          const std::size_t ldx = sc.k + (m % 2 ? 3 : 0);  // strided x every other M
          const bool with_bias = (m + case_index) % 2 == 0;
          INFO("type " << static_cast<int>(type) << (affine ? " affine" : " symmetric") << " n=" << n << " k=" << sc.k
                       << " group=" << sc.group << " m=" << m << " ldx=" << ldx << " ld=" << q.ld << (with_bias ? " bias" : "")
                       << (half ? " f16 scales" : ""));
          check_problem(q, m, random_x(m, sc.k, ldx), ldx, with_bias ? bias.data() : nullptr, false, isas);
        }
      }
}

TEST_CASE("weight_only: x on the s8 grid gives the reference within f32 rounding", "[kernels][weight_only]") {
  const auto isas = runnable_isas();
  for (const shape_case sc : shape_cases())
    for (weight_only_type type : all_types)
      for (bool affine : {false, true})
        for (std::size_t m : {std::size_t{1}, std::size_t{4}, std::size_t{9}}) {
          const std::size_t n = 19;
          const quantized q = make_quantized(type, n, sc.k, sc.group, affine, 0);
          std::vector<float> bias(n, 0.25f);
          INFO("type " << static_cast<int>(type) << (affine ? " affine" : " symmetric") << " k=" << sc.k << " group=" << sc.group << " m=" << m);
          check_problem(q, m, grid_x(m, sc.k, sc.k), sc.k, bias.data(), true, isas);
        }
}

// The largest integer sums the kernels form: every code at the top of its range (each nibble the kernels
// multiply is 15) against x at +-127 throughout, over chunks of 128 k. AVX2 keeps the pair sums of 4 blocks in
// s16 (weight_only__tile.inc: at most 8 x 2 x 15 x 127 = 30480); one block more would overflow here.
TEST_CASE("weight_only: codes and x at their extremes overflow no intermediate sum", "[kernels][weight_only]") {
  const auto isas = runnable_isas();
  for (weight_only_type type : all_types)
    for (const shape_case sc : {shape_case{128, 128}, shape_case{128, 384}, shape_case{0, 300}, shape_case{32, 96}})
      for (const int sign : {1, -1}) {
        const std::size_t n = 21;
        quantized q = make_quantized(type, n, sc.k, sc.group, false, 0);
        // The kernels' codes are s4 + 8, u4, s8 + 128, u8: all 15 (int4) or 255 (int8) for values 7 / 15 / 127 / 255.
        const std::uint8_t byte = type == weight_only_type::s4 ? 0x77 : type == weight_only_type::s8 ? 0x7F : 0xFF;
        std::fill(q.values.begin(), q.values.end(), byte);
        dequantize(q);
        for (const std::size_t m : {std::size_t{1}, std::size_t{3}}) {
          const std::vector<float> x(m * sc.k, 0.5f * static_cast<float>(127 * sign));  // s8 127 * sign, scale 0.5
          INFO("type " << static_cast<int>(type) << " k=" << sc.k << " group=" << sc.group << " x sign " << sign << " m=" << m);
          check_problem(q, m, x, sc.k, nullptr, true, isas);
        }
      }
}

// The packed form read back byte by byte, for every compiled ISA (packing needs no CPU support): each panel is
// one stream, group after group, the group's header (nr scales, then nr offsets with zero points) in front of
// its chunks' blocks, and every code where weight_only_packed.hpp says.
TEST_CASE("weight_only: packed panels hold each group's scales in front of its blocks", "[kernels][weight_only]") {
  struct layout_case {
    weight_only_type type;
    std::size_t n, k, group;
    bool affine;
  };
  // Tails in N (partial last panel, padding panels of the last quad) and in K (odd K, a short last chunk).
  const std::vector<layout_case> cases{{weight_only_type::s4, 37, 384, 32, false}, {weight_only_type::u4, 70, 384, 64, true},
                                       {weight_only_type::s4, 17, 256, 128, true}, {weight_only_type::s8, 33, 192, 64, true},
                                       {weight_only_type::u8, 5, 300, 0, false},    {weight_only_type::s4, 9, 301, 0, true}};
  for (k::isa target : k::compiled_isas())
    for (const layout_case& lc : cases)
      for (const bool half : {false, true}) {
      INFO(k::isa_name(target) << " type " << static_cast<int>(lc.type) << " n=" << lc.n << " k=" << lc.k << " group=" << lc.group
                               << (lc.affine ? " affine" : "") << (half ? " f16 scales" : ""));
      const quantized q = make_quantized(lc.type, lc.n, lc.k, lc.group, lc.affine, 0, half);
      const auto p = k::pack_weight_only(q.matrix(), target);
      const std::size_t nr = p.nr(), groups = p.groups(), bb = p.block_bytes(), vb = half ? 2 : 4;
      REQUIRE(p.half_header() == half);
      CHECK(p.panels() % 4 == 0);
      CHECK(p.panels() * nr >= lc.n);
      CHECK(p.header_bytes() == (lc.affine ? 2 : 1) * nr * vb);
      CHECK(p.bytes() == p.panels() * p.panel_bytes());
      // Quad-position major: panel i of quad q right after panel i of quad q - 1; panels i, i + 1 of a quad
      // panel_stride() apart; every panel somewhere in the p.bytes() of the buffer, no two overlapping.
      std::vector<std::size_t> starts;
      for (std::size_t pi = 0; pi < p.panels(); ++pi) {
        if (pi % 4 != 3) CHECK(p.panel(pi + 1) == p.panel(pi) + p.panel_stride());
        if (pi + 4 < p.panels()) CHECK(p.panel(pi + 4) == p.panel(pi) + p.panel_bytes());
        starts.push_back(static_cast<std::size_t>(p.panel(pi) - p.panel(0)));
      }
      std::sort(starts.begin(), starts.end());
      for (std::size_t pi = 0; pi < starts.size(); ++pi) CHECK(starts[pi] == pi * p.panel_bytes());
      // The stream of a panel: header, chunks of the group, next header, ... with no gap and nothing after.
      // f16 scales without zero points: two groups' headers together (blocks stay nr * 4 aligned).
      const std::size_t together = half && !lc.affine ? 2 : 1;
      CHECK(p.header_groups() == together);
      std::size_t at = 0, last_group = groups, shared = 0;
      for (const auto& ch : p.chunks()) {
        if (ch.group != last_group) {
          if (ch.group % together == 0) {
            shared = at;
            at += together * p.header_bytes();
          }
          CHECK(ch.header == shared + (ch.group % together) * p.header_bytes());
          last_group = ch.group;
        }
        CHECK(ch.offset % (nr * 4) == 0);  // every block one vector aligned within its panel
        CHECK(ch.offset == at);
        CHECK(ch.x_offset == ch.block_offset * 8);
        at += ch.blocks * bb;
      }
      CHECK(p.panel_bytes() == odd_lines(at));  // zero padding after the last block
      for (std::size_t col = 0; col < p.panels() * nr; ++col) {
        const std::size_t panel = col / nr, j = col % nr;
        // The header's value i (f32, or f16 bits) read straight from the bytes.
        auto value_at = [&](const std::uint8_t* h, std::size_t i) {
          if (half) {
            std::uint16_t bits;
            std::memcpy(&bits, h + i * 2, 2);
            return bigmodel::to_float(bigmodel::f16::from_bits(bits));
          }
          float v;
          std::memcpy(&v, h + i * 4, 4);
          return v;
        };
        for (std::size_t g = 0; g < groups; ++g) {
          const std::uint8_t* h = p.panel(panel) + p.chunks()[g * (p.chunks().size() / groups)].header;
          REQUIRE(h == p.header(panel, g));
          const float want_scale = col < lc.n ? q.scales[col * groups + g] : 0.0f;
          REQUIRE(value_at(h, j) == want_scale);
          REQUIRE(p.scale(panel, g, j) == want_scale);
          if (!lc.affine) {
            REQUIRE(p.zero(panel, g, j) == p.zero_constant());
            continue;
          }
          float want_zero = 0.0f;
          if (col < lc.n) {
            const std::uint8_t raw = q.zero_points[col * groups + g];
            want_zero = is_signed_type(lc.type) ? static_cast<float>(static_cast<std::int8_t>(raw)) + p.zero_constant() : static_cast<float>(raw);
          }
          REQUIRE(value_at(h, nr + j) == want_zero);
          REQUIRE(p.zero(panel, g, j) == want_zero);
        }
        for (const auto& ch : p.chunks())
          for (std::size_t t = 0; t < ch.blocks * 8; ++t) {
            const std::uint8_t* block = p.panel(panel) + ch.offset + (t / 8) * bb;
            const std::size_t i = t % 8;
            const int code = is_int4(lc.type) ? (i < 4 ? block[j * 4 + i] & 15 : block[j * 4 + i - 4] >> 4) : block[(i / 4) * nr * 4 + j * 4 + i % 4];
            int want = 0;  // padding: zero codes (k past the chunk, columns past N)
            if (col < lc.n && t < ch.len) {
              const int v = raw_value(q, col, ch.k0 + t);
              want = is_signed_type(lc.type) ? v + (is_int4(lc.type) ? 8 : 128) : v;
            }
            REQUIRE(code == want);
          }
      }
    }
}

// M = 1 (the token-by-token case) and the small-M tiles over several quads of panels, every group size the
// runtime uses and per channel, with tails in N (a partial panel, padding panels) and in K (a short last chunk).
TEST_CASE("weight_only: M = 1 to 8 over several panel quads, tails in N and K", "[kernels][weight_only]") {
  const auto isas = runnable_isas();
  struct case_ {
    std::size_t n, k, group;
  };
  const std::vector<case_> cases{{150, 512, 32}, {131, 384, 64}, {200, 640, 128}, {67, 1000, 0}, {129, 264, 0}};
  for (std::size_t ci = 0; ci < cases.size(); ++ci)
    for (weight_only_type type : {weight_only_type::s4, weight_only_type::u4, weight_only_type::s8})
      for (bool affine : {false, true})
        for (std::size_t m : {std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{8}}) {
          if (small_sample && m != 1 && m != 4) continue;
          const case_& c = cases[ci];
          const quantized q = make_quantized(type, c.n, c.k, c.group, affine, 0, ci % 2 == 0);
          std::vector<float> bias(c.n);
          for (auto& b : bias) b = uniform_f(-1.0f, 1.0f);
          INFO("type " << static_cast<int>(type) << (affine ? " affine" : " symmetric") << " n=" << c.n << " k=" << c.k
                       << " group=" << c.group << " m=" << m << (ci % 2 == 0 ? " f16 scales" : ""));
          check_problem(q, m, random_x(m, c.k, c.k), c.k, bias.data(), false, isas);
          check_problem(q, m, grid_x(m, c.k, c.k), c.k, nullptr, true, isas);
        }
}

// f16 headers hold the same numbers as f32 ones when the scales are f16 values: every ISA's output must be
// bit-identical either way, and the packed weights must shrink by half of every header (less a free slot).
TEST_CASE("weight_only: f16 scale headers give the f32 headers' results in fewer bytes", "[kernels][weight_only]") {
  const auto isas = runnable_isas();
  struct case_ {
    std::size_t n, k, group;
  };
  const std::vector<case_> cases{{70, 256, 32}, {33, 384, 128}, {21, 301, 0}};
  for (const case_& c : cases)
    for (weight_only_type type : all_types)
      for (bool affine : {false, true}) {
        quantized q = make_quantized(type, c.n, c.k, c.group, affine, 0, true);
        std::vector<float> bias(c.n);
        for (auto& b : bias) b = uniform_f(-1.0f, 1.0f);
        for (k::isa i : isas) {
          REQUIRE(k::force_isa(i) == k::status::ok);
          q.storage = k::wo_scale_storage::automatic;
          const auto half = k::pack_weight_only(q.matrix());
          q.storage = k::wo_scale_storage::f16;
          const auto forced = k::pack_weight_only(q.matrix());
          q.storage = k::wo_scale_storage::f32;
          const auto full = k::pack_weight_only(q.matrix());
          REQUIRE(half.half_header());
          REQUIRE(forced.half_header());
          REQUIRE_FALSE(full.half_header());
          // every header half the bytes; with two groups' headers together, an odd group count leaves one slot free
          const std::size_t slots = (half.groups() + half.header_groups() - 1) / half.header_groups() * half.header_groups();
          const std::size_t blocks = half.k_padded() / 8 * half.block_bytes();
          CHECK(full.header_bytes() == 2 * half.header_bytes());
          CHECK(full.panel_bytes() == odd_lines(blocks + half.groups() * full.header_bytes()));
          CHECK(half.panel_bytes() == odd_lines(blocks + slots * half.header_bytes()));
          CHECK(half.bytes() <= full.bytes());
          for (std::size_t m : {std::size_t{1}, std::size_t{3}, std::size_t{8}}) {
            INFO(k::isa_name(i) << " type " << static_cast<int>(type) << (affine ? " affine" : " symmetric") << " n=" << c.n
                                << " k=" << c.k << " group=" << c.group << " m=" << m);
            const auto x = random_x(m, c.k, c.k);
            for (const bool precise : {false, true}) {
              std::vector<float> a(m * c.n), b(m * c.n);
              k::linear_weight_only(m, x.data(), c.k, half, bias.data(), a.data(), c.n, {.precise = precise});
              k::linear_weight_only(m, x.data(), c.k, full, bias.data(), b.data(), c.n, {.precise = precise});
              REQUIRE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
            }
          }
        }
      }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

TEST_CASE("weight_only: a larger layer, threads give identical results", "[kernels][weight_only]") {
  const std::size_t n = small_sample ? 200 : 520, kk = small_sample ? 512 : 2048, m = 4;
  const quantized q = make_quantized(weight_only_type::s4, n, kk, 128, false, 0);
  const auto x = random_x(m, kk, kk);
  const expected e = reference(q, m, x, kk, nullptr);
  for (k::isa i : runnable_isas()) {
    REQUIRE(k::force_isa(i) == k::status::ok);
    const auto packed = k::pack_weight_only(q.matrix());
    std::vector<float> one(m * n), three(m * n);
    k::linear_weight_only(m, x.data(), kk, packed, nullptr, one.data(), n);
    k::linear_weight_only(m, x.data(), kk, packed, nullptr, three.data(), n, {.exec = k::execution::threads(3)});
    CHECK(one == three);
    for (std::size_t t = 0; t < m * n; ++t) REQUIRE(std::fabs(one[t] - e.y[t]) <= e.quant_bound[t] + e.f32_bound[t]);
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

TEST_CASE("weight_only: NaN or Inf in a row of x makes that row NaN, not the others", "[kernels][weight_only]") {
  const quantized q = make_quantized(weight_only_type::s4, 20, 64, 32, false, 0);
  for (k::isa i : runnable_isas()) {
    REQUIRE(k::force_isa(i) == k::status::ok);
    const auto packed = k::pack_weight_only(q.matrix());
    auto x = random_x(3, 64, 64);
    x[64 + 40] = std::numeric_limits<float>::quiet_NaN();
    x[128 + 3] = std::numeric_limits<float>::infinity();
    std::vector<float> y(3 * 20);
    k::linear_weight_only(3, x.data(), 64, packed, nullptr, y.data(), 20);
    for (std::size_t c = 0; c < 20; ++c) {
      CHECK(std::isfinite(y[c]));
      CHECK(std::isnan(y[20 + c]));
      CHECK(std::isnan(y[40 + c]));
    }
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

TEST_CASE("weight_only: zero x gives exactly the bias", "[kernels][weight_only]") {
  quantized q = make_quantized(weight_only_type::u4, 9, 64, 32, true, 0);
  std::vector<float> bias(9);
  for (auto& b : bias) b = uniform_f(-1.0f, 1.0f);
  for (k::isa i : runnable_isas()) {
    REQUIRE(k::force_isa(i) == k::status::ok);
    const auto packed = k::pack_weight_only(q.matrix());
    std::vector<float> x(2 * 64, 0.0f), y(2 * 9);
    k::linear_weight_only(2, x.data(), 64, packed, bias.data(), y.data(), 9);
    for (std::size_t t = 0; t < y.size(); ++t) CHECK(y[t] == bias[t % 9]);
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

TEST_CASE("weight_only: bad arguments throw bigmodel::error", "[kernels][weight_only]") {
  const quantized q = make_quantized(weight_only_type::s4, 8, 64, 32, true, 0);
  auto expect_error = [](const char* id, auto&& f) {
    try {
      f();
      FAIL("no error, expected " << id);
    } catch (const bigmodel::error& e) {
      CHECK(e.id() == id);
    }
  };
  auto with = [&](auto change) {
    k::weight_only_matrix w = q.matrix();
    change(w);
    return w;
  };
  const std::vector<float> nan_scales(8 * 2, std::numeric_limits<float>::quiet_NaN());
  const std::vector<std::uint8_t> zp_s4_bad(8 * 2, 9), zp_u4_bad(8 * 2, 16);
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([](auto& w) { w.values = nullptr; })); });
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([](auto& w) { w.scales = nullptr; })); });
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([](auto& w) { w.n = 0; })); });
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([](auto& w) { w.k = 0; })); });
  // K = 64 is not a multiple of 48, and a group larger than K is not a group.
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([](auto& w) { w.group = 48; })); });
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([](auto& w) { w.group = 128; })); });
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([](auto& w) { w.ld = 31; })); });
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([&](auto& w) { w.scales = nan_scales.data(); })); });
  // f16 storage promised, but 0.1 is not an f16 value (an f16 value, 0.25, is fine)
  const std::vector<float> tenth(8 * 2, 0.1f), quarter(8 * 2, 0.25f);
  expect_error("kernels.bad_argument", [&] {
    (void)k::pack_weight_only(with([&](auto& w) { w.scales = tenth.data(), w.scale_storage = k::wo_scale_storage::f16; }));
  });
  CHECK(k::pack_weight_only(with([&](auto& w) { w.scales = quarter.data(), w.scale_storage = k::wo_scale_storage::f16; })).half_header());
  CHECK_FALSE(k::pack_weight_only(with([&](auto& w) { w.scales = tenth.data(); })).half_header());
  expect_error("kernels.bad_argument", [&] { (void)k::pack_weight_only(with([&](auto& w) { w.zero_points = zp_s4_bad.data(); })); });
  expect_error("kernels.bad_argument", [&] {
    (void)k::pack_weight_only(with([&](auto& w) { w.type = weight_only_type::u4, w.zero_points = zp_u4_bad.data(); }));
  });

  const auto packed = k::pack_weight_only(q.matrix());
  std::vector<float> x(2 * 64, 1.0f), y(2 * 8, sentinel);
  expect_error("kernels.null_pointer", [&] { k::linear_weight_only(2, nullptr, 64, packed, nullptr, y.data(), 8); });
  expect_error("kernels.null_pointer", [&] { k::linear_weight_only(2, x.data(), 64, packed, nullptr, nullptr, 8); });
  expect_error("kernels.bad_leading_dimension", [&] { k::linear_weight_only(2, x.data(), 63, packed, nullptr, y.data(), 8); });
  expect_error("kernels.bad_leading_dimension", [&] { k::linear_weight_only(2, x.data(), 64, packed, nullptr, y.data(), 7); });
  expect_error("kernels.empty_weights", [&] { k::linear_weight_only(2, x.data(), 64, k::packed_weight_only{}, nullptr, y.data(), 8); });
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == sentinel; }));
  CHECK(k::run_linear_weight_only(0, nullptr, 0, packed, nullptr, nullptr, 0) == k::status::ok);  // M = 0: nothing to do

  // Weights packed for one ISA are refused by every other one, and nothing is written.
  const auto isas = runnable_isas();
  for (k::isa packed_for : isas) {
    const auto p = k::pack_weight_only(q.matrix(), packed_for);
    for (k::isa run_on : isas) {
      REQUIRE(k::force_isa(run_on) == k::status::ok);
      if (run_on == packed_for) {
        k::linear_weight_only(2, x.data(), 64, p, nullptr, y.data(), 8);
        CHECK(k::last_used_isa() == run_on);
        std::fill(y.begin(), y.end(), sentinel);
      } else {
        INFO("packed for " << k::isa_name(packed_for) << ", running on " << k::isa_name(run_on));
        expect_error("kernels.isa_mismatch", [&] { k::linear_weight_only(2, x.data(), 64, p, nullptr, y.data(), 8); });
        CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == sentinel; }));
      }
    }
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}
