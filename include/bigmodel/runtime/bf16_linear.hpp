#pragma once
// bf16-weight MatMul / Gemm on ::bigmodel::kernels::bf16_gemm (vdpbf16ps). The fp16 / bf16 weight pass
// (passes/quantize/weight_only.hpp, quantize_weights_as<bf16>()) writes standard ONNX: the f32 weight B of a
// MatMul / Gemm is Cast<f32>(W_bf16) with W_bf16 a constant. When a session is built on a CPU with AVX-512 BF16,
// every such Cast whose result only that MatMul / Gemm reads is matched here: the bf16 weights are packed once for
// the kernel and the Cast step is dropped, so B is never materialized in f32 and the products run in bf16 (A
// rounded to bf16, sums in f32 -- see kernels/bf16_gemm.hpp). Gemm is matched with transA = 0 and a bias C of
// N values (or none), alpha in the kernel's epilogue; MatMul with a 2-D B. A fused ReLU runs in the epilogue;
// any other fused activation keeps the node on the f32 path.
//
// Numerics: the f32 path computes with the same bf16 weights widened to f32 and A in f32; this one rounds A to
// bf16 too (relative 2^-9 per element), the usual contract of bf16 inference. Opt in with
// plan_options::bf16_dot_products = true (bigmodel-opt and bigmodel-serve do).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../graph/computation_graph.hpp"
#include "../kernels/bf16_gemm.hpp"
#include "kernel_context.hpp"
#include "weight_only_linear.hpp"

namespace bigmodel::runtime {

struct bf16_linear {
  std::size_t n = 0, k = 0;
  float alpha = 1.0f;
  std::vector<float> bias;  // [n] (empty: none)
  bool relu = false;
  ::bigmodel::kernels::packed_bf16_weights packed;

  void run(kernel_context& c) const {
    const auto [x, y, m] = detail::linear_io_of(c, k, n);
    ::bigmodel::kernels::bf16_gemm(m, x.data(), k, packed, y.data(), n,
                                   {.alpha = alpha, .bias = c.bias ? c.bias : bias.empty() ? nullptr : bias.data(), .relu = relu},
                                   c.execution());
  }
};

// If node `n` is a MatMul / Gemm whose B is Cast<f32>(constant bf16 matrix) read by it alone, returns the packed
// weights and appends the Cast node to `chain`. Returns null for any other pattern (never throws for one).
template <class OpSet>
std::shared_ptr<const bf16_linear> match_bf16_linear(const basic_computation_graph<OpSet>& g, node_id n,
                                                     std::vector<node_id>& chain) {
  if constexpr (!(OpSet::template contains<ops::matmul> && OpSet::template contains<ops::gemm> &&
                  OpSet::template contains<ops::cast>)) {
    return nullptr;
  } else {
    const auto ins = g.inputs(n);
    if (ins.size() < 2 || !ins[1].valid()) return nullptr;
    auto lin = std::make_shared<bf16_linear>();
    auto layout = ::bigmodel::kernels::weight_layout::k_by_n;
    ops::activation_kind act = ops::activation_kind::none;
    const dynamic_tensor* c_bias = nullptr;
    float beta = 1.0f;
    if (const auto* gm = g.template op_as<ops::gemm>(n)) {
      if (gm->trans_a) return nullptr;
      act = gm->act.kind;
      lin->alpha = gm->alpha;
      beta = gm->beta;
      if (gm->trans_b) layout = ::bigmodel::kernels::weight_layout::n_by_k;
      if (ins.size() > 2 && ins[2].valid()) {
        c_bias = g.constant_value(ins[2]);
        if (c_bias == nullptr || c_bias->type() != dtype::f32 || c_bias->rank() > 2) return nullptr;
      }
    } else if (const auto* mm = g.template op_as<ops::matmul>(n)) {
      act = mm->act.kind;
    } else {
      return nullptr;
    }
    if (act != ops::activation_kind::none && act != ops::activation_kind::relu) return nullptr;
    lin->relu = act == ops::activation_kind::relu;
    const node_id p = g.producer(ins[1]);
    if (!p.valid() || !detail::read_only_by(g, ins[1], n)) return nullptr;
    const auto* cast = g.template op_as<ops::cast>(p);
    if (cast == nullptr || cast->to != dtype::f32 || g.inputs(p).empty()) return nullptr;
    const dynamic_tensor* w = g.constant_value(g.inputs(p)[0]);
    if (w == nullptr || w->type() != dtype::bf16 || w->rank() != 2 || w->numel() == 0) return nullptr;
    const auto rows = static_cast<std::size_t>(w->dim(0)), cols = static_cast<std::size_t>(w->dim(1));
    const bool kn = layout == ::bigmodel::kernels::weight_layout::k_by_n;
    lin->k = kn ? rows : cols;
    lin->n = kn ? cols : rows;
    if (c_bias) {
      // [N] or [1, N]: one value per column ([N, 1] would broadcast along rows).
      if (c_bias->numel() != static_cast<std::int64_t>(lin->n) || (c_bias->rank() == 2 && c_bias->dim(0) != 1)) return nullptr;
      const auto cb = c_bias->span<float>();
      lin->bias.resize(lin->n);
      for (std::size_t j = 0; j < lin->n; ++j) lin->bias[j] = beta * cb[j];
    }
    lin->packed = ::bigmodel::kernels::pack_bf16_weights(w->span<bf16>().data(), lin->k, lin->n, cols, layout);
    chain.push_back(p);
    return lin;
  }
}

}  // namespace bigmodel::runtime
