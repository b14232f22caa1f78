#pragma once
// bigmodel::session: runs a computation graph.
//
//   bigmodel::session s{g};                               // compiles a plan; shares g's weights (no copy)
//   auto y = s.run({{"input", x}});                       // y["logits"] or y[0]
//
// Thread safety: a session owns the buffers it reuses between runs, so run() is NOT safe to call on one
// session from several threads at once. Give each thread its own session: sessions made with
// `session(other.plan())` (or copies) share one immutable plan -- graph and weights -- and only own their
// buffers. Tensors returned by run() are the caller's: the next run never overwrites them.
//
// Kernels: ops dispatch to runtime::kernels::run(op, ctx); a user op type gets its kernel from a member
// `op.run(ctx)` or an ADL free function `run_op(op, ctx)`. Opaque ops (what the importer did not know)
// are refused when the session is built, with an error naming the node and op type.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../graph/topology.hpp"
#include "kernel_context.hpp"
#include "kernels/all.hpp"
#include "profile.hpp"
#include "bf16_linear.hpp"
#include "bias_add.hpp"
#include "weight_only_linear.hpp"

namespace bigmodel {

// Named tensors, in order (graph outputs come back in the graph's output order).
class named_tensors {
 public:
  named_tensors() = default;
  named_tensors(std::initializer_list<std::pair<std::string, dynamic_tensor>> items) : items_(items) {}
  void emplace(std::string name, dynamic_tensor t) { items_.emplace_back(std::move(name), std::move(t)); }
  [[nodiscard]] const dynamic_tensor& operator[](std::string_view name) const {
    for (const auto& [n, t] : items_)
      if (n == name) return t;
    throw error("runtime.unknown_output", "no tensor with this name", "'" + std::string(name) + "'");
  }
  [[nodiscard]] const dynamic_tensor& operator[](std::size_t i) const { return items_.at(i).second; }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] auto begin() const noexcept { return items_.begin(); }
  [[nodiscard]] auto end() const noexcept { return items_.end(); }

 private:
  std::vector<std::pair<std::string, dynamic_tensor>> items_;
};

namespace runtime {

template <class Op>
concept has_member_kernel = requires(const Op& op, kernel_context& c) { op.run(c); };
template <class Op>
concept has_adl_kernel = requires(const Op& op, kernel_context& c) { run_op(op, c); };
template <class Op>
concept has_builtin_kernel = requires(const Op& op, kernel_context& c) { kernels::run(op, c); };
template <class Op>
concept runnable_op = has_member_kernel<Op> || has_adl_kernel<Op> || has_builtin_kernel<Op>;

// How a plan is built.
struct plan_options {
  // Run weight-only quantized MatMul / Gemm (DequantizeLinear of constant int8 / int4 weights in front of B) on
  // kernels::linear_weight_only with the weights packed once (weight_only_linear.hpp): ~1e-5 relative to the
  // default path, which dequantizes to f32 at every run and equals fake quantization bit for bit.
  // Default: on when the environment has BIGMODEL_WEIGHT_ONLY_KERNEL=1.
  bool weight_only_kernel = env_weight_only_kernel();
  // Run bf16-weight MatMul / Gemm (Cast<f32> of a constant bf16 B) on kernels::bf16_gemm -- vdpbf16ps, A rounded
  // to bf16, ~2x the f32 path's speed and ~1e-3 relative from it (bf16_linear.hpp) -- when the CPU has AVX-512
  // BF16 at build time. Off, the f32 path runs (B widened to f32, A in f32: fake quantization bit for bit).
  // Default: off, as the weight-only kernel (bigmodel-opt and bigmodel-serve turn both on).
  bool bf16_dot_products = false;
  // Run the bias Add after a MatMul with constant weights (f32, weight-only or bf16) in the MatMul's GEMM epilogue
  // (bias_add.hpp): the same outputs bit for bit, one pass over the output less. Off: the Add runs as its own step.
  bool fuse_bias_add = true;

  [[nodiscard]] static bool env_weight_only_kernel() noexcept {
    const char* v = std::getenv("BIGMODEL_WEIGHT_ONLY_KERNEL");
    return v != nullptr && std::string_view(v) == "1";
  }
};

// The compiled form of a graph: nodes in execution order with their value slots. Immutable once built.
template <class OpSet>
struct plan {
  using op_type = typename OpSet::variant;
  struct step {
    op_type op;
    std::vector<int> inputs, outputs;  // slot indices, -1 = omitted
    std::string where;
    bool aliases = false;  // output may share its input's storage
    std::shared_ptr<const void> prepared;  // from kernels::prepare(op, constant inputs), e.g. packed weights
    // A weight-only quantized MatMul / Gemm (weight_only_linear.hpp): runs this instead of the op.
    std::shared_ptr<const weight_only_linear> weight_only;
    // A bf16-weight MatMul / Gemm (bf16_linear.hpp): runs this instead of the op.
    std::shared_ptr<const bf16_linear> bf16;
    // The bias of the Add after this MatMul (bias_add.hpp), added in the GEMM's epilogue; the step writes the
    // Add's output and the Add has no step.
    std::shared_ptr<const std::vector<float>> bias;
    ops::activation_kind bias_act = ops::activation_kind::none;  // and the Gelu after that Add (bias_add.hpp)
    std::vector<int> release;  // slots whose value is dead after this step (its buffer goes back to the pool)
  };
  struct input_slot {
    std::string name;
    int slot;
    dtype type;
    std::optional<symbolic_shape> shape;
  };
  std::vector<step> steps;
  std::vector<input_slot> inputs;
  std::vector<std::pair<std::string, int>> outputs;
  std::vector<std::pair<int, dynamic_tensor>> constants;  // initializers
  std::size_t slot_count = 0;

  explicit plan(const basic_computation_graph<OpSet>& g, const plan_options& opt = {}) {
    validate_structure(g);
    std::unordered_map<std::uint32_t, int> slot_of;
    auto slot = [&](value_id v) -> int {
      if (!v.valid()) return -1;
      auto [it, fresh] = slot_of.emplace(v.index, static_cast<int>(slot_count));
      if (fresh) ++slot_count;
      return it->second;
    };
    for (auto v : g.graph_inputs())
      if (!g.at(v).initializer) inputs.push_back({g.name_of(v), slot(v), g.at(v).type, g.at(v).shape});
    for (auto v : g.initializers()) constants.emplace_back(slot(v), *g.at(v).initializer);
    // Weight-only MatMul / Gemm: weights packed once here; their DequantizeLinear chains do not run.
    std::unordered_map<std::uint32_t, std::shared_ptr<const weight_only_linear>> weight_only;
    std::vector<node_id> skipped;
    if (opt.weight_only_kernel)
      for (auto n : g.nodes())
        if (auto w = match_weight_only_linear(g, n, skipped)) weight_only.emplace(n.index, std::move(w));
    std::unordered_map<std::uint32_t, std::shared_ptr<const bf16_linear>> bf16_steps;
    if (opt.bf16_dot_products && ::bigmodel::kernels::bf16_dot_native())
      for (auto n : g.nodes())
        if (auto w = match_bf16_linear(g, n, skipped)) bf16_steps.emplace(n.index, std::move(w));
    std::unordered_map<std::uint32_t, absorbed_bias> biases;  // MatMul node -> the Add it absorbs
    if (opt.fuse_bias_add)
      for (auto n : g.nodes()) {
        std::size_t cols = 0;  // N of a weight-only / bf16 step's weights (else B must be a constant f32)
        if (auto it = weight_only.find(n.index); it != weight_only.end()) cols = it->second->n;
        if (auto it = bf16_steps.find(n.index); it != bf16_steps.end()) cols = it->second->n;
        // The plain f32 MatMul applies a GELU after the bias in its epilogue; the weight-only and bf16 steps do not.
        if (auto b = match_bias_add(g, n, cols, cols == 0)) {
          skipped.push_back(b->add);
          if (b->gelu) skipped.push_back(*b->gelu);
          biases.emplace(n.index, std::move(*b));
        }
      }
    for (auto n : topological_order(g)) {
      if (std::find(skipped.begin(), skipped.end(), n) != skipped.end()) continue;
      const auto& nd = g.at(n);
      step s{nd.op, {}, {}, g.describe(n), false, {}, {}, {}, {}, ops::activation_kind::none, {}};
      if (auto it = weight_only.find(n.index); it != weight_only.end()) s.weight_only = it->second;
      if (auto it = bf16_steps.find(n.index); it != bf16_steps.end()) s.bf16 = it->second;
      std::visit([&](const auto& op) {
        using Op = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<Op, ops::opaque>)
          throw error("runtime.unsupported_op", "the runtime has no kernel for this op",
                      s.where + (op.domain.empty() ? "" : ", domain '" + op.domain + "'"));
        else if constexpr (!runnable_op<Op>)
          throw error("runtime.unsupported_op", "the runtime has no kernel for this op", s.where);
        s.aliases = std::is_same_v<Op, ops::reshape> || std::is_same_v<Op, ops::flatten> ||
                    std::is_same_v<Op, ops::squeeze> || std::is_same_v<Op, ops::unsqueeze> ||
                    std::is_same_v<Op, ops::identity> || std::is_same_v<Op, ops::dropout> ||
                    std::is_same_v<Op, ops::cast> || std::is_same_v<Op, ops::constant> ||
                    std::is_same_v<Op, ops::reduce_mean> || std::is_same_v<Op, ops::reduce_sum>;
      }, nd.op);
      if (!s.weight_only && !s.bf16) std::visit([&](const auto& op) {
        if constexpr (requires(std::vector<const dynamic_tensor*> c) { kernels::prepare(op, c); }) {
          std::vector<const dynamic_tensor*> constants;
          for (auto v : nd.inputs) constants.push_back(g.constant_value(v));
          s.prepared = kernels::prepare(op, constants);
        }
      }, nd.op);
      for (auto v : nd.inputs) s.inputs.push_back(slot(v));
      if (auto it = biases.find(n.index); it != biases.end()) {
        s.bias = it->second.values;
        s.bias_act = it->second.act;
        s.outputs.push_back(slot(it->second.output));
      } else {
        for (auto v : nd.outputs) s.outputs.push_back(slot(v));
      }
      steps.push_back(std::move(s));
    }
    for (auto v : g.graph_outputs()) outputs.emplace_back(g.name_of(v), slot(v));
    plan_liveness();
  }

 private:
  // Each intermediate value's buffer is handed back right after the last step that reads or writes it.
  void plan_liveness() {
    std::vector<char> keep(slot_count, 0);
    for (const auto& [s, t] : constants) keep[static_cast<std::size_t>(s)] = 1;
    for (const auto& i : inputs) keep[static_cast<std::size_t>(i.slot)] = 1;
    for (const auto& [n, s] : outputs) keep[static_cast<std::size_t>(s)] = 1;
    std::vector<int> last(slot_count, -1);
    for (std::size_t i = 0; i < steps.size(); ++i) {
      for (int s : steps[i].inputs)
        if (s >= 0) last[static_cast<std::size_t>(s)] = static_cast<int>(i);
      for (int s : steps[i].outputs)
        if (s >= 0) last[static_cast<std::size_t>(s)] = static_cast<int>(i);
    }
    for (std::size_t s = 0; s < slot_count; ++s)
      if (!keep[s] && last[s] >= 0) steps[static_cast<std::size_t>(last[s])].release.push_back(static_cast<int>(s));
  }
};

}  // namespace runtime

template <class OpSet = default_op_set>
class basic_session {
 public:
  using plan_type = runtime::plan<OpSet>;

  explicit basic_session(const basic_computation_graph<OpSet>& g) : basic_session(std::make_shared<const plan_type>(g)) {}
  basic_session(const basic_computation_graph<OpSet>& g, const runtime::plan_options& opt)
      : basic_session(std::make_shared<const plan_type>(g, opt)) {}
  explicit basic_session(std::shared_ptr<const plan_type> p) : plan_(std::move(p)), slots_(plan_->slot_count) {
    for (const auto& [s, t] : plan_->constants) slots_[static_cast<std::size_t>(s)] = t;
  }
  // A copy shares the plan (graph and weights) and the execution hook, and gets its own buffers.
  basic_session(const basic_session& o) : basic_session(o.plan_) { exec_ = o.exec_; }
  basic_session& operator=(const basic_session& o) {
    if (this != &o) *this = basic_session(o);
    return *this;
  }
  basic_session(basic_session&&) noexcept = default;
  basic_session& operator=(basic_session&&) noexcept = default;

  [[nodiscard]] const std::shared_ptr<const plan_type>& plan() const noexcept { return plan_; }
  [[nodiscard]] std::vector<std::string> input_names() const {
    std::vector<std::string> v;
    for (const auto& i : plan_->inputs) v.push_back(i.name);
    return v;
  }
  [[nodiscard]] std::vector<std::string> output_names() const {
    std::vector<std::string> v;
    for (const auto& [n, s] : plan_->outputs) v.push_back(n);
    return v;
  }

  // Threads: the kernels hand independent work (GEMM tiles, attention heads) to e.parallel_for; outputs do
  // not depend on the number of threads. Default: everything on the calling thread.
  //   s.set_execution(bigmodel::kernels::execution::threads(2));   // or an engine's own pool
  void set_execution(kernels::execution e) { exec_ = std::move(e); }
  [[nodiscard]] const kernels::execution& execution() const noexcept { return exec_; }

  // Per-step timing of the following runs (profile.hpp); enabling it again starts a new profile.
  void enable_profiling(bool on = true) {
    profiling_ = on;
    profile_.steps.clear();
    profile_.runs = 0;
    if (!on) return;
    for (const auto& st : plan_->steps) {
      std::string op(op_type_name(st.op));
      if (st.weight_only) op += " [weight-only]";
      if (st.bf16) op += " [bf16]";
      if (st.bias) op += " + Add";
      if (st.bias_act != ops::activation_kind::none) op += " + Gelu";
      profile_.steps.push_back({st.where, std::move(op), 0, 0.0});
    }
  }
  [[nodiscard]] bool profiling_enabled() const noexcept { return profiling_; }
  [[nodiscard]] const runtime::profile& profiling() const noexcept { return profile_; }

  // Runs the graph on named inputs; returns the graph outputs by name, in the graph's order.
  named_tensors run(const named_tensors& feeds) {
    bind(feeds);
    runtime::kernel_context ctx;
    ctx.exec = &exec_;
    ctx.pool = &pool_;
    using clock = std::chrono::steady_clock;
    clock::time_point t0;
    std::size_t step_index = 0;
    for (const auto& st : plan_->steps) {
      if (profiling_) t0 = clock::now();
      ctx.inputs.clear();
      ctx.outputs.clear();
      for (int s : st.inputs) ctx.inputs.push_back(s < 0 ? nullptr : &slots_[static_cast<std::size_t>(s)]);
      for (int s : st.outputs) ctx.outputs.push_back(s < 0 ? nullptr : &slots_[static_cast<std::size_t>(s)]);
      ctx.where = &st.where;
      ctx.prepared = st.prepared.get();
      ctx.bias = st.bias ? st.bias->data() : nullptr;
      ctx.bias_act = st.bias_act;
      if (st.weight_only) st.weight_only->run(ctx);
      else if (st.bf16) st.bf16->run(ctx);
      else std::visit([&](const auto& op) { dispatch(op, ctx); }, st.op);
      for (int s : st.release) pool_.give(std::move(slots_[static_cast<std::size_t>(s)]));
      if (profiling_) {
        auto& p = profile_.steps[step_index];
        p.seconds += std::chrono::duration<double>(clock::now() - t0).count();
        ++p.calls;
      }
      ++step_index;
    }
    if (profiling_) ++profile_.runs;
    named_tensors out;
    for (const auto& [n, s] : plan_->outputs) out.emplace(n, slots_[static_cast<std::size_t>(s)]);
    // Views into inputs / shared storage are dropped so buffers of producers become reusable next run.
    for (const auto& st : plan_->steps)
      if (st.aliases)
        for (int s : st.outputs) slots_[static_cast<std::size_t>(s)] = dynamic_tensor{};
    for (const auto& i : plan_->inputs) slots_[static_cast<std::size_t>(i.slot)] = dynamic_tensor{};
    pool_.end_run();
    return out;
  }

  // Sizes the session's buffers at load time for inputs of these shapes: runs the graph on zeros (element types
  // from the graph's inputs; every input must be named; up to 4 runs), keeps the buffers and drops the outputs, so the
  // first real run of the same shapes allocates nothing (last_run_allocations() == 0 once the caller drops its
  // outputs between runs). Not counted in the profile. Throws like run() for an unknown, missing or misshapen
  // input, and names an input whose element type the graph leaves undefined.
  //   s.prepare({{"input_ids", {8, 128}}});
  void prepare(const std::vector<std::pair<std::string, shape_t>>& input_shapes) {
    named_tensors zeros;
    for (const auto& item : input_shapes) {
      const std::string& n = item.first;
      const shape_t& shape = item.second;
      const auto in = std::find_if(plan_->inputs.begin(), plan_->inputs.end(), [&](const auto& i) { return i.name == n; });
      if (in == plan_->inputs.end())
        throw error("runtime.unknown_input", "no graph input with this name", "input '" + n + "'");
      if (in->type == dtype::undefined)
        throw error("runtime.dtype_unknown", "the graph does not give this input's element type; run once on a real input instead",
                    "input '" + n + "'");
      for (const auto d : shape)
        if (d < 0) throw error("runtime.shape_mismatch", "negative dimension", "input '" + n + "': " + to_string(shape));
      zeros.emplace(n, dynamic_tensor(in->type, shape));
    }
    const bool was_profiling = profiling_;
    profiling_ = false;
    struct restore {
      bool& flag;
      bool value;
      ~restore() { flag = value; }
    } guard{profiling_, was_profiling};
    // The first run allocates every buffer; which pooled buffer serves which value settles in the next one or
    // two (best fit depends on what the pool holds), so run until a run allocates nothing (at most 4 runs).
    (void)run(zeros);
    for (int i = 1; i < 4 && pool_.last_run_allocations() > 0; ++i) (void)run(zeros);
  }
  void prepare(std::initializer_list<std::pair<std::string, shape_t>> input_shapes) {
    prepare(std::vector<std::pair<std::string, shape_t>>(input_shapes));
  }

  // Memory of the last run: buffers it had to allocate (0 once a run or two of the same shapes have settled the
  // pool, or from the first run after prepare(): the others came from the pool of dead values), and the bytes the
  // session holds between runs (pool and output slots).
  [[nodiscard]] std::size_t last_run_allocations() const noexcept { return pool_.last_run_allocations(); }
  [[nodiscard]] std::size_t last_run_allocated_bytes() const noexcept { return pool_.last_run_allocated_bytes(); }
  [[nodiscard]] std::size_t buffer_bytes() const noexcept {
    std::size_t b = pool_.pooled_bytes();
    std::vector<char> constant(slots_.size(), 0);
    for (const auto& [s, t] : plan_->constants) constant[static_cast<std::size_t>(s)] = 1;
    for (std::size_t s = 0; s < slots_.size(); ++s)
      if (!constant[s]) b += slots_[s].capacity();
    return b;
  }
  named_tensors run(std::initializer_list<std::pair<std::string, dynamic_tensor>> feeds) {
    return run(named_tensors(feeds));
  }

 private:
  template <class Op>
  static void dispatch(const Op& op, runtime::kernel_context& ctx) {
    if constexpr (runtime::has_member_kernel<Op>) op.run(ctx);
    else if constexpr (runtime::has_adl_kernel<Op>) run_op(op, ctx);
    else if constexpr (runtime::has_builtin_kernel<Op>) runtime::kernels::run(op, ctx);
    else ctx.fail("runtime.unsupported_op", "the runtime has no kernel for this op");
  }

  void bind(const named_tensors& feeds) {
    for (const auto& in : plan_->inputs) {
      const dynamic_tensor* t = nullptr;
      for (const auto& [n, v] : feeds)
        if (n == in.name) t = &v;
      if (!t) throw error("runtime.missing_input", "graph input not fed", "input '" + in.name + "'");
      if (in.type != dtype::undefined && t->type() != in.type)
        throw error("runtime.dtype_mismatch", "input has the wrong element type",
                    "input '" + in.name + "': expected " + std::string(name(in.type)) + ", got " + std::string(name(t->type())));
      if (in.shape) {
        bool ok = in.shape->size() == t->rank();
        for (std::size_t d = 0; ok && d < t->rank(); ++d) ok = !(*in.shape)[d].known() || (*in.shape)[d].value == t->dim(d);
        if (!ok)
          throw error("runtime.shape_mismatch", "input has the wrong shape",
                      "input '" + in.name + "': expected " + to_string(*in.shape) + ", got " + to_string(t->shape()));
      }
      slots_[static_cast<std::size_t>(in.slot)] = *t;
    }
    for (const auto& [n, v] : feeds) {
      bool known = false;
      for (const auto& in : plan_->inputs) known = known || in.name == n;
      if (!known) throw error("runtime.unknown_input", "no graph input with this name", "input '" + n + "'");
    }
  }

  std::shared_ptr<const plan_type> plan_;
  std::vector<dynamic_tensor> slots_;
  runtime::buffer_pool pool_;
  kernels::execution exec_;
  bool profiling_ = false;
  runtime::profile profile_;
};

using session = basic_session<>;

}  // namespace bigmodel
