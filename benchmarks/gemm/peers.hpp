#pragma once
// The peers and limits, each behind a plain interface so that one benchmark can time them back to back
// (paired_bench.cpp) and each lives in its own translation unit with its own flags (Eigen: -march=native).

#include <cstdint>
#include <memory>

#include "bench_shapes.hpp"

namespace bench {

// Eigen fp32 C = A * B on random data of the shape.
class eigen_matmul {
 public:
  explicit eigen_matmul(shape s);
  ~eigen_matmul();
  void run();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// oneDNN u8 x s8 -> s32 matmul, weights prepacked (format_tag::any); `copies` copies of B used in turn.
class onednn_matmul {
 public:
  onednn_matmul(shape s, std::size_t copies);
  ~onednn_matmul();
  void run();
  [[nodiscard]] const char* implementation() const;
  [[nodiscard]] static bool available();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// 24 independent chains of vpdpbusd zmm, `iterations` times: 3072 int8 ops per iteration.
std::int64_t vnni_chains(std::int64_t iterations);
inline constexpr double vnni_ops_per_iteration = 24.0 * 64 * 2;

// Sums count int32 (a multiple of 64) from 64-byte aligned p with AVX-512 loads: the read-bandwidth probe.
std::int64_t read_all(const std::int32_t* p, std::size_t count);

}  // namespace bench
