#pragma once
// bigmodel-opt run / eval / bench

#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/quantize/fast_paths.hpp>
#include <bigmodel/runtime/session.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "args.hpp"
#include "report.hpp"
#include "tensors.hpp"
#include "threads.hpp"

namespace cli {

// A session that runs quantized models on the fused int8 kernels (DynamicLinear, StaticLinear, the weight-only
// kernel, the bf16 GEMM for bf16 weights where the CPU has AVX-512 BF16); fp32 models run as they are. The file
// on disk stays standard ONNX.
using run_ops = bigmodel::quant::quant_op_set;
inline bigmodel::basic_session<run_ops> make_run_session(const std::string& path) {
  auto g = bigmodel::io::load_onnx<run_ops>(path);
  (void)bigmodel::quant::use_fast_paths(g);
  bigmodel::runtime::plan_options opt;
  opt.weight_only_kernel = true;
  opt.bf16_dot_products = true;
  return bigmodel::basic_session<run_ops>(g, opt);
}

inline int cmd_run(const std::vector<std::string>& argv, const output& out) {
  const args a(argv, {{"help", false}, {"input", true}, {"output-dir", true}, {"threads", true}, {"json", false}, {"quiet", false}});
  if (a.has("help") || a.positional().size() != 1) {
    std::printf("usage: bigmodel-opt run MODEL.onnx --input NAME=FILE.npy ... [--output-dir DIR] [--threads N]\n"
                "  Runs the model in bigmodel's runtime and writes each output as DIR/NAME.npy (default DIR: .).\n"
                "  --threads N: threads for the GEMMs and attention heads (default 1); outputs do not depend on N.\n");
    return a.has("help") ? 0 : 2;
  }
  const int threads = apply_threads(a);
  auto s = make_run_session(a.positional()[0]);
  if (threads > 1) s.set_execution(bigmodel::kernels::execution::threads(static_cast<unsigned>(threads)));
  const auto feeds = read_feeds(a.all("input"), s.input_names());
  const auto outputs = s.run(feeds);
  const std::filesystem::path dir = a.get("output-dir", ".");
  std::filesystem::create_directories(dir);
  for (const auto& [name, t] : outputs) {
    std::string file = name;
    std::replace_if(file.begin(), file.end(), [](char c) { return c == '/' || c == '\\' || c == ':'; }, '_');
    const auto path = dir / (file + ".npy");
    bigmodel::io::write_npy(path, to_npy(t));
    if (out.human()) std::printf("%s %s -> %s\n", name.c_str(), bigmodel::to_string(t.shape()).c_str(), path.string().c_str());
  }
  return 0;
}

struct logits_view {
  std::vector<float> v;
  std::size_t rows = 0, cols = 0;
};

inline logits_view as_matrix(const bigmodel::dynamic_tensor& t, const std::string& what) {
  if (t.type() != bigmodel::dtype::f32 || t.rank() < 1)
    throw usage_error(what + " is not a float tensor with a batch axis");
  logits_view l;
  l.rows = static_cast<std::size_t>(t.dim(0));
  l.cols = l.rows ? static_cast<std::size_t>(t.numel()) / l.rows : 0;
  const auto s = t.span<float>();
  l.v.assign(s.begin(), s.end());
  return l;
}

inline std::size_t argmax_row(const logits_view& l, std::size_t r) {
  const float* p = l.v.data() + r * l.cols;
  return static_cast<std::size_t>(std::max_element(p, p + l.cols) - p);
}

inline int cmd_eval(const std::vector<std::string>& argv, const output& out) {
  const args a(argv, {{"help", false}, {"input", true}, {"labels", true}, {"reference", true}, {"json", false}, {"quiet", false}});
  if (a.has("help") || a.positional().size() != 1 || (!a.has("labels") && !a.has("reference"))) {
    std::printf("usage: bigmodel-opt eval MODEL.onnx --input NAME=X.npy [--labels Y.npy] [--reference OTHER.onnx]\n"
                "  --labels: top-1 accuracy of the first output (a classifier's logits) against integer labels.\n"
                "  --reference: error of MODEL's first output against OTHER's on the same inputs\n"
                "               (max abs, relative L2, cosine, argmax agreement).\n");
    return a.has("help") ? 0 : 2;
  }
  auto s = make_run_session(a.positional()[0]);
  const auto feeds = read_feeds(a.all("input"), s.input_names());
  out.progress("running " + a.positional()[0]);
  const auto y = as_matrix(s.run(feeds)[0], "the model's first output");
  out.progress_done();
  std::string json = "{";
  if (a.has("labels")) {
    const auto labels_t = to_tensor(bigmodel::io::read_npy(a.get("labels")));
    if (labels_t.rank() != 1 || static_cast<std::size_t>(labels_t.dim(0)) != y.rows)
      throw usage_error("labels must be a vector of " + std::to_string(y.rows) + " class indices, got shape " +
                        bigmodel::to_string(labels_t.shape()));
    std::size_t correct = 0;
    for (std::size_t r = 0; r < y.rows; ++r)
      correct += static_cast<std::int64_t>(argmax_row(y, r)) == labels_t.as_int(static_cast<std::int64_t>(r)) ? 1 : 0;
    const double acc = y.rows ? static_cast<double>(correct) / static_cast<double>(y.rows) : 0.0;
    if (out.human()) std::printf("top-1 accuracy: %.2f%% (%zu / %zu)\n", 100.0 * acc, correct, y.rows);
    json += "\"accuracy\":" + std::to_string(acc) + ",\"samples\":" + std::to_string(y.rows);
  }
  if (a.has("reference")) {
    auto rs = make_run_session(a.get("reference"));
    const auto r = as_matrix(rs.run(feeds)[0], "the reference's first output");
    if (r.rows != y.rows || r.cols != y.cols) throw usage_error("the reference's output has another shape");
    double max_abs = 0, diff2 = 0, ref2 = 0, dot = 0, y2 = 0;
    std::size_t agree = 0;
    for (std::size_t i = 0; i < y.v.size(); ++i) {
      const double d = static_cast<double>(y.v[i]) - r.v[i];
      max_abs = std::max(max_abs, std::fabs(d));
      diff2 += d * d;
      ref2 += static_cast<double>(r.v[i]) * r.v[i];
      y2 += static_cast<double>(y.v[i]) * y.v[i];
      dot += static_cast<double>(y.v[i]) * r.v[i];
    }
    for (std::size_t row = 0; row < y.rows; ++row) agree += argmax_row(y, row) == argmax_row(r, row) ? 1 : 0;
    const double rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
    const double cosine = (y2 > 0 && ref2 > 0) ? dot / std::sqrt(y2 * ref2) : 1.0;
    const double agreement = y.rows ? static_cast<double>(agree) / static_cast<double>(y.rows) : 1.0;
    if (out.human())
      std::printf("vs %s: max abs %.3g, relative L2 %.3g, cosine %.6f, argmax agreement %.2f%%\n",
                  a.get("reference").c_str(), max_abs, rel_l2, cosine, 100.0 * agreement);
    json += std::string(json.size() > 1 ? "," : "") + "\"max_abs\":" + std::to_string(max_abs) + ",\"rel_l2\":" +
            std::to_string(rel_l2) + ",\"cosine\":" + std::to_string(cosine) + ",\"argmax_agreement\":" + std::to_string(agreement);
  }
  if (out.json) std::printf("%s}\n", json.c_str());
  return 0;
}

inline std::string profile_json(const bigmodel::runtime::profile& p) {
  std::string j = ",\"profile\":[";
  bool first = true;
  for (const auto& r : p.by_op()) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s{\"op\":\"%s\",\"nodes\":%lld,\"ms_per_run\":%.6f,\"share\":%.6f}", first ? "" : ",",
                  r.op.c_str(), static_cast<long long>(r.nodes), r.ms_per_run, r.share);
    j += buf;
    first = false;
  }
  return j + "]";
}

inline void print_profile(const bigmodel::runtime::profile& p) {
  const double runs = static_cast<double>(std::max<std::int64_t>(p.runs, 1));
  std::printf("\nprofile over %lld runs (%.4g ms per run in kernels):\n  %-28s %6s %12s %7s\n",
              static_cast<long long>(p.runs), 1e3 * p.total_seconds() / runs, "op", "nodes", "ms/run", "share");
  for (const auto& r : p.by_op())
    std::printf("  %-28s %6lld %12.4g %6.1f%%\n", r.op.c_str(), static_cast<long long>(r.nodes), r.ms_per_run, 100.0 * r.share);
  std::printf("slowest nodes:\n");
  for (const auto& st : p.slowest(10)) std::printf("  %10.4g ms  %s\n", 1e3 * st.seconds / runs, st.where.c_str());
}

inline int cmd_bench(const std::vector<std::string>& argv, const output& out) {
  const args a(argv, {{"help", false}, {"input", true}, {"runs", true}, {"warmup", true}, {"threads", true},
                      {"profile", false}, {"json", false}, {"quiet", false}});
  if (a.has("help") || a.positional().size() != 1) {
    std::printf("usage: bigmodel-opt bench MODEL.onnx --input NAME=FILE.npy ... [--runs R] [--warmup W] [--threads N] [--profile]\n"
                "  Latency (median, p90, min) and throughput of one session. --threads N: threads for the GEMMs\n"
                "  and attention heads (default 1). Pin it for stable numbers: taskset -c 0 bigmodel-opt bench ...\n"
                "  'CPU/wall' is process CPU time over elapsed time: above 1 when several threads really worked.\n"
                "  'memory': the session's buffers, sized once for the inputs' shapes before the first run, and the\n"
                "  most buffers any run (warm-up or timed) had to allocate besides (0 expected).\n"
                "  --profile: also where the time goes -- per op type (ms per run, share) and the 10 slowest nodes.\n");
    return a.has("help") ? 0 : 2;
  }
  const long runs = a.get_int("runs", 50), warmup = a.get_int("warmup", 5);
  if (runs < 1 || warmup < 0) throw usage_error("--runs must be >= 1 and --warmup >= 0");
  const int threads = apply_threads(a);
  auto s = make_run_session(a.positional()[0]);
  if (threads > 1) s.set_execution(bigmodel::kernels::execution::threads(static_cast<unsigned>(threads)));
  const auto feeds = read_feeds(a.all("input"), s.input_names());
  // Buffers sized once for these shapes (session::prepare), so no run below allocates any.
  std::vector<std::pair<std::string, bigmodel::shape_t>> shapes;
  for (const auto& [n, t] : feeds) shapes.emplace_back(n, t.shape());
  const auto prep0 = std::chrono::steady_clock::now();
  s.prepare(shapes);
  const double prepare_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - prep0).count();
  const double buffer_mb = static_cast<double>(s.buffer_bytes()) / (1024.0 * 1024.0);
  std::size_t run_allocations = 0;  // the most any run below allocated
  for (long i = 0; i < warmup; ++i) {
    (void)s.run(feeds);
    run_allocations = std::max(run_allocations, s.last_run_allocations());
  }
  if (a.has("profile")) s.enable_profiling();
  std::vector<double> ms;
  const std::clock_t cpu0 = std::clock();
  const auto wall0 = std::chrono::steady_clock::now();
  for (long i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    (void)s.run(feeds);
    run_allocations = std::max(run_allocations, s.last_run_allocations());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (i % 10 == 0) out.progress("run " + std::to_string(i + 1) + " / " + std::to_string(runs));
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu_per_wall = wall_s > 0 ? static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / wall_s : 0.0;
  out.progress_done();
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2], p90 = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)], best = ms.front();
  std::int64_t batch = 1;
  for (const auto& [n, t] : feeds) batch = t.rank() ? t.dim(0) : 1;
  const double per_s = 1000.0 * static_cast<double>(batch) / median;
  if (out.json)
    std::printf("{\"median_ms\":%.6f,\"p90_ms\":%.6f,\"min_ms\":%.6f,\"runs\":%ld,\"batch\":%lld,\"samples_per_s\":%.3f,"
                "\"threads\":%d,\"cpu_per_wall\":%.3f,\"buffer_mb\":%.3f,\"prepare_ms\":%.3f,\"run_allocations\":%zu%s}\n",
                median, p90, best, runs, static_cast<long long>(batch), per_s, threads, cpu_per_wall, buffer_mb, prepare_ms,
                run_allocations,
                a.has("profile") ? profile_json(s.profiling()).c_str() : "");
  else if (!out.quiet)
    std::printf("latency: median %.4g ms, p90 %.4g ms, min %.4g ms over %ld runs; throughput %.1f samples/s (batch %lld)\n"
                "threads: %d (CPU/wall %.2f)\n"
                "memory: %.3g MB of buffers sized before the first run (%.3g ms); allocations per run: %zu\n",
                median, p90, best, runs, per_s, static_cast<long long>(batch), threads, cpu_per_wall, buffer_mb, prepare_ms,
                run_allocations);
  if (a.has("profile") && !out.json && !out.quiet) print_profile(s.profiling());
  return 0;
}

}  // namespace cli
