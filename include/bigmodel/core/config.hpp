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
