#pragma once
// fuse_matmul_add: MatMul(A, B) + bias -> Gemm(A, B, bias) when A and B are 2-D and the bias broadcasts
// over the [M, N] product without growing it ([N], [1, N], [M, N] or a scalar).
// fold_transpose_into_gemm: Gemm reading Transpose(W) (a 2-D swap) reads W with transB (or transA) flipped.
// Leave alone: MatMul of rank != 2 operands, a MatMul whose output has other readers, a bias that
// broadcasts the result, a fused activation already on the MatMul.

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

struct gemm_config {
  bool constant_bias_only = false;  // also fuse when the bias is computed (Gemm's C may be any tensor)
};

namespace detail {

template <class OpSet>
[[nodiscard]] bool bias_fits(const basic_computation_graph<OpSet>& g, value_id bias, value_id product) {
  const auto& bs = g.at(bias).shape;
  const auto& ps = g.at(product).shape;
  const auto* bc = constant_of(g, bias);
  const std::optional<symbolic_shape> b = bc ? std::optional<symbolic_shape>(to_symbolic(bc->shape())) : bs;
  if (!b || !ps || ps->size() != 2 || b->size() > 2) return false;
  for (std::size_t i = 0; i < b->size(); ++i) {
    const dim& d = (*b)[i];
    const dim& p = (*ps)[ps->size() - b->size() + i];
    if (d.known() && d.value == 1) continue;
    if (!(d == p) || (!d.known() && d.symbol.empty())) return false;
  }
  return true;
}

struct fuse_matmul_add_impl {
  static constexpr std::string_view name = "fuse_matmul_add";
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const gemm_config& cfg) {
    infer_shapes(g);
    rewrite_result r;
    r.changes = match<ops::matmul, ops::add>(g, [&](const chain_match<2>& m) {
      const auto mm = m.nodes[0], add = m.nodes[1];
      if (g.template op_as<ops::matmul>(mm)->act.kind != ops::activation_kind::none) return false;
      const value_id a = g.inputs(mm)[0], b = g.inputs(mm)[1], prod = g.outputs(mm)[0];
      const value_id bias = other_input(g, add, m.slots[1]);
      if (rank_of(g, a) != std::optional<std::size_t>(2) || rank_of(g, b) != std::optional<std::size_t>(2)) return false;
      if (cfg.constant_bias_only && !constant_of(g, bias)) return false;
      if (!bias_fits(g, bias, prod)) {
        r.notes.push_back(g.describe(add) + ": bias does not broadcast over the MatMul result, not fused");
        return false;
      }
      const std::array<node_id, 2> old{mm, add};
      replace_subgraph(g, old, ops::gemm{}, {a, b, bias}, {g.outputs(add)[0]});
      return true;
    });
    return r;
  }
};

struct fold_transpose_into_gemm_impl {
  static constexpr std::string_view name = "fold_transpose_into_gemm";
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const no_config&) {
    rewrite_result r;
    for (auto n : g.nodes()) {
      auto* op = g.template op_as<ops::gemm>(n);
      if (!op) continue;
      for (std::uint32_t slot = 0; slot < 2; ++slot) {
        const node_id t = producer_op<ops::transpose>(g, g.inputs(n)[slot]);
        if (!t.valid()) continue;
        const auto& perm = g.template op_as<ops::transpose>(t)->perm;
        const value_id src = g.inputs(t)[0];
        const bool swap2d = perm ? (*perm == ops::ints{1, 0}) : rank_of(g, src) == std::optional<std::size_t>(2);
        if (!swap2d || !constant_of(g, src)) continue;  // only constant weights: no runtime transpose to gain
        g.set_input(n, slot, src);
        bool& flag = slot == 0 ? op->trans_a : op->trans_b;
        flag = !flag;
        ++r.changes;
      }
    }
    remove_dead_nodes(g);
    return r;
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::fuse_matmul_add_impl, gemm_config> fuse_matmul_add{};
inline constexpr pass_fn<detail::fold_transpose_into_gemm_impl> fold_transpose_into_gemm{};

}  // namespace bigmodel::passes
