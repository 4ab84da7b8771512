# SPDX-License-Identifier: MIT
# Runs one libFuzzer target for a bounded time (the fuzz_<target> tests):
#
#   cmake -DFUZZER=... -DTARGET=... -DSOURCE_DIR=... -DWORK=... -DSECONDS=...
#         -DMAX_LEN=... -P run_fuzzer.cmake
#
# The working corpus is WORK/corpus, a copy of the seeds and the regression
# inputs, kept between runs so coverage accumulates (the source tree is never
# written). Crash inputs go to WORK/artifacts/. The fuzzer's output is kept in
# WORK/fuzz.log, and WORK/summary.txt says, one "key value" per line, how many
# inputs ran, how fast, the corpus size and where a crash input is.
foreach(var FUZZER TARGET SOURCE_DIR WORK SECONDS MAX_LEN)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()

set(corpus "${WORK}/corpus")
set(artifacts "${WORK}/artifacts")
set(log "${WORK}/fuzz.log")
set(summary "${WORK}/summary.txt")
file(MAKE_DIRECTORY "${corpus}" "${artifacts}")
file(REMOVE "${summary}")
foreach(dir seeds regressions)
  if(IS_DIRECTORY "${SOURCE_DIR}/${dir}/${TARGET}")
    file(COPY "${SOURCE_DIR}/${dir}/${TARGET}/" DESTINATION "${corpus}")
  endif()
endforeach()

set(args
  -max_total_time=${SECONDS}
  -max_len=${MAX_LEN}
  # A slow input is a finding too (a quadratic walk over a long line).
  -timeout=10
  -rss_limit_mb=2048
  -print_final_stats=1
  -artifact_prefix=${artifacts}/)
set(dict "${SOURCE_DIR}/dicts/${TARGET}.dict")
if(EXISTS "${dict}")
  list(APPEND args -dict=${dict})
endif()

execute_process(
  COMMAND "${FUZZER}" ${args} "${corpus}"
  RESULT_VARIABLE rc
  OUTPUT_FILE "${log}"
  ERROR_FILE "${log}")

file(READ "${log}" out)
set(executions "?")
set(per_second "?")
if(out MATCHES "stat::number_of_executed_units: *([0-9]+)")
  set(executions "${CMAKE_MATCH_1}")
endif()
if(out MATCHES "stat::average_exec_per_sec: *([0-9]+)")
  set(per_second "${CMAKE_MATCH_1}")
endif()
file(GLOB corpus_files "${corpus}/*")
list(LENGTH corpus_files corpus_size)
set(artifact "")
if(out MATCHES "Test unit written to ([^\n]+)")
  set(artifact "${CMAKE_MATCH_1}")
endif()

if(rc EQUAL 0)
  set(result ok)
else()
  set(result CRASH)
endif()
file(WRITE "${summary}"
  "target ${TARGET}\nexecutions ${executions}\nper_second ${per_second}\n"
  "corpus ${corpus_size}\nresult ${result}\nexit ${rc}\nartifact ${artifact}\n")
message("fuzz ${TARGET}: ${executions} executions, ${per_second}/s, "
        "corpus ${corpus_size} inputs, ${result}")
if(NOT rc EQUAL 0)
  # The report of the crash: the fuzzer's last words.
  string(LENGTH "${out}" out_length)
  if(out_length GREATER 6000)
    math(EXPR from "${out_length} - 6000")
    string(SUBSTRING "${out}" ${from} -1 out)
  endif()
  message("${out}")
  message(FATAL_ERROR "fuzz ${TARGET}: the fuzzer exited with ${rc}; "
                      "input: ${artifact} (log: ${log})")
endif()
