#pragma once
// Library-wide macros. Everything bigmodel defines is spelled BIGMODEL_*.

#include <cstdio>
#include <cstdlib>

#define BIGMODEL_VERSION_MAJOR 0
#define BIGMODEL_VERSION_MINOR 1
#define BIGMODEL_VERSION_PATCH 0

#if defined(__x86_64__) || defined(_M_X64)
#define BIGMODEL_X86_64 1
#else
#define BIGMODEL_X86_64 0
#endif

// Target regions: functions defined between BIGMODEL_TARGET_BEGIN("avx2,fma") and BIGMODEL_TARGET_END are
// compiled for those instruction sets without -m flags (callers check the CPU before calling them). Inside a
// region GCC's maybe-uninitialized warnings are off: GCC 12 reports the deliberate self-initialization inside
// _mm512_undefined_*(). Regions do not nest; end one before beginning another.
#define BIGMODEL_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define BIGMODEL_TARGET_BEGIN(features) \
  BIGMODEL_PRAGMA(clang attribute push(__attribute__((target(features))), apply_to = function))
#define BIGMODEL_TARGET_END BIGMODEL_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define BIGMODEL_TARGET_BEGIN(features)                                                                    \
  BIGMODEL_PRAGMA(GCC diagnostic push)                                                                     \
  BIGMODEL_PRAGMA(GCC diagnostic ignored "-Wmaybe-uninitialized")                                          \
  BIGMODEL_PRAGMA(GCC diagnostic ignored "-Wuninitialized")                                                \
  BIGMODEL_PRAGMA(GCC push_options)                                                                        \
  BIGMODEL_PRAGMA(GCC target(features))
#define BIGMODEL_TARGET_END BIGMODEL_PRAGMA(GCC pop_options) BIGMODEL_PRAGMA(GCC diagnostic pop)
#else
#define BIGMODEL_TARGET_BEGIN(features)
#define BIGMODEL_TARGET_END
#endif

// Hot-path precondition check. Kernels never throw: they assert. Define BIGMODEL_ASSERT before including
// any bigmodel header to route failures elsewhere (or to nothing); BIGMODEL_DISABLE_ASSERT compiles them out.
#ifndef BIGMODEL_ASSERT
#if defined(BIGMODEL_DISABLE_ASSERT)
#define BIGMODEL_ASSERT(cond) ((void)0)
#else
#define BIGMODEL_ASSERT(cond)                                                                              \
  ((cond) ? (void)0 : ::bigmodel::detail::assert_fail(#cond, __FILE__, __LINE__))
#endif
#endif

namespace bigmodel::detail {
[[noreturn]] inline void assert_fail(const char* cond, const char* file, int line) noexcept {
  std::fprintf(stderr, "bigmodel: assertion failed: %s (%s:%d)\n", cond, file, line);
  std::abort();
}
}  // namespace bigmodel::detail
