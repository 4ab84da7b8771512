// SPDX-License-Identifier: MIT
// Cases that cannot run here (a v2-only case on a v1 kernel, a live case
// without root): HEADROOM_SKIP_CASE says why on a "SKIP:" line and ends the
// case; skip_exit_code() turns a run in which every case that ran was
// skipped into exit 77, which ctest reports as SKIP (SKIP_RETURN_CODE).
// Such a case has its own ctest entry (--test-case=...), so its skip is
// not hidden among the binary's passes; in a run of the whole binary it is
// counted and said, and the other cases decide the exit code.
#pragma once

#include <atomic>
#include <cstdio>
#include <string>

#include "doctest.hpp"

namespace headroom_test {

inline std::atomic<int>& cases_started() {
  static std::atomic<int> n{0};
  return n;
}
inline std::atomic<int>& cases_skipped() {
  static std::atomic<int> n{0};
  return n;
}

// Counts a skip and says why; the caller then returns from the case.
inline void note_skip(const std::string& why) {
  ++cases_skipped();
  std::printf("SKIP: %s\n", why.c_str());
  std::fflush(stdout);
}

// A binary that cannot run at all here (no root, no controller): says why
// and gives the exit code ctest reports as SKIP.
inline int skip_run(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  std::fflush(stdout);
  return 77;
}

// The exit code of a run whose doctest result was `result`: a failure
// stays a failure; a run in which every case that ran was skipped is 77.
inline int skip_exit_code(int result) {
  if (result != 0) return result;
  const int started = cases_started().load();
  const int skipped = cases_skipped().load();
  if (started == 0) {
    // A --test-case filter that matches nothing (a case renamed) must not
    // pass for the cases it was meant to run.
    std::printf("FAIL: no test case ran (the filters matched none)\n");
    return 1;
  }
  if (skipped >= started) {
    std::printf("SKIP: all %d case(s) run here were skipped\n", started);
    return 77;
  }
  if (skipped > 0)
    std::printf("%d case(s) skipped (SKIP lines above)\n", skipped);
  return 0;
}

// Counts the cases that start (a listener: it reports nothing).
struct case_counter : doctest::IReporter {
  explicit case_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override {
    ++cases_started();
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace headroom_test

// Ends the case as skipped, saying why (a std::string or a literal).
#define HEADROOM_SKIP_CASE(why)                       \
  do {                                                \
    ::headroom_test::note_skip(std::string(why));     \
    MESSAGE("not run: " << std::string(why).c_str()); \
    return;                                           \
  } while (0)
