// SPDX-License-Identifier: MIT
// Fuzz target: the escaping behind every output (json_escape, label_escape,
// terminal_escape, and a JSON writer string), over any bytes a cgroup name
// or a file may hold. Properties, checked apart from the library's own
// UTF-8 code: JSON output is valid UTF-8 with no raw control character (C0,
// DEL, C1) or bare quote; label output is valid UTF-8, one line, no bare
// quote; terminal output has no control byte at all and is
// lossless (unescaping it gives the input back).
#include <headroom/export.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../support/utf8.hpp"
#include "fuzz_support.hpp"

namespace {

bool no_raw_control(std::string_view s, bool allow_c1) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7f) return false;
    if (!allow_c1 && b == 0xc2 && i + 1 < s.size() &&
        static_cast<unsigned char>(s[i + 1]) < 0xa0) {
      return false;
    }
  }
  return true;
}

// Every '"' is escaped: preceded by an odd number of backslashes.
bool quotes_escaped(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '"') continue;
    std::size_t slashes = 0;
    while (slashes < i && s[i - 1 - slashes] == '\\') ++slashes;
    if (slashes % 2 == 0) return false;
  }
  return true;
}

// The inverse of terminal_escape: \\ and \xNN back to bytes.
std::string unescape_terminal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    HEADROOM_FUZZ_CHECK(i + 1 < s.size());
    if (s[i + 1] == '\\') {
      out += '\\';
      ++i;
      continue;
    }
    HEADROOM_FUZZ_CHECK(s[i + 1] == 'x' && i + 3 < s.size());
    out += static_cast<char>(
        std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16));
    i += 3;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view in = fuzz_support::as_text(data, size);

  const std::string json = headroom::detail::json_escape(in);
  HEADROOM_FUZZ_CHECK(headroom_test::valid_utf8(json));
  HEADROOM_FUZZ_CHECK(no_raw_control(json, false));
  HEADROOM_FUZZ_CHECK(quotes_escaped(json));
  std::size_t trailing = 0;  // an odd count would escape the closing quote
  while (trailing < json.size() && json[json.size() - 1 - trailing] == '\\')
    ++trailing;
  HEADROOM_FUZZ_CHECK(trailing % 2 == 0);

  headroom::json_writer w;
  w.begin_object().string(in, in).end_object();
  HEADROOM_FUZZ_CHECK(headroom_test::valid_utf8(w.out()));

  const std::string label = headroom::detail::label_escape(in);
  HEADROOM_FUZZ_CHECK(headroom_test::valid_utf8(label));
  HEADROOM_FUZZ_CHECK(label.find('\n') == std::string::npos);
  HEADROOM_FUZZ_CHECK(quotes_escaped(label));

  const std::string shown = headroom::printable(in);
  HEADROOM_FUZZ_CHECK(headroom_test::valid_utf8(shown));
  HEADROOM_FUZZ_CHECK(no_raw_control(shown, false));
  HEADROOM_FUZZ_CHECK(unescape_terminal(shown) == in);

  // Valid UTF-8 without controls, quotes or backslashes passes unchanged.
  if (headroom_test::valid_utf8(in) && no_raw_control(in, false) &&
      in.find_first_of("\"\\") == std::string_view::npos) {
    HEADROOM_FUZZ_CHECK(json == in);
    HEADROOM_FUZZ_CHECK(label == in);
  }
  return 0;
}
