# SPDX-License-Identifier: MIT
# The single header: `ninja headroom-single-header` writes
# <build>/single_include/headroom.hpp from include/headroom
# (cmake/single-header.awk: the project's own includes inlined once, in
# order, system includes kept). Every public header is in it: headroom.hpp
# first, then those it does not include (export, format, recorder, ...).
#
# The test single_header builds every example against it alone: their
# include directory holds, for each header name <headroom/X.hpp>, a one-line
# file that includes the single header.
find_program(HEADROOM_AWK awk)
if(NOT HEADROOM_AWK)
  message(STATUS "headroom: no awk, no single header")
  return()
endif()

set(_single "${PROJECT_BINARY_DIR}/single_include/headroom.hpp")
# Ninja makes an output's directory, Makefiles do not.
file(MAKE_DIRECTORY "${PROJECT_BINARY_DIR}/single_include")
set(_inc "${PROJECT_SOURCE_DIR}/include")
file(GLOB_RECURSE _headers RELATIVE "${_inc}" CONFIGURE_DEPENDS "${_inc}/headroom/*.hpp")
list(SORT _headers)
list(TRANSFORM _headers PREPEND "${_inc}/" OUTPUT_VARIABLE _deps)
# The order: headroom.hpp, then the public headers it leaves out; detail/
# headers come in only where a header includes them.
set(_order ${_headers})
list(FILTER _order EXCLUDE REGEX "/detail/")
list(REMOVE_ITEM _order headroom/headroom.hpp)
list(PREPEND _order headroom/headroom.hpp)

add_custom_command(
  OUTPUT "${_single}"
  COMMAND "${HEADROOM_AWK}" -v "inc=${_inc}" -v "version=${PROJECT_VERSION}"
          -f "${PROJECT_SOURCE_DIR}/cmake/single-header.awk" ${_order}
          > "${_single}.tmp"
  COMMAND "${CMAKE_COMMAND}" -E rename "${_single}.tmp" "${_single}"
  DEPENDS "${PROJECT_SOURCE_DIR}/cmake/single-header.awk" ${_deps}
  COMMENT "Generating single_include/headroom.hpp"
  VERBATIM)
add_custom_target(headroom-single-header ALL DEPENDS "${_single}")

# Each header name leads to the single header, and to nothing else.
set(_shim "${PROJECT_BINARY_DIR}/single_include-test")
foreach(h IN LISTS _headers)
  file(WRITE "${_shim}/${h}.in" "#include \"${_single}\"\n")
  configure_file("${_shim}/${h}.in" "${_shim}/${h}" COPYONLY)
endforeach()

if(HEADROOM_BUILD_EXAMPLES AND HEADROOM_BUILD_TESTS)
  find_package(Threads REQUIRED)
  foreach(pair "headroom-info-single;headroom-info/main.cpp"
               "headroom-survival-single;survival/survival.cpp"
               "headroom-pressure-cache-single;pressure-cache/pressure_cache.cpp"
               "headroom-arena-single;sizing/arena.cpp"
               "headroom-heap-tuning-single;sizing/heap_tuning.cpp"
               "headroom-metrics-server-single;metrics/metrics_server.cpp"
               "headroom-textfile-single;metrics/textfile_collector.cpp")
    list(GET pair 0 name)
    list(GET pair 1 src)
    add_executable(${name} EXCLUDE_FROM_ALL "${PROJECT_SOURCE_DIR}/examples/${src}")
    target_include_directories(${name} PRIVATE "${_shim}")
    target_compile_features(${name} PRIVATE cxx_std_17)
    # Unoptimized: the test is that the single header compiles alone and
    # answers as the headers do, and -O0 builds them in a third the time.
    target_compile_options(${name} PRIVATE -O0)
    target_link_libraries(${name} PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
    headroom_warnings(${name})
    # As examples/CMakeLists.txt builds headroom-info: --help the same.
    file(RELATIVE_PATH _docs "/p/${CMAKE_INSTALL_BINDIR}" "/p/${CMAKE_INSTALL_DATADIR}/doc/headroom")
    target_compile_definitions(${name} PRIVATE HEADROOM_INFO_DOCS="${_docs}")
    add_dependencies(${name} headroom-single-header)
  endforeach()
endif()
