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
endfunction()
