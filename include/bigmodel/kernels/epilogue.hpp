#pragma once
// The fused epilogue as a pure description (DESIGN.md section 4): what happens to the s32 accumulator
// acc[m][n] = sum_k A[m][k] * B[k][n] before it is stored. Kernels evaluate it; it holds no code.
//
//   corrected = acc - zp_m * colsum(B)[n]                      (zp_m: a_zero_point, or a_row_zero_point[m])
//   s32 output:  C = corrected                                  (wraps modulo 2^32, like the accumulator)
//   f32 output:  v = float(corrected) * (a_scale_m * w_scale[n])  (w_scale[0] when per-tensor)
//                v = v + bias[n]                                (if bias)
//                C = act(v)                                     (none, relu, gelu (erf form), gelu_tanh)
//   u8/s8 output: C = clamp(nearbyint(act(v) * (1 / out_scale)) + out_zero_point, type range)
//
// Build one with the helpers and operator|:
//   dequantize(a_scale, a_zp, w_scales, per_channel) | bias(b) | relu() | requantize(0.05f, 128)

#include <cstdint>

namespace bigmodel::kernels {

// gelu: x Phi(x), the erf form; gelu_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
enum class activation : std::uint8_t { none, relu, gelu, gelu_tanh };

struct epilogue {
  std::int32_t a_zero_point = 0;                 // activation zero point (per tensor)
  const std::int32_t* a_row_zero_point = nullptr;  // or one per row of A (dynamic per-row quantization)
  float a_scale = 1.0f;
  const float* a_row_scale = nullptr;            // or one per row of A
  const float* w_scale = nullptr;                // nullptr: 1
  bool w_scale_per_channel = false;              // w_scale has N entries, else 1
  const float* bias = nullptr;                   // N entries
  activation act = activation::none;
  bool requantize = false;
  float out_scale = 1.0f;
  std::int32_t out_zero_point = 0;
};

namespace epilogues {
struct bias_t { const float* data; };
struct activation_t { activation act; };
struct requantize_t { float scale; std::int32_t zero_point; };
}  // namespace epilogues

// Raw s32 output; only the zero point correction applies.
[[nodiscard]] constexpr epilogue raw_s32(std::int32_t a_zero_point = 0) noexcept {
  epilogue e;
  e.a_zero_point = a_zero_point;
  return e;
}

[[nodiscard]] constexpr epilogue dequantize(float a_scale, std::int32_t a_zero_point, const float* w_scale,
                                            bool per_channel) noexcept {
  epilogue e;
  e.a_scale = a_scale;
  e.a_zero_point = a_zero_point;
  e.w_scale = w_scale;
  e.w_scale_per_channel = per_channel;
  return e;
}

[[nodiscard]] constexpr epilogues::bias_t bias(const float* data) noexcept { return {data}; }
[[nodiscard]] constexpr epilogues::activation_t relu() noexcept { return {activation::relu}; }
[[nodiscard]] constexpr epilogues::activation_t gelu() noexcept { return {activation::gelu}; }
[[nodiscard]] constexpr epilogues::activation_t gelu_tanh() noexcept { return {activation::gelu_tanh}; }
[[nodiscard]] constexpr epilogues::requantize_t requantize(float out_scale, std::int32_t out_zero_point) noexcept {
  return {out_scale, out_zero_point};
}

[[nodiscard]] constexpr epilogue operator|(epilogue e, epilogues::bias_t b) noexcept {
  e.bias = b.data;
  return e;
}
[[nodiscard]] constexpr epilogue operator|(epilogue e, epilogues::activation_t a) noexcept {
  e.act = a.act;
  return e;
}
[[nodiscard]] constexpr epilogue operator|(epilogue e, epilogues::requantize_t r) noexcept {
  e.requantize = true;
  e.out_scale = r.scale;
  e.out_zero_point = r.zero_point;
  return e;
}

}  // namespace bigmodel::kernels
