#pragma once
// One GEMM call described as plain data, and the check that says whether it can run (DESIGN.md section 6:
// kernels never throw; they report a status).

#include <cmath>
#include <cstddef>

#include "epilogue.hpp"
#include "epilogue_eval.hpp"
#include "isa.hpp"
#include "packed_weights.hpp"
#include "status.hpp"

namespace bigmodel::kernels {

struct gemm_args {
  std::size_t m = 0;                   // rows of A and C; N and K come from the packed weights
  const void* a = nullptr;             // M x K, u8 or s8
  bool a_signed = false;               // s8 activations
  std::size_t lda = 0;                 // elements between rows, >= K
  const packed_weights* b = nullptr;
  void* c = nullptr;                   // M x N of c_type
  out_type c_type = out_type::s32;
  std::size_t ldc = 0;                 // elements between rows, >= N
  epilogue ep{};
};

// ok if run_gemm(args) will compute; otherwise why not. The ISA that runs is active_isa(), which must be the
// one the weights were packed for.
[[nodiscard]] inline status can_implement(const gemm_args& x) noexcept {
  if (x.b == nullptr) return status::null_pointer;
  if (x.b->empty()) return status::empty_weights;
  const isa run = active_isa();
  if (!is_supported(run)) return status::isa_unsupported;
  if (x.b->target() != run) return status::isa_mismatch;
  if (x.m > 0 && (x.a == nullptr || x.c == nullptr)) return status::null_pointer;
  if (x.m > 0 && (x.lda < x.b->k() || x.ldc < x.b->n())) return status::bad_leading_dimension;
  const epilogue& e = x.ep;
  if (e.w_scale_per_channel && e.w_scale == nullptr) return status::bad_epilogue;
  const bool float_stage = e.a_scale != 1.0f || e.a_row_scale || e.w_scale || e.bias || e.act != activation::none;
  switch (x.c_type) {
    case out_type::s32:
      if (float_stage || e.requantize) return status::bad_epilogue;
      break;
    case out_type::f32:
      if (e.requantize) return status::bad_epilogue;
      break;
    case out_type::u8:
    case out_type::s8:
      if (!e.requantize || !(e.out_scale > 0.0f) || !std::isfinite(e.out_scale)) return status::bad_epilogue;
      break;
  }
  return status::ok;
}

}  // namespace bigmodel::kernels
