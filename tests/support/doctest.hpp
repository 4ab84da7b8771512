// doctest, plus readable failure messages for the library's types.
#pragma once

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
