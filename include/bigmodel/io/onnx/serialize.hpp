#pragma once
// Encoding the structs of proto.hpp back to protobuf bytes. Fields come out in the order they were read
// (message_meta), unknown fields verbatim in place, then fields set since in field-number order -- so an
// unmodified parsed model serializes to its original bytes. Optional scalars and strings are written when
// they were present in the input or differ from the default.

#include <cstdint>
#include <span>
#include <vector>

#include "../protobuf/message_meta.hpp"
#include "../protobuf/wire.hpp"
#include "proto.hpp"

namespace bigmodel::io::onnx {

namespace detail {

using protobuf::wire_type;

template <class W>
void put_string(W& w, const message_meta& m, std::uint32_t f, const std::string& s) {
  if (m.has(f) || !s.empty()) w.field_string(f, s);
}
template <class W>
void put_int64(W& w, const message_meta& m, std::uint32_t f, std::int64_t v) {
  if (m.has(f) || v != 0) w.field_int64(f, v);
}
template <class W>
void put_int32(W& w, const message_meta& m, std::uint32_t f, std::int32_t v) {
  if (m.has(f) || v != 0) w.field_int32(f, v);
}
template <class W>
void put_strings(W& w, std::uint32_t f, const std::vector<std::string>& v) {
  for (const auto& s : v) w.field_string(f, s);
}

// Repeated scalars: packed (one length-delimited run) or one record per element, as read.
template <class W, class T, class Put>
void put_repeated(W& w, const message_meta& m, std::uint32_t f, const std::vector<T>& v, bool default_packed, Put put) {
  if (v.empty()) return;
  const bool packed = default_packed != m.packing_flipped(f);
  if (packed) {
    w.field_message(f, [&](W& ww) {
      for (const T& x : v) put(ww, x);
    });
  } else {
    const wire_type wt = std::is_same_v<T, float> ? wire_type::fixed32 : std::is_same_v<T, double> ? wire_type::fixed64 : wire_type::varint;
    for (const T& x : v) {
      w.tag(f, wt);
      put(w, x);
    }
  }
}
inline constexpr auto put_varint64 = [](auto& w, auto x) { w.varint(static_cast<std::uint64_t>(static_cast<std::int64_t>(x))); };
inline constexpr auto put_float = [](auto& w, float x) { w.fixed32(std::bit_cast<std::uint32_t>(x)); };
inline constexpr auto put_double = [](auto& w, double x) { w.fixed64(std::bit_cast<std::uint64_t>(x)); };

template <class W, class M>
void put_message(W& w, std::uint32_t f, const M& m);
template <class W, class M>
void put_messages(W& w, std::uint32_t f, const std::vector<M>& v) {
  for (const auto& m : v) put_message(w, f, m);
}

template <class W>
void encode(W& w, const string_string_entry_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    if (f == 1) put_string(w, m.meta, 1, m.key);
    else put_string(w, m.meta, 2, m.value);
  });
}

template <class W>
void encode(W& w, const operator_set_id_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    if (f == 1) put_string(w, m.meta, 1, m.domain);
    else put_int64(w, m.meta, 2, m.version);
  });
}

template <class W>
void encode(W& w, const tensor_shape_proto::dimension& m) {
  static constexpr std::uint32_t known[] = {1, 2, 3};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    if (f == 1 && m.dim_value) w.field_int64(1, *m.dim_value);
    if (f == 2 && m.dim_param) w.field_string(2, *m.dim_param);
    if (f == 3) put_string(w, m.meta, 3, m.denotation);
  });
}

template <class W>
void encode(W& w, const tensor_shape_proto& m) {
  static constexpr std::uint32_t known[] = {1};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t) { put_messages(w, 1, m.dim); });
}

template <class W>
void encode(W& w, const tensor_type_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    if (f == 1) put_int32(w, m.meta, 1, m.elem_type);
    if (f == 2 && m.shape) put_message(w, 2, *m.shape);
  });
}

template <class W>
void encode(W& w, const type_proto& m) {
  static constexpr std::uint32_t known[] = {1, 6, 8};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    if (f == 1 && m.tensor_type) put_message(w, 1, *m.tensor_type);
    if (f == 6) put_string(w, m.meta, 6, m.denotation);
    if (f == 8 && m.sparse_tensor_type) put_message(w, 8, *m.sparse_tensor_type);
  });
}

template <class W>
void encode(W& w, const value_info_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2, 3};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    if (f == 1) put_string(w, m.meta, 1, m.name);
    if (f == 2 && m.type) put_message(w, 2, *m.type);
    if (f == 3) put_string(w, m.meta, 3, m.doc_string);
  });
}

template <class W>
void encode(W& w, const tensor_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    switch (f) {
      case 1: put_repeated(w, m.meta, 1, m.dims, false, put_varint64); break;
      case 2: put_int32(w, m.meta, 2, m.data_type); break;
      case 4: put_repeated(w, m.meta, 4, m.float_data, true, put_float); break;
      case 5: put_repeated(w, m.meta, 5, m.int32_data, true, put_varint64); break;
      case 6: put_strings(w, 6, m.string_data); break;
      case 7: put_repeated(w, m.meta, 7, m.int64_data, true, put_varint64); break;
      case 8: put_string(w, m.meta, 8, m.name); break;
      case 9:
        if (m.has_raw_data()) w.field_bytes(9, m.raw_data.span());
        break;
      case 10: put_repeated(w, m.meta, 10, m.double_data, true, put_double); break;
      case 11:
        put_repeated(w, m.meta, 11, m.uint64_data, true, [](auto& ww, std::uint64_t x) { ww.varint(x); });
        break;
      case 12: put_string(w, m.meta, 12, m.doc_string); break;
      case 13: put_messages(w, 13, m.external_data); break;
      case 14: put_int32(w, m.meta, 14, m.data_location); break;
      default: break;
    }
  });
}

template <class W>
void encode(W& w, const sparse_tensor_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2, 3};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    if (f == 1 && m.meta.has(1)) put_message(w, 1, m.values);
    if (f == 2 && m.meta.has(2)) put_message(w, 2, m.indices);
    if (f == 3) put_repeated(w, m.meta, 3, m.dims, false, put_varint64);
  });
}

template <class W>
void encode(W& w, const graph_proto& m);

template <class W>
void encode(W& w, const attribute_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 20, 21, 22, 23};
  const auto k = m.kind();
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    switch (f) {
      case 1: put_string(w, m.meta, 1, m.name); break;
      case 2:
        if (m.meta.has(2) || k == attribute_type::float_) w.field_float(2, m.f);
        break;
      case 3:
        if (m.meta.has(3) || k == attribute_type::int_) w.field_int64(3, m.i);
        break;
      case 4:
        if (m.meta.has(4) || k == attribute_type::string) w.field_string(4, m.s);
        break;
      case 5:
        if (m.meta.has(5) || k == attribute_type::tensor) put_message(w, 5, m.t);
        break;
      case 6:
        if (m.g) put_message(w, 6, *m.g);
        break;
      case 7: put_repeated(w, m.meta, 7, m.floats, false, put_float); break;
      case 8: put_repeated(w, m.meta, 8, m.ints, false, put_varint64); break;
      case 9: put_strings(w, 9, m.strings); break;
      case 10: put_messages(w, 10, m.tensors); break;
      case 11: put_messages(w, 11, m.graphs); break;
      case 13: put_string(w, m.meta, 13, m.doc_string); break;
      case 14:
        if (m.tp) put_message(w, 14, *m.tp);
        break;
      case 15: put_messages(w, 15, m.type_protos); break;
      case 20: put_int32(w, m.meta, 20, m.type); break;
      case 21: put_string(w, m.meta, 21, m.ref_attr_name); break;
      case 22:
        if (m.sparse_tensor) put_message(w, 22, *m.sparse_tensor);
        break;
      case 23: put_messages(w, 23, m.sparse_tensors); break;
      default: break;
    }
  });
}

template <class W>
void encode(W& w, const node_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2, 3, 4, 5, 6, 7};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    switch (f) {
      case 1: put_strings(w, 1, m.input); break;
      case 2: put_strings(w, 2, m.output); break;
      case 3: put_string(w, m.meta, 3, m.name); break;
      case 4: put_string(w, m.meta, 4, m.op_type); break;
      case 5: put_messages(w, 5, m.attribute); break;
      case 6: put_string(w, m.meta, 6, m.doc_string); break;
      case 7: put_string(w, m.meta, 7, m.domain); break;
      default: break;
    }
  });
}

template <class W>
void encode(W& w, const graph_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2, 5, 10, 11, 12, 13, 15};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    switch (f) {
      case 1: put_messages(w, 1, m.node); break;
      case 2: put_string(w, m.meta, 2, m.name); break;
      case 5: put_messages(w, 5, m.initializer); break;
      case 10: put_string(w, m.meta, 10, m.doc_string); break;
      case 11: put_messages(w, 11, m.input); break;
      case 12: put_messages(w, 12, m.output); break;
      case 13: put_messages(w, 13, m.value_info); break;
      case 15: put_messages(w, 15, m.sparse_initializer); break;
      default: break;
    }
  });
}

template <class W>
void encode(W& w, const model_proto& m) {
  static constexpr std::uint32_t known[] = {1, 2, 3, 4, 5, 6, 7, 8, 14};
  protobuf::emit_fields(w, m.meta, known, [&](std::uint32_t f) {
    switch (f) {
      case 1: put_int64(w, m.meta, 1, m.ir_version); break;
      case 2: put_string(w, m.meta, 2, m.producer_name); break;
      case 3: put_string(w, m.meta, 3, m.producer_version); break;
      case 4: put_string(w, m.meta, 4, m.domain); break;
      case 5: put_int64(w, m.meta, 5, m.model_version); break;
      case 6: put_string(w, m.meta, 6, m.doc_string); break;
      case 7:
        if (m.meta.has(7) || !m.graph.empty()) put_message(w, 7, m.graph);
        break;
      case 8: put_messages(w, 8, m.opset_import); break;
      case 14: put_messages(w, 14, m.metadata_props); break;
      default: break;
    }
  });
}

template <class W, class M>
void put_message(W& w, std::uint32_t f, const M& m) {
  w.field_message(f, [&](W& ww) { encode(ww, m); });
}

}  // namespace detail

// Serializes any message of proto.hpp (model_proto, graph_proto, tensor_proto...).
template <class Message>
[[nodiscard]] std::vector<std::byte> serialize_message(const Message& m) {
  return protobuf::serialize([&](auto& w) { detail::encode(w, m); });
}

// Serializes a model as it is (external tensors keep their references; their data is not written).
[[nodiscard]] inline std::vector<std::byte> serialize_model(const model_proto& m) { return serialize_message(m); }

}  // namespace bigmodel::io::onnx
