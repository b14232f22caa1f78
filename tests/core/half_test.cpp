// f16 / bf16 conversion: exhaustive round trips and rounding against independent references.
#include <bigmodel/core/half.hpp>
#include <bigmodel/core/half_convert.hpp>

#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

using namespace bigmodel;

namespace {

// Value of an f16 bit pattern computed from its fields with ldexp -- independent of to_float's bit tricks.
double f16_value_reference(std::uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

// Nearest f16 to a finite float by search over the finite positive patterns, ties to the even pattern;
// values at or past 65520 (the midpoint between 65504 and the next step) give Inf.
std::uint16_t f16_round_reference(float f) {
  const double x = std::fabs(static_cast<double>(f));
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (x >= 65520.0) return sign | 0x7C00;
  std::uint16_t lo = 0, hi = 0x7BFF;  // largest pattern with value <= x
  while (lo < hi) {
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi + 1) / 2);
    if (f16_value_reference(mid) <= x) lo = mid; else hi = static_cast<std::uint16_t>(mid - 1);
  }
  if (lo == 0x7BFF) return sign | lo;
  const double below = f16_value_reference(lo), above = f16_value_reference(static_cast<std::uint16_t>(lo + 1));
  std::uint16_t r = lo;
  if (x - below > above - x || (x - below == above - x && (lo & 1))) r = static_cast<std::uint16_t>(lo + 1);
  return sign | r;
}

// Nearest bf16 by comparing the two candidates in double (both exactly representable), ties to even.
std::uint16_t bf16_round_reference(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t trunc = static_cast<std::uint16_t>(x >> 16);
  if ((x & 0xFFFFu) == 0) return trunc;
  const double v = std::fabs(static_cast<double>(f));
  const double below = std::fabs(static_cast<double>(std::bit_cast<float>(std::uint32_t{trunc} << 16)));
  const std::uint16_t up = static_cast<std::uint16_t>(trunc + 1);
  if ((up & 0x7F80) == 0x7F80) {  // rounding up reaches Inf: decide against the next binade's start
    const double next = std::ldexp(1.0, 128);
    return (v - below > next - v || (v - below == next - v && (trunc & 1))) ? up : trunc;
  }
  const double above = std::fabs(static_cast<double>(std::bit_cast<float>(std::uint32_t{up} << 16)));
  return (v - below > above - v || (v - below == above - v && (trunc & 1))) ? up : trunc;
}

bool is_nan16(std::uint16_t h, unsigned exp_mask) { return (h & exp_mask) == exp_mask && (h & ~exp_mask & 0x7FFF); }

std::vector<float> edge_and_random_floats() {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65505.0f, 65519.99f, 65520.0f, -65520.0f, 1e6f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::max(), std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::denorm_min(), 5.9604645e-08f /* 2^-24 */,
                          2.9802322e-08f /* 2^-25: tie to 0 */, 8.940697e-08f /* 1.5 * 2^-24: tie to 2^-23 */,
                          6.097555e-05f /* largest f16 subnormal */, 6.1035156e-05f /* smallest normal */,
                          1.0009765625f /* 1 + 2^-10 */, 1.00048828125f /* tie 1 + 2^-11 */,
                          1.00146484375f /* tie 1 + 3*2^-11 */, 3.3895314e38f, 3.3961776e38f, 3.4e38f};
  // Every tie of f16 and bf16 in a few binades: exactly halfway patterns.
  for (std::uint32_t m = 0; m < 64; ++m) {
    v.push_back(std::bit_cast<float>(0x3F800000u | (m << 13) | 0x1000u));  // f16 ties in [1, 2)
    v.push_back(std::bit_cast<float>(0x3F800000u | (m << 16) | 0x8000u));  // bf16 ties in [1, 2)
    v.push_back(std::bit_cast<float>(0x33800000u | (m << 13) | 0x1000u));  // f16 subnormal range ties
  }
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(bits(rng));
    if (!std::isnan(f)) v.push_back(f);
  }
  std::uniform_real_distribution<float> small(-70000.0f, 70000.0f);
  for (int i = 0; i < 50000; ++i) v.push_back(small(rng));
  std::uniform_int_distribution<std::uint32_t> sub(0x32000000u, 0x38800000u);  // around the f16 subnormals
  for (int i = 0; i < 50000; ++i) v.push_back(std::bit_cast<float>(sub(rng)));
  return v;
}

}  // namespace

TEST_CASE("every f16 bit pattern round-trips through f32 exactly", "[half]") {
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const f16 h{static_cast<std::uint16_t>(b)};
    const float f = to_float(h);
    if (is_nan16(h.bits, 0x7C00)) {
      REQUIRE(std::isnan(f));
    } else {
      REQUIRE(static_cast<double>(f) == f16_value_reference(h.bits));
    }
    REQUIRE(to_f16(f).bits == h.bits);
  }
}

TEST_CASE("every bf16 bit pattern round-trips through f32 exactly", "[half]") {
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const bf16 h{static_cast<std::uint16_t>(b)};
    const float f = to_float(h);
    REQUIRE(std::bit_cast<std::uint32_t>(f) == (b << 16));
    REQUIRE(to_bf16(f).bits == h.bits);
  }
}

TEST_CASE("f32 -> f16 rounds to nearest even like a bit-level reference", "[half]") {
  for (float f : edge_and_random_floats()) {
    INFO("f = " << f << " bits " << std::hex << std::bit_cast<std::uint32_t>(f));
    REQUIRE(to_f16(f).bits == f16_round_reference(f));
  }
}

TEST_CASE("f32 -> bf16 rounds to nearest even like a bit-level reference", "[half]") {
  for (float f : edge_and_random_floats()) {
    INFO("f = " << f << " bits " << std::hex << std::bit_cast<std::uint32_t>(f));
    REQUIRE(to_bf16(f).bits == bf16_round_reference(f));
  }
}

TEST_CASE("NaN stays NaN with its sign, Inf stays Inf", "[half]") {
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  const float snan = std::bit_cast<float>(0x7F800001u);  // payload only in bits f16/bf16 drop
  for (float f : {qnan, -qnan, snan, std::bit_cast<float>(0xFF800001u), std::bit_cast<float>(0x7FA00000u)}) {
    REQUIRE(is_nan16(to_f16(f).bits, 0x7C00));
    REQUIRE(is_nan16(to_bf16(f).bits, 0x7F80));
    REQUIRE(((to_f16(f).bits >> 15) != 0) == std::signbit(f));
    REQUIRE(((to_bf16(f).bits >> 15) != 0) == std::signbit(f));
  }
  REQUIRE(to_f16(std::numeric_limits<float>::infinity()).bits == 0x7C00);
  REQUIRE(to_bf16(-std::numeric_limits<float>::infinity()).bits == 0xFF80);
  REQUIRE(to_f16(65520.0f).bits == 0x7C00);      // overflow to Inf at the midpoint (tie to even = Inf)
  REQUIRE(to_f16(65519.996f).bits == 0x7BFF);    // just below stays finite
  REQUIRE(to_bf16(std::numeric_limits<float>::max()).bits == 0x7F80);
}

TEST_CASE("bulk conversions equal the scalar ones, including tails and NaN blocks", "[half]") {
  std::vector<float> src = edge_and_random_floats();
  src.push_back(std::bit_cast<float>(0x7F800001u));
  src.push_back(std::bit_cast<float>(0xFFC00000u));
  src.push_back(std::bit_cast<float>(0x7F812345u));
  src.push_back(1.5f);  // odd length: a tail
  std::vector<f16> h(src.size());
  std::vector<bf16> b(src.size());
  convert(std::span<const float>(src), std::span<f16>(h));
  convert(std::span<const float>(src), std::span<bf16>(b));
  for (std::size_t i = 0; i < src.size(); ++i) {
    INFO("i = " << i << " bits " << std::hex << std::bit_cast<std::uint32_t>(src[i]));
    REQUIRE(h[i].bits == to_f16(src[i]).bits);
    REQUIRE(b[i].bits == to_bf16(src[i]).bits);
  }
  std::vector<float> back_h(src.size()), back_b(src.size());
  convert(std::span<const f16>(h), std::span<float>(back_h));
  convert(std::span<const bf16>(b), std::span<float>(back_b));
  for (std::size_t i = 0; i < src.size(); ++i) {
    REQUIRE(std::bit_cast<std::uint32_t>(back_h[i]) == std::bit_cast<std::uint32_t>(to_float(h[i])));
    REQUIRE(std::bit_cast<std::uint32_t>(back_b[i]) == std::bit_cast<std::uint32_t>(to_float(b[i])));
  }
}
