#pragma once
// File helpers shared by every reader/writer in bigmodel::io:
//   read_file(path)            -> shared_bytes owning the whole file's contents
//   map_file(path)             -> shared_bytes viewing a read-only memory map (POSIX; elsewhere: read_file)
//   atomic_file_writer         -> writes <path>.tmp-XXXX in the same folder, rename()s on commit(), removes
//                                 the temp file if destroyed uncommitted: an output is never half-written
//   write_file_atomic(path, bytes)
// Errors are bigmodel::error with ids io.open, io.read, io.write, io.map.

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../core/error.hpp"
#include "shared_bytes.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define BIGMODEL_IO_POSIX 1
#else
#define BIGMODEL_IO_POSIX 0
#endif

namespace bigmodel::io {

namespace detail {
inline std::string errno_text() { return std::strerror(errno); }

struct file_closer {
  void operator()(std::FILE* f) const noexcept {
    if (f) std::fclose(f);
  }
};
using unique_file = std::unique_ptr<std::FILE, file_closer>;
}  // namespace detail

// Reads a whole file into an owned buffer.
[[nodiscard]] inline shared_bytes read_file(const std::filesystem::path& path) {
  detail::unique_file f(std::fopen(path.c_str(), "rb"));
  require(f != nullptr, "io.open", "cannot open file: " + detail::errno_text(), path.string());
  std::error_code ec;
  const auto expected = std::filesystem::file_size(path, ec);
  std::vector<std::byte> data;
  if (!ec) data.reserve(static_cast<std::size_t>(expected));
  std::byte chunk[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, f.get());
    data.insert(data.end(), chunk, chunk + n);
    if (n < sizeof chunk) break;
  }
  require(!std::ferror(f.get()), "io.read", "error reading file", path.string());
  return shared_bytes::from_vector(std::move(data));
}

#if BIGMODEL_IO_POSIX
namespace detail {
struct mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  mapping(void* a, std::size_t s) : addr(a), size(s) {}
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping() {
    if (addr && size) ::munmap(addr, size);
  }
};
}  // namespace detail
#endif

// Maps a whole file read-only. The mapping lives as long as any shared_bytes viewing it.
[[nodiscard]] inline shared_bytes map_file(const std::filesystem::path& path) {
#if BIGMODEL_IO_POSIX
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  require(fd >= 0, "io.open", "cannot open file: " + detail::errno_text(), path.string());
  struct ::stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw error("io.open", "not a regular file", path.string());
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return shared_bytes(std::make_shared<int>(0), nullptr, 0);
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string why = addr == MAP_FAILED ? detail::errno_text() : std::string();
  ::close(fd);
  require(addr != MAP_FAILED, "io.map", "cannot map file: " + why, path.string());
  auto m = std::make_shared<const detail::mapping>(addr, size);
  return shared_bytes(m, static_cast<const std::byte*>(addr), size);
#else
  return read_file(path);
#endif
}

// Writes a file through a temporary sibling and an atomic rename.
class atomic_file_writer {
 public:
  explicit atomic_file_writer(std::filesystem::path path) : path_(std::move(path)) {
    static std::atomic<unsigned> counter{0};
    auto name = path_.filename().string();
    require(!name.empty(), "io.open", "output path has no file name", path_.string());
#if BIGMODEL_IO_POSIX
    const auto pid = static_cast<unsigned long>(::getpid());
#else
    const unsigned long pid = 0;
#endif
    tmp_ = path_;
    tmp_.replace_filename("." + name + ".tmp-" + std::to_string(pid) + "-" + std::to_string(counter++));
    file_.reset(std::fopen(tmp_.c_str(), "wb"));
    require(file_ != nullptr, "io.open", "cannot create temporary file: " + detail::errno_text(), tmp_.string());
  }
  atomic_file_writer(const atomic_file_writer&) = delete;
  atomic_file_writer& operator=(const atomic_file_writer&) = delete;
  ~atomic_file_writer() {
    if (!committed_) {
      file_.reset();
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
    }
  }

  void write(const void* data, std::size_t n) {
    if (n == 0) return;
    require(std::fwrite(data, 1, n, file_.get()) == n, "io.write", "write failed: " + detail::errno_text(), tmp_.string());
    written_ += n;
  }
  void write(std::span<const std::byte> s) { write(s.data(), s.size()); }
  [[nodiscard]] std::size_t bytes_written() const noexcept { return written_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  // Flushes, syncs and renames the temporary file over path. After commit the writer is inert.
  void commit() {
    require(!committed_, "io.write", "file already committed", path_.string());
    require(std::fflush(file_.get()) == 0, "io.write", "flush failed: " + detail::errno_text(), tmp_.string());
#if BIGMODEL_IO_POSIX
    require(::fsync(::fileno(file_.get())) == 0, "io.write", "fsync failed: " + detail::errno_text(), tmp_.string());
#endif
    const bool closed = std::fclose(file_.release()) == 0;
    require(closed, "io.write", "close failed: " + detail::errno_text(), tmp_.string());
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);
    require(!ec, "io.write", "cannot rename temporary file: " + ec.message(), tmp_.string() + " -> " + path_.string());
    committed_ = true;
  }

 private:
  std::filesystem::path path_, tmp_;
  detail::unique_file file_;
  std::size_t written_ = 0;
  bool committed_ = false;
};

inline void write_file_atomic(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  atomic_file_writer w(path);
  w.write(bytes);
  w.commit();
}
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  write_file_atomic(path, std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

}  // namespace bigmodel::io
