// SPDX-License-Identifier: MIT
// headroom: text that is safe to print whatever bytes it was made of.
//
// Cgroup names, paths and file contents are bytes chosen by whoever set up
// the container (or sent a captured tree). Output that machines parse must
// stay valid, and a terminal must never receive raw control bytes:
//   json_escape      a JSON string body (RFC 8259): '"', '\' and control
//                    characters (C0, DEL, C1) escaped as \u00XX; every byte
//                    that is not part of a valid UTF-8 sequence becomes
//                    U+FFFD (written as UTF-8).
//   label_escape     a Prometheus label value or HELP text (exposition format
//                    0.0.4): '\' '"' and newline escaped, invalid bytes as
//                    U+FFFD (the format requires UTF-8).
//   terminal_escape  for people: control bytes (C0, DEL, C1), invalid bytes
//                    and '\' as \xNN / \\, the rest as it is. Lossless.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdio>       // std::snprintf
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace headroom::detail {

// Length of the valid UTF-8 sequence at s[i] (1 to 4), or 0 when the byte
// there does not start one: overlong forms, surrogates (U+D800..U+DFFF) and
// code points above U+10FFFF are invalid (RFC 3629, section 4).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) {
    return static_cast<unsigned char>(s[i + k]);
  };
  const unsigned char b = at(0);
  if (b < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;  // the allowed range of the second byte
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b == 0xe0) lo = 0xa0;  // overlong
    if (b == 0xed) hi = 0x9f;  // surrogates
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b == 0xf0) lo = 0x90;  // overlong
    if (b == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(1) < lo || at(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (at(k) < 0x80 || at(k) > 0xbf) return 0;
  }
  return n;
}

inline bool valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

inline constexpr std::string_view replacement_character = "\xef\xbf\xbd";

inline void append_hex_byte(std::string& out, const char* prefix,
                            unsigned char b, int width) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "%s%0*x", prefix, width,
                static_cast<unsigned>(b));
  out += buf;
}

// True for a control character a terminal acts on: C0, DEL, and the C1
// controls U+0080..U+009F (encoded 0xc2 0x80..0x9f). `seq` is one valid
// UTF-8 sequence.
inline bool is_control(std::string_view seq) noexcept {
  const auto b = static_cast<unsigned char>(seq[0]);
  if (seq.size() == 1) return b < 0x20 || b == 0x7f;
  return seq.size() == 2 && b == 0xc2 &&
         static_cast<unsigned char>(seq[1]) < 0xa0;
}

// Walks `s` one UTF-8 sequence at a time: emit(out, seq) for each valid
// sequence, invalid(out, byte) for each byte that starts none.
template <class Emit, class Invalid>
std::string escape_each(std::string_view s, Emit emit, Invalid invalid) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      invalid(out, static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    emit(out, s.substr(i, n));
    i += n;
  }
  return out;
}

inline void replace_invalid(std::string& out, unsigned char) {
  out += replacement_character;
}

inline void hex_byte(std::string& out, unsigned char b) {
  append_hex_byte(out, "\\x", b, 2);
}

inline std::string json_escape(std::string_view s) {
  return escape_each(
      s,
      [](std::string& out, std::string_view seq) {
        const char c = seq[0];
        if (c == '"') {
          out += "\\\"";
        } else if (c == '\\') {
          out += "\\\\";
        } else if (c == '\n') {
          out += "\\n";
        } else if (c == '\t') {
          out += "\\t";
        } else if (c == '\r') {
          out += "\\r";
        } else if (is_control(seq)) {
          append_hex_byte(out, "\\u", static_cast<unsigned char>(seq.back()),
                          4);
        } else {
          out += seq;
        }
      },
      replace_invalid);
}

inline std::string label_escape(std::string_view s) {
  return escape_each(
      s,
      [](std::string& out, std::string_view seq) {
        const char c = seq[0];
        if (c == '\\') {
          out += "\\\\";
        } else if (c == '"') {
          out += "\\\"";
        } else if (c == '\n') {
          out += "\\n";
        } else {
          out += seq;
        }
      },
      replace_invalid);
}

inline std::string terminal_escape(std::string_view s) {
  return escape_each(
      s,
      [](std::string& out, std::string_view seq) {
        if (is_control(seq)) {
          for (const char c : seq) hex_byte(out, static_cast<unsigned char>(c));
        } else if (seq[0] == '\\') {
          out += "\\\\";
        } else {
          out += seq;
        }
      },
      hex_byte);
}

}  // namespace headroom::detail
