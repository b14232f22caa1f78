#pragma once
// MatMulInteger (u8/s8 x u8/s8 -> s32). When B is a constant s8 matrix with zero zero-points (what
// quantize_dynamic and our quantization passes produce), its weights are packed once when the session's
// plan is built (prepare) and the product runs on the int8 GEMM kernels (VNNI/AVX-512/AVX2/xsimd);
// everything else takes the scalar reference path.

#include <memory>
#include <vector>

#include "../../kernels/epilogue.hpp"
#include "../../kernels/gemm.hpp"
#include "../../kernels/packed_weights.hpp"
#include "../kernel_context.hpp"
#include "matmul.hpp"

namespace bigmodel::runtime::kernels {

// Scalar reference: any u8/s8 mix, zero points per tensor, per row of A or per column of B, batched.
inline void matmul_integer_reference(kernel_context& c) {
  const auto &ta = c.in(0), &tb = c.in(1);
  const auto p = plan_matmul(ta.shape(), tb.shape(), c);
  auto y = c.out(0, dtype::s32, p.out_shape).mutable_span<std::int32_t>();
  auto load = [](const dynamic_tensor& t) {
    std::vector<std::int32_t> v(static_cast<std::size_t>(t.numel()));
    if (t.type() == dtype::u8) std::copy(t.span<std::uint8_t>().begin(), t.span<std::uint8_t>().end(), v.begin());
    else if (t.type() == dtype::s8) std::copy(t.span<std::int8_t>().begin(), t.span<std::int8_t>().end(), v.begin());
    return v;
  };
  c.check((ta.type() == dtype::u8 || ta.type() == dtype::s8) && (tb.type() == dtype::u8 || tb.type() == dtype::s8),
          "MatMulInteger inputs must be u8 or s8");
  auto a = load(ta), b = load(tb);
  // zero points: scalar, per row of A (length M), per column of B (length N)
  std::vector<std::int32_t> za(static_cast<std::size_t>(p.m), 0), zb(static_cast<std::size_t>(p.n), 0);
  if (c.has(2)) {
    const auto& z = c.in(2);
    for (std::int64_t i = 0; i < p.m; ++i) za[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(z.as_int(z.numel() == 1 ? 0 : i));
  }
  if (c.has(3)) {
    const auto& z = c.in(3);
    for (std::int64_t j = 0; j < p.n; ++j) zb[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(z.as_int(z.numel() == 1 ? 0 : j));
  }
  for_each_batch(p, [&](std::int64_t bi, std::int64_t ia, std::int64_t ib) {
    const std::int32_t* pa = a.data() + ia * p.m * p.k;
    const std::int32_t* pb = b.data() + ib * p.k * p.n;
    std::int32_t* py = y.data() + bi * p.m * p.n;
    for (std::int64_t i = 0; i < p.m; ++i) {
      std::int32_t* row = py + i * p.n;
      std::fill(row, row + p.n, 0);
      for (std::int64_t kk = 0; kk < p.k; ++kk) {
        const std::int32_t av = pa[i * p.k + kk] - za[static_cast<std::size_t>(i)];
        const std::int32_t* brow = pb + kk * p.n;
        for (std::int64_t j = 0; j < p.n; ++j) row[j] += av * (brow[j] - zb[static_cast<std::size_t>(j)]);
      }
    }
  });
}

// Packs B at plan time. inputs[i] is the constant value of input i, or nullptr when it is computed.
inline std::shared_ptr<const void> prepare(const ops::matmul_integer&, const std::vector<const dynamic_tensor*>& inputs) {
  if (inputs.size() < 2 || !inputs[1]) return nullptr;
  const dynamic_tensor& b = *inputs[1];
  if (b.type() != dtype::s8 || b.rank() != 2 || b.numel() == 0) return nullptr;
  if (inputs.size() > 3 && inputs[3]) {
    for (std::int64_t i = 0; i < inputs[3]->numel(); ++i)
      if (inputs[3]->as_int(i) != 0) return nullptr;
  }
  const auto k = static_cast<std::size_t>(b.dim(0)), n = static_cast<std::size_t>(b.dim(1));
  return std::make_shared<const bigmodel::kernels::packed_weights>(
      bigmodel::kernels::pack_weights(b.span<std::int8_t>().data(), k, n, n, bigmodel::kernels::weight_layout::k_by_n));
}

inline void run(const ops::matmul_integer&, kernel_context& c) {
  const auto* packed = static_cast<const bigmodel::kernels::packed_weights*>(c.prepared);
  const auto& a = c.in(0);
  const bool a_ok = (a.type() == dtype::u8 || a.type() == dtype::s8) && a.rank() >= 1;
  const bool zp_ok = !c.has(2) || c.in(2).numel() == 1;
  if (!packed || !a_ok || !zp_ok || a.dim(a.rank() - 1) != static_cast<std::int64_t>(packed->k()) ||
      packed->target() != bigmodel::kernels::active_isa())
    return matmul_integer_reference(c);
  const auto p = plan_matmul(a.shape(), c.in(1).shape(), c);
  auto y = c.out(0, dtype::s32, p.out_shape).mutable_span<std::int32_t>();
  const auto rows = static_cast<std::size_t>(a.numel()) / packed->k();
  const auto zp = c.has(2) ? static_cast<std::int32_t>(c.in(2).as_int(0)) : 0;
  const auto ep = bigmodel::kernels::raw_s32(zp);
  if (a.type() == dtype::u8)
    bigmodel::kernels::gemm(rows, a.span<std::uint8_t>().data(), packed->k(), *packed, y.data(), packed->n(), ep, c.execution());
  else
    bigmodel::kernels::gemm(rows, a.span<std::int8_t>().data(), packed->k(), *packed, y.data(), packed->n(), ep, c.execution());
}

}  // namespace bigmodel::runtime::kernels
