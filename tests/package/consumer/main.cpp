// A consumer of the installed / vendored library: no -m flags, no include paths but the target's.
#include <bigmodel/opt.hpp>

#include <cstdio>

int main() {
  bigmodel::tensor<float, bigmodel::extents<bigmodel::dyn, 4>> w(3);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 4; ++j) w(i, j) = static_cast<float>(i) - static_cast<float>(j) * 0.5f;
  const auto q = bigmodel::quantize<std::int8_t, bigmodel::per_channel<0>>(w.view());
  const auto back = bigmodel::dequantize(q);
  const float err = back(2, 3) - w(2, 3);
  if (err > q.params()[2].scale || err < -q.params()[2].scale) return 1;
  std::printf("cpu: %s\n", bigmodel::cpu().to_string().c_str());
  std::printf("bigmodel consumer ok\n");
  return 0;
}
