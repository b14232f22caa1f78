#pragma once
// Attributes as the graph stores them when no op struct interprets them (opaque ops, unknown attributes
// of known ops), plus the small reflection used by op structs: each op lists its attributes as
// `static constexpr auto fields()` returning a tuple of field<Op, Member>, which the ONNX importer and
// exporter, equality and printing walk generically.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../tensor/dynamic_tensor.hpp"

namespace bigmodel {

// An attribute kind the graph does not model (sub-graphs, sparse tensors, type protos): the importer keeps
// its encoded bytes and the exporter writes them back untouched.
struct raw_attribute {
  std::string bytes;
  friend bool operator==(const raw_attribute&, const raw_attribute&) = default;
};

using attribute_value = std::variant<std::int64_t, float, std::string, dynamic_tensor, std::vector<std::int64_t>,
                                     std::vector<float>, std::vector<std::string>, raw_attribute>;

struct attribute {
  std::string name;
  attribute_value value;
  friend bool operator==(const attribute&, const attribute&) = default;
};

[[nodiscard]] inline const attribute* find_attribute(const std::vector<attribute>& attrs, std::string_view name) {
  for (const auto& a : attrs)
    if (a.name == name) return &a;
  return nullptr;
}

namespace ops {

// One reflected attribute of an op struct: its ONNX name and the member holding it. `required` marks an
// attribute ONNX gives no default (Cast's `to`, Concat's `axis`) or whose default depends on the opset
// (Softmax's `axis`): writers emit it even when it equals the C++ default member value.
template <class Op, class Member>
struct field {
  std::string_view name;
  Member Op::*member;
  bool required = false;
  using value_type = Member;
};
template <class Op, class Member>
field(std::string_view, Member Op::*) -> field<Op, Member>;
template <class Op, class Member>
field(std::string_view, Member Op::*, bool) -> field<Op, Member>;

// The tuple of fields of an op, or an empty tuple for ops without attributes.
template <class Op>
constexpr auto fields_of() {
  if constexpr (requires { Op::fields(); }) return Op::fields();
  else return std::tuple<>{};
}

template <class Op, class F>
constexpr void for_each_field(F&& f) {
  std::apply([&](auto... fs) { (f(fs), ...); }, fields_of<Op>());
}

}  // namespace ops

// Conversion between a field's C++ type and an attribute_value. Returns false when the kinds don't match.
namespace detail {

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

template <class T>
bool attribute_to_member(const attribute_value& v, T& out) {
  if constexpr (std::is_same_v<T, float>) {
    if (auto p = std::get_if<float>(&v)) return out = *p, true;
    if (auto p = std::get_if<std::int64_t>(&v)) return out = static_cast<float>(*p), true;
    return false;
  } else if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T> || std::is_enum_v<T>) {
    if (auto p = std::get_if<std::int64_t>(&v)) return out = static_cast<T>(*p), true;
    return false;
  } else if constexpr (is_optional_v<T>) {
    typename T::value_type inner{};
    if (!attribute_to_member(v, inner)) return false;
    out = std::move(inner);
    return true;
  } else {
    if (auto p = std::get_if<T>(&v)) return out = *p, true;
    return false;
  }
}

// nullopt for an absent optional.
template <class T>
std::optional<attribute_value> member_to_attribute(const T& m) {
  if constexpr (std::is_same_v<T, float>) return attribute_value{m};
  else if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T> || std::is_enum_v<T>)
    return attribute_value{static_cast<std::int64_t>(m)};
  else if constexpr (is_optional_v<T>) {
    if (!m) return std::nullopt;
    return member_to_attribute(*m);
  } else return attribute_value{m};
}

}  // namespace detail
}  // namespace bigmodel
