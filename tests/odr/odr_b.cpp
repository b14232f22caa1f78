#include <bigmodel/opt.hpp>

float odr_b_round_trip(float x) { return bigmodel::to_float(bigmodel::to_f16(x)); }
const bigmodel::cpu_features* odr_b_cpu() { return &bigmodel::cpu(); }
