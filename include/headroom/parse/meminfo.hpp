// SPDX-License-Identifier: MIT
// headroom: /proc/meminfo.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t, UINT64_MAX
#include <optional>     // MemAvailable exists since Linux 3.14
#include <string_view>  // the text parsed

#include "../error.hpp"  // result<T>
#include "numbers.hpp"   // parse_u64
#include "text.hpp"      // next_line

namespace headroom {

// /proc/meminfo
//
// Format (Documentation/filesystems/proc.rst, "meminfo"): "Key:   value kB"
// per line, values in KiB (a few counters, HugePages_*, have no unit).
// MemTotal is required; MemAvailable exists since Linux 3.14.
// MemFree or MemAvailable above MemTotal contradicts the file itself (the
// kernel never reports more free than there is): malformed, rather than a
// host-wide usage that wraps around.

struct meminfo {
  std::uint64_t total = 0;                 // bytes
  std::uint64_t free = 0;                  // bytes
  std::optional<std::uint64_t> available;  // bytes
};

// Parses /proc/meminfo into bytes; errc::malformed when MemTotal or
// MemFree is missing, MemTotal is 0, or a value is not a number or
// overflows.
inline result<meminfo> parse_meminfo(std::string_view text) noexcept {
  meminfo m;
  bool have_total = false;
  bool have_free = false;
  while (!text.empty()) {
    std::string_view line = detail::next_line(text);
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return errc::malformed;
    const std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    std::uint64_t scale = 1;
    if (value.size() >= 3 && value.substr(value.size() - 3) == " kB") {
      value.remove_suffix(3);
      scale = 1024;
    }
    auto n = parse_u64(value);
    if (!n) return errc::malformed;
    if (*n > UINT64_MAX / scale) return errc::malformed;
    const std::uint64_t bytes = *n * scale;
    if (key == "MemTotal") {
      m.total = bytes;
      have_total = true;
    } else if (key == "MemFree") {
      m.free = bytes;
      have_free = true;
    } else if (key == "MemAvailable") {
      m.available = bytes;
    }
  }
  if (!have_total || !have_free || m.total == 0) return errc::malformed;
  if (m.free > m.total || (m.available && *m.available > m.total))
    return errc::malformed;
  return m;
}

}  // namespace headroom
