// SPDX-License-Identifier: MIT
// headroom: sizes for people, and files read whole: what tools and examples
// print and read, without reaching into headroom::detail.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <cstdio>   // std::snprintf
#include <string>   // the results

#include "detail/fd.hpp"  // read_whole, through the syscall seam
#include "error.hpp"      // result<T>

namespace headroom {

// "512 B", "256.0 MiB", "1.5 GiB": binary units, one decimal.
inline std::string format_bytes(std::uint64_t b) {
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (b < 1024) return std::to_string(b) + " B";
  double v = static_cast<double>(b) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

// The whole content of a file (close-on-exec; a symlink as the last
// component is refused with ELOOP), or why it could not be read.
inline result<std::string> read_file(const std::string& path) {
  return detail::read_whole(path);
}

}  // namespace headroom
