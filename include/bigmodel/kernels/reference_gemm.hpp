#pragma once
// The scalar reference that defines what the int8 GEMM computes, on unpacked weights. Every SIMD kernel
// must match its s32 results bit for bit. Slow on purpose: plain loops, no packing.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "epilogue.hpp"
#include "epilogue_eval.hpp"
#include "packed_weights.hpp"

namespace bigmodel::kernels {

// C[m][n] = epilogue(sum_k A[m][k] * W[k][n]); A is u8 or s8 (its true value, no shift), W s8 in `layout`.
template <class TA, class TC>
void reference_gemm(std::size_t m, std::size_t n, std::size_t k, const TA* a, std::size_t lda, const std::int8_t* w,
                    std::size_t ldw, weight_layout layout, TC* c, std::size_t ldc, const epilogue& ep) {
  static_assert(std::is_same_v<TA, std::uint8_t> || std::is_same_v<TA, std::int8_t>);
  static_assert(is_output_type<TC>);
  std::vector<std::int32_t> colsum(n, 0);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t kk = 0; kk < k; ++kk) colsum[j] += layout == weight_layout::k_by_n ? w[kk * ldw + j] : w[j * ldw + kk];

  detail::resolved_epilogue e;
  e.out = out_type_of<TC>();
  e.colsum = colsum.data();
  e.zero_point = ep.a_zero_point;
  e.row_zero_point = ep.a_row_zero_point;
  e.a_scale = ep.a_scale;
  e.row_scale = ep.a_row_scale;
  e.w_scale = ep.w_scale;
  e.per_channel = ep.w_scale_per_channel;
  e.bias = ep.bias;
  e.act = ep.act;
  e.inv_out_scale = 1.0f / ep.out_scale;
  e.out_zero_point = ep.out_zero_point;

  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      std::uint32_t acc = 0;  // modulo 2^32, as the SIMD accumulators
      for (std::size_t kk = 0; kk < k; ++kk) {
        const std::int32_t wv = layout == weight_layout::k_by_n ? w[kk * ldw + j] : w[j * ldw + kk];
        acc += static_cast<std::uint32_t>(static_cast<std::int32_t>(a[i * lda + kk]) * wv);
      }
      detail::store_scalar(e, i, j, static_cast<std::int32_t>(acc), reinterpret_cast<std::byte*>(c + i * ldc + j));
    }
}

}  // namespace bigmodel::kernels
