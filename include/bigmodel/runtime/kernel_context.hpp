#pragma once
// What a runtime kernel sees: its node's input tensors, output slots to fill, and a description of the
// node for error messages. Kernels get their op struct and this context:
//   void run(const ops::relu&, kernel_context&);
// Output buffers are reused across runs when dtype and shape repeat and nobody else holds them.

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../graph/ops.hpp"
#include "../kernels/parallel_for.hpp"
#include "../tensor/dynamic_tensor.hpp"

namespace bigmodel::runtime {

// Buffers of values that are dead for the rest of a run (the session hands them back after their last use),
// reused for the values computed later: the memory of a run is that of its live values, not of all of them,
// and from the second run of the same shapes on nothing is allocated. A buffer serves a request of n bytes
// when it holds n .. 2n (+4 KiB) bytes, the smallest such; buffers unused for a whole run are freed.
class buffer_pool {
 public:
  void give(dynamic_tensor&& t) {
    if (t.unique() && !t.is_view() && t.capacity() > 0) free_.push_back({std::move(t), run_});
    t = dynamic_tensor{};  // (a moved-from tensor would still point at the storage)
  }
  // Turns `slot` into a buffer of this type and shape from the pool; false when none fits.
  bool take(dtype type, const shape_t& shape, dynamic_tensor& slot) {
    const std::size_t need = storage_bytes(type, static_cast<std::size_t>(element_count(shape)));
    const std::size_t limit = std::max(2 * need, need + 4096);
    std::size_t best = free_.size();
    for (std::size_t i = 0; i < free_.size(); ++i) {
      const std::size_t c = free_[i].buffer.capacity();
      if (c >= need && c <= limit && (best == free_.size() || c < free_[best].buffer.capacity())) best = i;
    }
    if (best == free_.size() || !free_[best].buffer.reuse_as(type, shape)) return false;
    slot = std::move(free_[best].buffer);
    free_[best] = std::move(free_.back());
    free_.pop_back();
    return true;
  }
  // Counts a buffer allocated outside the pool (statistics of the current run).
  void count_allocation(std::size_t bytes) noexcept {
    ++allocations_;
    allocated_bytes_ += bytes;
  }
  // Ends a run: frees what the run did not reuse that was already pooled before it.
  void end_run() {
    std::erase_if(free_, [&](const entry& e) { return e.since < run_; });
    ++run_;
    last_allocations_ = allocations_;
    last_allocated_bytes_ = allocated_bytes_;
    allocations_ = allocated_bytes_ = 0;
  }
  [[nodiscard]] std::size_t pooled_bytes() const noexcept {
    std::size_t b = 0;
    for (const auto& e : free_) b += e.buffer.capacity();
    return b;
  }
  [[nodiscard]] std::size_t last_run_allocations() const noexcept { return last_allocations_; }
  [[nodiscard]] std::size_t last_run_allocated_bytes() const noexcept { return last_allocated_bytes_; }

 private:
  struct entry {
    dynamic_tensor buffer;
    std::uint64_t since;
  };
  std::vector<entry> free_;
  std::uint64_t run_ = 0;
  std::size_t allocations_ = 0, allocated_bytes_ = 0, last_allocations_ = 0, last_allocated_bytes_ = 0;
};

class kernel_context {
 public:
  std::vector<const dynamic_tensor*> inputs;  // nullptr: omitted optional input
  std::vector<dynamic_tensor*> outputs;
  const std::string* where = nullptr;  // "node 'x' (Gemm)"
  const void* prepared = nullptr;       // what the op's prepare() made once per plan (packed weights...)
  // A MatMul's bias, one value per output column, that the plan took from the Add after it (bias_add.hpp): the
  // kernel adds it in its epilogue. Null for every other step.
  const float* bias = nullptr;
  // The activation after that bias, when the plan also took the Gelu after the Add (bias_add.hpp): gelu or
  // gelu_tanh, applied by the kernel after the bias. none for every other step.
  ops::activation_kind bias_act = ops::activation_kind::none;
  // The session's threading hook (basic_session::set_execution); kernels pass it to the GEMMs and split
  // independent work (attention heads) over it. Empty: everything runs on the calling thread.
  const ::bigmodel::kernels::execution* exec = nullptr;
  buffer_pool* pool = nullptr;  // the session's recycled buffers (null: always allocate)

  [[nodiscard]] const ::bigmodel::kernels::execution& execution() const noexcept {
    static const ::bigmodel::kernels::execution serial{};
    return exec ? *exec : serial;
  }
  // body(i) for i in [0, count) over the session's parallel_for (or in order on this thread).
  template <class F>
  void parallel_for(std::size_t count, F&& body) const {
    const auto& e = execution();
    if (e.parallel_for && count > 1) e.parallel_for(count, std::function<void(std::size_t)>(std::forward<F>(body)));
    else
      for (std::size_t i = 0; i < count; ++i) body(i);
  }

  [[nodiscard]] bool has(std::size_t i) const { return i < inputs.size() && inputs[i] && !inputs[i]->empty(); }
  [[nodiscard]] const dynamic_tensor& in(std::size_t i) const {
    if (!has(i)) fail("runtime.missing_input", "required input " + std::to_string(i) + " is missing");
    return *inputs[i];
  }
  [[nodiscard]] std::size_t output_count() const { return outputs.size(); }

  // A writable output buffer of this type and shape: the slot's own buffer when it still fits, else one from
  // the pool, else a new one (zeroed only when freshly allocated: kernels must write every element).
  dynamic_tensor& out(std::size_t i, dtype t, const shape_t& s) {
    if (!outputs.at(i)) fail("runtime.missing_output", "output " + std::to_string(i) + " is omitted");
    auto& slot = *outputs[i];
    if (slot.unique() && slot.type() == t && slot.shape() == s) return slot;
    if (pool) {
      pool->give(std::move(slot));
      if (pool->take(t, s, slot)) return slot;
    }
    slot = dynamic_tensor(t, s);
    if (pool) pool->count_allocation(slot.capacity());
    return slot;
  }
  // The output shares the input's storage (Reshape, Identity...): no copy.
  void alias(std::size_t i, const dynamic_tensor& t) {
    if (!outputs.at(i)) fail("runtime.missing_output", "output " + std::to_string(i) + " is omitted");
    *outputs[i] = t;
  }

  [[noreturn]] void fail(const std::string& id, const std::string& message) const {
    throw error(id, message, where ? *where : std::string{});
  }
  void check(bool cond, const std::string& message) const {
    if (!cond) fail("runtime.bad_input", message);
  }
  // The input as f32 (throws naming the node when it is not).
  [[nodiscard]] std::span<const float> f32(std::size_t i) const {
    const auto& t = in(i);
    if (t.type() != dtype::f32)
      fail("runtime.dtype_mismatch", "input " + std::to_string(i) + " must be f32, got " + std::string(name(t.type())));
    return t.span<float>();
  }
  [[nodiscard]] std::int64_t axis(std::int64_t a, std::size_t rank) const {
    const auto r = static_cast<std::int64_t>(rank);
    if (a < -r || a >= std::max<std::int64_t>(r, 1)) fail("runtime.bad_axis", "axis " + std::to_string(a) + " out of range for rank " + std::to_string(r));
    return a < 0 ? a + r : a;
  }
};

// Row-major strides of a shape.
[[nodiscard]] inline std::vector<std::int64_t> strides_of(const shape_t& s) {
  std::vector<std::int64_t> st(s.size(), 1);
  for (std::size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// NumPy broadcast of shapes; throws runtime.shape_mismatch.
[[nodiscard]] inline shape_t broadcast_shapes(const std::vector<const shape_t*>& shapes, const kernel_context& c) {
  std::size_t rank = 0;
  for (auto* s : shapes) rank = std::max(rank, s->size());
  shape_t out(rank, 1);
  for (auto* s : shapes)
    for (std::size_t i = 0; i < s->size(); ++i) {
      auto& o = out[rank - s->size() + i];
      const auto d = (*s)[i];
      if (d == o || d == 1) continue;
      if (o == 1) o = d;
      else c.fail("runtime.shape_mismatch", "cannot broadcast " + to_string(*s) + " to " + to_string(out));
    }
  return out;
}

// Strides of `s` when broadcast to `out` (0 on broadcast dims).
[[nodiscard]] inline std::vector<std::int64_t> broadcast_strides(const shape_t& s, const shape_t& out) {
  std::vector<std::int64_t> st(out.size(), 0);
  const auto own = strides_of(s);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const std::size_t o = out.size() - s.size() + i;
    st[o] = s[i] == 1 ? 0 : own[i];
  }
  return st;
}

// Calls row(offsets, inner_strides, n) once per row of the output (its last dimension, n elements), in order,
// with each input's element offset at the row's start and its stride along the row (0 where it broadcasts).
template <std::size_t N, class F>
void for_each_broadcast_row(const shape_t& out, const std::array<std::vector<std::int64_t>, N>& strides, F&& row) {
  const std::size_t rank = out.size();
  std::int64_t total = 1;
  for (auto d : out) total *= d;
  if (total == 0) return;
  std::array<std::int64_t, N> off{}, inner_stride{};
  if (rank == 0) return row(off, inner_stride, std::int64_t{1});  // a scalar
  std::vector<std::int64_t> idx(rank, 0);
  const std::int64_t inner = out[rank - 1];
  for (std::size_t k = 0; k < N; ++k) inner_stride[k] = strides[k][rank - 1];
  for (std::int64_t done = 0; done < total; done += inner) {
    row(off, inner_stride, inner);
    // advance the outer index (all dims but the last)
    for (std::size_t d = rank - 1; d-- > 0;) {
      ++idx[d];
      for (std::size_t k = 0; k < N; ++k) off[k] += strides[k][d];
      if (idx[d] < out[d]) break;
      for (std::size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * out[d];
      idx[d] = 0;
    }
  }
}

// Calls f(offsets...) for each output element in order, with each input's element offset.
template <std::size_t N, class F>
void for_each_broadcast(const shape_t& out, const std::array<std::vector<std::int64_t>, N>& strides, F&& f) {
  for_each_broadcast_row<N>(out, strides, [&](std::array<std::int64_t, N> o, const std::array<std::int64_t, N>& step, std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j) {
      f(o);
      for (std::size_t k = 0; k < N; ++k) o[k] += step[k];
    }
  });
}

}  // namespace bigmodel::runtime
