# Finds cpp-httplib (Debian: libcpp-httplib-dev) and makes the target bigmodel_httplib, or leaves it
# undefined when httplib is absent: bigmodel-serve and its tests are optional. Included by
# examples/bigmodel-serve and tests/serve, whichever comes first.
include_guard(GLOBAL)

find_path(BIGMODEL_HTTPLIB_INCLUDE_DIR httplib.h)
if(BIGMODEL_HTTPLIB_INCLUDE_DIR)
  file(STRINGS ${BIGMODEL_HTTPLIB_INCLUDE_DIR}/httplib.h version_line REGEX "#define CPPHTTPLIB_VERSION \"[0-9.]+\"")
  string(REGEX MATCH "[0-9]+\\.[0-9]+(\\.[0-9]+)?" BIGMODEL_HTTPLIB_VERSION "${version_line}")
endif()
if(BIGMODEL_HTTPLIB_VERSION AND BIGMODEL_HTTPLIB_VERSION VERSION_GREATER_EQUAL 0.11)
  add_library(bigmodel_httplib INTERFACE IMPORTED GLOBAL)
  target_include_directories(bigmodel_httplib SYSTEM INTERFACE ${BIGMODEL_HTTPLIB_INCLUDE_DIR})
  target_link_libraries(bigmodel_httplib INTERFACE Threads::Threads)
  # Debian ships httplib compiled (declarations in the header, code in libcpp-httplib.so). Its classes
  # depend on the feature macros the library was built with, so take them from its pkg-config file.
  find_library(BIGMODEL_HTTPLIB_LIBRARY cpp-httplib)
  if(BIGMODEL_HTTPLIB_LIBRARY)
    target_link_libraries(bigmodel_httplib INTERFACE ${BIGMODEL_HTTPLIB_LIBRARY})
    get_filename_component(libdir ${BIGMODEL_HTTPLIB_LIBRARY} DIRECTORY)
    if(EXISTS ${libdir}/pkgconfig/cpp-httplib.pc)
      file(STRINGS ${libdir}/pkgconfig/cpp-httplib.pc cflags REGEX "^Cflags:")
      string(REGEX MATCHALL "-D[A-Za-z0-9_]+(=[^ ]*)?" defines "${cflags}")
      list(TRANSFORM defines REPLACE "^-D" "")
      target_compile_definitions(bigmodel_httplib INTERFACE ${defines})
    endif()
  endif()
  message(STATUS "bigmodel-serve: cpp-httplib ${BIGMODEL_HTTPLIB_VERSION} found")
else()
  message(STATUS "bigmodel-serve: cpp-httplib >= 0.11 not found (apt-get install libcpp-httplib-dev): not built")
endif()
