#pragma once
// Open Inference Protocol (KServe v2) tensors <-> bigmodel::dynamic_tensor.
//
//   {"name": "input", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}
//
// `data` may be flat or nested (read row-major); its element count must equal the shape's. Every element
// is converted exactly (std::from_chars) to the datatype and checked: integers must be integers within
// the type's range, BOOL takes true/false, floats round to nearest. Any mistake throws request_error.

#include <bigmodel/core/half.hpp>
#include <bigmodel/tensor/dynamic_tensor.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "json.hpp"

namespace serve {

// A client mistake: answered with `status` and {"error": what()}.
struct request_error : std::runtime_error {
  int status;
  request_error(int s, const std::string& what) : std::runtime_error(what), status(s) {}
};

struct datatype_name {
  bigmodel::dtype type;
  std::string_view name;
};
inline constexpr datatype_name datatype_names[] = {
    {bigmodel::dtype::boolean, "BOOL"}, {bigmodel::dtype::u8, "UINT8"},   {bigmodel::dtype::u16, "UINT16"},
    {bigmodel::dtype::u32, "UINT32"},   {bigmodel::dtype::u64, "UINT64"}, {bigmodel::dtype::s8, "INT8"},
    {bigmodel::dtype::s16, "INT16"},    {bigmodel::dtype::s32, "INT32"},  {bigmodel::dtype::s64, "INT64"},
    {bigmodel::dtype::f16, "FP16"},     {bigmodel::dtype::bf16, "BF16"},  {bigmodel::dtype::f32, "FP32"},
    {bigmodel::dtype::f64, "FP64"},
};

[[nodiscard]] inline std::string_view datatype_of(bigmodel::dtype t) noexcept {
  for (const auto& d : datatype_names)
    if (d.type == t) return d.name;
  return "BYTES";  // what the protocol calls anything else (strings)
}
[[nodiscard]] inline std::optional<bigmodel::dtype> dtype_of(std::string_view datatype) noexcept {
  for (const auto& d : datatype_names)
    if (d.name == datatype) return d.type;
  return std::nullopt;
}

namespace detail {

// Counts the leaf elements of (nested) data; what a leaf holds is checked when it is converted.
inline std::size_t count_leaves(const json::value& v) {
  if (!v.is(json::kind::array)) return 1;
  if (v.numbers_only()) return v.numbers().size();
  std::size_t n = 0;
  for (const auto& e : v.items()) n += count_leaves(e);
  return n;
}

// Calls leaf(element) for every element, row-major: a number's text, or the json::value of anything else.
template <class Leaf>
void for_each_leaf(const json::value& v, Leaf&& leaf) {
  if (!v.is(json::kind::array)) {
    leaf(v);
    return;
  }
  if (v.numbers_only()) {
    for (auto n : v.numbers()) leaf(n);
    return;
  }
  for (const auto& e : v.items()) for_each_leaf(e, leaf);
}

template <class T>
T convert_element(std::string_view text, const std::string& where, std::string_view datatype) {
  T out{};
  bool ok = false;
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) ok = json::to_floating(text, out);
  else ok = json::to_integer(text, out);
  if (!ok) {
    const bool integral = !std::is_floating_point_v<T>;
    const bool has_fraction = text.find_first_of(".eE") != std::string_view::npos;
    throw request_error(400, where + ": " + std::string(text) +
                                 (integral && has_fraction ? " is not an integer (datatype " : " is out of range for ") +
                                 std::string(datatype) + (integral && has_fraction ? ")" : ""));
  }
  return out;
}

}  // namespace detail

// Reads one tensor of the request ("inputs" item). `where` names it in messages ("input 'x'").
inline bigmodel::dynamic_tensor tensor_from_json(const json::value& item, const std::string& where) {
  const json::value* shape_v = item.find("shape");
  const json::value* type_v = item.find("datatype");
  const json::value* data_v = item.find("data");
  if (!shape_v || !shape_v->is(json::kind::array)) throw request_error(400, where + ": \"shape\" must be an array of integers");
  if (!type_v || !type_v->is(json::kind::string)) throw request_error(400, where + ": \"datatype\" must be a string such as \"FP32\"");
  if (!data_v) throw request_error(400, where + ": \"data\" is missing");
  const std::string datatype(type_v->text());
  const auto type = dtype_of(datatype);
  if (!type) throw request_error(400, where + ": unknown datatype \"" + datatype + "\"");

  bigmodel::shape_t shape;
  std::int64_t count = 1;
  if (!shape_v->numbers_only()) throw request_error(400, where + ": \"shape\" must be an array of integers");
  for (auto d : shape_v->numbers()) {
    std::int64_t v = 0;
    if (!json::to_integer(d, v) || v < 0) throw request_error(400, where + ": shape dimension " + std::string(d) + " is not a non-negative integer");
    shape.push_back(v);
    if (v != 0 && count > std::numeric_limits<std::int64_t>::max() / v) throw request_error(400, where + ": the shape's element count overflows");
    count *= v;
  }
  const std::size_t leaves = detail::count_leaves(*data_v);
  if (static_cast<std::uint64_t>(count) != leaves)
    throw request_error(400, where + ": shape " + bigmodel::to_string(shape) + " holds " + std::to_string(count) +
                                 " elements but \"data\" has " + std::to_string(leaves));

  bigmodel::dynamic_tensor t(*type, shape);
  std::byte* out = t.mutable_data();
  std::size_t i = 0;
  auto store = [&]<class T>(T v) { std::memcpy(out + i++ * sizeof(T), &v, sizeof(T)); };
  auto element = [&](const auto& leaf) {
    using L = std::decay_t<decltype(leaf)>;
    const json::value* v = nullptr;
    std::string_view text;
    if constexpr (std::is_same_v<L, json::value>) {
      v = &leaf;
      if (v->is(json::kind::number)) text = v->text();
    } else {
      text = leaf;
    }
    if (*type == bigmodel::dtype::boolean) {
      if (!v || !v->is(json::kind::boolean)) throw request_error(400, where + ": BOOL data must be true or false");
      store(static_cast<std::uint8_t>(v->boolean() ? 1 : 0));
      return;
    }
    if (text.empty())
      throw request_error(400, where + ": \"data\" must hold numbers, found " + std::string(json::kind_name(v->type())));
    switch (*type) {
      case bigmodel::dtype::u8: store(detail::convert_element<std::uint8_t>(text, where, datatype)); break;
      case bigmodel::dtype::u16: store(detail::convert_element<std::uint16_t>(text, where, datatype)); break;
      case bigmodel::dtype::u32: store(detail::convert_element<std::uint32_t>(text, where, datatype)); break;
      case bigmodel::dtype::u64: store(detail::convert_element<std::uint64_t>(text, where, datatype)); break;
      case bigmodel::dtype::s8: store(detail::convert_element<std::int8_t>(text, where, datatype)); break;
      case bigmodel::dtype::s16: store(detail::convert_element<std::int16_t>(text, where, datatype)); break;
      case bigmodel::dtype::s32: store(detail::convert_element<std::int32_t>(text, where, datatype)); break;
      case bigmodel::dtype::s64: store(detail::convert_element<std::int64_t>(text, where, datatype)); break;
      case bigmodel::dtype::f32: store(detail::convert_element<float>(text, where, datatype)); break;
      case bigmodel::dtype::f64: store(detail::convert_element<double>(text, where, datatype)); break;
      // Half types: the nearest float, then round to nearest even (exact for every value a half holds).
      case bigmodel::dtype::f16: store(bigmodel::to_f16(detail::convert_element<float>(text, where, datatype)).bits); break;
      case bigmodel::dtype::bf16: store(bigmodel::to_bf16(detail::convert_element<float>(text, where, datatype)).bits); break;
      default: throw request_error(400, where + ": datatype " + datatype + " is not supported");
    }
  };
  detail::for_each_leaf(*data_v, element);
  return t;
}

// Appends {"name":..., "datatype":..., "shape":[...], "data":[...]} (flat data, row-major).
inline void tensor_to_json(std::string& out, std::string_view name, const bigmodel::dynamic_tensor& t) {
  out += "{\"name\":";
  json::write_string(out, name);
  out += ",\"datatype\":";
  json::write_string(out, datatype_of(t.type()));
  out += ",\"shape\":[";
  for (std::size_t d = 0; d < t.rank(); ++d) {
    if (d) out += ',';
    json::write_number(out, t.dim(d));
  }
  out += "],\"data\":[";
  const auto n = static_cast<std::size_t>(t.numel());
  auto each = [&]<class T>(const T*) {
    for (std::size_t i = 0; i < n; ++i) {
      if (i) out += ',';
      T v;
      std::memcpy(&v, t.data() + i * sizeof(T), sizeof(T));
      json::write_number(out, v);
    }
  };
  switch (t.type()) {
    case bigmodel::dtype::boolean:
      for (std::size_t i = 0; i < n; ++i) out += std::string(i ? "," : "") + (t.data()[i] != std::byte{0} ? "true" : "false");
      break;
    case bigmodel::dtype::u8: each(static_cast<const std::uint8_t*>(nullptr)); break;
    case bigmodel::dtype::u16: each(static_cast<const std::uint16_t*>(nullptr)); break;
    case bigmodel::dtype::u32: each(static_cast<const std::uint32_t*>(nullptr)); break;
    case bigmodel::dtype::u64: each(static_cast<const std::uint64_t*>(nullptr)); break;
    case bigmodel::dtype::s8: each(static_cast<const std::int8_t*>(nullptr)); break;
    case bigmodel::dtype::s16: each(static_cast<const std::int16_t*>(nullptr)); break;
    case bigmodel::dtype::s32: each(static_cast<const std::int32_t*>(nullptr)); break;
    case bigmodel::dtype::s64: each(static_cast<const std::int64_t*>(nullptr)); break;
    case bigmodel::dtype::f32: each(static_cast<const float*>(nullptr)); break;
    case bigmodel::dtype::f64: each(static_cast<const double*>(nullptr)); break;
    case bigmodel::dtype::f16:
    case bigmodel::dtype::bf16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, t.data() + i * 2, 2);
        if (i) out += ',';
        json::write_number(out, t.type() == bigmodel::dtype::f16 ? bigmodel::to_float(bigmodel::f16::from_bits(bits))
                                                                 : bigmodel::to_float(bigmodel::bf16::from_bits(bits)));
      }
      break;
    default: throw request_error(500, "output '" + std::string(name) + "' has a datatype the protocol cannot carry as JSON");
  }
  out += "]}";
}

}  // namespace serve
