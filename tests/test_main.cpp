// SPDX-License-Identifier: MIT
// The test binaries' main: doctest's, with a run in which every case was
// skipped reported to ctest as SKIP (support/skip.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include "support/doctest.hpp"
#include "support/skip.hpp"

DOCTEST_REGISTER_LISTENER("case_counter", 1, headroom_test::case_counter);

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  const int result = ctx.run();
  if (ctx.shouldExit()) return result;
  return headroom_test::skip_exit_code(result);
}
