#pragma once
// The op structs. Each names its ONNX type and domain, holds its attributes as typed members (defaults are
// ONNX's), and reflects them through fields(). Ops are values: equality compares all attributes.
// Inputs are never attributes: they are graph values (ONNX opset >= 13 passes axes/splits as inputs; for
// older models the importer keeps the attribute form in the optional members).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attribute.hpp"

namespace bigmodel::ops {

using ints = std::vector<std::int64_t>;

// An activation fused into the op that precedes it (set by fusion passes, never by the importer).
enum class activation_kind : std::int8_t { none, relu, gelu, gelu_tanh, sigmoid, tanh, clip };
struct activation {
  activation_kind kind = activation_kind::none;
  float min = 0, max = 0;  // clip bounds
  friend bool operator==(const activation&, const activation&) = default;
};

#define BIGMODEL_OP_NAME(onnx_name, onnx_domain)             \
  static constexpr std::string_view onnx_type = onnx_name;   \
  static constexpr std::string_view domain = onnx_domain

// Ops without attributes.
#define BIGMODEL_PLAIN_OP(cpp_name, onnx_name)                                   \
  struct cpp_name {                                                              \
    BIGMODEL_OP_NAME(onnx_name, "");                                             \
    friend bool operator==(const cpp_name&, const cpp_name&) = default;          \
  }

BIGMODEL_PLAIN_OP(add, "Add");
BIGMODEL_PLAIN_OP(sub, "Sub");
BIGMODEL_PLAIN_OP(mul, "Mul");
BIGMODEL_PLAIN_OP(div, "Div");
BIGMODEL_PLAIN_OP(pow, "Pow");
BIGMODEL_PLAIN_OP(sqrt, "Sqrt");
BIGMODEL_PLAIN_OP(erf, "Erf");
BIGMODEL_PLAIN_OP(tanh, "Tanh");
BIGMODEL_PLAIN_OP(relu, "Relu");
BIGMODEL_PLAIN_OP(sigmoid, "Sigmoid");
BIGMODEL_PLAIN_OP(exp, "Exp");
BIGMODEL_PLAIN_OP(neg, "Neg");
BIGMODEL_PLAIN_OP(reciprocal, "Reciprocal");
BIGMODEL_PLAIN_OP(clip, "Clip");
BIGMODEL_PLAIN_OP(equal, "Equal");
BIGMODEL_PLAIN_OP(less, "Less");
BIGMODEL_PLAIN_OP(greater, "Greater");
BIGMODEL_PLAIN_OP(logical_not, "Not");
BIGMODEL_PLAIN_OP(where, "Where");
BIGMODEL_PLAIN_OP(expand, "Expand");
BIGMODEL_PLAIN_OP(identity, "Identity");
BIGMODEL_PLAIN_OP(slice, "Slice");
BIGMODEL_PLAIN_OP(range, "Range");
BIGMODEL_PLAIN_OP(global_average_pool, "GlobalAveragePool");
BIGMODEL_PLAIN_OP(matmul_integer, "MatMulInteger");
BIGMODEL_PLAIN_OP(dynamic_quantize_linear, "DynamicQuantizeLinear");
#undef BIGMODEL_PLAIN_OP

struct matmul {
  BIGMODEL_OP_NAME("MatMul", "");
  activation act{};  // fused
  friend bool operator==(const matmul&, const matmul&) = default;
};

struct gemm {
  BIGMODEL_OP_NAME("Gemm", "");
  float alpha = 1.0f, beta = 1.0f;
  bool trans_a = false, trans_b = false;
  activation act{};  // fused
  static constexpr auto fields() {
    return std::tuple{field{"alpha", &gemm::alpha}, field{"beta", &gemm::beta}, field{"transA", &gemm::trans_a},
                      field{"transB", &gemm::trans_b}};
  }
  friend bool operator==(const gemm&, const gemm&) = default;
};

struct conv {
  BIGMODEL_OP_NAME("Conv", "");
  std::string auto_pad = "NOTSET";
  ints dilations{}, kernel_shape{}, pads{}, strides{};
  std::int64_t group = 1;
  activation act{};  // fused
  static constexpr auto fields() {
    return std::tuple{field{"auto_pad", &conv::auto_pad}, field{"dilations", &conv::dilations},
                      field{"group", &conv::group}, field{"kernel_shape", &conv::kernel_shape},
                      field{"pads", &conv::pads}, field{"strides", &conv::strides}};
  }
  friend bool operator==(const conv&, const conv&) = default;
};

struct batch_norm {
  BIGMODEL_OP_NAME("BatchNormalization", "");
  float epsilon = 1e-5f, momentum = 0.9f;
  std::int64_t training_mode = 0;
  static constexpr auto fields() {
    return std::tuple{field{"epsilon", &batch_norm::epsilon}, field{"momentum", &batch_norm::momentum},
                      field{"training_mode", &batch_norm::training_mode}};
  }
  friend bool operator==(const batch_norm&, const batch_norm&) = default;
};

struct max_pool {
  BIGMODEL_OP_NAME("MaxPool", "");
  std::string auto_pad = "NOTSET";
  std::int64_t ceil_mode = 0, storage_order = 0;
  ints dilations{}, kernel_shape{}, pads{}, strides{};
  static constexpr auto fields() {
    return std::tuple{field{"auto_pad", &max_pool::auto_pad}, field{"ceil_mode", &max_pool::ceil_mode},
                      field{"dilations", &max_pool::dilations}, field{"kernel_shape", &max_pool::kernel_shape},
                      field{"pads", &max_pool::pads}, field{"storage_order", &max_pool::storage_order},
                      field{"strides", &max_pool::strides}};
  }
  friend bool operator==(const max_pool&, const max_pool&) = default;
};

struct average_pool {
  BIGMODEL_OP_NAME("AveragePool", "");
  std::string auto_pad = "NOTSET";
  std::int64_t ceil_mode = 0, count_include_pad = 0;
  ints dilations{}, kernel_shape{}, pads{}, strides{};
  static constexpr auto fields() {
    return std::tuple{field{"auto_pad", &average_pool::auto_pad}, field{"ceil_mode", &average_pool::ceil_mode},
                      field{"count_include_pad", &average_pool::count_include_pad},
                      field{"dilations", &average_pool::dilations}, field{"kernel_shape", &average_pool::kernel_shape},
                      field{"pads", &average_pool::pads}, field{"strides", &average_pool::strides}};
  }
  friend bool operator==(const average_pool&, const average_pool&) = default;
};

struct softmax {
  BIGMODEL_OP_NAME("Softmax", "");
  std::int64_t axis = -1;
  static constexpr auto fields() { return std::tuple{field{"axis", &softmax::axis, true}}; }
  friend bool operator==(const softmax&, const softmax&) = default;
};

struct layer_norm {
  BIGMODEL_OP_NAME("LayerNormalization", "");
  std::int64_t axis = -1;
  float epsilon = 1e-5f;
  std::int64_t stash_type = 1;
  static constexpr auto fields() {
    return std::tuple{field{"axis", &layer_norm::axis}, field{"epsilon", &layer_norm::epsilon},
                      field{"stash_type", &layer_norm::stash_type}};
  }
  friend bool operator==(const layer_norm&, const layer_norm&) = default;
};

struct flatten {
  BIGMODEL_OP_NAME("Flatten", "");
  std::int64_t axis = 1;
  static constexpr auto fields() { return std::tuple{field{"axis", &flatten::axis}}; }
  friend bool operator==(const flatten&, const flatten&) = default;
};

struct reshape {
  BIGMODEL_OP_NAME("Reshape", "");
  std::int64_t allowzero = 0;
  static constexpr auto fields() { return std::tuple{field{"allowzero", &reshape::allowzero}}; }
  friend bool operator==(const reshape&, const reshape&) = default;
};

struct transpose {
  BIGMODEL_OP_NAME("Transpose", "");
  std::optional<ints> perm{};  // absent: reverse the axes
  static constexpr auto fields() { return std::tuple{field{"perm", &transpose::perm}}; }
  friend bool operator==(const transpose&, const transpose&) = default;
};

struct shape {
  BIGMODEL_OP_NAME("Shape", "");
  std::int64_t start = 0;
  std::optional<std::int64_t> end{};
  static constexpr auto fields() { return std::tuple{field{"start", &shape::start}, field{"end", &shape::end}}; }
  friend bool operator==(const shape&, const shape&) = default;
};

struct gather {
  BIGMODEL_OP_NAME("Gather", "");
  std::int64_t axis = 0;
  static constexpr auto fields() { return std::tuple{field{"axis", &gather::axis}}; }
  friend bool operator==(const gather&, const gather&) = default;
};

struct concat {
  BIGMODEL_OP_NAME("Concat", "");
  std::int64_t axis = 0;
  static constexpr auto fields() { return std::tuple{field{"axis", &concat::axis, true}}; }
  friend bool operator==(const concat&, const concat&) = default;
};

// Opset >= 13 gives axes as an input; older models as the attribute kept here.
struct unsqueeze {
  BIGMODEL_OP_NAME("Unsqueeze", "");
  std::optional<ints> axes{};
  static constexpr auto fields() { return std::tuple{field{"axes", &unsqueeze::axes}}; }
  friend bool operator==(const unsqueeze&, const unsqueeze&) = default;
};

struct squeeze {
  BIGMODEL_OP_NAME("Squeeze", "");
  std::optional<ints> axes{};
  static constexpr auto fields() { return std::tuple{field{"axes", &squeeze::axes}}; }
  friend bool operator==(const squeeze&, const squeeze&) = default;
};

struct split {
  BIGMODEL_OP_NAME("Split", "");
  std::int64_t axis = 0;
  std::optional<ints> split_sizes{};  // opset < 13 attribute "split"
  std::optional<std::int64_t> num_outputs{};  // opset 18
  static constexpr auto fields() {
    return std::tuple{field{"axis", &split::axis}, field{"split", &split::split_sizes},
                      field{"num_outputs", &split::num_outputs}};
  }
  friend bool operator==(const split&, const split&) = default;
};

struct cast {
  BIGMODEL_OP_NAME("Cast", "");
  dtype to = dtype::f32;
  static constexpr auto fields() { return std::tuple{field{"to", &cast::to, true}}; }
  friend bool operator==(const cast&, const cast&) = default;
};

// Constant: the importer turns value_float(s)/value_int(s) into `value`.
struct constant {
  BIGMODEL_OP_NAME("Constant", "");
  dynamic_tensor value{};
  static constexpr auto fields() { return std::tuple{field{"value", &constant::value}}; }
  friend bool operator==(const constant&, const constant&) = default;
};

struct constant_of_shape {
  BIGMODEL_OP_NAME("ConstantOfShape", "");
  std::optional<dynamic_tensor> value{};  // absent: f32 zero
  static constexpr auto fields() { return std::tuple{field{"value", &constant_of_shape::value}}; }
  friend bool operator==(const constant_of_shape&, const constant_of_shape&) = default;
};

struct dropout {
  BIGMODEL_OP_NAME("Dropout", "");
  std::optional<std::int64_t> seed{};
  static constexpr auto fields() { return std::tuple{field{"seed", &dropout::seed}}; }
  friend bool operator==(const dropout&, const dropout&) = default;
};

struct reduce_mean {
  BIGMODEL_OP_NAME("ReduceMean", "");
  std::optional<ints> axes{};  // attribute up to opset 17
  std::int64_t keepdims = 1;
  std::int64_t noop_with_empty_axes = 0;
  static constexpr auto fields() {
    return std::tuple{field{"axes", &reduce_mean::axes}, field{"keepdims", &reduce_mean::keepdims},
                      field{"noop_with_empty_axes", &reduce_mean::noop_with_empty_axes}};
  }
  friend bool operator==(const reduce_mean&, const reduce_mean&) = default;
};

struct reduce_sum {  // axes is an input from opset 13
  BIGMODEL_OP_NAME("ReduceSum", "");
  std::optional<ints> axes{};
  std::int64_t keepdims = 1;
  std::int64_t noop_with_empty_axes = 0;
  static constexpr auto fields() {
    return std::tuple{field{"axes", &reduce_sum::axes}, field{"keepdims", &reduce_sum::keepdims},
                      field{"noop_with_empty_axes", &reduce_sum::noop_with_empty_axes}};
  }
  friend bool operator==(const reduce_sum&, const reduce_sum&) = default;
};

struct quantize_linear {
  BIGMODEL_OP_NAME("QuantizeLinear", "");
  std::int64_t axis = 1;
  static constexpr auto fields() { return std::tuple{field{"axis", &quantize_linear::axis}}; }
  friend bool operator==(const quantize_linear&, const quantize_linear&) = default;
};

struct dequantize_linear {
  BIGMODEL_OP_NAME("DequantizeLinear", "");
  std::int64_t axis = 1;
  static constexpr auto fields() { return std::tuple{field{"axis", &dequantize_linear::axis}}; }
  friend bool operator==(const dequantize_linear&, const dequantize_linear&) = default;
};

// ---- Fused ops (produced by passes; exported in the com.bigmodel domain or decomposed) ----

// GELU: x * 0.5 * (1 + erf(x / sqrt 2)), or the tanh approximation.
struct gelu {
  BIGMODEL_OP_NAME("Gelu", "com.bigmodel");
  std::string approximate = "none";  // "none" | "tanh" (ONNX opset 20 spelling)
  static constexpr auto fields() { return std::tuple{field{"approximate", &gelu::approximate}}; }
  friend bool operator==(const gelu&, const gelu&) = default;
};

// Scaled dot-product attention on already split heads: inputs q [..., T, D], k [..., S, D] (or [..., D, S]
// when k_transposed), v [..., S, Dv], optional additive mask broadcastable to [..., T, S]; output [..., T, Dv].
// layout 1 (sequence before heads, rank 4, k_transposed 0): q [B, T, H, D], k [B, S, H, D], v [B, S, H, Dv],
// output [B, T, H, Dv] -- the projections' own layout, so no head transposes are needed around the op; the
// mask still broadcasts to [B, H, T, S].
struct attention {
  BIGMODEL_OP_NAME("Attention", "com.bigmodel");
  float scale = 0.0f;  // 0: 1/sqrt(D)
  std::int64_t causal = 0;
  std::int64_t k_transposed = 0;
  std::int64_t layout = 0;  // 0: [..., H, T, D]; 1: [B, T, H, D]
  // 1: q·kᵀ and p·v as int8 products (quant::quantize_attention sets it on int8 graphs): q and the softmax's
  // weights quantized per row to u8, k per key and v per channel to symmetric s8 (runtime/kernels/attention.hpp).
  std::int64_t int8 = 0;
  static constexpr auto fields() {
    return std::tuple{field{"scale", &attention::scale}, field{"causal", &attention::causal},
                      field{"k_transposed", &attention::k_transposed}, field{"layout", &attention::layout},
                      field{"int8", &attention::int8}};
  }
  friend bool operator==(const attention&, const attention&) = default;
};

// Residual add + LayerNormalization in one pass over the rows (what fuse_add_layer_norm makes of
// Add(a, b) -> LayerNormalization): inputs a, b (same shape), scale, optional bias; outputs y = LN(a + b) and,
// optionally, the sum a + b itself (pre-LN blocks read it again as their next residual).
struct add_layer_norm {
  BIGMODEL_OP_NAME("AddLayerNormalization", "com.bigmodel");
  std::int64_t axis = -1;
  float epsilon = 1e-5f;
  static constexpr auto fields() {
    return std::tuple{field{"axis", &add_layer_norm::axis}, field{"epsilon", &add_layer_norm::epsilon}};
  }
  friend bool operator==(const add_layer_norm&, const add_layer_norm&) = default;
};

// ---- Anything the importer does not know: kept verbatim ----
struct opaque {
  std::string domain{};
  std::string type{};
  std::vector<attribute> attributes{};
  friend bool operator==(const opaque&, const opaque&) = default;
};

#undef BIGMODEL_OP_NAME

}  // namespace bigmodel::ops
