#pragma once
// The ONNX protobuf messages as plain structs (field names and numbers from onnx.proto, IR version 8,
// opsets 13-17). Each struct has its interpreted fields plus `meta` (protobuf::message_meta), which keeps
// field order, presence and every field this version does not interpret, so parse -> serialize of an
// unmodified model reproduces the input bytes.
//
// Interpreted: ModelProto, OperatorSetIdProto, StringStringEntryProto, GraphProto, NodeProto,
// AttributeProto (all value kinds), TensorProto, SparseTensorProto, ValueInfoProto, TypeProto (tensor and
// sparse-tensor types), TensorShapeProto. Kept verbatim as unknown fields: training_info, functions,
// quantization_annotation, TensorProto.segment, TypeProto sequence/map/optional types, anything newer.
//
// Tensor bytes are shared_bytes: views into the loaded file (or into a memory map for external data), kept
// alive by shared ownership -- copying a model copies no weights.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../../core/dtype.hpp"
#include "../protobuf/message_meta.hpp"
#include "../shared_bytes.hpp"

namespace bigmodel::io::onnx {

using protobuf::message_meta;

// A nullable, deep-copying owner (for the recursive AttributeProto.g).
template <class T>
class boxed {
 public:
  boxed() = default;
  boxed(const T& v) : p_(std::make_unique<T>(v)) {}  // NOLINT: implicit by design
  boxed(T&& v) : p_(std::make_unique<T>(std::move(v))) {}
  boxed(const boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  boxed(boxed&&) noexcept = default;
  boxed& operator=(const boxed& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  boxed& operator=(boxed&&) noexcept = default;
  ~boxed() = default;

  [[nodiscard]] explicit operator bool() const noexcept { return p_ != nullptr; }
  [[nodiscard]] bool has_value() const noexcept { return p_ != nullptr; }
  T& operator*() const { return *p_; }
  T* operator->() const { return p_.get(); }
  [[nodiscard]] T* get() const noexcept { return p_.get(); }
  T& emplace() {
    p_ = std::make_unique<T>();
    return *p_;
  }
  void reset() noexcept { p_.reset(); }

 private:
  std::unique_ptr<T> p_;
};

// ONNX IR version written by PyTorch 1.13 (opset 13-17 models).
inline constexpr std::int64_t default_ir_version = 8;

// The lowest IR version that may declare this default-domain opset (the ONNX versioning table: IR 3 for
// opset 8, 4 for 9, 5 for 10, 6 for 11, 7 for 12-14, 8 for 15-18, 9 for 19-20, 10 for 21-22, 11 from 23).
constexpr std::int64_t min_ir_version_for_opset(std::int64_t opset) noexcept {
  if (opset <= 8) return 3;
  if (opset <= 11) return opset - 5;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

struct string_string_entry_proto {
  std::string key;    // 1
  std::string value;  // 2
  message_meta meta;
};

struct operator_set_id_proto {
  std::string domain;        // 1 ("" and "ai.onnx" are the default domain)
  std::int64_t version = 0;  // 2
  message_meta meta;
};

struct tensor_shape_proto {
  struct dimension {
    std::optional<std::int64_t> dim_value;  // 1 (oneof value)
    std::optional<std::string> dim_param;   // 2 (oneof value): symbolic, e.g. "batch"
    std::string denotation;                 // 3
    message_meta meta;
  };
  std::vector<dimension> dim;  // 1
  message_meta meta;
};

// TypeProto.Tensor and TypeProto.SparseTensor (same layout).
struct tensor_type_proto {
  std::int32_t elem_type = 0;               // 1: a bigmodel::dtype / TensorProto.DataType value
  std::optional<tensor_shape_proto> shape;  // 2: absent = unknown rank; present and empty = scalar
  message_meta meta;
};

struct type_proto {
  std::optional<tensor_type_proto> tensor_type;         // 1
  std::optional<tensor_type_proto> sparse_tensor_type;  // 8
  std::string denotation;                               // 6
  message_meta meta;  // sequence_type (4), map_type (5), optional_type (9) are kept here verbatim
};

struct value_info_proto {
  std::string name;                // 1
  std::optional<type_proto> type;  // 2
  std::string doc_string;          // 3
  message_meta meta;
};

enum class data_location : std::int32_t { default_ = 0, external = 1 };

struct tensor_proto {
  std::vector<std::int64_t> dims;                    // 1
  std::int32_t data_type = 0;                        // 2: bigmodel::dtype value
  std::vector<float> float_data;                     // 4 (packed)
  std::vector<std::int32_t> int32_data;              // 5 (packed)
  std::vector<std::string> string_data;              // 6
  std::vector<std::int64_t> int64_data;              // 7 (packed)
  std::string name;                                  // 8
  std::string doc_string;                            // 12
  shared_bytes raw_data;                             // 9 (little-endian, row-major)
  std::vector<string_string_entry_proto> external_data;  // 13: location, offset, length, checksum
  std::int32_t data_location = 0;                    // 14: 1 = EXTERNAL
  std::vector<double> double_data;                   // 10 (packed)
  std::vector<std::uint64_t> uint64_data;            // 11 (packed)
  message_meta meta;

  // Not serialized: the bytes of an external tensor once load_model resolved them (a view of a memory map),
  // and the file they map. To change an external tensor's values use set_tensor_data (tensor.hpp).
  shared_bytes external_bytes;
  std::filesystem::path external_source;

  [[nodiscard]] dtype type() const noexcept { return static_cast<dtype>(data_type); }
  [[nodiscard]] bool is_external() const noexcept { return data_location == static_cast<std::int32_t>(data_location::external); }
  [[nodiscard]] bool has_raw_data() const noexcept { return meta.has(9) || !raw_data.empty(); }
  void set_raw_data(shared_bytes b) {
    raw_data = std::move(b);
    meta.mark(9);
  }
  void clear_raw_data() {
    raw_data = {};
    meta.clear(9);
  }
};

struct sparse_tensor_proto {
  tensor_proto values;              // 1
  tensor_proto indices;             // 2
  std::vector<std::int64_t> dims;   // 3
  message_meta meta;
};

enum class attribute_type : std::int32_t {
  undefined = 0,
  float_ = 1,
  int_ = 2,
  string = 3,
  tensor = 4,
  graph = 5,
  floats = 6,
  ints = 7,
  strings = 8,
  tensors = 9,
  graphs = 10,
  sparse_tensor = 11,
  sparse_tensors = 12,
  type_proto = 13,
  type_protos = 14,
};

struct graph_proto;

struct attribute_proto {
  std::string name;                                // 1
  std::string ref_attr_name;                       // 21
  std::string doc_string;                          // 13
  std::int32_t type = 0;                           // 20: attribute_type value
  float f = 0;                                     // 2
  std::int64_t i = 0;                              // 3
  std::string s;                                   // 4 (bytes)
  tensor_proto t;                                  // 5 (written when present or type == tensor)
  boxed<graph_proto> g;                            // 6
  boxed<sparse_tensor_proto> sparse_tensor;        // 22 (boxed: rare and large)
  boxed<type_proto> tp;                            // 14 (boxed: rare)
  std::vector<float> floats;                       // 7
  std::vector<std::int64_t> ints;                  // 8
  std::vector<std::string> strings;                // 9
  std::vector<tensor_proto> tensors;               // 10
  std::vector<graph_proto> graphs;                 // 11
  std::vector<sparse_tensor_proto> sparse_tensors; // 23
  std::vector<type_proto> type_protos;             // 15
  message_meta meta;

  [[nodiscard]] attribute_type kind() const noexcept { return static_cast<attribute_type>(type); }
};

struct node_proto {
  std::vector<std::string> input;           // 1 ("" = omitted optional input)
  std::vector<std::string> output;          // 2
  std::string name;                         // 3
  std::string op_type;                      // 4
  std::string domain;                       // 7
  std::vector<attribute_proto> attribute;   // 5
  std::string doc_string;                   // 6
  message_meta meta;
};

struct graph_proto {
  std::vector<node_proto> node;                           // 1
  std::string name;                                       // 2
  std::vector<tensor_proto> initializer;                  // 5
  std::vector<sparse_tensor_proto> sparse_initializer;    // 15
  std::string doc_string;                                 // 10
  std::vector<value_info_proto> input;                    // 11
  std::vector<value_info_proto> output;                   // 12
  std::vector<value_info_proto> value_info;               // 13
  message_meta meta;  // quantization_annotation (14) kept here verbatim

  [[nodiscard]] bool empty() const noexcept {
    return node.empty() && name.empty() && initializer.empty() && sparse_initializer.empty() && doc_string.empty() &&
           input.empty() && output.empty() && value_info.empty() && meta.empty();
  }
};

struct model_proto {
  std::int64_t ir_version = 0;                             // 1
  std::vector<operator_set_id_proto> opset_import;         // 8
  std::string producer_name;                               // 2
  std::string producer_version;                            // 3
  std::string domain;                                      // 4
  std::int64_t model_version = 0;                          // 5
  std::string doc_string;                                  // 6
  graph_proto graph;                                       // 7 (written when present or non-empty)
  std::vector<string_string_entry_proto> metadata_props;   // 14
  message_meta meta;  // training_info (20), functions (25) kept here verbatim
};

}  // namespace bigmodel::io::onnx
