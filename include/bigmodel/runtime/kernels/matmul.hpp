#pragma once
// MatMul (batched, NumPy broadcasting of batch dims, 1-D operands) and Gemm on f32 through Eigen.

#include <Eigen/Core>

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

inline void run(const ops::matmul& op, kernel_context& c) {
  const auto a = c.f32(0), b = c.f32(1);
  const auto p = plan_matmul(c.in(0).shape(), c.in(1).shape(), c);
  auto y = c.out(0, dtype::f32, p.out_shape).mutable_span<float>();
  const bool b_shared = std::all_of(p.b_batch_strides.begin(), p.b_batch_strides.end(), [](auto s) { return s == 0; });
  const bool a_dense = p.a_batch_strides.empty() || p.a_batch_strides.back() == 1;
  if (b_shared && a_dense && std::is_sorted(p.a_batch_strides.rbegin(), p.a_batch_strides.rend())) {
    // Shared weights: fold the batch into M, one GEMM.
    const std::int64_t rows = static_cast<std::int64_t>(y.size()) / std::max<std::int64_t>(p.n, 1);
    mmap(y.data(), rows, p.n).noalias() = cmap(a.data(), rows, p.k) * cmap(b.data(), p.k, p.n);
  } else {
    for_each_batch(p, [&](std::int64_t i, std::int64_t ia, std::int64_t ib) {
      mmap(y.data() + i * p.m * p.n, p.m, p.n).noalias() =
          cmap(a.data() + ia * p.m * p.k, p.m, p.k) * cmap(b.data() + ib * p.k * p.n, p.k, p.n);
    });
  }
  apply_activation(op.act, y);
}

inline void run(const ops::gemm& op, kernel_context& c) {
  const auto& ta = c.in(0);
  const auto& tb = c.in(1);
  c.check(ta.rank() == 2 && tb.rank() == 2, "Gemm inputs must be 2-D, got " + to_string(ta.shape()) + " and " + to_string(tb.shape()));
  const auto a = c.f32(0), b = c.f32(1);
  const std::int64_t m = op.trans_a ? ta.dim(1) : ta.dim(0), k = op.trans_a ? ta.dim(0) : ta.dim(1);
  const std::int64_t kb = op.trans_b ? tb.dim(1) : tb.dim(0), n = op.trans_b ? tb.dim(0) : tb.dim(1);
  if (k != kb) c.fail("runtime.shape_mismatch", "Gemm inner dimensions differ: " + to_string(ta.shape()) + " x " + to_string(tb.shape()));
  auto y = c.out(0, dtype::f32, {m, n}).mutable_span<float>();
  mmap Y(y.data(), m, n);
  const cmap A(a.data(), ta.dim(0), ta.dim(1)), B(b.data(), tb.dim(0), tb.dim(1));
  if (!op.trans_a && !op.trans_b) Y.noalias() = A * B;
  else if (!op.trans_a && op.trans_b) Y.noalias() = A * B.transpose();
  else if (op.trans_a && !op.trans_b) Y.noalias() = A.transpose() * B;
  else Y.noalias() = A.transpose() * B.transpose();
  if (op.alpha != 1.0f) Y *= op.alpha;
  if (c.has(2) && op.beta != 0.0f) {
    const auto& tc = c.in(2);
    const auto cv = c.f32(2);
    const shape_t ys{m, n};
    (void)broadcast_shapes({&ys, &tc.shape()}, c);  // validates
    if (tc.numel() == n && (tc.rank() == 1 || tc.dim(0) == 1)) {
      Y.rowwise() += op.beta * Eigen::Map<const Eigen::RowVectorXf>(cv.data(), n);
    } else {
      const auto st = broadcast_strides(tc.shape(), ys);
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) Y(i, j) += op.beta * cv[static_cast<std::size_t>(i * st[0] + j * st[1])];
    }
  }
  apply_activation(op.act, y);
}

}  // namespace bigmodel::runtime::kernels
