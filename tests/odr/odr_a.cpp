#include <bigmodel/opt.hpp>

#include <catch2/catch.hpp>

float odr_b_round_trip(float x);  // defined in odr_b.cpp
const bigmodel::cpu_features* odr_b_cpu();

TEST_CASE("two TUs including <bigmodel/opt.hpp> link and share one state", "[odr]") {
  CHECK(bigmodel::to_float(bigmodel::to_f16(1.25f)) == odr_b_round_trip(1.25f));
  // Function-local statics in inline functions are one object across TUs.
  CHECK(&bigmodel::cpu() == odr_b_cpu());
}
