# cmake -P script: configure bigmodel alone (no tests/examples/benchmarks), install it into WORK_DIR/prefix.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
                        -DBIGMODEL_BUILD_TESTS=OFF -DBIGMODEL_BUILD_EXAMPLES=OFF -DBIGMODEL_BUILD_BENCHMARKS=OFF
                        -DBIGMODEL_INSTALL=ON
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring bigmodel for install failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install ${WORK_DIR}/build --prefix ${WORK_DIR}/prefix RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "installing bigmodel failed: ${rc}")
endif()
if(NOT EXISTS ${WORK_DIR}/prefix/share/cmake/bigmodel/bigmodel-config.cmake
   OR NOT EXISTS ${WORK_DIR}/prefix/share/cmake/bigmodel/bigmodel-config-version.cmake
   OR NOT EXISTS ${WORK_DIR}/prefix/include/bigmodel/opt.hpp)
  message(FATAL_ERROR "the installed package is incomplete")
endif()
