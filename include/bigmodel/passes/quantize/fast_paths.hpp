#pragma once
// Before running a quantized model: turn the standard ONNX patterns the runtime has fused kernels for into
// those ops (DynamicLinear for dynamic int8, StaticLinear and StaticConv for QDQ static int8). The saved file stays
// standard ONNX; this is the in-memory form a session runs. Weight-only int8/int4 needs no rewrite: build the
// session with runtime::plan_options{.weight_only_kernel = true}.
//
//   auto g = io::load_onnx<quant::quant_op_set>("model.int8.onnx");
//   quant::use_fast_paths(g);
//   basic_session<quant::quant_op_set> s(g, {.weight_only_kernel = true});

#include <cstddef>

#include "dynamic_linear.hpp"
#include "static_conv.hpp"
#include "static_linear.hpp"

namespace bigmodel::quant {

struct fast_path_counts {
  std::size_t dynamic_linear = 0, static_linear = 0, static_conv = 0;
};

template <class OpSet>
  requires(OpSet::template contains<ops::dynamic_linear> && OpSet::template contains<ops::static_linear> &&
           OpSet::template contains<ops::static_conv>)
fast_path_counts use_fast_paths(basic_computation_graph<OpSet>& g) {
  fast_path_counts c;
  c.dynamic_linear = fuse_dynamic_linear(g);  // per tensor: exactly the standard graph's arithmetic
  c.static_linear = fuse_static_linear(g);
  c.static_conv = fuse_static_conv(g);
  return c;
}

}  // namespace bigmodel::quant
