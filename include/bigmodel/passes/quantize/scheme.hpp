#pragma once
// What a layer's weights become: the storage type (int8, uint8, int4, fp16, bf16), the granularity of the
// scales (per tensor, per output channel, per group of G along the input dimension) and the symmetry.
// Schemes are run-time values so one pass can give each layer its own (per-layer rules below); the
// compile-time granularity types of core/quant.hpp map onto them with scheme_of<Granularity, Q>().
//
// Orientation: every weight is seen as [outputs, inputs] (a Linear's [out, in], a Conv's [out, in*kh*kw],
// an ONNX MatMul's B [in, out] through its transpose), so per_channel<0> means "per output channel" and
// per_group<1, G> "groups of G along the input dimension" whatever the op stores.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../../core/dtype.hpp"
#include "../../core/quant.hpp"

namespace bigmodel::quant {

enum class weight_type : std::uint8_t { s8, u8, s4, f16, bf16 };
enum class granularity_kind : std::uint8_t { per_tensor, per_channel, per_group };

struct weight_scheme {
  weight_type type = weight_type::s8;
  granularity_kind granularity = granularity_kind::per_channel;
  std::size_t group_size = 0;  // per_group only
  symmetry sym = symmetry::symmetric;
  // Integer types: every scale an f16 value (the smallest one >= the scale the range asks for, so no weight
  // clips). The file still stores f32 scales, but the weight-only kernel then packs them as f16 -- half the
  // header bytes it streams per group (int4 in groups of 32: 4.5 instead of 5 bits per weight).
  bool f16_scales = false;
  friend bool operator==(const weight_scheme&, const weight_scheme&) = default;
};

[[nodiscard]] constexpr bool is_integer(weight_type t) noexcept { return t == weight_type::s8 || t == weight_type::u8 || t == weight_type::s4; }
[[nodiscard]] constexpr dtype dtype_of_weight(weight_type t) noexcept {
  switch (t) {
    case weight_type::s8: return dtype::s8;
    case weight_type::u8: return dtype::u8;
    case weight_type::s4: return dtype::s4;
    case weight_type::f16: return dtype::f16;
    case weight_type::bf16: return dtype::bf16;
  }
  return dtype::undefined;
}

template <class Q>
[[nodiscard]] constexpr weight_type weight_type_of() noexcept {
  if constexpr (std::is_same_v<Q, std::int8_t>) return weight_type::s8;
  else if constexpr (std::is_same_v<Q, std::uint8_t>) return weight_type::u8;
  else if constexpr (std::is_same_v<Q, s4x2>) return weight_type::s4;
  else if constexpr (std::is_same_v<Q, f16>) return weight_type::f16;
  else if constexpr (std::is_same_v<Q, bf16>) return weight_type::bf16;
  else static_assert(sizeof(Q) == 0, "weights quantize to std::int8_t, std::uint8_t, s4x2, f16 or bf16");
}

// The run-time scheme of a compile-time granularity (axes in the [outputs, inputs] orientation).
template <granularity Granularity, class Q>
[[nodiscard]] constexpr weight_scheme scheme_of(symmetry sym = symmetry::symmetric) noexcept {
  weight_scheme s{weight_type_of<Q>(), granularity_kind::per_tensor, 0, sym};
  if constexpr (requires { Granularity::group_size; }) {
    static_assert(Granularity::axis == 1, "weights are grouped along the input dimension: per_group<1, G>");
    s.granularity = granularity_kind::per_group;
    s.group_size = Granularity::group_size;
  } else if constexpr (requires { Granularity::axis; }) {
    static_assert(Granularity::axis == 0, "weight scales are per output channel: per_channel<0>");
    s.granularity = granularity_kind::per_channel;
  }
  return s;
}

[[nodiscard]] inline std::string describe(const weight_scheme& s) {
  static constexpr const char* types[] = {"int8", "uint8", "int4", "fp16", "bf16"};
  std::string out = types[static_cast<int>(s.type)];
  if (!is_integer(s.type)) return out;
  if (s.granularity == granularity_kind::per_tensor) out += " per tensor";
  else if (s.granularity == granularity_kind::per_channel) out += " per channel";
  else out += " per group of " + std::to_string(s.group_size);
  return out + (s.sym == symmetry::symmetric ? ", symmetric" : ", affine") + (s.f16_scales ? ", f16 scales" : "");
}

// Glob match: '*' any run of characters, '?' one character.
[[nodiscard]] inline bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// A layer as the rules see it: its node name, its weight's name and its op type ("MatMul", "Gemm", "Conv").
struct layer_ref {
  std::string_view node, weight, op_type;
};

// One per-layer rule. Empty fields match anything; `pattern` is a glob over the node or the weight name.
// A rule with no scheme excludes the layers it matches (they stay fp32).
struct layer_rule {
  std::string op_type{};
  std::string pattern{};
  std::optional<weight_scheme> scheme{};
  [[nodiscard]] bool matches(const layer_ref& l) const {
    if (!op_type.empty() && op_type != l.op_type) return false;
    return pattern.empty() || glob_match(pattern, l.node) || glob_match(pattern, l.weight);
  }
};

// Which layers to quantize and how: the first matching rule wins, else `scheme` applies to layers whose
// op type is in `op_types`. `exclude` patterns (node or weight names) always win.
struct layer_selection {
  weight_scheme scheme{};
  std::vector<std::string> op_types{"MatMul", "Gemm", "Conv"};
  std::vector<layer_rule> rules{};
  std::vector<std::string> exclude{};
  std::function<bool(const layer_ref&)> filter{};  // optional extra predicate

  [[nodiscard]] std::optional<weight_scheme> scheme_for(const layer_ref& l) const {
    for (const auto& e : exclude)
      if (glob_match(e, l.node) || glob_match(e, l.weight)) return std::nullopt;
    if (filter && !filter(l)) return std::nullopt;
    for (const auto& r : rules)
      if (r.matches(l)) return r.scheme;
    for (const auto& t : op_types)
      if (t == l.op_type) return scheme;
    return std::nullopt;
  }
};

}  // namespace bigmodel::quant
