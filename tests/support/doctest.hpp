// SPDX-License-Identifier: MIT
// doctest, plus readable failure messages for the library's types.
#pragma once

// The suite also runs with -fno-exceptions: REQUIRE then aborts the test
// program instead of throwing.
#if !defined(__cpp_exceptions) && \
    !defined(DOCTEST_CONFIG_NO_EXCEPTIONS_BUT_WITH_ALL_ASSERTS)
#define DOCTEST_CONFIG_NO_EXCEPTIONS_BUT_WITH_ALL_ASSERTS
#endif
#include <doctest/doctest.h>

#include <ostream>
#include <string>
#include <system_error>

#include <headroom/error.hpp>

namespace doctest {
template <>
struct StringMaker<std::error_code> {
  static String convert(const std::error_code& e) {
    const std::string s = std::string(e.category().name()) + ":" +
                          std::to_string(e.value()) + " (" + e.message() + ")";
    return String(s.c_str());
  }
};
template <>
struct StringMaker<headroom::errc> {
  static String convert(headroom::errc e) {
    return StringMaker<std::error_code>::convert(make_error_code(e));
  }
};
}  // namespace doctest
