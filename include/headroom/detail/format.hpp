// headroom: sizes for people ("256.0 MiB"), used in event reasons and by
// headroom-info.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace headroom::detail {

inline std::string human_bytes(std::uint64_t b) {
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

}  // namespace headroom::detail
