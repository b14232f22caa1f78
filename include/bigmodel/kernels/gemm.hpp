#pragma once
// The int8 GEMM entry points: C = epilogue(A x B) with A u8/s8 (M x K, any leading dimension), B packed s8.
//   run_gemm(args, exec)  -- noexcept, returns a status (what engines call)
//   gemm(m, a, lda, packed, c, ldc, epilogue, exec) -- throws bigmodel::error("kernels.<status>") instead

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../core/error.hpp"
#include "gemm_args.hpp"
#include "gemm_driver.hpp"
#include "qu8s8_gemm__avx2.hpp"
#include "qu8s8_gemm__avx512bw.hpp"
#include "qu8s8_gemm__avx512vnni.hpp"
#include "qu8s8_gemm__scalar.hpp"
#include "qu8s8_gemm__xsimd.hpp"

namespace bigmodel::kernels {

namespace detail {
[[nodiscard]] inline const isa_kernels& kernels_for(isa i) noexcept {
  switch (i) {
#if BIGMODEL_KERNELS_X86
    case isa::avx512vnni: return avx512vnni::kernels();
    case isa::avx512bw: return avx512bw::kernels();
    case isa::avx2: return avx2::kernels();
#endif
    case isa::xsimd: return xsimd_baseline::kernels();
    default: break;
  }
  return scalar::kernels();
}
}  // namespace detail

[[nodiscard]] inline status run_gemm(const gemm_args& args, const execution& exec = {}) noexcept {
  if (const status s = can_implement(args); s != status::ok) return s;
  const isa i = args.b->target();
  detail::note_used(i);
  return detail::run_blocked(detail::kernels_for(i), config_for(i), args, exec);
}

namespace detail {
// The GEMM with u8 A written by `produce` straight into the packed layout, row block by row block (see
// run_blocked_produced); args.a must be non-null but is not read. For linear_dynamic, which quantizes f32
// activations there instead of into a u8 copy that the GEMM would then pack again.
[[nodiscard]] inline status run_gemm_produced(const gemm_args& args, const a_producer& produce, const execution& exec = {}) noexcept {
  if (const status s = can_implement(args); s != status::ok) return s;
  if (args.a_signed) return status::bad_epilogue;  // produced A is u8
  const isa i = args.b->target();
  note_used(i);
  return run_blocked_produced(kernels_for(i), config_for(i), args, produce, exec);
}
}  // namespace detail

template <class TA, class TC>
[[nodiscard]] gemm_args make_gemm_args(std::size_t m, const TA* a, std::size_t lda, const packed_weights& b, TC* c,
                                       std::size_t ldc, const epilogue& ep) noexcept {
  static_assert(std::is_same_v<TA, std::uint8_t> || std::is_same_v<TA, std::int8_t>, "activations are u8 or s8");
  static_assert(is_output_type<TC>, "C is std::int32_t, float, std::uint8_t or std::int8_t");
  return gemm_args{m, a, std::is_same_v<TA, std::int8_t>, lda, &b, c, out_type_of<TC>(), ldc, ep};
}

// Throws bigmodel::error with id "kernels.<status>" (e.g. "kernels.isa_mismatch") if the call cannot run.
template <class TA, class TC>
void gemm(std::size_t m, const TA* a, std::size_t lda, const packed_weights& b, TC* c, std::size_t ldc,
          const epilogue& ep = {}, const execution& exec = {}) {
  const status s = run_gemm(make_gemm_args(m, a, lda, b, c, ldc, ep), exec);
  if (s != status::ok)
    throw error("kernels." + std::string(to_string(s)), "int8 gemm cannot run",
                "m=" + std::to_string(m) + " n=" + std::to_string(b.n()) + " k=" + std::to_string(b.k()) +
                    " packed for " + std::string(isa_name(b.target())) + ", active " + std::string(isa_name(active_isa())));
}

}  // namespace bigmodel::kernels
