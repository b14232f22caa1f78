#pragma once
// The bias Add after a MatMul, run in the MatMul's GEMM epilogue.
//
// PyTorch exports nn.Linear on a 3-D activation as MatMul(x, W) followed by Add(·, b): the graph optimizer's
// MatMul + Add -> Gemm fusion only applies to 2-D products, so the Add stays a separate pass over the whole
// output (1024 x 3072 floats in a BERT FFN: ~0.85 ms of a 70 ms layer). When a plan is built, a MatMul
//   - without a fused activation (the bias comes before it),
//   - whose B is a constant 2-D matrix with N columns (f32, or the weights of a weight-only / bf16 step),
//   - whose output only one Add reads (and is not a graph output),
//   - where that Add's other input is a constant f32 of N values, one per column ([N], or [1, ..., 1, N] no
//     longer than the MatMul's output when the graph knows its rank),
// takes the Add's output as its own and passes the bias to its GEMM (kernel_context::bias); the Add does not run.
// The epilogue adds the bias to each finished sum, rounded once -- exactly what the Add computed, so outputs are
// the same bit for bit, with one pass over the output less.
// When the caller's step can apply it (the f32 MatMul: sgemm_epilogue::rows), a Gelu that alone reads the Add's
// output (not a graph output) goes the same way: the step writes the Gelu's output and applies the same vmath
// GELU to each finished piece of a row while it is in cache (kernel_context::bias_act) -- again the same bits.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "../graph/computation_graph.hpp"
#include "../graph/ops.hpp"

namespace bigmodel::runtime {

struct absorbed_bias {
  node_id add;                              // the Add that no longer runs
  value_id output;                          // its output (or the Gelu's): the MatMul step writes it
  std::shared_ptr<const std::vector<float>> values;  // [N]
  std::optional<node_id> gelu;              // the Gelu after the Add that no longer runs either, if any
  ops::activation_kind act = ops::activation_kind::none;  // gelu / gelu_tanh with a Gelu
};

// `n_cols`: N of the MatMul's B when the caller knows it (a weight-only or bf16 step), else 0 (then B must be a
// constant 2-D f32). `with_gelu`: the caller's step applies a GELU after the bias (see above). Returns nullopt for
// any other pattern (never throws for one).
template <class OpSet>
std::optional<absorbed_bias> match_bias_add(const basic_computation_graph<OpSet>& g, node_id n, std::size_t n_cols = 0,
                                            bool with_gelu = false) {
  if constexpr (!(OpSet::template contains<ops::matmul> && OpSet::template contains<ops::add>)) {
    return std::nullopt;
  } else {
    const auto* mm = g.template op_as<ops::matmul>(n);
    if (mm == nullptr || mm->act.kind != ops::activation_kind::none) return std::nullopt;
    const auto ins = g.inputs(n);
    const auto outs = g.outputs(n);
    if (ins.size() != 2 || !ins[1].valid() || outs.size() != 1 || !outs[0].valid()) return std::nullopt;
    if (n_cols == 0) {
      const dynamic_tensor* b = g.constant_value(ins[1]);
      if (b == nullptr || b->type() != dtype::f32 || b->rank() != 2 || b->numel() == 0) return std::nullopt;
      n_cols = static_cast<std::size_t>(b->dim(1));
    }
    const value_id y = outs[0];
    const auto users = g.consumers_of(y);  // (detail::read_only_by's test, but the reader is not known yet)
    if (g.at(y).is_output || users.size() != 1 || g.template op_as<ops::add>(users[0]) == nullptr) return std::nullopt;
    const node_id a = users[0];
    const auto add_ins = g.inputs(a);
    const auto add_outs = g.outputs(a);
    if (add_ins.size() != 2 || add_outs.size() != 1 || !add_outs[0].valid() || !add_ins[0].valid() || !add_ins[1].valid())
      return std::nullopt;
    if ((add_ins[0] == y) == (add_ins[1] == y)) return std::nullopt;  // y must be exactly one of the two
    const dynamic_tensor* bias = g.constant_value(add_ins[0] == y ? add_ins[1] : add_ins[0]);
    if (bias == nullptr || bias->type() != dtype::f32 || bias->rank() == 0 || bias->numel() != static_cast<std::int64_t>(n_cols))
      return std::nullopt;
    for (std::size_t d = 0; d + 1 < bias->rank(); ++d)
      if (bias->dim(d) != 1) return std::nullopt;
    if (bias->rank() > 1) {  // [1, ..., N] must not raise the output's rank
      const auto& shape = g.at(y).shape;
      if (!shape || shape->size() < bias->rank()) return std::nullopt;
    }
    const auto v = bias->span<float>();
    absorbed_bias r{a, add_outs[0], std::make_shared<const std::vector<float>>(v.begin(), v.end()), std::nullopt,
                    ops::activation_kind::none};
    if constexpr (OpSet::template contains<ops::gelu>) {
      const auto readers = g.consumers_of(add_outs[0]);
      if (with_gelu && !g.at(add_outs[0]).is_output && readers.size() == 1) {
        const auto* ge = g.template op_as<ops::gelu>(readers[0]);
        const auto ge_ins = g.inputs(readers[0]);
        const auto ge_outs = g.outputs(readers[0]);
        if (ge != nullptr && ge_ins.size() == 1 && ge_outs.size() == 1 && ge_outs[0].valid()) {
          r.gelu = readers[0];
          r.output = ge_outs[0];
          // The same choice as the Gelu kernel (runtime/kernels/gelu.hpp): "tanh", else the erf form.
          r.act = ge->approximate == "tanh" ? ops::activation_kind::gelu_tanh : ops::activation_kind::gelu;
        }
      }
    }
    return r;
  }
}

}  // namespace bigmodel::runtime
