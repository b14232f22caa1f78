#pragma once
// Loading and saving ONNX model files.
//
//   load_model(path, {.load_external = true})   read the file, parse, map external data (zero copy)
//   save_model(model, path, options)            atomic: temp file + rename, side file first
//
// Saving writes external data into one side file next to the model (default "<model file>.data"):
//   - options.external_threshold unset: tensors that are external (and were loaded) stay external, all other
//     tensors are embedded. An external tensor whose location, seen from the output folder, still names the
//     file it was mapped from keeps its reference unchanged, so load -> save in place (or an unmodified model
//     without external data) is written byte for byte as read. Otherwise its bytes go to the new side file;
//   - set: every tensor whose raw bytes are >= the threshold goes to the side file, every other one is
//     embedded (what PyTorch does for models over 2 GB; ONNX's protobuf limit is 2 GB).
// External tensors whose data was not loaded keep their references unchanged.

#include <filesystem>
#include <optional>
#include <string>

#include "../file.hpp"
#include "builders.hpp"
#include "external.hpp"
#include "parse.hpp"
#include "serialize.hpp"

namespace bigmodel::io::onnx {

struct load_options {
  bool load_external = true;  // map external data now (else tensor_bytes() of external tensors throws)
  int max_graph_depth = 64;
};

[[nodiscard]] inline model_proto load_model(const std::filesystem::path& path, const load_options& options = {}) {
  const shared_bytes bytes = read_file(path);
  model_proto m = parse_model(bytes, {.max_graph_depth = options.max_graph_depth, .source = path.string()});
  if (options.load_external) load_external_data(m, path.parent_path());
  return m;
}

struct save_options {
  std::optional<std::size_t> external_threshold;  // bytes; see above
  std::string external_file;                      // side file name, relative to the model's folder
  std::size_t external_alignment = 64;            // offset alignment of each tensor in the side file
};

namespace detail {

inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  const bool same = std::filesystem::equivalent(a, b, ec);
  return !ec && same;
}

inline bool is_loaded_external(const tensor_proto& t) { return t.is_external() && t.external_bytes.owner() != nullptr; }

// An unmodified external tensor whose reference, seen from the output folder, still names the file it
// was mapped from: written back unchanged (load -> save in place keeps the model and side file as they are).
inline bool keeps_reference(const tensor_proto& t, const std::filesystem::path& dir) {
  if (!is_loaded_external(t) || t.external_source.empty()) return false;
  const auto info = external_data_info(t);
  return same_file(resolve_external_path(dir, info.location), t.external_source);
}

struct relocation_plan {
  bool any_move = false;     // some tensor is written to or embedded from a side file
  bool keep_refs = true;     // may unmodified external references be kept?
};

inline relocation_plan plan_relocation(const model_proto& m, const std::filesystem::path& dir,
                                       const std::filesystem::path& side_path, const save_options& o) {
  relocation_plan p;
  p.keep_refs = !o.external_threshold;
  bool writes_side = false, kept_side = false;
  for_each_tensor(m.graph, [&](const tensor_proto& t) {
    if (t.is_external()) {
      if (!is_loaded_external(t)) return;
      if (p.keep_refs && keeps_reference(t, dir)) {
        kept_side = kept_side || same_file(t.external_source, side_path);
        return;
      }
      p.any_move = true;
      writes_side = writes_side || !o.external_threshold || t.external_bytes.size() >= *o.external_threshold;
    } else if (o.external_threshold && t.has_raw_data() && t.raw_data.size() >= *o.external_threshold) {
      p.any_move = writes_side = true;
    }
  });
  if (writes_side && kept_side) p.keep_refs = false;  // the side file is rewritten: rewrite every tensor in it
  return p;
}

inline void set_external_ref(tensor_proto& t, const std::string& location, std::size_t offset, std::size_t length) {
  t.external_data.clear();
  for (auto [k, v] : {std::pair<const char*, std::string>{"location", location}, {"offset", std::to_string(offset)},
                      {"length", std::to_string(length)}}) {
    string_string_entry_proto e;
    e.key = k;
    e.value = std::move(v);
    t.external_data.push_back(std::move(e));
  }
  t.data_location = static_cast<std::int32_t>(data_location::external);
  t.clear_raw_data();
  t.external_bytes = {};
  t.external_source.clear();
}

inline void write_model_file(const model_proto& m, const std::filesystem::path& path) {
  atomic_file_writer out(path);
  const auto bytes = serialize_model(m);
  out.write(bytes);
  out.commit();
}

}  // namespace detail

inline void save_model(const model_proto& model, const std::filesystem::path& path, const save_options& options = {}) {
  const std::string side_name = options.external_file.empty() ? path.filename().string() + ".data" : options.external_file;
  const auto dir = path.parent_path();
  const auto side_path = resolve_external_path(dir, side_name);
  const auto plan = detail::plan_relocation(model, dir, side_path, options);
  if (!plan.any_move) return detail::write_model_file(model, path);

  const std::size_t align = options.external_alignment ? options.external_alignment : 1;
  model_proto copy = model;  // shares all tensor bytes
  std::optional<atomic_file_writer> side;
  for_each_tensor(copy.graph, [&](tensor_proto& t) {
    if (t.is_external() && !detail::is_loaded_external(t)) return;  // unresolved: keep the reference
    if (plan.keep_refs && detail::keeps_reference(t, dir)) return;
    if (!has_byte_data(t)) return;  // typed fields stay embedded
    const shared_bytes data = tensor_data(t);
    const bool external = options.external_threshold ? data.size() >= *options.external_threshold : t.is_external();
    if (!external) {
      if (t.is_external()) set_tensor_data(t, data);
      return;
    }
    if (!side) side.emplace(side_path);
    static constexpr std::byte zeros[256] = {};
    while (side->bytes_written() % align)
      side->write(zeros, std::min<std::size_t>(sizeof zeros, align - side->bytes_written() % align));
    const std::size_t offset = side->bytes_written();
    side->write(data.span());
    detail::set_external_ref(t, side_name, offset, data.size());
  });
  if (side) side->commit();
  detail::write_model_file(copy, path);
}

}  // namespace bigmodel::io::onnx
