#pragma once
// The portable vector-math row kernels: the same code as the x86 ones over one float per "vector" (plain C++,
// no FMA: a * b + c rounds twice). Used for the scalar and xsimd tiers and on other CPUs.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "vector_math__common.hpp"

namespace bigmodel::kernels::portable_math {

struct vm_vec {
  static constexpr std::size_t lanes = 1;
  using f = float;
  using m = bool;
  static f load(const float* p) noexcept { return *p; }
  static void store(float* p, f v) noexcept { *p = v; }
  static f load_partial(const float*, std::size_t, float fill) noexcept { return fill; }  // never called: lanes = 1
  static void store_partial(float*, f, std::size_t) noexcept {}
  static f set1(float v) noexcept { return v; }
  static f add(f a, f b) noexcept { return a + b; }
  static f sub(f a, f b) noexcept { return a - b; }
  static f mul(f a, f b) noexcept { return a * b; }
  static f div(f a, f b) noexcept { return a / b; }
  static f fma(f a, f b, f c) noexcept { return a * b + c; }
  static f max(f a, f b) noexcept { return a > b ? a : b; }
  static f min(f a, f b) noexcept { return a < b ? a : b; }
  static f abs(f a) noexcept { return std::fabs(a); }
  static f sign(f a) noexcept { return std::bit_cast<float>(std::bit_cast<std::uint32_t>(a) & 0x80000000u); }
  static f xor_sign(f a, f s) noexcept {
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(a) ^ std::bit_cast<std::uint32_t>(s));
  }
  static m lt(f a, f b) noexcept { return a < b; }
  static f select(m k, f a, f b) noexcept { return k ? a : b; }
  static float hsum(f a) noexcept { return a; }
  static float hmax(f a) noexcept { return a; }
  static f exp2_split(f p, f t) noexcept {
    const std::int32_t n = std::bit_cast<std::int32_t>(t) - detail::vm_magic_bits;
    const std::int32_t n1 = n >> 1, n2 = n - n1;
    const float s1 = std::bit_cast<float>(static_cast<std::uint32_t>(n1 + 127) << 23);
    const float s2 = std::bit_cast<float>(static_cast<std::uint32_t>(n2 + 127) << 23);
    return p * s1 * s2;
  }
};

#include "vector_math__rows.inc"

[[nodiscard]] inline const detail::vm_table& vector_math_kernels() noexcept { return vm_kernel_table; }

}  // namespace bigmodel::kernels::portable_math
