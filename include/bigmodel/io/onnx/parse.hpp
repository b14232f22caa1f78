#pragma once
// Decoding ONNX messages from protobuf bytes into the structs of proto.hpp.
//
// parse_model(bytes) keeps views into `bytes` (raw_data, unknown fields): pass a shared_bytes that owns the
// buffer. Every malformed input gives bigmodel::error with id "onnx.*" and a context naming the offset and
// the field path (e.g. "offset 1234, field graph.node[3].attribute[0].t.raw_data"):
//   onnx.truncated, onnx.varint_too_long, onnx.varint_overflow, onnx.wire_type, onnx.length_past_end,
//   onnx.field_number, onnx.packed_size, onnx.bad_dims, onnx.raw_data_size, onnx.nesting_too_deep,
//   onnx.too_large (see parse_options).

#include <cstdint>
#include <algorithm>
#include <limits>
#include <string>

#include "../protobuf/wire.hpp"
#include "proto.hpp"

namespace bigmodel::io::onnx {

struct parse_options {
  int max_graph_depth = 64;  // graphs nested through If/Loop/Scan attributes
  std::string source;        // file name for error messages
  // Memory bound: the parsed structs may take at most min_budget + max_expansion x the input size (a message
  // costs sizeof its struct; a 2-byte empty AttributeProto would otherwise cost ~1 KB). Real models stay far
  // below; crafted ones get onnx.too_large instead of an allocation storm.
  std::size_t max_expansion = 128;
  std::size_t min_budget = std::size_t{64} << 20;
};

namespace detail {

using protobuf::field_header;
using protobuf::path_scope;
using protobuf::reader;
using protobuf::wire_type;

struct parse_state {
  protobuf::error_context ctx;
  shared_bytes buffer;  // owner of every view made while parsing
  int depth = 0;
  int max_depth = 64;
  std::size_t budget = 0;  // bytes of message structs still allowed

  void charge(std::size_t bytes, std::size_t offset) {
    if (bytes > budget)
      ctx.fail("too_large", "parsed model would need more memory than its size justifies", offset);
    budget -= bytes;
  }

  [[nodiscard]] shared_bytes view(std::span<const std::byte> s) const {
    return shared_bytes(buffer.owner(), s.data(), s.size());
  }
};

// Scalars ------------------------------------------------------------------------------------------------
inline std::string read_string(reader& r, const field_header& h, const char* name) {
  r.expect(h, wire_type::length_delimited, name);
  return r.read_string();
}
inline std::int64_t read_int64(reader& r, const field_header& h, const char* name) {
  r.expect(h, wire_type::varint, name);
  return static_cast<std::int64_t>(r.read_varint());
}
inline std::int32_t read_int32(reader& r, const field_header& h, const char* name) {
  r.expect(h, wire_type::varint, name);
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(r.read_varint()));  // protobuf truncates
}
inline float read_float(reader& r, const field_header& h, const char* name) {
  r.expect(h, wire_type::fixed32, name);
  return r.read_float();
}

// Repeated scalars, packed or not. Element kinds: varint, fixed32, fixed64.
template <class T, class Decode>
void read_repeated(reader& r, const field_header& h, std::vector<T>& out, wire_type element, Decode decode,
                   message_meta& meta, bool default_packed, const char* name) {
  if (h.type == wire_type::length_delimited) {
    auto payload = r.read_length_delimited();
    const std::size_t width = element == wire_type::fixed32 ? 4 : element == wire_type::fixed64 ? 8 : 0;
    if (width && payload.size() % width != 0)
      r.context().fail("packed_size",
                       std::string("packed ") + name + " payload of " + std::to_string(payload.size()) +
                           " bytes is not a multiple of " + std::to_string(width),
                       r.offset() - payload.size());
    if (width) out.reserve(out.size() + payload.size() / width);
    reader sub = r.sub(payload);
    while (!sub.at_end()) out.push_back(decode(sub));
    meta.set_packing(h.number, true, default_packed);
  } else {
    r.expect(h, element, name);
    out.push_back(decode(r));
    meta.set_packing(h.number, false, default_packed);
  }
}
inline auto decode_int64 = [](reader& r) { return static_cast<std::int64_t>(r.read_varint()); };
inline auto decode_uint64 = [](reader& r) { return r.read_varint(); };
inline auto decode_int32 = [](reader& r) { return static_cast<std::int32_t>(static_cast<std::uint32_t>(r.read_varint())); };
inline auto decode_float = [](reader& r) { return r.read_float(); };
inline auto decode_double = [](reader& r) { return r.read_double(); };

// Keeps a field this version does not interpret, verbatim.
inline void keep_unknown(parse_state& st, reader& r, const field_header& h, const std::byte* start, message_meta& meta) {
  r.skip(h.type);
  meta.add_unknown(h.number, st.view({start, r.position()}));
}

// Parses a nested message into `out` (merging, as protobuf does when an optional message repeats).
template <class T>
void read_message(parse_state& st, reader& r, const field_header& h, const char* name, std::size_t index, T& out);

// Appends one element to a repeated message field and parses into it.
template <class T>
void read_element(parse_state& st, reader& r, const field_header& h, const char* name, std::vector<T>& v) {
  const std::size_t index = v.size();
  read_message(st, r, h, name, index, v.emplace_back());
}

// Checked element count of a dims list: every dim >= 0, product without overflow.
inline std::size_t checked_element_count(const std::vector<std::int64_t>& dims, const protobuf::error_context& ctx,
                                         std::size_t offset) {
  std::size_t n = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t d = dims[i];
    if (d < 0) ctx.fail("bad_dims", "negative dimension " + std::to_string(d) + " at axis " + std::to_string(i), offset);
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::size_t>::max() / ud)
      ctx.fail("bad_dims", "element count overflows at axis " + std::to_string(i), offset);
    n *= static_cast<std::size_t>(ud);
  }
  return n;
}

// Messages -----------------------------------------------------------------------------------------------
template <class Body>
void parse_fields(reader& r, Body&& body) {
  while (!r.at_end()) {
    const std::byte* start = r.position();
    const field_header h = r.read_tag();
    body(h, start);
  }
}

inline void parse(parse_state& st, reader r, string_string_entry_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: m.key = read_string(r, h, "key"); break;
      case 2: m.value = read_string(r, h, "value"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, operator_set_id_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: m.domain = read_string(r, h, "domain"); break;
      case 2: m.version = read_int64(r, h, "version"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, tensor_shape_proto::dimension& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: {
        const std::int64_t v = read_int64(r, h, "dim_value");
        if (v < 0) st.ctx.fail("bad_dims", "negative dim_value " + std::to_string(v), h.offset);
        m.dim_value = v;
        m.dim_param.reset();  // oneof: last one wins
        break;
      }
      case 2:
        m.dim_param = read_string(r, h, "dim_param");
        m.dim_value.reset();
        break;
      case 3: m.denotation = read_string(r, h, "denotation"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, tensor_shape_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    if (h.number != 1) return keep_unknown(st, r, h, start, m.meta);
    read_element(st, r, h, "dim", m.dim);
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, tensor_type_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: m.elem_type = read_int32(r, h, "elem_type"); break;
      case 2: read_message(st, r, h, "shape", protobuf::error_context::no_index, m.shape ? *m.shape : m.shape.emplace()); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, type_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1:
        read_message(st, r, h, "tensor_type", protobuf::error_context::no_index,
                     m.tensor_type ? *m.tensor_type : m.tensor_type.emplace());
        break;
      case 8:
        read_message(st, r, h, "sparse_tensor_type", protobuf::error_context::no_index,
                     m.sparse_tensor_type ? *m.sparse_tensor_type : m.sparse_tensor_type.emplace());
        break;
      case 6: m.denotation = read_string(r, h, "denotation"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, value_info_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: m.name = read_string(r, h, "name"); break;
      case 2: read_message(st, r, h, "type", protobuf::error_context::no_index, m.type ? *m.type : m.type.emplace()); break;
      case 3: m.doc_string = read_string(r, h, "doc_string"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void validate_tensor(const parse_state& st, const tensor_proto& t, std::size_t offset) {
  const std::size_t count = checked_element_count(t.dims, st.ctx, offset);
  const std::size_t bits = bit_size(t.type());
  if (t.has_raw_data() && !t.is_external() && bits != 0) {
    if (count > std::numeric_limits<std::size_t>::max() / bits)
      st.ctx.fail("bad_dims", "tensor byte size overflows", offset);
    const std::size_t expected = storage_bytes(t.type(), count);
    if (t.raw_data.size() != expected)
      st.ctx.fail("raw_data_size",
                  "raw_data of tensor '" + t.name + "' has " + std::to_string(t.raw_data.size()) + " bytes, its shape and " +
                      std::string(name(t.type())) + " need " + std::to_string(expected),
                  offset);
  }
}

inline void parse(parse_state& st, reader r, tensor_proto& m) {
  const std::size_t begin = r.offset();
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: read_repeated(r, h, m.dims, wire_type::varint, decode_int64, m.meta, false, "dims"); break;
      case 2: m.data_type = read_int32(r, h, "data_type"); break;
      case 4: read_repeated(r, h, m.float_data, wire_type::fixed32, decode_float, m.meta, true, "float_data"); break;
      case 5: read_repeated(r, h, m.int32_data, wire_type::varint, decode_int32, m.meta, true, "int32_data"); break;
      case 6: m.string_data.push_back(read_string(r, h, "string_data")); break;
      case 7: read_repeated(r, h, m.int64_data, wire_type::varint, decode_int64, m.meta, true, "int64_data"); break;
      case 8: m.name = read_string(r, h, "name"); break;
      case 9: {
        path_scope ps(st.ctx, "raw_data");
        r.expect(h, wire_type::length_delimited, "raw_data");
        m.raw_data = st.view(r.read_length_delimited());
        break;
      }
      case 10: read_repeated(r, h, m.double_data, wire_type::fixed64, decode_double, m.meta, true, "double_data"); break;
      case 11: read_repeated(r, h, m.uint64_data, wire_type::varint, decode_uint64, m.meta, true, "uint64_data"); break;
      case 12: m.doc_string = read_string(r, h, "doc_string"); break;
      case 13: read_element(st, r, h, "external_data", m.external_data); break;
      case 14: m.data_location = read_int32(r, h, "data_location"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
  validate_tensor(st, m, begin);
}

inline void parse(parse_state& st, reader r, sparse_tensor_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: read_message(st, r, h, "values", protobuf::error_context::no_index, m.values); break;
      case 2: read_message(st, r, h, "indices", protobuf::error_context::no_index, m.indices); break;
      case 3: read_repeated(r, h, m.dims, wire_type::varint, decode_int64, m.meta, false, "dims"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
  checked_element_count(m.dims, st.ctx, r.offset());
}

inline void parse(parse_state& st, reader r, graph_proto& m);

inline void parse(parse_state& st, reader r, attribute_proto& m) {
  constexpr auto no_index = protobuf::error_context::no_index;
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: m.name = read_string(r, h, "name"); break;
      case 21: m.ref_attr_name = read_string(r, h, "ref_attr_name"); break;
      case 13: m.doc_string = read_string(r, h, "doc_string"); break;
      case 20: m.type = read_int32(r, h, "type"); break;
      case 2: m.f = read_float(r, h, "f"); break;
      case 3: m.i = read_int64(r, h, "i"); break;
      case 4: m.s = read_string(r, h, "s"); break;
      case 5: read_message(st, r, h, "t", no_index, m.t); break;
      case 6: read_message(st, r, h, "g", no_index, m.g ? *m.g : m.g.emplace()); break;
      case 22:
        read_message(st, r, h, "sparse_tensor", no_index, m.sparse_tensor ? *m.sparse_tensor : m.sparse_tensor.emplace());
        break;
      case 14: read_message(st, r, h, "tp", no_index, m.tp ? *m.tp : m.tp.emplace()); break;
      case 7: read_repeated(r, h, m.floats, wire_type::fixed32, decode_float, m.meta, false, "floats"); break;
      case 8: read_repeated(r, h, m.ints, wire_type::varint, decode_int64, m.meta, false, "ints"); break;
      case 9: m.strings.push_back(read_string(r, h, "strings")); break;
      case 10: read_element(st, r, h, "tensors", m.tensors); break;
      case 11: read_element(st, r, h, "graphs", m.graphs); break;
      case 23: read_element(st, r, h, "sparse_tensors", m.sparse_tensors); break;
      case 15: read_element(st, r, h, "type_protos", m.type_protos); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, node_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: m.input.push_back(read_string(r, h, "input")); break;
      case 2: m.output.push_back(read_string(r, h, "output")); break;
      case 3: m.name = read_string(r, h, "name"); break;
      case 4: m.op_type = read_string(r, h, "op_type"); break;
      case 7: m.domain = read_string(r, h, "domain"); break;
      case 5: read_element(st, r, h, "attribute", m.attribute); break;
      case 6: m.doc_string = read_string(r, h, "doc_string"); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

inline void parse(parse_state& st, reader r, graph_proto& m) {
  if (st.depth >= st.max_depth)
    st.ctx.fail("nesting_too_deep", "graphs nested deeper than " + std::to_string(st.max_depth), r.offset());
  ++st.depth;
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: read_element(st, r, h, "node", m.node); break;
      case 2: m.name = read_string(r, h, "name"); break;
      case 5: read_element(st, r, h, "initializer", m.initializer); break;
      case 15:
        read_element(st, r, h, "sparse_initializer", m.sparse_initializer);
        break;
      case 10: m.doc_string = read_string(r, h, "doc_string"); break;
      case 11: read_element(st, r, h, "input", m.input); break;
      case 12: read_element(st, r, h, "output", m.output); break;
      case 13: read_element(st, r, h, "value_info", m.value_info); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
  --st.depth;  // not restored on throw: the state is discarded then
}

inline void parse(parse_state& st, reader r, model_proto& m) {
  parse_fields(r, [&](const field_header& h, const std::byte* start) {
    switch (h.number) {
      case 1: m.ir_version = read_int64(r, h, "ir_version"); break;
      case 8: read_element(st, r, h, "opset_import", m.opset_import); break;
      case 2: m.producer_name = read_string(r, h, "producer_name"); break;
      case 3: m.producer_version = read_string(r, h, "producer_version"); break;
      case 4: m.domain = read_string(r, h, "domain"); break;
      case 5: m.model_version = read_int64(r, h, "model_version"); break;
      case 6: m.doc_string = read_string(r, h, "doc_string"); break;
      case 7: read_message(st, r, h, "graph", protobuf::error_context::no_index, m.graph); break;
      case 14: read_element(st, r, h, "metadata_props", m.metadata_props); break;
      default: return keep_unknown(st, r, h, start, m.meta);
    }
    m.meta.mark(h.number);
  });
}

template <class T>
void read_message(parse_state& st, reader& r, const field_header& h, const char* name, std::size_t index, T& out) {
  path_scope ps(st.ctx, name, index);
  st.charge(sizeof(T), h.offset);
  r.expect(h, wire_type::length_delimited, name);
  const auto payload = r.read_length_delimited();
  parse(st, r.sub(payload), out);
}

}  // namespace detail

// Parses any single message type (model_proto, tensor_proto, graph_proto, node_proto...) from bytes.
template <class Message>
[[nodiscard]] Message parse_message(const shared_bytes& bytes, const parse_options& options = {}) {
  detail::parse_state st;
  st.ctx.domain = "onnx";
  st.ctx.source = options.source;
  st.buffer = bytes;
  st.max_depth = options.max_graph_depth;
  const std::size_t factor = std::max<std::size_t>(options.max_expansion, 1);
  const std::size_t limit = std::numeric_limits<std::size_t>::max();
  st.budget = bytes.size() > (limit - options.min_budget) / factor ? limit : options.min_budget + factor * bytes.size();
  Message m;
  detail::parse(st, protobuf::reader(bytes.span(), st.ctx), m);
  return m;
}

// Parses a serialized ModelProto. The result keeps views into `bytes` (shared ownership); external tensor
// data is not resolved here (load_model does that, relative to the model's folder).
[[nodiscard]] inline model_proto parse_model(const shared_bytes& bytes, const parse_options& options = {}) {
  return parse_message<model_proto>(bytes, options);
}

}  // namespace bigmodel::io::onnx
