#pragma once
// MatMul (batched, NumPy broadcasting of batch dims, 1-D operands) and Gemm on f32 through kernels::sgemm.
// (The Eigen maps below serve the other f32 kernels that include this header.)

#include <Eigen/Core>

#include <memory>
#include <vector>

#include "../../kernels/sgemm.hpp"

#include "../kernel_context.hpp"
#include "activation.hpp"

namespace bigmodel::runtime::kernels {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using cmap = Eigen::Map<const row_matrix>;
using mmap = Eigen::Map<row_matrix>;

// Shapes of a batched matmul after NumPy rules: batch dims broadcast, 1-D operands promoted.
struct matmul_plan {
  shape_t out_shape, batch;
  std::int64_t m = 0, k = 0, n = 0;
  std::vector<std::int64_t> a_batch_strides, b_batch_strides;  // in matrices
};

inline matmul_plan plan_matmul(const shape_t& a0, const shape_t& b0, kernel_context& c) {
  c.check(!a0.empty() && !b0.empty(), "MatMul of a scalar");
  shape_t a = a0, b = b0;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  matmul_plan p;
  p.m = a[a.size() - 2];
  p.k = a.back();
  p.n = b.back();
  if (b[b.size() - 2] != p.k)
    c.fail("runtime.shape_mismatch", "MatMul inner dimensions differ: " + to_string(a0) + " x " + to_string(b0));
  const shape_t ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  p.batch = broadcast_shapes({&ba, &bb}, c);
  p.a_batch_strides = broadcast_strides(ba, p.batch);
  p.b_batch_strides = broadcast_strides(bb, p.batch);
  p.out_shape = p.batch;
  if (a0.size() > 1) p.out_shape.push_back(p.m);
  if (b0.size() > 1) p.out_shape.push_back(p.n);
  return p;
}

// Calls f(batch_index, a_matrix_index, b_matrix_index) over the broadcast batch.
template <class F>
void for_each_batch(const matmul_plan& p, F&& f) {
  std::int64_t count = 1;
  for (auto d : p.batch) count *= d;
  std::vector<std::int64_t> idx(p.batch.size(), 0);
  for (std::int64_t i = 0; i < count; ++i) {
    std::int64_t ia = 0, ib = 0;
    for (std::size_t d = 0; d < idx.size(); ++d) ia += idx[d] * p.a_batch_strides[d], ib += idx[d] * p.b_batch_strides[d];
    f(i, ia, ib);
    for (std::size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < p.batch[d]) break;
      idx[d] = 0;
    }
  }
}

// The f32 products run on kernels::sgemm (run-time ISA dispatch). A constant B is packed once when the plan is
// built (prepare); a computed B (attention's Q.K^T, batched products) is packed on each call by sgemm itself.
// The packing is used only when the kernel that runs now reads it (kernels::force_isa may change in between).
inline const bigmodel::kernels::packed_sgemm_weights* usable_packing(const kernel_context& c, std::int64_t k, std::int64_t n) {
  const auto* p = static_cast<const bigmodel::kernels::packed_sgemm_weights*>(c.prepared);
  if (p == nullptr || static_cast<std::int64_t>(p->k()) != k || static_cast<std::int64_t>(p->n()) != n ||
      !p->runs_on(bigmodel::kernels::active_isa()))
    return nullptr;
  return p;
}

// The session's threading hook when the context has one; results do not depend on it.
template <class Context>
const bigmodel::kernels::execution& gemm_execution(const Context& c) {
  if constexpr (requires { c.execution(); }) {
    return c.execution();
  } else {
    static const bigmodel::kernels::execution serial{};
    return serial;
  }
}

// B constant, f32, 2-D (K x N, or N x K when transposed): packed for the kernel sgemm uses now.
inline std::shared_ptr<const void> pack_constant_b(const dynamic_tensor* b, bool transposed) {
  if (b == nullptr || b->type() != dtype::f32 || b->rank() != 2 || b->numel() == 0) return nullptr;
  const auto rows = static_cast<std::size_t>(b->dim(0)), cols = static_cast<std::size_t>(b->dim(1));
  const auto layout = transposed ? bigmodel::kernels::weight_layout::n_by_k : bigmodel::kernels::weight_layout::k_by_n;
  return std::make_shared<const bigmodel::kernels::packed_sgemm_weights>(bigmodel::kernels::pack_sgemm_weights(
      b->span<float>().data(), transposed ? cols : rows, transposed ? rows : cols, cols, layout));
}

inline std::shared_ptr<const void> prepare(const ops::matmul&, const std::vector<const dynamic_tensor*>& inputs) {
  return inputs.size() > 1 ? pack_constant_b(inputs[1], false) : nullptr;
}

inline std::shared_ptr<const void> prepare(const ops::gemm& op, const std::vector<const dynamic_tensor*>& inputs) {
  return inputs.size() > 1 ? pack_constant_b(inputs[1], op.trans_b) : nullptr;
}

inline void run(const ops::matmul& op, kernel_context& c) {
  namespace bk = bigmodel::kernels;
  const auto a = c.f32(0), b = c.f32(1);
  const auto p = plan_matmul(c.in(0).shape(), c.in(1).shape(), c);
  auto y = c.out(0, dtype::f32, p.out_shape).mutable_span<float>();
  if (y.empty()) return;
  const bool b_shared = std::all_of(p.b_batch_strides.begin(), p.b_batch_strides.end(), [](auto s) { return s == 0; });
  const bool a_dense = p.a_batch_strides.empty() || p.a_batch_strides.back() == 1;
  const auto m = static_cast<std::size_t>(p.m), n = static_cast<std::size_t>(p.n), k = static_cast<std::size_t>(p.k);
  // c.bias: the Add after this MatMul (bias_add.hpp), given only when there is no fused activation and B is a
  // constant with N columns; c.bias_act: the Gelu after that Add, applied to each finished piece of a row.
  namespace vm = bk::vmath;
  const bk::sgemm_epilogue ep{.bias = c.bias,
                              .relu = op.act.kind == ops::activation_kind::relu,
                              .rows = c.bias_act == ops::activation_kind::gelu        ? &vm::gelu_erf
                                      : c.bias_act == ops::activation_kind::gelu_tanh ? &vm::gelu_tanh
                                                                                      : nullptr};
  c.check(c.bias_act == ops::activation_kind::none || ep.rows != nullptr, "MatMul: unsupported activation after the bias");
  const bk::execution& exec = gemm_execution(c);
  const bk::packed_sgemm_weights* packed = b_shared ? usable_packing(c, p.k, p.n) : nullptr;
  // rows x n = A (rows x k, dense) . B matrix `ib`.
  auto product = [&](std::size_t rows, const float* pa, std::int64_t ib, float* py) {
    if (packed != nullptr) bk::sgemm(rows, pa, k, *packed, py, n, ep, exec);
    else bk::sgemm(rows, n, k, pa, k, b.data() + ib * p.k * p.n, n, bk::weight_layout::k_by_n, py, n, ep, exec);
  };
  if (b_shared && a_dense && std::is_sorted(p.a_batch_strides.rbegin(), p.a_batch_strides.rend())) {
    // Shared weights: fold the batch into M, one GEMM.
    product(y.size() / n, a.data(), 0, y.data());
  } else {
    for_each_batch(p, [&](std::int64_t i, std::int64_t ia, std::int64_t ib) {
      product(m, a.data() + ia * p.m * p.k, ib, y.data() + static_cast<std::size_t>(i) * m * n);
    });
  }
  if (!ep.relu) apply_activation(op.act, y);
}

inline void run(const ops::gemm& op, kernel_context& c) {
  namespace bk = bigmodel::kernels;
  const auto& ta = c.in(0);
  const auto& tb = c.in(1);
  c.check(ta.rank() == 2 && tb.rank() == 2, "Gemm inputs must be 2-D, got " + to_string(ta.shape()) + " and " + to_string(tb.shape()));
  const auto a = c.f32(0), b = c.f32(1);
  const std::int64_t m = op.trans_a ? ta.dim(1) : ta.dim(0), k = op.trans_a ? ta.dim(0) : ta.dim(1);
  const std::int64_t kb = op.trans_b ? tb.dim(1) : tb.dim(0), n = op.trans_b ? tb.dim(0) : tb.dim(1);
  if (k != kb) c.fail("runtime.shape_mismatch", "Gemm inner dimensions differ: " + to_string(ta.shape()) + " x " + to_string(tb.shape()));
  auto y = c.out(0, dtype::f32, {m, n}).mutable_span<float>();
  bk::sgemm_epilogue ep{.alpha = op.alpha, .relu = op.act.kind == ops::activation_kind::relu};
  std::vector<float> scaled_bias;
  if (c.has(2) && op.beta != 0.0f) {
    const auto& tc = c.in(2);
    const auto cv = c.f32(2);
    const shape_t ys{m, n};
    (void)broadcast_shapes({&ys, &tc.shape()}, c);  // validates
    if (tc.numel() == n && (tc.rank() == 1 || tc.dim(0) == 1)) {
      // beta * C per column: the kernel's bias.
      if (op.beta == 1.0f) {
        ep.bias = cv.data();
      } else {
        scaled_bias.resize(static_cast<std::size_t>(n));
        for (std::size_t j = 0; j < scaled_bias.size(); ++j) scaled_bias[j] = op.beta * cv[j];
        ep.bias = scaled_bias.data();
      }
    } else {
      // Any other broadcast: Y starts as beta * C and the kernel adds alpha * A.B to it.
      const auto st = broadcast_strides(tc.shape(), ys);
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          y[static_cast<std::size_t>(i * n + j)] = op.beta * cv[static_cast<std::size_t>(i * st[0] + j * st[1])];
      ep.accumulate = true;
    }
  }
  if (y.empty()) return;
  const auto mm = static_cast<std::size_t>(m), nn = static_cast<std::size_t>(n), kk = static_cast<std::size_t>(k);
  std::vector<float> a_t;  // A^T made row-major (K x M stored -> M x K)
  const float* pa = a.data();
  if (op.trans_a && kk > 0) {
    a_t.resize(mm * kk);
    for (std::size_t t = 0; t < kk; ++t)
      for (std::size_t i = 0; i < mm; ++i) a_t[i * kk + t] = a[t * mm + i];
    pa = a_t.data();
  }
  const bk::execution& exec = gemm_execution(c);
  if (const auto* packed = usable_packing(c, k, n)) {
    bk::sgemm(mm, pa, kk, *packed, y.data(), nn, ep, exec);
  } else {
    const auto layout = op.trans_b ? bk::weight_layout::n_by_k : bk::weight_layout::k_by_n;
    bk::sgemm(mm, nn, kk, pa, kk, b.data(), static_cast<std::size_t>(tb.dim(1)), layout, y.data(), nn, ep, exec);
  }
  if (!ep.relu) apply_activation(op.act, y);
}

}  // namespace bigmodel::runtime::kernels
