// SPDX-License-Identifier: MIT
// headroom: lines and fields of kernel text files, for the parsers.
#pragma once

#include <cstddef>      // std::size_t
#include <string_view>  // every parser reads a std::string_view

namespace headroom {

namespace detail {

// Removes and returns the first line of `text` (without its '\n').
inline std::string_view next_line(std::string_view& text) noexcept {
  const std::size_t nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  return line;
}

// Removes and returns the next field of `text` up to `sep` (the separator is
// consumed; the last field runs to the end).
inline std::string_view next_field(std::string_view& text, char sep) noexcept {
  const std::size_t at = text.find(sep);
  std::string_view field = text.substr(0, at);
  text.remove_prefix(at == std::string_view::npos ? text.size() : at + 1);
  return field;
}

inline std::string_view trim_trailing_newline(std::string_view s) noexcept {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace detail

}  // namespace headroom
