#pragma once
// --threads N for run and bench.
//
// The session hands its kernels a parallel_for (session::set_execution): the int8, weight-only and f32 GEMMs
// split their tiles over it and attention splits its heads, each piece computed the same way whatever the
// thread count, so outputs do not depend on N (tests/cli checks it). Products that still go through Eigen
// use OpenMP's threads when this target is built with OpenMP.

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
#endif
  return static_cast<int>(n);
}

}  // namespace cli
