// SPDX-License-Identifier: MIT
// A small strict JSON reader for tests: it checks that headroom-info's
// output is well formed and lets tests look values up by dotted path.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "utf8.hpp"

namespace headroom_test {

struct json {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool b = false;
  std::string text;  // number (as written) or string (unescaped)
  std::vector<json> items;
  std::map<std::string, json> fields;
  std::vector<std::string> order;  // field names in the order written

  bool is_null() const { return type == kind::null; }

  // "memory.limit_bytes" -> the value, or nullptr when a step is missing.
  const json* at(std::string_view dotted) const {
    const json* cur = this;
    while (!dotted.empty()) {
      const std::size_t dot = dotted.find('.');
      const std::string key(dotted.substr(0, dot));
      dotted.remove_prefix(dot == std::string_view::npos ? dotted.size()
                                                         : dot + 1);
      if (cur->type != kind::object) return nullptr;
      const auto it = cur->fields.find(key);
      if (it == cur->fields.end()) return nullptr;
      cur = &it->second;
    }
    return cur;
  }

  // An unsigned integer value (as headroom writes bytes), if this is one.
  std::optional<std::uint64_t> u64() const {
    if (type != kind::number || text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (const char c : text) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
  }
};

class json_reader {
 public:
  // Parses a whole document; nothing but whitespace may follow it.
  static std::optional<json> parse(std::string_view s) {
    if (!valid_utf8(s)) return std::nullopt;  // RFC 8259: JSON text is UTF-8
    json_reader r(s);
    json v;
    if (!r.value(v, 0)) return std::nullopt;
    r.ws();
    if (r.i_ != s.size()) return std::nullopt;
    return v;
  }

 private:
  explicit json_reader(std::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' ||
                              s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool value(json& out, int depth) {
    if (depth > 64) return false;
    ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      out.type = json::kind::string;
      return string(out.text);
    }
    if (lit("null")) return true;
    if (lit("true")) {
      out.type = json::kind::boolean;
      out.b = true;
      return true;
    }
    if (lit("false")) {
      out.type = json::kind::boolean;
      return true;
    }
    return number(out);
  }
  bool number(json& out) {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    std::size_t digits = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_, ++digits;
    if (digits == 0) return false;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      std::size_t frac = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_, ++frac;
      if (frac == 0) return false;
    }
    out.type = json::kind::number;
    out.text = std::string(s_.substr(start, i_ - start));
    return true;
  }
  bool string(std::string& out) {
    ++i_;  // opening quote
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          unsigned v = 0;
          if (!hex4(v)) return false;
          if (v >= 0xdc00 && v <= 0xdfff) return false;  // a lone low surrogate
          if (v >= 0xd800 && v <= 0xdbff) {              // a pair: \uD83D\uDE00
            unsigned lo = 0;
            if (!lit("\\u") || !hex4(lo) || lo < 0xdc00 || lo > 0xdfff)
              return false;
            v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
          }
          utf8(out, v);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool hex4(unsigned& v) {
    if (i_ + 4 > s_.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= static_cast<unsigned>(h - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  static void utf8(std::string& out, unsigned v) {
    if (v < 0x80) {
      out += static_cast<char>(v);
    } else if (v < 0x800) {
      out += static_cast<char>(0xc0 | (v >> 6));
      out += static_cast<char>(0x80 | (v & 0x3f));
    } else if (v < 0x10000) {
      out += static_cast<char>(0xe0 | (v >> 12));
      out += static_cast<char>(0x80 | ((v >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (v & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (v >> 18));
      out += static_cast<char>(0x80 | ((v >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((v >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (v & 0x3f));
    }
  }
  bool array(json& out, int depth) {
    out.type = json::kind::array;
    ++i_;
    ws();
    if (lit("]")) return true;
    for (;;) {
      json item;
      if (!value(item, depth + 1)) return false;
      out.items.push_back(std::move(item));
      ws();
      if (lit("]")) return true;
      if (!lit(",")) return false;
    }
  }
  bool object(json& out, int depth) {
    out.type = json::kind::object;
    ++i_;
    ws();
    if (lit("}")) return true;
    for (;;) {
      ws();
      if (i_ >= s_.size() || s_[i_] != '"') return false;
      std::string key;
      if (!string(key)) return false;
      ws();
      if (!lit(":")) return false;
      json v;
      if (!value(v, depth + 1)) return false;
      if (out.fields.count(key)) return false;  // duplicate keys are a bug
      out.order.push_back(key);
      out.fields.emplace(std::move(key), std::move(v));
      ws();
      if (lit("}")) return true;
      if (!lit(",")) return false;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace headroom_test
