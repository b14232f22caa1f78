#pragma once
// IEEE binary16 (f16) and bfloat16 (bf16) storage types with exact conversions:
// f32 -> f16/bf16 rounds to nearest, ties to even; overflow goes to Inf; subnormals are produced and read
// exactly; NaN stays NaN with its sign and the top bits of its payload. The quiet bit is added only when
// the kept payload bits would all be zero (that pattern would read as Inf), so every f16/bf16 value,
// signaling NaNs included, survives a round trip through f32 unchanged.
// Bulk conversions of whole arrays live in half_convert.hpp (vectorized).

#include <bit>
#include <cstdint>

namespace bigmodel {

struct f16 {
  std::uint16_t bits = 0;
  static constexpr f16 from_bits(std::uint16_t b) noexcept { return f16{b}; }
  friend constexpr bool operator==(f16, f16) = default;  // bitwise
};

struct bf16 {
  std::uint16_t bits = 0;
  static constexpr bf16 from_bits(std::uint16_t b) noexcept { return bf16{b}; }
  friend constexpr bool operator==(bf16, bf16) = default;  // bitwise
};

[[nodiscard]] constexpr float to_float(bf16 h) noexcept { return std::bit_cast<float>(std::uint32_t{h.bits} << 16); }

[[nodiscard]] constexpr bf16 to_bf16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) {  // NaN: truncate the payload, keep it a NaN
    const auto h = static_cast<std::uint16_t>(x >> 16);
    return bf16{static_cast<std::uint16_t>((h & 0x7Fu) ? h : (h | 0x40u))};
  }
  // Round to nearest even: add 0x7FFF plus the lowest kept bit; a carry into the exponent is the right
  // answer (the largest finite values round up to Inf).
  const std::uint32_t rounded = x + 0x7FFFu + ((x >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>(rounded >> 16)};
}

[[nodiscard]] constexpr float to_float(f16 h) noexcept {
  const std::uint32_t sign = std::uint32_t{h.bits & 0x8000u} << 16;
  const std::uint32_t exp = (h.bits >> 10) & 0x1Fu;
  std::uint32_t mant = h.bits & 0x3FFu;
  if (exp == 0x1F)  // Inf or NaN: payload moves to the top of the f32 mantissa
    return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return std::bit_cast<float>(sign);
  // Subnormal f16: normalize. value = mant * 2^-24.
  int e = -1;
  do {
    mant <<= 1;
    ++e;
  } while ((mant & 0x400u) == 0);
  return std::bit_cast<float>(sign | ((112u - static_cast<std::uint32_t>(e)) << 23) | ((mant & 0x3FFu) << 13));
}

[[nodiscard]] constexpr f16 to_f16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) {  // NaN: truncate the payload, keep it a NaN
    const std::uint32_t payload = (ax >> 13) & 0x3FFu;
    return f16{static_cast<std::uint16_t>(sign | 0x7C00u | (payload ? payload : 0x200u))};
  }
  if (ax >= 0x477FF000u)  // >= 65520 (halfway past the largest finite, 65504): Inf, and Inf itself
    return f16{static_cast<std::uint16_t>(sign | 0x7C00u)};
  if (ax < 0x38800000u) {  // below the smallest normal f16 (2^-14): subnormal or zero
    if (ax < 0x33000000u) return f16{sign};  // < 2^-25: rounds to zero (2^-25 exactly is a tie to even 0)
    const std::uint32_t e = ax >> 23;            // 102..112
    const std::uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126u - e;        // 14..24: value = m * 2^(e-150) = result * 2^-24
    const std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    const std::uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
    return f16{static_cast<std::uint16_t>(sign | r)};  // r may reach 0x400: the smallest normal, correctly
  }
  // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
  const std::uint32_t rebased = ax - 0x38000000u;  // exponent 127-15 = 112 -> shift by 112<<23
  const std::uint32_t r = rebased + 0xFFFu + ((rebased >> 13) & 1u);
  return f16{static_cast<std::uint16_t>(sign | (r >> 13))};
}

}  // namespace bigmodel
