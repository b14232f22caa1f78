#pragma once
// Runs one op on given tensors: float inputs become graph inputs, integer ones initializers (so shape
// inference sees constant shapes/axes). Checks that the shapes inferred statically agree with the ones
// the runtime produced.

#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>
#include <bigmodel/runtime.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace bigmodel::test {

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline dynamic_tensor randn(shape_t s, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  const auto n = static_cast<std::size_t>(element_count(s));
  return dynamic_tensor::from<float>(std::move(s), random_floats(n, seed, lo, hi));
}
inline dynamic_tensor ints(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return dynamic_tensor::from<std::int64_t>({n}, v);
}

// Inputs: "" name = omitted optional input.
inline std::vector<dynamic_tensor> run_op(computation_graph::op_type op, const std::vector<dynamic_tensor>& inputs,
                                          std::size_t n_outputs = 1) {
  computation_graph g;
  std::vector<value_id> ins;
  named_tensors feeds;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& t = inputs[i];
    const std::string name = "in" + std::to_string(i);
    if (t.empty()) {
      ins.push_back({});
    } else if (t.type() == dtype::f32 || t.type() == dtype::boolean) {
      ins.push_back(g.add_input(name, t.type(), to_symbolic(t.shape())));
      feeds.emplace(name, t);
    } else {
      ins.push_back(g.add_initializer(name, t));
    }
  }
  std::vector<value_id> outs;
  for (std::size_t i = 0; i < n_outputs; ++i) outs.push_back(g.add_value("out" + std::to_string(i)));
  g.add_node(std::move(op), ins, outs, "op");
  for (auto v : outs) g.mark_output(v);
  validate(g);
  session s{g};
  const auto r = s.run(feeds);
  std::vector<dynamic_tensor> out;
  for (std::size_t i = 0; i < n_outputs; ++i) {
    out.push_back(r[i]);
    const auto& info = g.at(outs[i]);
    if (info.shape) {
      INFO("inferred " << to_string(*info.shape) << " vs run " << to_string(r[i].shape()));
      REQUIRE(info.shape->size() == r[i].rank());
      for (std::size_t d = 0; d < r[i].rank(); ++d)
        if ((*info.shape)[d].known()) REQUIRE((*info.shape)[d].value == r[i].dim(d));
    }
    if (info.type != dtype::undefined) REQUIRE(info.type == r[i].type());
  }
  return out;
}

inline void require_close(const dynamic_tensor& got, const std::vector<float>& want, const shape_t& shape, float tol = 1e-5f) {
  REQUIRE(got.shape() == shape);
  const auto g = got.span<float>();
  REQUIRE(g.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    REQUIRE(g[i] == Approx(want[i]).margin(tol).epsilon(tol));
  }
}

}  // namespace bigmodel::test
