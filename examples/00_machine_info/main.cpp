// bigmodel-info: what the library sees of this machine, and a short exercise of the tensor core.
#include <bigmodel/opt.hpp>

#include <cmath>
#include <string>
#include <cstdio>
#include <vector>

int main() {
  using namespace bigmodel;
  std::printf("bigmodel %d.%d.%d\n", BIGMODEL_VERSION_MAJOR, BIGMODEL_VERSION_MINOR, BIGMODEL_VERSION_PATCH);
  std::printf("CPU features: %s\n", cpu().to_string().c_str());
  std::printf("int8 GEMM kernels compiled:");
  for (auto i : kernels::compiled_isas())
    std::printf(" %s%s", std::string(kernels::isa_name(i)).c_str(), kernels::is_supported(i) ? "" : " (unsupported here)");
  std::printf("\nint8 GEMM kernel in use: %s (override with BIGMODEL_ISA=avx2 ...)\n",
              std::string(kernels::isa_name(kernels::active_isa())).c_str());

  // A 4 x 8 weight, quantized per output channel to int8 and group-wise to int4, then back.
  tensor<float, extents<4, 8>> w;
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 8; ++j) w(i, j) = (static_cast<float>(i) + 1.0f) * std::sin(static_cast<float>(8 * i + j));
  const auto q8 = quantize<std::int8_t, per_channel<0>>(w.view());
  const auto q4 = quantize<s4x2, per_group<1, 4>>(w.view());
  const auto d8 = dequantize(q8), d4 = dequantize(q4);
  float e8 = 0, e4 = 0;
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 8; ++j) {
      e8 = std::max(e8, std::abs(d8(i, j) - w(i, j)));
      e4 = std::max(e4, std::abs(d4(i, j) - w(i, j)));
    }
  std::printf("int8 per-channel: %zu bytes, max error %.5f | int4 groups of 4: %zu bytes, max error %.5f\n",
              q8.storage_bytes(), static_cast<double>(e8), q4.storage_bytes(), static_cast<double>(e4));

  // f16 / bf16 conversion of the same weights.
  std::vector<f16> h(w.size());
  std::vector<bf16> b(w.size());
  convert(std::span<const float>(w.data(), w.size()), std::span<f16>(h));
  convert(std::span<const float>(w.data(), w.size()), std::span<bf16>(b));
  std::printf("w(3,7) = %g, as f16 %g, as bf16 %g\n", static_cast<double>(w(3, 7)),
              static_cast<double>(to_float(h.back())), static_cast<double>(to_float(b.back())));

  // Eigen sees the same memory.
  const auto m = as_eigen(w.view());
  std::printf("Eigen map shares storage: %s, Frobenius norm %.4f\n", m.data() == w.data() ? "yes" : "no",
              static_cast<double>(m.norm()));
  return 0;
}
