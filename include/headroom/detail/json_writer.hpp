// SPDX-License-Identifier: MIT
// headroom: a small JSON writer: objects, arrays, strings, integers,
// decimals, booleans and null, written straight to a std::string. Strings
// are escaped by json_escape (any bytes give valid UTF-8 JSON).
#pragma once

#include <cstdint>      // std::uint64_t
#include <cstdio>       // std::snprintf
#include <optional>     // std::optional
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "escape.hpp"  // json_escape

namespace headroom::detail {

class json_writer {
 public:
  std::string& out() { return out_; }

  // An empty key: inside an array, or the outermost value.
  json_writer& begin_object(std::string_view key = {}) {
    open(key, '{');
    return *this;
  }
  json_writer& end_object() {
    close('}');
    return *this;
  }
  json_writer& begin_array(std::string_view key = {}) {
    open(key, '[');
    return *this;
  }
  json_writer& end_array() {
    close(']');
    return *this;
  }

  json_writer& string(std::string_view key, std::string_view v) {
    item(key);
    quote(v);
    return *this;
  }
  json_writer& number(std::string_view key, std::uint64_t v) {
    item(key);
    out_ += std::to_string(v);
    return *this;
  }
  // A decimal number with `digits` after the point (PSI averages have 2).
  json_writer& real(std::string_view key, double v, int digits = 2) {
    item(key);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    out_ += buf;
    return *this;
  }
  json_writer& boolean(std::string_view key, bool v) {
    item(key);
    out_ += v ? "true" : "false";
    return *this;
  }
  json_writer& null(std::string_view key) {
    item(key);
    out_ += "null";
    return *this;
  }
  json_writer& optional_number(std::string_view key,
                               const std::optional<std::uint64_t>& v) {
    return v ? number(key, *v) : null(key);
  }
  json_writer& optional_string(std::string_view key,
                               const std::optional<std::string>& v) {
    return v ? string(key, *v) : null(key);
  }

 private:
  void open(std::string_view key, char c) {
    item(key);
    out_ += c;
    first_.push_back(true);
  }
  void close(char c) {
    first_.pop_back();
    out_ += c;
  }
  void item(std::string_view key) {
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
    if (!key.empty()) {
      quote(key);
      out_ += ':';
    }
  }
  void quote(std::string_view s) {
    out_ += '"';
    out_ += json_escape(s);
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
};

}  // namespace headroom::detail
