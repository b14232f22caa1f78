// Per-channel quantization along an axis the tensor does not have must not compile.
#include <bigmodel/tensor/qtensor.hpp>

using namespace bigmodel;

int main() {
  tensor<float, extents<4, 8>> w;
#ifdef BIGMODEL_COMPILE_FAIL_CONTROL
  auto q = quantize<std::int8_t, per_channel<1>>(w.view());
#else
  auto q = quantize<std::int8_t, per_channel<2>>(w.view());
#endif
  return static_cast<int>(q.params().size());
}
