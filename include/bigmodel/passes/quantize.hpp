#pragma once
// Module header: quantization. Schemes and per-layer rules (scheme.hpp), weight quantization
// (weight_matrix.hpp), dynamic int8 (dynamic.hpp) and its fused fast path (dynamic_linear.hpp), weight-only
// int8/int4/fp16/bf16 (weight_only.hpp), static int8 with calibration observers (static.hpp,
// observers.hpp) and its int8 fast paths (static_linear.hpp, static_conv.hpp), the sensitivity report (sensitivity.hpp), parameter-level fake quantization for any
// model type (parameters.hpp), and the pass values (passes.hpp). The calibration-driven parts run the
// model, so they use the runtime.
//
//   g |= passes::quantize_dynamic();                                    // int8 per channel, MatMul/Gemm
//   g |= passes::quantize_weights<per_group<1, 32>, s4x2>();             // int4, groups of 32 along K
//   g |= passes::quantize_weights_as<f16>();                             // fp16 weights, f32 compute
//   auto rep = quant::quantize_static(g, calibration_batches, {.observer = {.kind = quant::observer_kind::entropy}});
#include "quantize/attention.hpp"
#include "quantize/dynamic.hpp"
#include "quantize/dynamic_linear.hpp"
#include "quantize/dynamic_linear_op.hpp"
#include "quantize/fast_paths.hpp"
#include "quantize/graph_layers.hpp"
#include "quantize/observers.hpp"
#include "quantize/opset.hpp"
#include "quantize/parameters.hpp"
#include "quantize/passes.hpp"
#include "quantize/scheme.hpp"
#include "quantize/sensitivity.hpp"
#include "quantize/static.hpp"
#include "quantize/static_conv.hpp"
#include "quantize/static_conv_op.hpp"
#include "quantize/static_linear.hpp"
#include "quantize/static_linear_op.hpp"
#include "quantize/tensors.hpp"
#include "quantize/weight_matrix.hpp"
#include "quantize/weight_only.hpp"
