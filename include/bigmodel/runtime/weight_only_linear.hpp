#pragma once
// Weight-only quantized MatMul / Gemm on ::bigmodel::kernels::linear_weight_only. The weight-only pass
// (passes/quantize/weight_only.hpp) writes standard ONNX: the f32 weight B of a MatMul / Gemm comes from
//   per tensor / per channel:  DequantizeLinear(W_q, scale, zp, axis = the output axis)
//   per group of G:            [Transpose(1, 0)] Reshape(DequantizeLinear(W_q [N*K/G, G], scale [N*K/G], zp, axis 0), [N, K])
// with constant W_q (s8, u8, s4, u4), scale (f32) and zero point. When a session is built, every such chain
// whose intermediate values nobody else reads is matched here: the weights are packed once for the kernel and
// the chain's steps are dropped, so B is never materialized in f32. Gemm is matched with alpha = 1, transA = 0,
// no fused activation but ReLU (applied after the kernel; MatMul likewise) and a bias C of N values (or none);
// anything else runs as before (DequantizeLinear + f32).
//
// The kernel runs in its precise mode (x as two s8 digits, ~2^-16 of max|x| per element, see
// kernels/weight_only.hpp), so outputs stay within a few 1e-5 (relative) of dequantizing to f32.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "../graph/computation_graph.hpp"
#include "../kernels/weight_only.hpp"
#include "kernel_context.hpp"

namespace bigmodel::runtime {

namespace detail {

// A linear step's f32 input [..., K] (checked), its output [..., N] and M = the product of the leading dims.
struct linear_io {
  std::span<const float> x;
  std::span<float> y;
  std::size_t m;
};
inline linear_io linear_io_of(kernel_context& c, std::size_t k, std::size_t n) {
  const auto& a = c.in(0);
  const auto x = c.f32(0);
  c.check(a.rank() >= 1 && static_cast<std::size_t>(a.dim(a.rank() - 1)) == k, "activation width does not match the weights' K");
  shape_t os = a.shape();
  os.back() = static_cast<std::int64_t>(n);
  return {x, c.out(0, dtype::f32, os).mutable_span<float>(), x.size() / k};
}

}  // namespace detail

// What a matched MatMul / Gemm step runs with: the weights in the caller's layout (N x K codes, kept to repack
// when the active ISA changes after the session was built) and packed for the ISA active at load.
struct weight_only_linear {
  ::bigmodel::kernels::weight_only_type type{};
  std::size_t n = 0, k = 0, group = 0;
  std::vector<std::uint8_t> values, zero_points;  // [n][row bytes], [n][k / group] (empty: none)
  std::vector<float> scales, bias;                // [n][k / group], [n] (empty: none)
  bool relu = false;                              // the node's fused ReLU
  ::bigmodel::kernels::packed_weight_only packed;

  [[nodiscard]] ::bigmodel::kernels::weight_only_matrix matrix() const {
    return {type, n, k, group, values.data(), 0, scales.data(), zero_points.empty() ? nullptr : zero_points.data()};
  }

  void run(kernel_context& c) const {
    const auto [x, y, m] = detail::linear_io_of(c, k, n);
    const float* b = c.bias ? c.bias : bias.empty() ? nullptr : bias.data();  // c.bias: a MatMul's absorbed Add
    const ::bigmodel::kernels::weight_only_options opt{.precise = true, .exec = c.execution()};
    if (packed.target() == ::bigmodel::kernels::active_isa()) {
      ::bigmodel::kernels::linear_weight_only(m, x.data(), k, packed, b, y.data(), n, opt);
    } else {  // the ISA was forced to another one after the session was built
      const auto repacked = ::bigmodel::kernels::pack_weight_only(matrix());
      ::bigmodel::kernels::linear_weight_only(m, x.data(), k, repacked, b, y.data(), n, opt);
    }
    if (relu)
      for (float& v : y) v = v > 0.0f ? v : 0.0f;
  }
};

namespace detail {

[[nodiscard]] inline std::optional<::bigmodel::kernels::weight_only_type> weight_only_type_of(dtype t) {
  switch (t) {
    case dtype::s8: return ::bigmodel::kernels::weight_only_type::s8;
    case dtype::u8: return ::bigmodel::kernels::weight_only_type::u8;
    case dtype::s4: return ::bigmodel::kernels::weight_only_type::s4;
    case dtype::u4: return ::bigmodel::kernels::weight_only_type::u4;
    default: return std::nullopt;
  }
}

// The value's only reader is `n` and it is not a graph output.
template <class OpSet>
bool read_only_by(const basic_computation_graph<OpSet>& g, value_id v, node_id n) {
  const auto users = g.consumers_of(v);
  return !g.at(v).is_output && users.size() == 1 && users[0] == n;
}

}  // namespace detail

// If node `n` is a MatMul / Gemm whose B is a weight-only chain (see above), returns the packed weights and
// appends the chain's nodes to `chain`. Never throws for a pattern it cannot take: it returns null instead.
template <class OpSet>
std::shared_ptr<const weight_only_linear> match_weight_only_linear(const basic_computation_graph<OpSet>& g, node_id n,
                                                                   std::vector<node_id>& chain) {
  if constexpr (!(OpSet::template contains<ops::matmul> && OpSet::template contains<ops::gemm> &&
                  OpSet::template contains<ops::dequantize_linear> && OpSet::template contains<ops::reshape> &&
                  OpSet::template contains<ops::transpose>)) {
    return nullptr;
  } else {
    bool b_is_kn = true;  // B is [K, N] (MatMul, Gemm transB = 0), else [N, K]
    const dynamic_tensor* c_bias = nullptr;
    float beta = 1.0f;
    const auto ins = g.inputs(n);
    if (ins.size() < 2 || !ins[1].valid()) return nullptr;
    // A fused activation: ReLU is applied after the kernel; any other keeps the node on the f32 path.
    ops::activation_kind act = ops::activation_kind::none;
    if (const auto* gm = g.template op_as<ops::gemm>(n)) act = gm->act.kind;
    if (const auto* mm = g.template op_as<ops::matmul>(n)) act = mm->act.kind;
    if (act != ops::activation_kind::none && act != ops::activation_kind::relu) return nullptr;
    if (const auto* gm = g.template op_as<ops::gemm>(n)) {
      if (gm->trans_a || gm->alpha != 1.0f) return nullptr;
      b_is_kn = !gm->trans_b;
      beta = gm->beta;
      if (ins.size() > 2 && ins[2].valid()) {
        c_bias = g.constant_value(ins[2]);
        if (c_bias == nullptr || c_bias->type() != dtype::f32) return nullptr;
      }
    } else if (!g.template op_as<ops::matmul>(n)) {
      return nullptr;
    }
    // Walk back from B: [Transpose] [Reshape] DequantizeLinear.
    std::vector<node_id> found;
    value_id v = ins[1];
    node_id p = g.producer(v), consumer = n;
    bool transposed = false, reshaped = false;
    auto step_back = [&] {
      if (!detail::read_only_by(g, v, consumer)) return false;
      found.push_back(p);
      consumer = p;
      v = g.inputs(p)[0];
      p = g.producer(v);
      return p.valid();
    };
    if (!p.valid()) return nullptr;
    if (const auto* t = g.template op_as<ops::transpose>(p)) {
      if (t->perm && *t->perm != ops::ints{1, 0}) return nullptr;
      if (!step_back()) return nullptr;
      transposed = true;
    }
    std::vector<std::int64_t> target_shape;
    if (g.template op_as<ops::reshape>(p)) {
      const auto* shape = g.constant_value(g.inputs(p).size() > 1 ? g.inputs(p)[1] : value_id{});
      if (shape == nullptr) return nullptr;
      target_shape = shape->to_ints();
      if (!step_back()) return nullptr;
      reshaped = true;
    }
    const auto* dq = g.template op_as<ops::dequantize_linear>(p);
    if (dq == nullptr || !detail::read_only_by(g, v, consumer)) return nullptr;
    const auto dq_in = g.inputs(p);
    const dynamic_tensor* wq = g.constant_value(dq_in[0]);
    const dynamic_tensor* sc = dq_in.size() > 1 ? g.constant_value(dq_in[1]) : nullptr;
    const dynamic_tensor* zp = dq_in.size() > 2 && dq_in[2].valid() ? g.constant_value(dq_in[2]) : nullptr;
    if (wq == nullptr || sc == nullptr || sc->type() != dtype::f32 || wq->rank() != 2) return nullptr;
    if (dq_in.size() > 2 && dq_in[2].valid() && (zp == nullptr || zp->type() != wq->type())) return nullptr;
    const auto type = detail::weight_only_type_of(wq->type());
    if (!type) return nullptr;
    found.push_back(p);

    auto lin = std::make_shared<weight_only_linear>();
    lin->relu = act == ops::activation_kind::relu;
    lin->type = *type;
    // idx(r, c): element of W_q holding W[n = r][k = c]; sidx(r, g): its scale / zero point.
    std::size_t groups = 1;
    const auto rows = wq->dim(0), cols = wq->dim(1);
    const auto axis = dq->axis < 0 ? dq->axis + 2 : dq->axis;
    std::function<std::int64_t(std::size_t, std::size_t)> idx, sidx;
    if (!reshaped) {
      if (transposed) return nullptr;  // not a form the pass writes
      lin->n = static_cast<std::size_t>(b_is_kn ? cols : rows);
      lin->k = static_cast<std::size_t>(b_is_kn ? rows : cols);
      const std::int64_t out_axis = b_is_kn ? 1 : 0;
      const bool per_tensor = sc->numel() == 1;
      if (!per_tensor && (axis != out_axis || sc->numel() != static_cast<std::int64_t>(lin->n))) return nullptr;
      if (zp && zp->numel() != sc->numel()) return nullptr;
      const auto nn = static_cast<std::int64_t>(lin->n), kk = static_cast<std::int64_t>(lin->k);
      idx = [=](std::size_t r, std::size_t c) { return b_is_kn ? static_cast<std::int64_t>(c) * nn + static_cast<std::int64_t>(r) : static_cast<std::int64_t>(r) * kk + static_cast<std::int64_t>(c); };
      sidx = [=](std::size_t r, std::size_t) { return per_tensor ? std::int64_t{0} : static_cast<std::int64_t>(r); };
    } else {
      // Grouped: W_q [N*K/G, G] is W [N, K] in rows of one group; Reshape to [N, K], Transpose back for [K, N].
      if (transposed != b_is_kn || target_shape.size() != 2 || target_shape[0] <= 0 || target_shape[1] <= 0) return nullptr;
      if (axis != 0 || sc->numel() != rows || (zp && zp->numel() != rows)) return nullptr;
      if (target_shape[0] * target_shape[1] != rows * cols || target_shape[1] % cols != 0) return nullptr;
      lin->n = static_cast<std::size_t>(target_shape[0]);
      lin->k = static_cast<std::size_t>(target_shape[1]);
      lin->group = static_cast<std::size_t>(cols);
      groups = lin->k / lin->group;
      const auto kk = static_cast<std::int64_t>(lin->k), gs = cols;
      idx = [=](std::size_t r, std::size_t c) { return static_cast<std::int64_t>(r) * kk + static_cast<std::int64_t>(c); };
      sidx = [=](std::size_t r, std::size_t c) { return (static_cast<std::int64_t>(r) * kk + static_cast<std::int64_t>(c)) / gs; };
    }
    const std::size_t nn = lin->n, kk = lin->k, gsize = lin->group == 0 ? kk : lin->group;
    if (c_bias) {
      if (c_bias->numel() != static_cast<std::int64_t>(nn) || c_bias->rank() > 2) return nullptr;
      const auto cb = c_bias->span<float>();
      lin->bias.resize(nn);
      for (std::size_t j = 0; j < nn; ++j) lin->bias[j] = beta * cb[j];
    }
    const bool int4 = *type == ::bigmodel::kernels::weight_only_type::s4 || *type == ::bigmodel::kernels::weight_only_type::u4;
    const std::size_t row_bytes = int4 ? (kk + 1) / 2 : kk;
    lin->values.assign(nn * row_bytes, 0);
    for (std::size_t r = 0; r < nn; ++r)
      for (std::size_t c = 0; c < kk; ++c) {
        const auto q = static_cast<std::uint8_t>(wq->as_int(idx(r, c)));
        if (!int4) lin->values[r * row_bytes + c] = q;
        else lin->values[r * row_bytes + c / 2] |= static_cast<std::uint8_t>(c % 2 == 0 ? (q & 0x0F) : (q & 0x0F) << 4);
      }
    const auto scales = sc->span<float>();
    lin->scales.resize(nn * groups);
    if (zp) lin->zero_points.resize(nn * groups);
    for (std::size_t r = 0; r < nn; ++r)
      for (std::size_t gi = 0; gi < groups; ++gi) {
        const auto s = sidx(r, gi * gsize);
        lin->scales[r * groups + gi] = scales[static_cast<std::size_t>(s)];
        if (zp) lin->zero_points[r * groups + gi] = static_cast<std::uint8_t>(zp->as_int(s));
      }
    try {
      lin->packed = ::bigmodel::kernels::pack_weight_only(lin->matrix());
    } catch (const error&) {  // e.g. a non-finite scale: leave the node to the f32 path, which reports it as it did
      return nullptr;
    }
    chain.insert(chain.end(), found.begin(), found.end());
    return lin;
  }
}

}  // namespace bigmodel::runtime
