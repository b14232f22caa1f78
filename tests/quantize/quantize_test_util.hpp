#pragma once
// Shared helpers of the quantization tests: fixture paths and arrays, accuracy and relative L2 of logits,
// running a graph, and ONNX Runtime through benchmarks/ort/run_ort.js when it is installed.

#include <bigmodel/core/cpu.hpp>
#include <bigmodel/graph.hpp>
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/quantize.hpp>
#include <bigmodel/runtime.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <unistd.h>

namespace qtest {

namespace fs = std::filesystem;
using namespace bigmodel;

inline fs::path source_dir() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  return fs::path(src ? src : ".");
}
inline fs::path fixtures() { return source_dir() / "tests" / "fixtures"; }

// A scratch folder for this process, removed at exit.
inline fs::path temp_dir() {
  struct scratch {
    fs::path dir = fs::temp_directory_path() / ("bigmodel_quantize_tests_" + std::to_string(::getpid()));
    scratch() { fs::create_directories(dir); }
    ~scratch() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  };
  static const scratch s;
  return s.dir;
}

inline dynamic_tensor load_npy(const fs::path& p) {
  auto a = io::read_npy(p);
  dynamic_tensor t(a.type, a.shape);
  if (!a.data.empty()) std::memcpy(t.mutable_data(), a.data.data(), a.data.size());
  return t;
}

inline double accuracy(const dynamic_tensor& logits, const dynamic_tensor& labels) {
  const auto v = logits.span<float>();
  const auto n = logits.dim(0), c = logits.dim(1);
  std::int64_t ok = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < c; ++j)
      if (v[static_cast<std::size_t>(i * c + j)] > v[static_cast<std::size_t>(i * c + best)]) best = j;
    ok += best == labels.as_int(i) ? 1 : 0;
  }
  return double(ok) / double(n);
}

// ||a - b|| / ||b||
inline double rel_l2(const dynamic_tensor& a, const dynamic_tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.span<float>(), y = b.span<float>();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    REQUIRE(std::isfinite(x[i]));
    num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    den += double(y[i]) * y[i];
  }
  return std::sqrt(num / den);
}

template <class OpSet>
dynamic_tensor run(const basic_computation_graph<OpSet>& g, const dynamic_tensor& x) {
  basic_session<OpSet> s{g};
  return s.run({{"input", x}})["logits"];
}

struct fixture {
  std::string model, file;
  fs::path dir() const { return fixtures() / model; }
  computation_graph load() const { return io::load_onnx(dir() / file); }
  dynamic_tensor x() const { return load_npy(dir() / "x_test.npy"); }
  dynamic_tensor y() const { return load_npy(dir() / "y_test.npy"); }
  dynamic_tensor fp32() const { return load_npy(dir() / "logits_fp32.npy"); }
};

inline bool have_ort() {
  const fs::path mod = source_dir() / "benchmarks" / "ort" / "node_modules" / "onnxruntime-node";
  return fs::exists(mod) && std::system("node --version >/dev/null 2>&1") == 0;
}

// Whether ONNX Runtime's dynamic int8 MatMul (MatMulInteger / DynamicQuantizeMatMul, u8 x s8) is exact on this
// CPU. With AVX-512 VNNI or AVX-VNNI it accumulates u8 x s8 products in s32 (vpdpbusd), exact like ours. Without,
// its x86 kernel multiplies with vpmaddubsw, whose pairwise s16 sums saturate (255 * -128 * 2 does not fit), so
// its outputs drift from the exact result (ONNX Runtime's quantization docs recommend reduce_range there). On
// such CPUs the tests still run every file in ONNX Runtime but do not hold its dynamic int8 outputs to ours.
inline bool ort_dynamic_int8_exact() {
#if defined(__x86_64__) || defined(_M_X64)
  return bigmodel::cpu().avx512vnni || bigmodel::cpu().avx_vnni;
#else
  return true;
#endif
}

// Runs `model` in ONNX Runtime on x (input "input"), returns output "logits"; nullopt (with a WARN) when
// ONNX Runtime is not installed.
inline std::optional<dynamic_tensor> run_ort(const fs::path& model, const dynamic_tensor& x) {
  if (!have_ort()) {
    WARN("ONNX Runtime check skipped: benchmarks/ort/node_modules/onnxruntime-node or node not found");
    return std::nullopt;
  }
  const fs::path dir = temp_dir() / (model.stem().string() + "_ort");
  fs::create_directories(dir);
  io::npy_array a;
  a.type = x.type();
  a.shape = x.shape();
  a.data.resize(x.bytes());
  std::memcpy(a.data.data(), x.data(), x.bytes());
  io::write_npy(dir / "x.npy", a);
  const std::string cmd = "node '" + (source_dir() / "benchmarks" / "ort" / "run_ort.js").string() + "' '" + model.string() +
                          "' --input input='" + (dir / "x.npy").string() + "' --runs 1 --warmup 0 --quiet --opt basic --output-dir '" +
                          dir.string() + "' > '" + (dir / "log.txt").string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::FILE* f = std::fopen((dir / "log.txt").c_str(), "r");
    std::string log;
    char buf[512];
    while (f && std::fgets(buf, sizeof buf, f)) log += buf;
    if (f) std::fclose(f);
    FAIL("ONNX Runtime failed on " << model << ":\n" << log);
  }
  return load_npy(dir / "logits.npy");
}

}  // namespace qtest
