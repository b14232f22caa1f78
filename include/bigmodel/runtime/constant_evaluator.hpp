#pragma once
// runtime::kernel_evaluator: evaluates one node on constant inputs with the runtime's kernels -- the
// evaluator passes::fold_constants takes (passes do not depend on the runtime; the runtime lends its
// kernels). A folded node computes exactly what a session would.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "session.hpp"

namespace bigmodel::runtime {

struct kernel_evaluator {
  template <class... Ops>
  std::optional<std::vector<dynamic_tensor>> operator()(const std::variant<Ops...>& op,
                                                        const std::vector<const dynamic_tensor*>& inputs,
                                                        std::size_t output_count, const std::string& where) const {
    std::vector<dynamic_tensor> out(output_count);
    kernel_context ctx;
    ctx.inputs = inputs;
    for (auto& o : out) ctx.outputs.push_back(&o);
    ctx.where = &where;
    const bool ran = std::visit([&](const auto& o) {
      using Op = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<Op, ops::opaque>) return false;
      else if constexpr (has_member_kernel<Op>) return o.run(ctx), true;
      else if constexpr (has_adl_kernel<Op>) return run_op(o, ctx), true;
      else if constexpr (has_builtin_kernel<Op>) return kernels::run(o, ctx), true;
      else return false;
    }, op);
    if (!ran) return std::nullopt;
    return out;
  }
};

}  // namespace bigmodel::runtime
