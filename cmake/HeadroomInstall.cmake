# SPDX-License-Identifier: MIT
# Install the headers, the exported INTERFACE target, a package config with
# its version file (find_package(headroom CONFIG)), and a pkg-config file.
include(CMakePackageConfigHelpers)

set(HEADROOM_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/headroom" CACHE STRING
    "Where headroomConfig.cmake is installed")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/headroom"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS headroom EXPORT headroomTargets)
# The licence travels with the headers.
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/headroom")
# And the README (the JSON and Prometheus contracts), which headroom-info
# --help points to, with the CHANGELOG.
install(FILES "${PROJECT_SOURCE_DIR}/README.md" "${PROJECT_SOURCE_DIR}/CHANGELOG.md"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/headroom")
install(EXPORT headroomTargets NAMESPACE headroom:: DESTINATION "${HEADROOM_CMAKE_DIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/headroomConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/headroomConfig.cmake"
  INSTALL_DESTINATION "${HEADROOM_CMAKE_DIR}")
# Header-only: the same package serves any architecture.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/headroomConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/headroomConfig.cmake"
              "${PROJECT_BINARY_DIR}/headroomConfigVersion.cmake"
        DESTINATION "${HEADROOM_CMAKE_DIR}")

# The .pc file finds its prefix relative to where it is installed.
file(RELATIVE_PATH HEADROOM_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_DATADIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" HEADROOM_PC_TO_PREFIX "${HEADROOM_PC_TO_PREFIX}")
configure_file("${PROJECT_SOURCE_DIR}/cmake/headroom.pc.in"
               "${PROJECT_BINARY_DIR}/headroom.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/headroom.pc"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/pkgconfig")
