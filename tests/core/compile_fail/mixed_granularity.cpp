// A per-tensor quantized weight cannot be passed where a per-channel one is expected.
#include <bigmodel/tensor/qtensor.hpp>

using namespace bigmodel;

static float first_scale(const qtensor<std::int8_t, extents<4, 8>, per_channel<0>>& w) { return w.params()[0].scale; }

int main() {
  tensor<float, extents<4, 8>> w;
#ifdef BIGMODEL_COMPILE_FAIL_CONTROL
  auto q = quantize<std::int8_t, per_channel<0>>(w.view());
#else
  auto q = quantize<std::int8_t, per_tensor>(w.view());
#endif
  return static_cast<int>(first_scale(q));
}
