#pragma once
// External tensor data (TensorProto.data_location = EXTERNAL, external_data keys location/offset/length):
// resolved relative to the model's folder and read through a memory map, so tensor_bytes() of an external
// tensor points into the mapping (no copy). One mapping per side file, shared by all its tensors.
// A location that could leave the model's folder -- absolute, with a root name, containing "..", or a
// symlink resolving outside -- is refused (onnx.external_path). Offsets/lengths past the end of the file or
// not matching the tensor's shape give onnx.external_range / onnx.raw_data_size.

#include <charconv>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "../file.hpp"
#include "builders.hpp"
#include "proto.hpp"
#include "tensor.hpp"

namespace bigmodel::io::onnx {

struct external_info {
  std::string location;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;  // absent: to the end of the file
  std::string checksum;                 // kept, not verified
};

namespace detail {
inline std::uint64_t parse_u64(std::string_view s, std::string_view key, const tensor_proto& t) {
  std::uint64_t v = 0;
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  require(!s.empty() && ec == std::errc() && p == end, "onnx.external_data",
          "external_data '" + std::string(key) + "' is not a non-negative integer: '" + std::string(s) + "'", tensor_context(t));
  return v;
}
}  // namespace detail

// Reads the external_data entries of a tensor.
[[nodiscard]] inline external_info external_data_info(const tensor_proto& t) {
  external_info info;
  for (const auto& e : t.external_data) {
    if (e.key == "location") info.location = e.value;
    else if (e.key == "offset") info.offset = detail::parse_u64(e.value, e.key, t);
    else if (e.key == "length") info.length = detail::parse_u64(e.value, e.key, t);
    else if (e.key == "checksum") info.checksum = e.value;
  }
  require(!info.location.empty(), "onnx.external_data", "external tensor has no location", detail::tensor_context(t));
  return info;
}

// base_dir / location, refusing anything that could leave base_dir.
[[nodiscard]] inline std::filesystem::path resolve_external_path(const std::filesystem::path& base_dir, std::string_view location) {
  namespace fs = std::filesystem;
  const std::string ctx = "location '" + std::string(location) + "'";
  require(!location.empty(), "onnx.external_path", "empty external data location", ctx);
  require(location.find('\0') == std::string_view::npos, "onnx.external_path", "location contains a NUL byte", ctx);
  const fs::path rel(location);
  require(!rel.is_absolute() && !rel.has_root_name() && !rel.has_root_directory(), "onnx.external_path",
          "absolute external data location refused", ctx);
  for (const auto& part : rel)
    require(part != "..", "onnx.external_path", "external data location escapes the model's folder", ctx);
  const fs::path full = base_dir / rel;
  std::error_code ec;
  if (fs::exists(full, ec)) {  // symlinks must not lead outside either
    const fs::path real = fs::canonical(full, ec);
    const fs::path root = fs::canonical(base_dir.empty() ? fs::path(".") : base_dir, ec);
    if (!ec) {
      auto [r, f] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
      require(r == root.end(), "onnx.external_path", "external data location resolves outside the model's folder", ctx);
    }
  }
  return full;
}

// Maps each side file once.
class external_data_cache {
 public:
  shared_bytes get(const std::filesystem::path& p) {
    auto it = maps_.find(p);
    if (it == maps_.end()) it = maps_.emplace(p, map_file(p)).first;
    return it->second;
  }

 private:
  std::map<std::filesystem::path, shared_bytes> maps_;
};

// Resolves one external tensor: t.external_bytes becomes a view of the mapped side file.
inline void load_external_data(tensor_proto& t, const std::filesystem::path& base_dir, external_data_cache& cache) {
  if (!t.is_external()) return;
  const external_info info = external_data_info(t);
  const auto path = resolve_external_path(base_dir, info.location);
  const shared_bytes file = cache.get(path);
  const std::string ctx = detail::tensor_context(t) + ", file " + path.string();
  require(info.offset <= file.size(), "onnx.external_range",
          "offset " + std::to_string(info.offset) + " is past the end of the " + std::to_string(file.size()) + "-byte file", ctx);
  const std::uint64_t length = info.length.value_or(file.size() - info.offset);
  require(length <= file.size() - info.offset, "onnx.external_range",
          "offset " + std::to_string(info.offset) + " + length " + std::to_string(length) + " is past the end of the " +
              std::to_string(file.size()) + "-byte file",
          ctx);
  const std::size_t n = element_count(t);
  if (bit_size(t.type()) != 0)
    require(length == storage_bytes(t.type(), n), "onnx.raw_data_size",
            "external data has " + std::to_string(length) + " bytes, the shape needs " + std::to_string(storage_bytes(t.type(), n)),
            ctx);
  t.external_bytes = file.subview(static_cast<std::size_t>(info.offset), static_cast<std::size_t>(length));
  t.external_source = path;
}

// Resolves every external tensor of a model (including subgraphs) relative to base_dir.
inline void load_external_data(model_proto& m, const std::filesystem::path& base_dir) {
  external_data_cache cache;
  for_each_tensor(m.graph, [&](tensor_proto& t) { load_external_data(t, base_dir, cache); });
}

}  // namespace bigmodel::io::onnx
