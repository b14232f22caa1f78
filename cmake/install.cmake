include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS bigmodel EXPORT bigmodel-targets)
install(DIRECTORY include/bigmodel DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT bigmodel-targets
        NAMESPACE bigmodel::
        FILE bigmodel-targets.cmake
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/bigmodel)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bigmodel-config.cmake.in
  ${PROJECT_BINARY_DIR}/bigmodel-config.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/bigmodel)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bigmodel-config-version.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/bigmodel-config.cmake
              ${PROJECT_BINARY_DIR}/bigmodel-config-version.cmake
              ${PROJECT_SOURCE_DIR}/cmake/bigmodel-deps.cmake
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/bigmodel)
