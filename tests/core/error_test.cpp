#include <bigmodel/core/error.hpp>

#include <catch2/catch.hpp>
#include <string>

TEST_CASE("bigmodel::error carries a stable id and context", "[error]") {
  try {
    bigmodel::require(false, "onnx.truncated", "file ends inside a field", "model.onnx offset 17");
    FAIL("require(false) must throw");
  } catch (const bigmodel::error& e) {
    CHECK(e.id() == "onnx.truncated");
    CHECK(e.context() == "model.onnx offset 17");
    const std::string what = e.what();
    CHECK(what.find("file ends inside a field") != std::string::npos);
    CHECK(what.find("model.onnx offset 17") != std::string::npos);
    CHECK(what.find("[onnx.truncated]") != std::string::npos);
  }
  CHECK_NOTHROW(bigmodel::require(true, "x", "y"));
  // Catchable as the standard type.
  CHECK_THROWS_AS(throw bigmodel::error("a.b", "c"), std::runtime_error);
}
