// read_file / map_file / write_file_atomic.

#include <catch2/catch.hpp>

#include <bigmodel/io/file.hpp>

#include "io_test_util.hpp"

TEST_CASE("write_file_atomic writes through a temp file and rename", "[io][file]") {
  io_test::scratch_dir dir;
  const auto p = dir / "out.bin";
  bigmodel::io::write_file_atomic(p, std::string_view("first"));
  bigmodel::io::write_file_atomic(p, std::string_view("second"));
  CHECK(bigmodel::io::read_file(p).as_string_view() == "second");
  CHECK(bigmodel::io::map_file(p).as_string_view() == "second");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);  // no temp file left behind

  {  // an uncommitted writer leaves the old file and no temp file
    bigmodel::io::atomic_file_writer w(p);
    w.write("partial", 7);
  }
  CHECK(bigmodel::io::read_file(p).as_string_view() == "second");
  entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);

  bigmodel::io::write_file_atomic(dir / "empty.bin", std::string_view());
  CHECK(bigmodel::io::map_file(dir / "empty.bin").empty());
  CHECK_THROWS_AS(bigmodel::io::write_file_atomic(dir / "no" / "such" / "dir.bin", std::string_view("x")), bigmodel::error);
  CHECK_THROWS_AS(bigmodel::io::read_file(dir / "missing"), bigmodel::error);
  CHECK_THROWS_AS(bigmodel::io::map_file(dir.path), bigmodel::error);  // a folder
}
