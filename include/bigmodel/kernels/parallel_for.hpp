#pragma once
// The threading hook. The library never owns threads: a GEMM cuts its work into independent tasks (a fixed
// tiling that does not depend on the thread count, so results are identical for any number of threads) and
// hands them to the caller's parallel_for. Engines plug in their pool; thread_parallel_for is a simple default.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace bigmodel::kernels {

// Must call body(i) exactly once for every i in [0, count), in any order and on any threads, and return
// when all calls have returned.
using parallel_for_fn = std::function<void(std::size_t count, const std::function<void(std::size_t)>& body)>;

// Starts threads - 1 std::threads per call, the calling thread works too; tasks are taken from a shared
// counter so uneven tasks balance. Fine for large GEMMs; an engine with a pool should supply its own.
[[nodiscard]] inline parallel_for_fn thread_parallel_for(unsigned threads) {
  return [threads](std::size_t count, const std::function<void(std::size_t)>& body) {
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) body(i);
    };
    const std::size_t extra = std::min<std::size_t>(threads > 0 ? threads - 1 : 0, count > 0 ? count - 1 : 0);
    std::vector<std::jthread> pool;
    pool.reserve(extra);
    for (std::size_t t = 0; t < extra; ++t) pool.emplace_back(worker);
    worker();
  };
}

// How a GEMM runs: an empty parallel_for runs every task on the calling thread.
struct execution {
  parallel_for_fn parallel_for;
  [[nodiscard]] static execution threads(unsigned n) { return execution{n > 1 ? thread_parallel_for(n) : parallel_for_fn{}}; }
};

}  // namespace bigmodel::kernels
