#pragma once
// The portable vector-math row kernels: the same code as the x86 ones over 4-float GCC / Clang vector extensions
// (baseline SIMD, no FMA: a * b + c rounds twice), or one float at a time with other compilers. Used for the
// scalar and xsimd tiers and on other CPUs.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "vector_math__common.hpp"

namespace bigmodel::kernels::portable_math {

// The arithmetic both forms below share: C++ operators on F (float, or a vector-extension float vector).
template <class F>
struct vm_arith {
  using f = F;
  using m = decltype(F{} < F{});
  static f add(f a, f b) noexcept { return a + b; }
  static f sub(f a, f b) noexcept { return a - b; }
  static f mul(f a, f b) noexcept { return a * b; }
  static f div(f a, f b) noexcept { return a / b; }
  static f fma(f a, f b, f c) noexcept { return a * b + c; }
  static f max(f a, f b) noexcept { return a > b ? a : b; }
  static f min(f a, f b) noexcept { return a < b ? a : b; }
  static m lt(f a, f b) noexcept { return a < b; }
  static f select(m k, f a, f b) noexcept { return k ? a : b; }
};

#if defined(__GNUC__) || defined(__clang__)
// GCC / Clang vector extensions: 4 floats per "vector", compiled to the baseline SIMD (SSE2 on x86-64, NEON on
// AArch64) without target flags.
using vm_f4 = float __attribute__((vector_size(16)));
struct vm_vec : vm_arith<vm_f4> {
  static constexpr std::size_t lanes = 4;
  using u = std::uint32_t __attribute__((vector_size(16)));
  static f load(const float* p) noexcept {
    f v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, f v) noexcept { std::memcpy(p, &v, sizeof v); }
  static f load_partial(const float* p, std::size_t k, float fill) noexcept {
    f v = set1(fill);
    std::memcpy(&v, p, k * sizeof(float));
    return v;
  }
  static void store_partial(float* p, f v, std::size_t k) noexcept { std::memcpy(p, &v, k * sizeof(float)); }
  static f set1(float v) noexcept { return f{v, v, v, v}; }
  static f abs(f a) noexcept { return reinterpret_cast<f>(reinterpret_cast<u>(a) & 0x7FFFFFFFu); }
  static f sign(f a) noexcept { return reinterpret_cast<f>(reinterpret_cast<u>(a) & 0x80000000u); }
  static f xor_sign(f a, f s) noexcept { return reinterpret_cast<f>(reinterpret_cast<u>(a) ^ reinterpret_cast<u>(s)); }
  static f lookup8(const float* tab, f r) noexcept {  // tab[low 3 bits of r's representation] per lane
    const u i = reinterpret_cast<u>(r) & 7u;
    return f{tab[i[0]], tab[i[1]], tab[i[2]], tab[i[3]]};
  }
  static float hsum(f a) noexcept { return (a[0] + a[2]) + (a[1] + a[3]); }
  static float hmax(f a) noexcept {
    const float x = a[0] > a[2] ? a[0] : a[2], y = a[1] > a[3] ? a[1] : a[3];
    return x > y ? x : y;
  }
  static f exp2_split(f p, f t) noexcept {
    const u n = reinterpret_cast<u>(t) - static_cast<std::uint32_t>(detail::vm_magic_bits);
    const u n1 = reinterpret_cast<u>(reinterpret_cast<m>(n) >> 1), n2 = n - n1;
    return p * reinterpret_cast<f>((n1 + 127u) << 23) * reinterpret_cast<f>((n2 + 127u) << 23);
  }
};
#else
// Other compilers: one float at a time.

struct vm_vec : vm_arith<float> {
  static constexpr std::size_t lanes = 1;
  static f load(const float* p) noexcept { return *p; }
  static void store(float* p, f v) noexcept { *p = v; }
  static f load_partial(const float*, std::size_t, float fill) noexcept { return fill; }  // never called: lanes = 1
  static void store_partial(float*, f, std::size_t) noexcept {}
  static f set1(float v) noexcept { return v; }
  static f abs(f a) noexcept { return std::fabs(a); }
  static f sign(f a) noexcept { return std::bit_cast<float>(std::bit_cast<std::uint32_t>(a) & 0x80000000u); }
  static f xor_sign(f a, f s) noexcept {
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(a) ^ std::bit_cast<std::uint32_t>(s));
  }
  static f lookup8(const float* tab, f r) noexcept { return tab[std::bit_cast<std::uint32_t>(r) & 7u]; }
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

#endif

#include "vector_math__rows.inc"

[[nodiscard]] inline const detail::vm_table& vector_math_kernels() noexcept { return vm_kernel_table; }

}  // namespace bigmodel::kernels::portable_math
