#pragma once
// Helpers shared by the io tests: test data folder, scratch folders, byte conversions.

#include <bigmodel/io/file.hpp>
#include <bigmodel/io/onnx.hpp>
#include <bigmodel/io/protobuf.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

namespace io_test {

namespace fs = std::filesystem;

inline fs::path data_dir() { return fs::path(BIGMODEL_IO_TEST_DATA); }

// A fresh folder removed at scope exit.
struct scratch_dir {
  fs::path path;
  scratch_dir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("bigmodel_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

inline bigmodel::io::shared_bytes bytes_of(const std::vector<std::byte>& v) { return bigmodel::io::shared_bytes::copy_of(v); }
inline bigmodel::io::shared_bytes bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return bigmodel::io::shared_bytes::from_vector(std::move(b));
}
inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The id of the bigmodel::error f throws, or "no error".
inline std::string error_id(const std::function<void()>& f) {
  try {
    f();
  } catch (const bigmodel::error& e) {
    return e.id();
  }
  return "no error";
}

// Does /usr/bin/python3 with the onnx package exist? (Optional checks only; tests never need it.)
inline bool python_onnx_available() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") == 0;
  return ok;
}

}  // namespace io_test
