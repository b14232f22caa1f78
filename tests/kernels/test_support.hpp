#pragma once
// Shared helpers for the kernel tests: deterministic data, an independent naive reference (int64, true
// values, no packing) and a loop over every compiled ISA that this CPU can run.

#include <catch2/catch.hpp>

#include <bigmodel/kernels.hpp>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace kt {

namespace k = bigmodel::kernels;

inline std::mt19937& rng() {
  static std::mt19937 gen(20261128);
  return gen;
}

inline int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }

// How the matrices are filled.
enum class fill { random, extreme, saturating, zeros_and_extremes };

template <class T>
void fill_matrix(std::vector<T>& v, fill f, bool is_weight) {
  constexpr int lo = std::is_signed_v<T> ? -128 : 0, hi = std::is_signed_v<T> ? 127 : 255;
  for (auto& x : v) {
    int value = 0;
    switch (f) {
      case fill::random: value = uniform(lo, hi); break;
      case fill::extreme: value = uniform(0, 1) ? lo : hi; break;
      // All-maximum activations times all -128 weights: every vpmaddubsw pair would saturate.
      case fill::saturating: value = is_weight ? -128 : hi; break;
      case fill::zeros_and_extremes: value = std::array<int, 3>{lo, 0, hi}[static_cast<std::size_t>(uniform(0, 2))]; break;
    }
    x = static_cast<T>(value);
  }
}

// sum_k (A[m][k] - zp) * W[k][n], in int64, wrapped to int32 the way the kernels define it.
template <class TA>
std::vector<std::int32_t> naive_s32(std::size_t m, std::size_t n, std::size_t kk, const TA* a, std::size_t lda,
                                    const std::int8_t* w, std::size_t ldw, k::weight_layout layout, std::int32_t zp) {
  std::vector<std::int32_t> c(m * n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      std::int64_t acc = 0;
      for (std::size_t t = 0; t < kk; ++t) {
        const std::int64_t wv = layout == k::weight_layout::k_by_n ? w[t * ldw + j] : w[j * ldw + t];
        acc += (static_cast<std::int64_t>(a[i * lda + t]) - zp) * wv;
      }
      c[i * n + j] = static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint64_t>(acc)));
    }
  return c;
}

// Runs body(isa) with that ISA forced, for every compiled ISA; warns about the ones this CPU cannot run.
inline void for_each_isa(const std::function<void(k::isa)>& body) {
  for (k::isa i : k::compiled_isas()) {
    if (!k::is_supported(i)) {
      WARN("skipping ISA " << k::isa_name(i) << ": this CPU lacks it (" << bigmodel::cpu().to_string() << ")");
      continue;
    }
    REQUIRE(k::force_isa(i) == k::status::ok);
    body(i);
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

// The test sizes of issue 3.
inline const std::vector<std::size_t> sizes{1, 2, 3, 4, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 255, 1000};

}  // namespace kt
