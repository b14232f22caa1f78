#pragma once
// What the CPU we run on can do, detected once. Kernels pick their ISA from this at run time, so a binary
// built without -m flags still uses AVX-512 VNNI where the CPU has it.

#include <string>

#include "config.hpp"

namespace bigmodel {

struct cpu_features {
  bool sse41 = false, avx = false, f16c = false, fma = false, avx2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx_vnni = false, avx512bf16 = false;

  [[nodiscard]] std::string to_string() const {
    std::string s;
    auto add = [&s](bool has, const char* name) {
      if (!has) return;
      if (!s.empty()) s += ' ';
      s += name;
    };
    add(sse41, "sse4.1"); add(avx, "avx"); add(f16c, "f16c"); add(fma, "fma"); add(avx2, "avx2");
    add(avx512f, "avx512f"); add(avx512bw, "avx512bw"); add(avx512vl, "avx512vl"); add(avx512dq, "avx512dq");
    add(avx512vnni, "avx512vnni"); add(avx_vnni, "avxvnni"); add(avx512bf16, "avx512bf16");
    return s.empty() ? std::string("(none)") : s;
  }
};

namespace detail {
inline cpu_features detect_cpu_features() noexcept {
  cpu_features f;
#if BIGMODEL_X86_64 && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.sse41 = __builtin_cpu_supports("sse4.1");
  f.avx = __builtin_cpu_supports("avx");
  f.fma = __builtin_cpu_supports("fma");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  // f16c and avx-vnni are not known to every compiler's __builtin_cpu_supports: read CPUID directly.
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
  const unsigned max_leaf = a;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  f.f16c = ((c >> 29) & 1u) && f.avx;
  if (max_leaf >= 7) {
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    f.avx_vnni = ((a >> 4) & 1u) && f.avx2;
  }
#endif
  return f;
}
}  // namespace detail

// Detected once per process (function-local static: thread-safe, no ODR trouble in a header).
inline const cpu_features& cpu() noexcept {
  static const cpu_features features = detail::detect_cpu_features();
  return features;
}

}  // namespace bigmodel
