# Flags for the project's own targets (tests, examples, benchmarks) -- never for the library target.
function(bigmodel_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 reports -Wrestrict inside libstdc++'s std::string concatenation at -O2 (GCC bug 105329,
    # fixed in 13): a false positive in the standard library, not in our code.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND BIGMODEL_SANITIZE)
    # With -fsanitize=address at -O1, GCC reports the inactive std::vector members of a std::variant moved into a
    # std::optional as maybe uninitialized (inside libstdc++, graph/attribute.hpp's member_to_attribute): GCC's
    # documented false positives under ASan. The Release build keeps the warning as an error.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
endfunction()
