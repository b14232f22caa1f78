#pragma once
// Shared by the graph-optimization tests: fixtures, op histograms, outputs before/after through the runtime.

#include <bigmodel/graph.hpp>
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes.hpp>
#include <bigmodel/runtime.hpp>
#include <bigmodel/runtime/constant_evaluator.hpp>
#include <bigmodel/runtime/output_check.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

namespace passes_test {

namespace fs = std::filesystem;
using namespace bigmodel;

inline fs::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  return fs::path(src ? src : ".") / "tests" / "fixtures";
}

// The first `rows` samples of an .npy file.
inline dynamic_tensor load_rows(const fs::path& p, std::int64_t rows) {
  auto a = io::read_npy(p);
  rows = std::min(rows, a.shape.at(0));
  auto shape = a.shape;
  shape[0] = rows;
  dynamic_tensor t(a.type, shape);
  std::memcpy(t.mutable_data(), a.data.data(), t.bytes());
  return t;
}

inline passes::op_histogram histogram(computation_graph& g) { return passes::stats_of(g).ops; }
inline std::size_t count(computation_graph& g, const std::string& op) {
  const auto h = histogram(g);
  const auto it = h.find(op);
  return it == h.end() ? 0 : it->second;
}

inline std::string to_string(const passes::op_histogram& h) {
  std::string s;
  for (const auto& [op, n] : h) s += op + ":" + std::to_string(n) + " ";
  return s;
}

inline dynamic_tensor random_tensor(shape_t shape, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  dynamic_tensor t(dtype::f32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (auto& v : t.mutable_span<float>()) v = d(rng);
  return t;
}

// Relative error of g's outputs vs reference's on feeds.
inline double relative_error(const computation_graph& reference, const computation_graph& g, const named_tensors& feeds) {
  return runtime::output_check(reference, feeds)(g);
}

}  // namespace passes_test

namespace passes_test {
// Adds op(inputs) with one fresh output; returns the output.
template <class Op>
value_id op(computation_graph& g, Op o, std::vector<value_id> in) {
  return g.outputs(g.add_node(std::move(o), std::move(in), 1))[0];
}
inline value_id constant(computation_graph& g, const std::string& name, dynamic_tensor t) {
  return g.add_initializer(name, std::move(t));
}
inline value_id scalar(computation_graph& g, const std::string& name, float v) {
  return g.add_initializer(name, dynamic_tensor::scalar(v));
}
inline value_id ints(computation_graph& g, const std::string& name, std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return g.add_initializer(name, dynamic_tensor::from<std::int64_t>({n}, v));
}
}  // namespace passes_test
