#pragma once
// The committed fixtures (tests/fixtures, found through BIGMODEL_SOURCE_DIR) and .npy loading for the runtime tests.

#include <bigmodel/io/npy.hpp>
#include <bigmodel/tensor/dynamic_tensor.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace bigmodel::test {

inline std::filesystem::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  return std::filesystem::path(src ? src : ".") / "tests" / "fixtures";
}

inline dynamic_tensor load_npy(const std::filesystem::path& p) {
  auto a = io::read_npy(p);
  dynamic_tensor t(a.type, a.shape);
  if (!a.data.empty()) std::memcpy(t.mutable_data(), a.data.data(), a.data.size());
  return t;
}

}  // namespace bigmodel::test
