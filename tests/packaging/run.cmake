# SPDX-License-Identifier: MIT
# Builds and runs the consumer project one way (HOW), from ctest:
#   cmake -DHOW=... -DSOURCE=<headroom source> -DBUILD=<headroom build dir>
#         -DWORK=<scratch dir> -DCXX=<compiler> -P run.cmake
# find_package and pkg-config install headroom from BUILD into WORK/prefix
# first.
cmake_minimum_required(VERSION 3.14)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(prefix "${WORK}/prefix")
if(HOW STREQUAL "find_package" OR HOW STREQUAL "pkg-config")
  run(${CMAKE_COMMAND} --install "${BUILD}" --prefix "${prefix}")
  # An installed headroom-info points to the README installed beside it.
  if(EXISTS "${prefix}/bin/headroom-info")
    run("${prefix}/bin/headroom-info" --help)
    get_filename_component(readme "${prefix}/share/doc/headroom/README.md" REALPATH)
    string(FIND "${last_output}" "Documentation: ${readme}\n" at)
    if(NOT EXISTS "${readme}" OR at EQUAL -1)
      message(FATAL_ERROR "headroom-info --help does not name ${readme}:\n${last_output}")
    endif()
  endif()
endif()

if(HOW STREQUAL "pkg-config")
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  run(pkg-config --modversion headroom)
  string(STRIP "${last_output}" version)
  file(READ "${SOURCE}/include/headroom/version.hpp" vh)
  string(REGEX MATCH "MAJOR ([0-9]+)" _ "${vh}")
  set(major ${CMAKE_MATCH_1})
  if(NOT version MATCHES "^${major}\\.")
    message(FATAL_ERROR "pkg-config says version ${version}")
  endif()
  run(pkg-config --cflags --libs headroom)
  string(STRIP "${last_output}" cflags)
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  run(${CXX} -std=c++17 "${SOURCE}/tests/packaging/consumer/main.cpp" ${cflags}
      -o "${WORK}/consumer")
  run("${WORK}/consumer")
  message(STATUS "${last_output}")
  return()
endif()

set(args -S "${SOURCE}/tests/packaging/consumer" -B "${WORK}/build" -DHOW=${HOW}
    -DCMAKE_CXX_COMPILER=${CXX})
if(HOW STREQUAL "find_package")
  list(APPEND args "-DCMAKE_PREFIX_PATH=${prefix}" "-DHEADROOM_EXPECT_VERSION=${EXPECT_VERSION}")
else()
  list(APPEND args "-DHEADROOM_SOURCE_DIR=${SOURCE}")
endif()
run(${CMAKE_COMMAND} ${args})
run(${CMAKE_COMMAND} --build "${WORK}/build")
run("${WORK}/build/consumer")
message(STATUS "${last_output}")

# The version file refuses an incompatible major version.
if(HOW STREQUAL "find_package")
  math(EXPR next_major "${EXPECT_VERSION}+1")
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE}/tests/packaging/consumer"
                          -B "${WORK}/build-wrong" -DHOW=find_package
                          "-DCMAKE_PREFIX_PATH=${prefix}" "-DHEADROOM_EXPECT_VERSION=${next_major}.0"
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    message(FATAL_ERROR "find_package(headroom ${next_major}.0) should have failed")
  endif()
endif()
file(REMOVE_RECURSE "${WORK}")
