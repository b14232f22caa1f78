#pragma once
// Elementwise kernels with NumPy broadcasting: arithmetic (f32, f64, s32, s64), comparisons (-> bool),
// Where, unary float functions, Clip, Cast.

#include <cmath>
#include <type_traits>

#include "../../graph/ops.hpp"
#include "../../kernels/vector_math.hpp"
#include "../kernel_context.hpp"

namespace bigmodel::runtime::kernels {

// Applies f(a, b) -> R over broadcast inputs 0 and 1, for element type T of both.
template <class T, class R, class F>
void broadcast_binary(kernel_context& c, dtype out_type, F f) {
  const auto &a = c.in(0), &b = c.in(1);
  const shape_t out_shape = broadcast_shapes({&a.shape(), &b.shape()}, c);
  auto& out = c.out(0, out_type, out_shape);
  const T* pa = a.span<T>().data();
  const T* pb = b.span<T>().data();
  R* po = out.mutable_span<R>().data();
  const std::int64_t n = out.numel();
  if (a.shape() == out_shape && b.shape() == out_shape) {
    for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
  } else if (a.shape() == out_shape && b.numel() == 1) {
    const T s = pb[0];
    for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], s);
  } else if (b.shape() == out_shape && a.numel() == 1) {
    const T s = pa[0];
    for (std::int64_t i = 0; i < n; ++i) po[i] = f(s, pb[i]);
  } else {
    // Row by row, with the common row forms (both contiguous, one broadcast along the row) as tight loops.
    std::array<std::vector<std::int64_t>, 2> st{broadcast_strides(a.shape(), out_shape), broadcast_strides(b.shape(), out_shape)};
    R* o = po;
    for_each_broadcast_row<2>(out_shape, st, [&](const std::array<std::int64_t, 2>& off, const std::array<std::int64_t, 2>& step, std::int64_t len) {
      const T* ra = pa + off[0];
      const T* rb = pb + off[1];
      if (step[0] == 1 && step[1] == 1) for (std::int64_t j = 0; j < len; ++j) o[j] = f(ra[j], rb[j]);
      else if (step[0] == 1 && step[1] == 0) for (std::int64_t j = 0; j < len; ++j) o[j] = f(ra[j], rb[0]);
      else if (step[0] == 0 && step[1] == 1) for (std::int64_t j = 0; j < len; ++j) o[j] = f(ra[0], rb[j]);
      else for (std::int64_t j = 0; j < len; ++j) o[j] = f(ra[j * step[0]], rb[j * step[1]]);
      o += len;
    });
  }
}

// Dispatches an arithmetic op on the (common) dtype of the inputs.
template <class F>
void arithmetic(kernel_context& c, F f) {
  const dtype t = c.in(0).type();
  if (c.in(1).type() != t)
    c.fail("runtime.dtype_mismatch", "inputs have different element types (" + std::string(name(t)) + " vs " +
                                         std::string(name(c.in(1).type())) + ")");
  switch (t) {
    case dtype::f32: return broadcast_binary<float, float>(c, t, f);
    case dtype::f64: return broadcast_binary<double, double>(c, t, f);
    case dtype::s64: return broadcast_binary<std::int64_t, std::int64_t>(c, t, f);
    case dtype::s32: return broadcast_binary<std::int32_t, std::int32_t>(c, t, f);
    default: c.fail("runtime.unsupported_dtype", "element type " + std::string(name(t)) + " not supported");
  }
}
template <class F>
void comparison(kernel_context& c, F f) {
  const dtype t = c.in(0).type();
  if (c.in(1).type() != t) c.fail("runtime.dtype_mismatch", "inputs have different element types");
  switch (t) {
    case dtype::f32: return broadcast_binary<float, bool>(c, dtype::boolean, f);
    case dtype::f64: return broadcast_binary<double, bool>(c, dtype::boolean, f);
    case dtype::s64: return broadcast_binary<std::int64_t, bool>(c, dtype::boolean, f);
    case dtype::s32: return broadcast_binary<std::int32_t, bool>(c, dtype::boolean, f);
    case dtype::boolean: return broadcast_binary<bool, bool>(c, dtype::boolean, f);
    default: c.fail("runtime.unsupported_dtype", "element type " + std::string(name(t)) + " not supported");
  }
}

inline void run(const ops::add&, kernel_context& c) { arithmetic(c, [](auto a, auto b) { return a + b; }); }
inline void run(const ops::sub&, kernel_context& c) { arithmetic(c, [](auto a, auto b) { return a - b; }); }
inline void run(const ops::mul&, kernel_context& c) { arithmetic(c, [](auto a, auto b) { return a * b; }); }
inline void run(const ops::div&, kernel_context& c) {
  arithmetic(c, [](auto a, auto b) {
    if constexpr (std::is_integral_v<decltype(a)>) return b == 0 ? decltype(a){0} : static_cast<decltype(a)>(a / b);
    else return a / b;
  });
}
inline void run(const ops::pow&, kernel_context& c) {
  // Exponent may have another type (x^2 with an f32 or s64 exponent).
  if (c.in(0).type() == dtype::f32 && c.in(1).type() != dtype::f32) {
    const auto e = c.in(1);
    c.check(e.numel() == 1, "Pow with a non-f32 exponent must be a scalar");
    const float p = static_cast<float>(e.as_double(0));
    const auto x = c.f32(0);
    auto y = c.out(0, dtype::f32, c.in(0).shape()).mutable_span<float>();
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = p == 2.0f ? x[i] * x[i] : std::pow(x[i], p);
    return;
  }
  arithmetic(c, [](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_floating_point_v<T>) return b == T(2) ? a * a : std::pow(a, b);
    else return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  });
}
inline void run(const ops::equal&, kernel_context& c) { comparison(c, [](auto a, auto b) { return a == b; }); }
inline void run(const ops::less&, kernel_context& c) { comparison(c, [](auto a, auto b) { return a < b; }); }
inline void run(const ops::greater&, kernel_context& c) { comparison(c, [](auto a, auto b) { return a > b; }); }

inline void run(const ops::where&, kernel_context& c) {
  const auto &cond = c.in(0), &a = c.in(1), &b = c.in(2);
  c.check(cond.type() == dtype::boolean, "Where condition must be bool");
  c.check(a.type() == b.type(), "Where branches have different element types");
  const shape_t out_shape = broadcast_shapes({&cond.shape(), &a.shape(), &b.shape()}, c);
  std::array<std::vector<std::int64_t>, 3> st{broadcast_strides(cond.shape(), out_shape),
                                              broadcast_strides(a.shape(), out_shape), broadcast_strides(b.shape(), out_shape)};
  auto& out = c.out(0, a.type(), out_shape);
  const auto* pc = cond.span<bool>().data();
  const std::size_t es = bit_size(a.type()) / 8;
  auto rows = [&]<class E>(const E* pa, const E* pb, E* po) {
    for_each_broadcast_row<3>(out_shape, st, [&](const std::array<std::int64_t, 3>& off, const std::array<std::int64_t, 3>& step, std::int64_t len) {
      const bool* rc = pc + off[0];
      const E* ra = pa + off[1];
      const E* rb = pb + off[2];
      for (std::int64_t j = 0; j < len; ++j) po[j] = rc[j * step[0]] ? ra[j * step[1]] : rb[j * step[2]];
      po += len;
    });
  };
  switch (es) {  // copy elements as unsigned integers of their width
    case 1: return rows(reinterpret_cast<const std::uint8_t*>(a.data()), reinterpret_cast<const std::uint8_t*>(b.data()), reinterpret_cast<std::uint8_t*>(out.mutable_data()));
    case 2: return rows(reinterpret_cast<const std::uint16_t*>(a.data()), reinterpret_cast<const std::uint16_t*>(b.data()), reinterpret_cast<std::uint16_t*>(out.mutable_data()));
    case 4: return rows(reinterpret_cast<const std::uint32_t*>(a.data()), reinterpret_cast<const std::uint32_t*>(b.data()), reinterpret_cast<std::uint32_t*>(out.mutable_data()));
    case 8: return rows(reinterpret_cast<const std::uint64_t*>(a.data()), reinterpret_cast<const std::uint64_t*>(b.data()), reinterpret_cast<std::uint64_t*>(out.mutable_data()));
    default: c.fail("runtime.unsupported_dtype", "Where of " + std::string(name(a.type())));
  }
}

// y = f(x) over f32.
template <class F>
void unary_f32(kernel_context& c, F f) {
  const auto x = c.f32(0);
  auto y = c.out(0, dtype::f32, c.in(0).shape()).mutable_span<float>();
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
}
// y = row(x) over f32 with a whole-tensor row function (the vectorized kernels::vmath ones).
template <class Row>
void unary_rows_f32(kernel_context& c, Row row) {
  const auto x = c.f32(0);
  auto y = c.out(0, dtype::f32, c.in(0).shape()).mutable_span<float>();
  row(x.data(), y.data(), x.size());
}
inline void run(const ops::sqrt&, kernel_context& c) { unary_f32(c, [](float v) { return std::sqrt(v); }); }
inline void run(const ops::erf&, kernel_context& c) { unary_rows_f32(c, ::bigmodel::kernels::vmath::erf); }
inline void run(const ops::tanh&, kernel_context& c) { unary_rows_f32(c, ::bigmodel::kernels::vmath::tanh); }
inline void run(const ops::relu&, kernel_context& c) { unary_f32(c, [](float v) { return v > 0 ? v : 0.0f; }); }
inline void run(const ops::sigmoid&, kernel_context& c) { unary_rows_f32(c, ::bigmodel::kernels::vmath::sigmoid); }
inline void run(const ops::exp&, kernel_context& c) { unary_rows_f32(c, ::bigmodel::kernels::vmath::exp); }
inline void run(const ops::reciprocal&, kernel_context& c) { unary_f32(c, [](float v) { return 1.0f / v; }); }
inline void run(const ops::neg&, kernel_context& c) {
  if (c.in(0).type() == dtype::s64) {
    const auto x = c.in(0).span<std::int64_t>();
    auto y = c.out(0, dtype::s64, c.in(0).shape()).mutable_span<std::int64_t>();
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = -x[i];
    return;
  }
  unary_f32(c, [](float v) { return -v; });
}
inline void run(const ops::logical_not&, kernel_context& c) {
  const auto x = c.in(0).span<bool>();
  auto y = c.out(0, dtype::boolean, c.in(0).shape()).mutable_span<bool>();
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = !x[i];
}
inline void run(const ops::clip&, kernel_context& c) {
  const float lo = c.has(1) ? static_cast<float>(c.in(1).as_double(0)) : -INFINITY;
  const float hi = c.has(2) ? static_cast<float>(c.in(2).as_double(0)) : INFINITY;
  unary_f32(c, [=](float v) { return std::min(std::max(v, lo), hi); });
}

inline void run(const ops::cast& op, kernel_context& c) {
  const auto& x = c.in(0);
  if (x.type() == op.to) return c.alias(0, x);
  auto& y = c.out(0, op.to, x.shape());
  const std::int64_t n = x.numel();
  visit_dtype(op.to, [&]<class T>(T) {
    if constexpr (std::is_arithmetic_v<T>) {
      T* py = y.mutable_span<T>().data();
      for (std::int64_t i = 0; i < n; ++i) {
        const double v = x.type() == dtype::s64 ? static_cast<double>(x.as_int(i)) : x.as_double(i);
        if constexpr (std::is_same_v<T, bool>) py[i] = v != 0.0;
        else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, std::int64_t>) py[i] = static_cast<T>(static_cast<std::int64_t>(v));
        else if constexpr (std::is_same_v<T, std::int64_t>) py[i] = x.type() == dtype::s64 ? x.as_int(i) : static_cast<std::int64_t>(v);
        else py[i] = static_cast<T>(v);
      }
    } else if constexpr (std::is_same_v<T, f16> || std::is_same_v<T, bf16>) {
      T* py = y.mutable_span<T>().data();
      for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, f16>) py[i] = to_f16(static_cast<float>(x.as_double(i)));
        else py[i] = to_bf16(static_cast<float>(x.as_double(i)));
      }
    } else {
      c.fail("runtime.unsupported_dtype", "Cast to " + std::string(name(op.to)) + " not supported");
    }
  });
}

}  // namespace bigmodel::runtime::kernels
