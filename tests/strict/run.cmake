# SPDX-License-Identifier: MIT
# What a user's build sees: every public header, included normally (-I, not
# -isystem), alone and all together with a use of the main calls, compiled
# under the warnings users turn on, as errors; g++ and clang++ (whichever
# exist), C++17 and C++20. All together (use_all.cpp) runs in every pair of
# compiler and standard; each header alone, to show it includes what it
# uses, runs in one standard per compiler (g++ C++17, clang++ C++20, both
# on the same standard library), since a warning in a header shows in the
# all-together build as well. A C++14 build must stop at headroom's #error.
# The flags are tests/strict/flags.txt, shared with the README snippets.
#   cmake -DSOURCE=<headroom source> -DWORK=<scratch dir> -DCOMPILERS=<cxx|cxx...> -P run.cmake
cmake_minimum_required(VERSION 3.14)

file(STRINGS "${SOURCE}/tests/strict/flags.txt" lines REGEX "^(gcc: )?-")
set(flags "")
set(gcc_flags "")
foreach(line ${lines})
  if(line MATCHES "^gcc: (.*)")
    list(APPEND gcc_flags "${CMAKE_MATCH_1}")
  else()
    list(APPEND flags "${line}")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(GLOB headers RELATIVE "${SOURCE}/include/headroom" "${SOURCE}/include/headroom/*.hpp")
set(alone "")
foreach(h ${headers})
  string(REPLACE ".hpp" "" name "${h}")
  file(WRITE "${WORK}/${name}.cpp" "#include <headroom/${h}>\n")
  list(APPEND alone "${WORK}/${name}.cpp")
endforeach()
set(use_all "${SOURCE}/tests/strict/use_all.cpp")
set(count 0)

string(REPLACE "|" ";" compilers "${COMPILERS}")
if(NOT compilers)
  message(FATAL_ERROR "no compiler found")
endif()

set(failures "")
foreach(cxx ${compilers})
  execute_process(COMMAND "${cxx}" --version OUTPUT_VARIABLE version ERROR_QUIET)
  set(cxx_flags ${flags})
  set(alone_std 20)
  if(NOT version MATCHES "clang")
    list(APPEND cxx_flags ${gcc_flags})
    set(alone_std 17)
  endif()
  foreach(std 17 20)
    set(sources ${use_all})
    if(std EQUAL alone_std)
      list(APPEND sources ${alone})
    endif()
    foreach(src ${sources})
      math(EXPR count "${count} + 1")
      execute_process(COMMAND "${cxx}" -std=c++${std} ${cxx_flags} -I "${SOURCE}/include"
                              -fsyntax-only "${src}"
                      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
      if(NOT rc EQUAL 0)
        string(APPEND failures "${cxx} -std=c++${std} ${src}:\n${out}${err}\n")
      endif()
    endforeach()
  endforeach()
  # C++14: one clear #error, nothing after it.
  execute_process(COMMAND "${cxx}" -std=c++14 -I "${SOURCE}/include" -fsyntax-only
                          "${SOURCE}/tests/strict/use_all.cpp"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REGEX MATCHALL "error:" errors "${err}")
  list(LENGTH errors n)
  if(rc EQUAL 0 OR NOT err MATCHES "headroom needs C\\+\\+17 or later" OR n GREATER 2)
    string(APPEND failures "${cxx} -std=c++14 did not stop at one #error (${n} errors):\n${err}\n")
  endif()
endforeach()
if(failures)
  message(FATAL_ERROR "${failures}")
endif()
message(STATUS "${count} compilations clean with: ${compilers}, C++17 and C++20")
