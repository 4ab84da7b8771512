// A small JSON writer for headroom-info: objects, arrays, strings, integers,
// doubles, booleans and null, written straight to a std::string.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace headroom_info {

class json_writer {
 public:
  std::string& out() { return out_; }

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
    for (const char c : s) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\t':
          out_ += "\\t";
          break;
        case '\r':
          out_ += "\\r";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x",
                          static_cast<unsigned>(static_cast<unsigned char>(c)));
            out_ += buf;
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
};

}  // namespace headroom_info
