// Memory planning of the session: buffers of dead values are reused by later values (liveness), nothing is
// allocated from the second run of the same shapes on, and recycled (dirty) buffers give the same outputs as
// fresh ones.

#include <catch2/catch.hpp>

#include <bigmodel/graph.hpp>
#include <bigmodel/io/npy.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/runtime.hpp>

#include "fixture_files.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "op_harness.hpp"

namespace fs = std::filesystem;
using namespace bigmodel;

namespace {

// x -> Relu -> Neg -> Relu -> Neg ... (`length` ops) -> y, plus a skip: y = last + x.
computation_graph chain(int length) {
  computation_graph g;
  const auto x = g.add_input("x", dtype::f32, symbolic_shape{"n"});
  value_id v = x;
  for (int i = 0; i < length; ++i) {
    const auto o = g.add_value("v" + std::to_string(i));
    if (i % 2 == 0) g.add_node(ops::relu{}, {v}, {o}, "relu" + std::to_string(i));
    else g.add_node(ops::neg{}, {v}, {o}, "neg" + std::to_string(i));
    v = o;
  }
  const auto y = g.add_value("y");
  g.add_node(ops::add{}, {v, x}, {y}, "skip");
  g.mark_output(y);
  validate(g);
  return g;
}

// The chain's closed form: relu/neg alternate, so after an even number of pairs y = -relu(x) pattern.
std::vector<float> chain_reference(const std::vector<float>& x, int length) {
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    float v = x[i];
    for (int k = 0; k < length; ++k) v = (k % 2 == 0) ? std::max(v, 0.0f) : -v;
    y[i] = v + x[i];
  }
  return y;
}

using test::fixtures;
using test::load_npy;

}  // namespace

TEST_CASE("a chain of 20 ops holds ~2 buffers, not 20, and allocates nothing on the second run", "[runtime][memory]") {
  constexpr int length = 20;
  constexpr std::int64_t n = 10000;  // 40 000 bytes per value
  const auto g = chain(length);
  session s{g};
  const auto xs = test::random_floats(n, 7);
  const auto x = dynamic_tensor::from<float>({n}, xs);
  const auto want = chain_reference(xs, length);

  const auto y1 = s.run({{"x", x}})["y"];
  test::require_close(y1, want, {n}, 0.0f);
  // Live at once: the value being read, the one being written, and x (the caller's): at most 3 of ours.
  CHECK(s.last_run_allocations() <= 3);
  CHECK(s.buffer_bytes() <= 3 * (n * 4 + 4096));

  for (int run = 0; run < 3; ++run) {
    const auto y = s.run({{"x", x}})["y"];
    test::require_close(y, want, {n}, 0.0f);
    // y1 is still held by us (the caller), so only the output buffer is new.
    CHECK(s.last_run_allocations() <= 1);
  }
  {
    // Once the caller drops the outputs, a run allocates nothing at all.
    (void)s.run({{"x", x}});
    (void)s.run({{"x", x}});
    CHECK(s.last_run_allocations() == 0);
    CHECK(s.last_run_allocated_bytes() == 0);
  }
}

TEST_CASE("changing shapes between runs: correct outputs, bounded memory", "[runtime][memory]") {
  constexpr int length = 9;
  const auto g = chain(length);
  session s{g};
  std::size_t high = 0;
  for (int run = 0; run < 12; ++run) {
    const std::int64_t n = (run % 3 == 0) ? 5000 : (run % 3 == 1) ? 20000 : 333;
    const auto xs = test::random_floats(static_cast<std::size_t>(n), 100 + run);
    const auto y = s.run({{"x", dynamic_tensor::from<float>({n}, xs)}})["y"];
    test::require_close(y, chain_reference(xs, length), {n}, 0.0f);
    if (run >= 3) high = std::max(high, s.buffer_bytes());
  }
  // Buffers not reused for a whole run are freed: the pool never holds more than a few buffers of each size.
  CHECK(high <= 3 * (20000 * 4 + 4096) + 3 * (5000 * 4 + 4096) + 3 * (333 * 4 + 4096));
}

TEST_CASE("recycled buffers give the same outputs as fresh ones (tiny encoder)", "[runtime][memory][fixtures]") {
  const auto dir = fixtures() / "tiny_encoder";
  const auto g = io::load_onnx(dir / "tiny_encoder.opset17.onnx");
  const auto x = load_npy(dir / "x_test.npy");
  const auto xa = x;                                  // the whole test set
  const auto xb = x.reshaped({x.dim(0), 8, 8}).clone();  // same data, another run

  session fresh{g};
  const auto want = fresh.run({{"input", xb}})["logits"].clone();

  session s{g};
  (void)s.run({{"input", xa}});                   // fills the pool with this run's values
  auto zero = dynamic_tensor(dtype::f32, x.shape());  // a different input, so every buffer is dirty
  (void)s.run({{"input", zero}});
  const auto got = s.run({{"input", xb}})["logits"];
  CHECK(s.last_run_allocations() <= 1);
  REQUIRE(got.shape() == want.shape());
  CHECK(std::memcmp(got.data(), want.data(), want.bytes()) == 0);
}

TEST_CASE("prepare sizes the buffers at load time: the first real run allocates nothing", "[runtime][memory][fixtures]") {
  const auto dir = fixtures() / "tiny_encoder";
  const auto g = io::load_onnx(dir / "tiny_encoder.opset17.onnx");
  const auto x = load_npy(dir / "x_test.npy");
  const auto xb = x.reshaped({x.dim(0), 8, 8}).clone();

  session fresh{g};
  const auto want = fresh.run({{"input", xb}})["logits"].clone();
  REQUIRE(fresh.last_run_allocations() > 0);  // what prepare saves the first run

  session s{g};
  s.enable_profiling();
  s.prepare({{"input", xb.shape()}});
  CHECK(s.profiling().runs == 0);  // the warm-up is not part of the profile
  CHECK(s.buffer_bytes() > 0);
  const auto got = s.run({{"input", xb}})["logits"];
  CHECK(s.last_run_allocations() == 0);
  CHECK(s.last_run_allocated_bytes() == 0);
  CHECK(s.profiling().runs == 1);
  REQUIRE(got.shape() == want.shape());
  CHECK(std::memcmp(got.data(), want.data(), want.bytes()) == 0);

  SECTION("bad shapes and names are refused like run() refuses them") {
    session t{g};
    auto code = [&](const std::vector<std::pair<std::string, shape_t>>& shapes) {
      try {
        t.prepare(shapes);
      } catch (const error& e) {
        return std::string(e.id());
      }
      return std::string("no error");
    };
    CHECK(code({{"nope", xb.shape()}}) == "runtime.unknown_input");
    CHECK(code({}) == "runtime.missing_input");
    CHECK(code({{"input", {x.dim(0), 64}}}) == "runtime.shape_mismatch");
    CHECK(code({{"input", {-1, 8, 8}}}) == "runtime.shape_mismatch");
    // After the refusals the session still runs.
    const auto again = t.run({{"input", xb}})["logits"];
    CHECK(std::memcmp(again.data(), want.data(), want.bytes()) == 0);
  }
}
