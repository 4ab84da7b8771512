# SPDX-License-Identifier: MIT
# The API reference: `ninja docs` runs Doxygen on the public headers and
# writes <build>/docs/html/index.html. The docs test (tests/docs) runs it
# again into <build>/docs-check and fails on any warning, an undocumented
# public name among them. Without doxygen there is no docs target and the
# test skips.
find_program(HEADROOM_DOXYGEN doxygen)
find_program(HEADROOM_AWK awk)
set(HEADROOM_DOCS_INPUT
    "${PROJECT_SOURCE_DIR}/include/headroom ${PROJECT_SOURCE_DIR}/docs/mainpage.md")

set(HEADROOM_DOCS_OUT "${PROJECT_BINARY_DIR}/docs")
set(HEADROOM_DOCS_HTML YES)
set(HEADROOM_DOCS_WARN_AS_ERROR NO)
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in"
               "${PROJECT_BINARY_DIR}/docs/Doxyfile" @ONLY)

set(HEADROOM_DOCS_OUT "${PROJECT_BINARY_DIR}/docs-check")
set(HEADROOM_DOCS_HTML YES)  # no output at all is itself a warning
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in"
               "${PROJECT_BINARY_DIR}/docs-check/Doxyfile" @ONLY)

if(HEADROOM_DOXYGEN AND HEADROOM_AWK)
  add_custom_target(docs
    COMMAND "${HEADROOM_DOXYGEN}" "${PROJECT_BINARY_DIR}/docs/Doxyfile"
    COMMAND "${CMAKE_COMMAND}" -E echo
            "API reference: ${PROJECT_BINARY_DIR}/docs/html/index.html"
    WORKING_DIRECTORY "${PROJECT_BINARY_DIR}/docs"
    COMMENT "Doxygen: the API reference from include/headroom"
    VERBATIM)
endif()
