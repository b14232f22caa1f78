#pragma once
// Quantized weights as tensors for a graph: the integer values in a storage order, their scales and zero
// points (int4 packed two per byte, element 2i in the low nibble, as ONNX stores int4).

#include <cstdint>
#include <vector>

#include "../../tensor/dynamic_tensor.hpp"
#include "weight_matrix.hpp"

namespace bigmodel::quant {

namespace detail {
inline void store_int(dynamic_tensor& t, std::size_t i, std::int32_t v) {
  auto* p = t.mutable_data();
  switch (t.type()) {
    case dtype::s8: reinterpret_cast<std::int8_t*>(p)[i] = static_cast<std::int8_t>(v); break;
    case dtype::u8: reinterpret_cast<std::uint8_t*>(p)[i] = static_cast<std::uint8_t>(v); break;
    case dtype::s4: {
      auto& b = reinterpret_cast<s4x2*>(p)[i / 2];
      b = (i % 2) ? s4x2::pack(b.lo(), v) : s4x2::pack(v, b.hi());
      break;
    }
    default: throw error("quant.dtype", "not an integer storage type", std::string(name(t.type())));
  }
}
}  // namespace detail

// The values in row-major [outputs, inputs] order reshaped to `shape`, or, when `inputs_first`, stored
// [inputs, outputs] (shape must then be {cols, rows}).
[[nodiscard]] inline dynamic_tensor values_tensor(const quantized_matrix& q, shape_t shape, bool inputs_first) {
  dynamic_tensor t(dtype_of_weight(q.scheme.type), std::move(shape));
  require(static_cast<std::size_t>(t.numel()) == q.rows * q.cols, "quant.shape", "storage shape does not hold the weight");
  for (std::size_t r = 0; r < q.rows; ++r)
    for (std::size_t c = 0; c < q.cols; ++c)
      detail::store_int(t, inputs_first ? c * q.rows + r : r * q.cols + c, q.values[r * q.cols + c]);
  return t;
}

// Scales (f32) and zero points (the values' type): a scalar per tensor, else one per parameter, 1-D.
[[nodiscard]] inline dynamic_tensor scales_tensor(const quantized_matrix& q) {
  std::vector<float> s;
  for (const auto& p : q.params) s.push_back(p.scale);
  if (q.scheme.granularity == granularity_kind::per_tensor) return dynamic_tensor::scalar(s[0]);
  return dynamic_tensor::from<float>({static_cast<std::int64_t>(s.size())}, s);
}
[[nodiscard]] inline dynamic_tensor zero_points_tensor(const quantized_matrix& q) {
  const bool scalar = q.scheme.granularity == granularity_kind::per_tensor;
  dynamic_tensor t(dtype_of_weight(q.scheme.type), scalar ? shape_t{} : shape_t{static_cast<std::int64_t>(q.params.size())});
  for (std::size_t i = 0; i < q.params.size(); ++i) detail::store_int(t, i, q.params[i].zero_point);
  return t;
}

// A half-precision copy of f32 values (Cast back to f32 restores them).
[[nodiscard]] inline dynamic_tensor half_tensor(const dynamic_tensor& w, weight_type t, std::string_view layer) {
  const auto src = w.span<float>();
  dynamic_tensor out(dtype_of_weight(t), w.shape());
  for (std::size_t i = 0; i < src.size(); ++i) {
    if (!std::isfinite(src[i])) throw error("quant.non_finite", "weight holds NaN or infinity at flat index " + std::to_string(i), std::string(layer));
    if (t == weight_type::f16) {
      const f16 h = to_f16(src[i]);
      if (!std::isfinite(to_float(h)))
        throw error("quant.fp16_overflow", "weight " + std::to_string(src[i]) + " exceeds the fp16 range (65504)", std::string(layer));
      out.mutable_span<f16>()[i] = h;
    } else {
      out.mutable_span<bf16>()[i] = to_bf16(src[i]);
    }
  }
  return out;
}

}  // namespace bigmodel::quant
