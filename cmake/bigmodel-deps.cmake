# Finds bigmodel's dependencies; used by the build tree and by the installed package alike.
# Debian 12's xsimd 8.1 package declares a link to a target `xtl` (xtensor's utility library) that it
# neither ships nor needs unless XSIMD_ENABLE_XTL_COMPLEX is defined; without a target of that name the
# linker looks for -lxtl and fails. We supply an empty stand-in only when no real xtl is found.
if(NOT TARGET xtl)
  find_package(xtl QUIET CONFIG)
  if(NOT TARGET xtl)
    add_library(xtl INTERFACE IMPORTED)
  endif()
endif()
