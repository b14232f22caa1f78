#pragma once
// optimize(level): preset pipelines in the spirit of ONNX Runtime's graph optimization levels.
//   level::basic     semantics-preserving cleanups and folds that need no new op: constant folding,
//                    identity and dead-node elimination, common subexpressions, BatchNormalization into
//                    Conv/Gemm, MatMul + Add -> Gemm, Transpose of a constant weight -> Gemm transB.
//   level::extended  basic, then the fusions into bigmodel's fused ops: LayerNormalization, Gelu,
//                    Attention, activations into Gemm/MatMul/Conv, residual Add + LayerNormalization.
//   level::none      nothing.
// Constant folding evaluates nodes through the evaluator given (passes do not depend on the runtime):
//   g |= passes::optimize(passes::level::extended, runtime::kernel_evaluator{});
// without one only kernel-free folds run (see fuse/fold_constants.hpp). The pipeline is the same type at every
// level (passes above the level change nothing), so its report always lists every pass. Run it with
// {.fixed_point = true} to repeat until nothing changes.

#include "fuse/activation.hpp"
#include "fuse/attention.hpp"
#include "fuse/batchnorm.hpp"
#include "fuse/cse.hpp"
#include "fuse/dead_nodes.hpp"
#include "fuse/fold_constants.hpp"
#include "fuse/gelu.hpp"
#include "fuse/gemm.hpp"
#include "fuse/identity.hpp"
#include "fuse/layer_norm.hpp"

namespace bigmodel::passes {

enum class level { none = 0, basic = 1, extended = 2 };

namespace detail {
// Runs pass p when the preset's level reaches `min`.
template <class P>
auto at_level(level chosen, level min, P p) {
  std::string name = p.name();
  return make_pass(std::move(name), [chosen, min, p = std::move(p)]<class G>
    requires std::invocable<const P&, G&>
  (G& g) -> rewrite_result {
    if (static_cast<int>(chosen) < static_cast<int>(min)) return {};
    auto rep = p(g, {.collect_stats = false});
    return {rep.changes, std::move(rep.notes)};
  });
}
}  // namespace detail

template <class Evaluator = no_evaluator>
[[nodiscard]] auto optimize(level chosen, Evaluator evaluate = {}) {
  using detail::at_level;
  constexpr auto basic = level::basic, extended = level::extended;
  return at_level(chosen, basic, fold_constants(evaluate)) | at_level(chosen, basic, eliminate_identity()) |
         at_level(chosen, basic, eliminate_common_subexpressions()) | at_level(chosen, basic, fuse_matmul_add()) |
         at_level(chosen, basic, fold_transpose_into_gemm()) | at_level(chosen, basic, fold_batchnorm()) |
         at_level(chosen, extended, fuse_layer_norm()) | at_level(chosen, extended, fuse_gelu()) |
         at_level(chosen, extended, fuse_attention()) | at_level(chosen, extended, fuse_activation()) |
         at_level(chosen, extended, fuse_add_layer_norm()) | at_level(chosen, basic, eliminate_dead_nodes());
}

}  // namespace bigmodel::passes
