#pragma once
// An op set is a type list of op structs; a graph stores each node's op as std::variant over its set.
// Users extend the default set with their own op structs:
//   using my_ops = bigmodel::default_op_set::extend<my_swiglu>;
//   bigmodel::basic_computation_graph<my_ops> g;
// An op struct needs `onnx_type` and `domain` (static string_views), equality, and optionally fields().

#include <cstddef>
#include <string_view>
#include <type_traits>
#include <variant>

#include "ops.hpp"

namespace bigmodel {

template <class... Ops>
struct op_set {
  using variant = std::variant<Ops...>;
  template <class... More>
  using extend = op_set<Ops..., More...>;
  static constexpr std::size_t size = sizeof...(Ops);
  template <class Op>
  static constexpr bool contains = (std::is_same_v<Op, Ops> || ...);

  // Calls f(std::type_identity<Op>{}) for each op type until f returns true.
  template <class F>
  static constexpr bool find_type(F&& f) {
    return (f(std::type_identity<Ops>{}) || ...);
  }
};

// ops::opaque first: it is the default-constructed alternative and must be in every set.
using default_op_set =
    op_set<ops::opaque, ops::matmul, ops::gemm, ops::conv, ops::add, ops::sub, ops::mul, ops::div, ops::pow,
           ops::sqrt, ops::erf, ops::tanh, ops::relu, ops::sigmoid, ops::exp, ops::neg, ops::reciprocal, ops::clip,
           ops::softmax, ops::layer_norm, ops::batch_norm, ops::max_pool, ops::average_pool,
           ops::global_average_pool, ops::flatten, ops::reshape, ops::transpose, ops::shape, ops::gather,
           ops::unsqueeze, ops::squeeze, ops::concat, ops::split, ops::slice, ops::cast, ops::constant,
           ops::constant_of_shape, ops::where, ops::equal, ops::less, ops::greater, ops::logical_not, ops::expand,
           ops::identity, ops::dropout, ops::range, ops::reduce_mean, ops::reduce_sum, ops::quantize_linear,
           ops::dequantize_linear, ops::matmul_integer, ops::dynamic_quantize_linear, ops::gelu, ops::attention,
           ops::add_layer_norm>;

// ONNX type/domain of an op value (opaque ones carry theirs).
template <class Op>
[[nodiscard]] constexpr std::string_view op_type_name(const Op& op) noexcept {
  if constexpr (std::is_same_v<Op, ops::opaque>) return op.type;
  else return Op::onnx_type;
}
template <class Op>
[[nodiscard]] constexpr std::string_view op_domain(const Op& op) noexcept {
  if constexpr (std::is_same_v<Op, ops::opaque>) return op.domain;
  else return Op::domain;
}
template <class... Ops>
[[nodiscard]] constexpr std::string_view op_type_name(const std::variant<Ops...>& op) noexcept {
  return std::visit([](const auto& o) { return op_type_name(o); }, op);
}
template <class... Ops>
[[nodiscard]] constexpr std::string_view op_domain(const std::variant<Ops...>& op) noexcept {
  return std::visit([](const auto& o) { return op_domain(o); }, op);
}

// "" and "ai.onnx" name the same domain.
[[nodiscard]] constexpr bool same_domain(std::string_view a, std::string_view b) noexcept {
  auto norm = [](std::string_view d) { return d == "ai.onnx" ? std::string_view{} : d; };
  return norm(a) == norm(b);
}

}  // namespace bigmodel
