#pragma once
// The portable weight-only kernels: plain C++ (one column per panel) and xsimd batches of the architecture
// the consumer compiles for (SSE2 on a plain x86-64 build, NEON on ARM). The 4 codes of one column sit in one
// 32-bit lane; each is taken out with a shift and a mask and multiplied by one s8 of x in 32 bits (exact).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "weight_only_packed.hpp"

namespace bigmodel::kernels::scalar {

struct wo_vec {
  static constexpr std::size_t nr = 1;
  static constexpr int max_rows = 8;
  static constexpr bool wide = false;
  static constexpr bool direct_u8 = true;
  static constexpr bool hi_in_place = true;
  static constexpr bool s16_pairs = false;
  using iv = std::int32_t;
  using fv = float;
  struct xv {
    std::int32_t v[4];
  };
  static iv izero() noexcept { return 0; }
  static iv load(const std::uint8_t* p) noexcept {
    std::uint32_t u;
    std::memcpy(&u, p, 4);
    return static_cast<iv>(u);
  }
  static iv lo4(iv w) noexcept { return static_cast<iv>(static_cast<std::uint32_t>(w) & 0x0F0F0F0Fu); }
  static iv hi4(iv w) noexcept { return static_cast<iv>((static_cast<std::uint32_t>(w) >> 4) & 0x0F0F0F0Fu); }
  static iv hi4x16(iv w) noexcept { return static_cast<iv>(static_cast<std::uint32_t>(w) & 0xF0F0F0F0u); }
  static iv sra4(iv a) noexcept { return a >> 4; }
  static xv bcast4(const std::int8_t* p) noexcept { return {{p[0], p[1], p[2], p[3]}}; }
  static iv dot4(iv acc, iv w, const xv& x) noexcept {
    const auto u = static_cast<std::uint32_t>(w);
    for (int i = 0; i < 4; ++i) acc += static_cast<iv>((u >> (8 * i)) & 0xFFu) * x.v[i];
    return acc;
  }
  static iv iadd(iv a, iv b) noexcept { return a + b; }
  static iv shl4(iv a) noexcept { return a * 16; }
  static fv to_f(iv a) noexcept { return static_cast<float>(a); }
  static fv fzero() noexcept { return 0.0f; }
  static fv fload(const float* p) noexcept { return *p; }
  static fv hload(const std::uint8_t* p) noexcept {
    std::uint16_t bits;
    std::memcpy(&bits, p, 2);
    return to_float(f16::from_bits(bits));
  }
  static fv fset1(float v) noexcept { return v; }
  static fv fma(fv a, fv b, fv c) noexcept { return a * b + c; }
  static fv fnma(fv a, fv b, fv c) noexcept { return c - a * b; }
  static fv fmul(fv a, fv b) noexcept { return a * b; }
  static void fstore(float* p, fv v) noexcept { *p = v; }
};

#include "weight_only__tile.inc"

[[nodiscard]] inline const detail::wo_kernels& weight_only_kernels() noexcept { return wo_kernel_table; }

}  // namespace bigmodel::kernels::scalar

namespace bigmodel::kernels::xsimd_baseline {

struct wo_vec {
  using iv = xsimd::batch<std::int32_t>;
  using fv = xsimd::batch<float>;
  static constexpr std::size_t nr = iv::size;
  static constexpr int max_rows = 4;
  static constexpr bool wide = false;
  static constexpr bool direct_u8 = true;
  static constexpr bool hi_in_place = true;
  static constexpr bool s16_pairs = false;
  struct xv {
    iv v[4];
  };
  static iv izero() noexcept { return iv(0); }
  static iv load(const std::uint8_t* p) noexcept {
    std::int32_t words[nr];
    std::memcpy(words, p, sizeof(words));
    return iv::load_unaligned(words);
  }
  static iv lo4(iv w) noexcept { return w & iv(0x0F0F0F0F); }
  static iv hi4(iv w) noexcept { return (w >> 4) & iv(0x0F0F0F0F); }
  static iv hi4x16(iv w) noexcept { return w & iv(static_cast<std::int32_t>(0xF0F0F0F0u)); }
  static iv sra4(iv a) noexcept { return a >> 4; }
  static xv bcast4(const std::int8_t* p) noexcept { return {{iv(p[0]), iv(p[1]), iv(p[2]), iv(p[3])}}; }
  static iv dot4(iv acc, iv w, const xv& x) noexcept {
    const iv m(0xFF);
    return acc + (w & m) * x.v[0] + ((w >> 8) & m) * x.v[1] + ((w >> 16) & m) * x.v[2] + ((w >> 24) & m) * x.v[3];
  }
  static iv iadd(iv a, iv b) noexcept { return a + b; }
  static iv shl4(iv a) noexcept { return a << 4; }
  static fv to_f(iv a) noexcept { return xsimd::to_float(a); }
  static fv fzero() noexcept { return fv(0.0f); }
  static fv fload(const float* p) noexcept { return fv::load_unaligned(p); }
  static fv hload(const std::uint8_t* p) noexcept {
    alignas(64) float v[nr];
    for (std::size_t i = 0; i < nr; ++i) {
      std::uint16_t bits;
      std::memcpy(&bits, p + 2 * i, 2);
      v[i] = to_float(f16::from_bits(bits));
    }
    return fv::load_aligned(v);
  }
  static fv fset1(float v) noexcept { return fv(v); }
  static fv fma(fv a, fv b, fv c) noexcept { return xsimd::fma(a, b, c); }
  static fv fnma(fv a, fv b, fv c) noexcept { return xsimd::fnma(a, b, c); }
  static fv fmul(fv a, fv b) noexcept { return a * b; }
  static void fstore(float* p, fv v) noexcept { v.store_unaligned(p); }
};

#include "weight_only__tile.inc"

[[nodiscard]] inline const detail::wo_kernels& weight_only_kernels() noexcept { return wo_kernel_table; }

}  // namespace bigmodel::kernels::xsimd_baseline
