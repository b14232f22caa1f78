#pragma once
// Where a session's time goes: wall time per plan step, accumulated over the runs made while profiling is on.
//
//   bigmodel::session s{g};
//   s.enable_profiling();
//   for (int i = 0; i < 20; ++i) s.run(feeds);
//   for (const auto& row : s.profiling().by_op()) std::printf("%s %.3f ms\n", row.op.c_str(), row.ms_per_run);
//
// Timing costs two steady_clock reads per step (~50 ns): off by default.

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bigmodel::runtime {

struct step_profile {
  std::string where;  // "node 'x' (MatMul)"
  std::string op;     // op type, with the kernel variant: "MatMul", "MatMul [weight-only]", "MatMul + Add"
  std::int64_t calls = 0;
  double seconds = 0.0;
};

struct op_profile_row {
  std::string op;
  std::int64_t nodes = 0;   // plan steps of this op type
  double seconds = 0.0;     // total over all runs
  double ms_per_run = 0.0;  // seconds / runs, in ms
  double share = 0.0;       // of the profiled total, 0..1
};

class profile {
 public:
  std::vector<step_profile> steps;  // one per plan step, in execution order
  std::int64_t runs = 0;

  void reset() {
    for (auto& s : steps) s.calls = 0, s.seconds = 0.0;
    runs = 0;
  }
  [[nodiscard]] double total_seconds() const {
    double t = 0.0;
    for (const auto& s : steps) t += s.seconds;
    return t;
  }
  // Time per op type, largest first.
  [[nodiscard]] std::vector<op_profile_row> by_op() const {
    std::map<std::string, op_profile_row> acc;
    for (const auto& s : steps) {
      auto& r = acc[s.op];
      r.op = s.op;
      ++r.nodes;
      r.seconds += s.seconds;
    }
    return finish(acc);
  }
  // The `count` slowest steps.
  [[nodiscard]] std::vector<step_profile> slowest(std::size_t count) const {
    std::vector<step_profile> v = steps;
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    if (v.size() > count) v.resize(count);
    return v;
  }

 private:
  [[nodiscard]] std::vector<op_profile_row> finish(std::map<std::string, op_profile_row>& acc) const {
    const double total = total_seconds();
    std::vector<op_profile_row> v;
    for (auto& [k, r] : acc) {
      r.ms_per_run = runs > 0 ? 1e3 * r.seconds / static_cast<double>(runs) : 0.0;
      r.share = total > 0 ? r.seconds / total : 0.0;
      v.push_back(r);
    }
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    return v;
  }
};

}  // namespace bigmodel::runtime
