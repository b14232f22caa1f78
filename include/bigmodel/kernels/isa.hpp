#pragma once
// Instruction sets the int8 GEMM can run on, which of them this build and this CPU have, and which one runs.
// Choice order: kernels::force_isa() > environment BIGMODEL_ISA (read once) > best_isa().

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string_view>

#include "../core/config.hpp"
#include "../core/cpu.hpp"
#include "status.hpp"

namespace bigmodel::kernels {

// Ordered from the most portable to the fastest.
enum class isa : int { scalar = 0, xsimd, avx2, avx512bw, avx512vnni };

[[nodiscard]] constexpr std::string_view isa_name(isa i) noexcept {
  switch (i) {
    case isa::scalar: return "scalar";
    case isa::xsimd: return "xsimd";
    case isa::avx2: return "avx2";
    case isa::avx512bw: return "avx512bw";
    case isa::avx512vnni: return "avx512vnni";
  }
  return "unknown";
}

[[nodiscard]] constexpr std::optional<isa> parse_isa(std::string_view s) noexcept {
  for (isa i : {isa::scalar, isa::xsimd, isa::avx2, isa::avx512bw, isa::avx512vnni})
    if (s == isa_name(i)) return i;
  return std::nullopt;
}

// The x86 kernels need GCC/Clang target regions; other compilers and other CPUs get the portable two.
#if BIGMODEL_X86_64 && (defined(__GNUC__) || defined(__clang__))
#define BIGMODEL_KERNELS_X86 1
#else
#define BIGMODEL_KERNELS_X86 0
#endif

[[nodiscard]] inline std::span<const isa> compiled_isas() noexcept {
#if BIGMODEL_KERNELS_X86
  static constexpr std::array<isa, 5> list{isa::scalar, isa::xsimd, isa::avx2, isa::avx512bw, isa::avx512vnni};
#else
  static constexpr std::array<isa, 2> list{isa::scalar, isa::xsimd};
#endif
  return list;
}

[[nodiscard]] inline bool is_compiled(isa i) noexcept {
  for (isa c : compiled_isas())
    if (c == i) return true;
  return false;
}

// Compiled in and runnable on this CPU.
[[nodiscard]] inline bool is_supported(isa i) noexcept {
  if (!is_compiled(i)) return false;
  const cpu_features& f = cpu();
  switch (i) {
    case isa::scalar:
    case isa::xsimd: return true;
    case isa::avx2: return f.avx2 && f.fma && f.f16c;  // f16c: the weight-only kernel reads f16 scales
    case isa::avx512bw: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    case isa::avx512vnni: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni;
  }
  return false;
}

[[nodiscard]] inline isa best_isa() noexcept {
  static const isa best = [] {
    for (isa i : {isa::avx512vnni, isa::avx512bw, isa::avx2, isa::xsimd})
      if (is_supported(i)) return i;
    return isa::scalar;
  }();
  return best;
}

namespace detail {
inline constexpr int no_isa = -1;
inline std::atomic<int>& forced_isa_slot() noexcept {
  static std::atomic<int> slot{no_isa};
  return slot;
}
inline std::atomic<int>& last_isa_slot() noexcept {
  static std::atomic<int> slot{no_isa};
  return slot;
}
// BIGMODEL_ISA, read once. An unknown name or an ISA this CPU lacks is ignored with one warning on stderr:
// a deployment setting must not turn into a crash on a smaller machine.
inline std::optional<isa> env_isa() noexcept {
  static const std::optional<isa> value = []() -> std::optional<isa> {
    const char* s = std::getenv("BIGMODEL_ISA");
    if (s == nullptr || *s == '\0') return std::nullopt;
    const auto parsed = parse_isa(s);
    if (!parsed || !is_supported(*parsed)) {
      std::fprintf(stderr, "bigmodel: BIGMODEL_ISA=%s is unknown or not supported here; using %s\n", s,
                   isa_name(best_isa()).data());
      return std::nullopt;
    }
    return parsed;
  }();
  return value;
}
inline void note_used(isa i) noexcept { last_isa_slot().store(static_cast<int>(i), std::memory_order_relaxed); }
}  // namespace detail

// Forces every later GEMM (all threads) onto one ISA; std::nullopt returns to automatic choice.
// Returns isa_unsupported (and changes nothing) if the ISA is not compiled in or the CPU lacks it.
inline status force_isa(std::optional<isa> i) noexcept {
  if (i && !is_supported(*i)) return status::isa_unsupported;
  detail::forced_isa_slot().store(i ? static_cast<int>(*i) : detail::no_isa, std::memory_order_relaxed);
  return status::ok;
}

// The ISA the next GEMM will use, and the one the last GEMM used (std::nullopt before the first).
[[nodiscard]] inline isa active_isa() noexcept {
  const int forced = detail::forced_isa_slot().load(std::memory_order_relaxed);
  if (forced != detail::no_isa) return static_cast<isa>(forced);
  if (const auto e = detail::env_isa()) return *e;
  return best_isa();
}

[[nodiscard]] inline std::optional<isa> last_used_isa() noexcept {
  const int v = detail::last_isa_slot().load(std::memory_order_relaxed);
  if (v == detail::no_isa) return std::nullopt;
  return static_cast<isa>(v);
}

}  // namespace bigmodel::kernels
