#pragma once
// What a kernel entry point reports instead of throwing (DESIGN.md section 6: kernels never throw).

#include <string_view>

namespace bigmodel::kernels {

enum class status {
  ok = 0,
  null_pointer,         // a, c or the packed weights' data missing
  bad_leading_dimension,  // lda < K or ldc < N
  bad_epilogue,         // e.g. a scale or bias on a raw s32 output, non-finite or non-positive output scale
  isa_mismatch,         // weights packed for another ISA than the one selected to run
  isa_unsupported,      // the ISA is not compiled in, or this CPU lacks it
  empty_weights,        // packed_weights default-constructed (never packed)
  execution_failed,     // the caller's parallel_for threw, or threads could not be started
};

[[nodiscard]] constexpr std::string_view to_string(status s) noexcept {
  switch (s) {
    case status::ok: return "ok";
    case status::null_pointer: return "null_pointer";
    case status::bad_leading_dimension: return "bad_leading_dimension";
    case status::bad_epilogue: return "bad_epilogue";
    case status::isa_mismatch: return "isa_mismatch";
    case status::isa_unsupported: return "isa_unsupported";
    case status::empty_weights: return "empty_weights";
    case status::execution_failed: return "execution_failed";
  }
  return "unknown";
}

}  // namespace bigmodel::kernels
