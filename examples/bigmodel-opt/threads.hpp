#pragma once
// --threads N for run and bench: the number of threads the f32 GEMMs use.
//
// The runtime's f32 MatMul/Gemm kernels are Eigen products, and Eigen splits a large product over threads
// when the program is built with OpenMP (this target is, when the compiler has it). Each thread computes
// its own block of the result with the same kernel, so outputs do not depend on N (tests/cli checks it).
// The int8 kernels take a parallel_for hook, which the session does not expose yet: they run on one thread.

#include <Eigen/Core>

#include <string>

#include "args.hpp"

namespace cli {

// The default for every subcommand: one thread, whatever OpenMP would pick.
inline void single_threaded() { Eigen::setNbThreads(1); }

// Applies --threads (default 1); returns the number of threads the GEMMs may use.
inline int apply_threads(const args& a) {
  const long n = a.get_int("threads", 1);
  if (n < 1 || n > 256) throw usage_error("--threads must be in [1, 256]");
#ifdef _OPENMP
  Eigen::setNbThreads(static_cast<int>(n));
  return Eigen::nbThreads();
#else
  if (n > 1) throw usage_error("--threads " + std::to_string(n) + ": this build has no OpenMP, so it runs on 1 thread");
  return 1;
#endif
}

}  // namespace cli
