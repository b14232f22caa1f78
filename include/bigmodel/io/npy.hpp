#pragma once
// NumPy .npy files: a strict reader and an atomic writer, header-only, no dependency beyond the standard library.
//
//   npy_array a = io::read_npy("x.npy");                 // or io::parse_npy(bytes, "where they came from")
//   std::vector<float> v = a.to_vector<float>();         // throws unless a.type == dtype::f32
//   io::write_npy("y.npy", io::npy_array::from(std::span<const float>(v), {2, 3}));
//
// Format (numpy.lib.format): magic "\x93NUMPY", version major.minor (1.0, 2.0, 3.0), header length (u16 LE for
// 1.0, u32 LE for 2.0/3.0), then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}
// padded with spaces and ended by '\n', then the raw elements in C order.
//
// Supported element types (dtype = ONNX TensorProto numbers): '<f4' f32, '<f8' f64, '<f2' f16, '<i8' s64,
// '<i4' s32, '<i2' s16, '|i1' s8, '|u1' u8, '|b1' boolean, and '<u2' u16, '<u4' u32, '<u8' u64.
// Everything else is refused with a bigmodel::error; the id says why:
//   npy.truncated          the input ends inside the preamble, the header or the data
//   npy.bad_magic          not a .npy file
//   npy.unsupported_version  a version other than 1.0, 2.0, 3.0
//   npy.bad_header         the header is not a well-formed dict with exactly descr, fortran_order and shape
//   npy.big_endian         '>' byte order
//   npy.unsupported_dtype  any other descr (complex, strings, objects, structured, native '=' order...)
//   npy.fortran_order      fortran_order True (only C order is read)
//   npy.shape_overflow     element count or byte size not representable
//   npy.size_mismatch      bytes after the data, or (writing) data size not matching shape and type
//   npy.dtype_mismatch     to_vector<T>/view<T> with a T that is not the array's type
// The context of each error names the file (or the caller's context) and the byte offset.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/error.hpp"
#include "file.hpp"

namespace bigmodel::io {

// An n-dimensional array as stored in a .npy file: element type, shape (empty for a 0-d scalar), C-order bytes.
struct npy_array {
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;

  // Number of elements (1 for a 0-d array, 0 when any dimension is 0).
  [[nodiscard]] std::int64_t element_count() const noexcept {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }

  // The elements as a T vector (a copy). T must match type exactly (no conversion).
  template <element_type T>
  [[nodiscard]] std::vector<T> to_vector() const {
    check_type<T>();
    const auto n = static_cast<std::size_t>(element_count());
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<bool> out(n);
      for (std::size_t i = 0; i < n; ++i) out[i] = data[i] != std::byte{0};
      return out;
    } else {
      std::vector<T> out(n);
      if (n) std::memcpy(out.data(), data.data(), n * sizeof(T));
      return out;
    }
  }

  // A view of the elements (no copy). T must match type; the buffer is aligned for every supported type.
  template <element_type T>
    requires(!std::is_same_v<T, bool>)
  [[nodiscard]] std::span<const T> view() const {
    check_type<T>();
    return {reinterpret_cast<const T*>(data.data()), static_cast<std::size_t>(element_count())};
  }
  template <element_type T>
    requires(!std::is_same_v<T, bool>)
  [[nodiscard]] std::span<T> view() {
    check_type<T>();
    return {reinterpret_cast<T*>(data.data()), static_cast<std::size_t>(element_count())};
  }

  // Builds an array from typed elements; values.size() must equal the product of shape.
  template <element_type T>
    requires(!std::is_same_v<T, bool> && !std::is_same_v<T, s4x2>)
  [[nodiscard]] static npy_array from(std::span<const T> values, std::vector<std::int64_t> shape) {
    npy_array a;
    a.type = dtype_of<T>;
    a.shape = std::move(shape);
    require(a.checked_count() == static_cast<std::int64_t>(values.size()), "npy.size_mismatch",
            "number of values does not match the shape", "npy_array::from");
    a.data.resize(values.size_bytes());
    if (!values.empty()) std::memcpy(a.data.data(), values.data(), values.size_bytes());
    return a;
  }
  template <element_type T>
    requires(!std::is_same_v<T, bool> && !std::is_same_v<T, s4x2>)
  [[nodiscard]] static npy_array from(const std::vector<T>& values, std::vector<std::int64_t> shape) {
    return from(std::span<const T>(values), std::move(shape));
  }
  [[nodiscard]] static npy_array from(const std::vector<bool>& values, std::vector<std::int64_t> shape) {
    npy_array a;
    a.type = dtype::boolean;
    a.shape = std::move(shape);
    require(a.checked_count() == static_cast<std::int64_t>(values.size()), "npy.size_mismatch",
            "number of values does not match the shape", "npy_array::from");
    a.data.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) a.data[i] = std::byte{values[i] ? std::uint8_t{1} : std::uint8_t{0}};
    return a;
  }

  friend bool operator==(const npy_array&, const npy_array&) = default;

 private:
  template <class T>
  void check_type() const {
    require(dtype_of<T> == type, "npy.dtype_mismatch",
            "array holds " + std::string(name(type)) + ", asked for " + std::string(name(dtype_of<T>)), "npy_array");
    require(data.size() == static_cast<std::size_t>(element_count()) * sizeof(T), "npy.size_mismatch",
            "data size does not match shape and type", "npy_array");
  }
  [[nodiscard]] std::int64_t checked_count() const {
    for (auto d : shape) require(d >= 0, "npy.bad_header", "negative dimension", "npy_array");
    if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
    std::int64_t n = 1;
    for (auto d : shape) {
      require(n <= std::numeric_limits<std::int64_t>::max() / d, "npy.shape_overflow", "element count overflows",
              "npy_array");
      n *= d;
    }
    return n;
  }
};

namespace detail::npy {

inline constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
inline constexpr std::size_t array_align = 64;  // numpy pads the preamble + header to a multiple of this
inline constexpr std::size_t growth_digits = 21;  // numpy leaves room to rewrite the first dimension in place

struct type_entry {
  std::string_view descr;
  dtype type;
  std::size_t size;
};
inline constexpr type_entry types[] = {
    {"<f4", dtype::f32, 4},     {"<f8", dtype::f64, 8}, {"<f2", dtype::f16, 2}, {"<i8", dtype::s64, 8},
    {"<i4", dtype::s32, 4},     {"<i2", dtype::s16, 2}, {"|i1", dtype::s8, 1},  {"|u1", dtype::u8, 1},
    {"|b1", dtype::boolean, 1}, {"<u2", dtype::u16, 2}, {"<u4", dtype::u32, 4}, {"<u8", dtype::u64, 8},
};

[[nodiscard]] inline const type_entry* find_type(dtype t) noexcept {
  for (const auto& e : types)
    if (e.type == t) return &e;
  return nullptr;
}

[[nodiscard]] inline std::string where(std::string_view context, std::size_t offset) {
  std::string s(context);
  if (!s.empty()) s += ", ";
  return s + "offset " + std::to_string(offset);
}

// Parser of the header dict: the subset of Python literal syntax numpy writes (and hand-written variants of it:
// either quote style, any spacing, optional trailing commas), nothing more.
class header_parser {
 public:
  header_parser(std::string_view text, std::size_t base, std::string_view context)
      : s_(text), base_(base), context_(context) {}

  struct result {
    std::string descr;
    bool fortran_order = false;
    std::vector<std::int64_t> shape;
  };

  result parse() {
    result r;
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{');
    skip_ws();
    while (!at('}')) {
      const std::size_t key_pos = pos_;
      const std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        check_once(have_descr, key, key_pos);
        if (!at('\'') && !at('"')) fail("descr must be a string (structured dtypes are not supported)", pos_,
                                        "npy.unsupported_dtype");
        r.descr = parse_string();
      } else if (key == "fortran_order") {
        check_once(have_fortran, key, key_pos);
        r.fortran_order = parse_bool();
      } else if (key == "shape") {
        check_once(have_shape, key, key_pos);
        r.shape = parse_shape();
      } else {
        fail("unexpected key '" + key + "' in header", key_pos);
      }
      skip_ws();
      if (at(',')) {
        ++pos_;
        skip_ws();
      } else if (!at('}')) {
        fail("expected ',' or '}' in header", pos_);
      }
    }
    ++pos_;  // '}'
    if (!have_descr || !have_fortran || !have_shape)
      fail(std::string("header lacks the key '") + (!have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape") +
               "'",
           pos_);
    // After the dict: spaces (numpy's padding) and the final newline, nothing else.
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
    if (pos_ + 1 != s_.size() || s_[pos_] != '\n') fail("header must end with spaces and a newline after the dict", pos_);
    return r;
  }

 private:
  [[noreturn]] void fail(const std::string& msg, std::size_t at_pos, const char* id = "npy.bad_header") const {
    throw error(id, msg, where(context_, base_ + at_pos));
  }
  [[nodiscard]] bool at(char c) const noexcept { return pos_ < s_.size() && s_[pos_] == c; }
  void skip_ws() noexcept {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  void expect(char c) {
    if (!at(c)) fail(std::string("expected '") + c + "' in header", pos_);
    ++pos_;
  }
  void check_once(bool& seen, const std::string& key, std::size_t p) const {
    if (seen) fail("duplicate key '" + key + "' in header", p);
    seen = true;
  }
  std::string parse_string() {
    if (!at('\'') && !at('"')) fail("expected a quoted string in header", pos_);
    const char q = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != q) {
      const char c = s_[pos_];
      if (c == '\\' || c == '\n') fail("escape sequences and newlines are not allowed in header strings", pos_);
      out.push_back(c);
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string in header", pos_);
    ++pos_;
    return out;
  }
  bool parse_bool() {
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}}) {
      if (s_.substr(pos_, word.size()) == word) {
        const std::size_t end = pos_ + word.size();
        if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) break;
        pos_ = end;
        return value;
      }
    }
    fail("fortran_order must be True or False", pos_);
  }
  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> shape;
    expect('(');
    skip_ws();
    bool trailing_comma = false;
    while (!at(')')) {
      const std::size_t start = pos_;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') fail("shape must be a tuple of non-negative integers", pos_);
      std::int64_t v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        const int d = s_[pos_] - '0';
        if (v > (std::numeric_limits<std::int64_t>::max() - d) / 10)
          fail("dimension does not fit in 64 bits", start, "npy.shape_overflow");
        v = v * 10 + d;
        ++pos_;
      }
      if (pos_ - start > 1 && s_[start] == '0') fail("dimension with a leading zero", start);
      shape.push_back(v);
      skip_ws();
      trailing_comma = false;
      if (at(',')) {
        ++pos_;
        trailing_comma = true;
        skip_ws();
      } else if (!at(')')) {
        fail("expected ',' or ')' in shape", pos_);
      }
    }
    // (n) is an integer in Python, not a tuple: a one-element shape needs its comma.
    if (shape.size() == 1 && !trailing_comma) fail("one-element shape must be written (n,)", pos_);
    ++pos_;
    return shape;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::size_t base_;
  std::string_view context_;
};

[[nodiscard]] inline std::uint32_t read_le(const std::byte* p, std::size_t n) noexcept {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(p[i])) << (8 * i);
  return v;
}

[[nodiscard]] inline std::string shape_repr(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// The preamble and padded header numpy (1.24) writes for this array, byte for byte.
[[nodiscard]] inline std::string header_bytes(const npy_array& a, std::string_view context) {
  const type_entry* e = find_type(a.type);
  require(e != nullptr, "npy.unsupported_dtype", "element type " + std::string(name(a.type)) + " cannot be stored in .npy",
          std::string(context));
  std::int64_t n = 1;
  for (auto d : a.shape) require(d >= 0, "npy.bad_header", "negative dimension " + std::to_string(d), std::string(context));
  if (std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end()) n = 0;
  for (auto d : a.shape) {
    if (n == 0) break;
    require(n <= std::numeric_limits<std::int64_t>::max() / d, "npy.shape_overflow", "element count overflows",
            std::string(context));
    n *= d;
  }
  require(static_cast<std::uint64_t>(n) <= std::numeric_limits<std::size_t>::max() / e->size, "npy.shape_overflow",
          "byte size overflows", std::string(context));
  require(a.data.size() == static_cast<std::size_t>(n) * e->size, "npy.size_mismatch",
          "data holds " + std::to_string(a.data.size()) + " bytes, shape and type need " +
              std::to_string(static_cast<std::size_t>(n) * e->size),
          std::string(context));

  std::string dict = "{'descr': '" + std::string(e->descr) + "', 'fortran_order': False, 'shape': " + shape_repr(a.shape) + ", }";
  if (!a.shape.empty()) {
    const std::size_t first = std::to_string(a.shape[0]).size();
    if (first < growth_digits) dict.append(growth_digits - first, ' ');
  }
  const auto wrap = [&](std::size_t len_bytes, std::uint8_t major) -> std::optional<std::string> {
    const std::size_t pre = sizeof magic + 2 + len_bytes;
    const std::size_t hlen = dict.size() + 1;
    const std::size_t pad = array_align - (pre + hlen) % array_align;
    const std::size_t total = hlen + pad;
    if (len_bytes == 2 && total > 0xFFFF) return std::nullopt;
    std::string out(reinterpret_cast<const char*>(magic), sizeof magic);
    out.push_back(static_cast<char>(major));
    out.push_back('\0');
    for (std::size_t i = 0; i < len_bytes; ++i) out.push_back(static_cast<char>((total >> (8 * i)) & 0xFF));
    out += dict;
    out.append(pad, ' ');
    out.push_back('\n');
    return out;
  };
  if (auto v1 = wrap(2, 1)) return *v1;
  return *wrap(4, 2);
}

}  // namespace detail::npy

// Parses a whole .npy file held in memory. context names the source in error messages (a path, "request body"...).
[[nodiscard]] inline npy_array parse_npy(std::span<const std::byte> bytes, std::string_view context = "npy") {
  using namespace detail::npy;
  const auto need = [&](std::size_t end, std::size_t at_pos, const char* what) {
    if (bytes.size() < end)
      throw error("npy.truncated",
                  std::string("file ends inside the ") + what + " (" + std::to_string(bytes.size()) + " of " +
                      std::to_string(end) + " bytes)",
                  where(context, std::min(at_pos, bytes.size())));
  };
  // Magic: check what is there before complaining about length, so a short non-npy file reads as bad magic.
  for (std::size_t i = 0; i < sizeof magic && i < bytes.size(); ++i)
    if (std::to_integer<unsigned char>(bytes[i]) != magic[i])
      throw error("npy.bad_magic", "not a .npy file (bad magic)", where(context, i));
  need(sizeof magic + 2, 0, "preamble");
  const auto major = std::to_integer<unsigned>(bytes[6]), minor = std::to_integer<unsigned>(bytes[7]);
  if (!(major >= 1 && major <= 3 && minor == 0))
    throw error("npy.unsupported_version",
                "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                    " (1.0, 2.0 and 3.0 are supported)",
                where(context, 6));
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  need(8 + len_bytes, 8, "preamble");
  const std::size_t hlen = read_le(bytes.data() + 8, len_bytes);
  const std::size_t hstart = 8 + len_bytes;
  need(hstart + hlen, hstart, "header");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + hstart), hlen);
  // Versions 1 and 2 are latin-1, 3 is UTF-8; the dict we accept is ASCII either way, and bytes >= 0x80 can only
  // sit inside strings, where they make an unknown descr.
  auto h = header_parser(text, hstart, context).parse();

  if (h.descr.size() >= 2 && h.descr[0] == '>' && h.descr != ">i1" && h.descr != ">u1" && h.descr != ">b1")
    throw error("npy.big_endian", "big-endian data ('" + h.descr + "') is not supported", where(context, hstart));
  const type_entry* e = nullptr;
  for (const auto& t : types) {
    if (t.descr == h.descr) e = &t;
    // single-byte types carry no byte order; accept '<' and '>' spellings besides numpy's '|'
    if (t.size == 1 && h.descr.size() == 3 && (h.descr[0] == '<' || h.descr[0] == '>') && h.descr.substr(1) == t.descr.substr(1))
      e = &t;
  }
  if (!e) throw error("npy.unsupported_dtype", "unsupported element type '" + h.descr + "'", where(context, hstart));
  if (h.fortran_order)
    throw error("npy.fortran_order", "fortran_order arrays are not supported (save a C-order array)",
                where(context, hstart));

  npy_array a;
  a.type = e->type;
  a.shape = std::move(h.shape);
  // Element count; a shape with a zero dimension holds nothing, however large the others.
  const bool empty = std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end();
  std::uint64_t n = empty ? 0 : 1;
  for (auto d : a.shape) {
    if (empty) break;
    if (n > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(d))
      throw error("npy.shape_overflow", "shape " + shape_repr(a.shape) + " overflows", where(context, hstart));
    n *= static_cast<std::uint64_t>(d);
  }
  if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
      n > std::numeric_limits<std::size_t>::max() / e->size)
    throw error("npy.shape_overflow", "shape " + shape_repr(a.shape) + " overflows", where(context, hstart));
  const std::size_t data_start = hstart + hlen;
  const std::size_t nbytes = static_cast<std::size_t>(n) * e->size;
  const std::size_t avail = bytes.size() - data_start;
  if (avail < nbytes)
    throw error("npy.truncated",
                "file ends inside the data (" + std::to_string(avail) + " of " + std::to_string(nbytes) + " bytes)",
                where(context, bytes.size()));
  if (avail > nbytes)
    throw error("npy.size_mismatch",
                std::to_string(avail - nbytes) + " bytes after the data that shape " + shape_repr(a.shape) + " holds",
                where(context, data_start + nbytes));
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_start), bytes.end());
  return a;
}

[[nodiscard]] inline npy_array read_npy(const std::filesystem::path& path) {
  const auto bytes = map_file(path);
  return parse_npy(bytes.span(), path.string());
}

// The bytes of a .npy file for a (version 1.0 header unless it needs 2.0; the same bytes numpy 1.24 writes).
[[nodiscard]] inline std::vector<std::byte> serialize_npy(const npy_array& a, std::string_view context = "npy") {
  const std::string head = detail::npy::header_bytes(a, context);
  std::vector<std::byte> out(head.size() + a.data.size());
  std::memcpy(out.data(), head.data(), head.size());
  if (!a.data.empty()) std::memcpy(out.data() + head.size(), a.data.data(), a.data.size());
  return out;
}

// Writes a through a temporary file in the same folder and an atomic rename.
inline void write_npy(const std::filesystem::path& path, const npy_array& a) {
  const std::string head = detail::npy::header_bytes(a, path.string());
  atomic_file_writer w(path);
  w.write(head.data(), head.size());
  w.write(std::span<const std::byte>(a.data));
  w.commit();
}

}  // namespace bigmodel::io
