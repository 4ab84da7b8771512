// SPDX-License-Identifier: MIT
// headroom: pressure stall information (memory.pressure, /proc/pressure/*).
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t
#include <optional>     // the "full" line may be absent
#include <string_view>  // the text parsed

#include "../error.hpp"  // result<T>
#include "numbers.hpp"   // parse_u64
#include "text.hpp"      // next_line, next_field, is_digit

namespace headroom {

// Pressure stall information: memory.pressure (cgroup v2, and the unified
// mount on hybrid hosts) and /proc/pressure/memory (host-wide).
//
// Format (Documentation/accounting/psi.rst):
//   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
// avgN: percent of wall time stalled over the last N seconds; total: the
// stall time in microseconds. The "full" line is absent on old kernels'
// cpu file; memory always has it, but tolerate its absence.

struct psi_line {
  // Percent of wall time stalled over the last 10 seconds.
  double avg10 = 0;
  // Over the last 60 seconds.
  double avg60 = 0;
  // Over the last 300 seconds.
  double avg300 = 0;
  // Total stall time, in microseconds.
  std::uint64_t total_us = 0;
};

// A pressure file: its "some" line and, when present, its "full" line.
struct psi_stats {
  // Some tasks stalled.
  psi_line some;
  // All non-idle tasks stalled; nullopt where the file has no such line.
  std::optional<psi_line> full;
};

namespace detail {

// A PSI average: digits, optionally '.', digits ("12.34"). Percentages:
// the kernel never shows more than 100.00.
inline result<double> parse_psi_average(std::string_view s) noexcept {
  const std::size_t dot = s.find('.');
  auto whole = parse_u64(s.substr(0, dot));
  if (!whole || *whole > 100) return errc::malformed;
  double v = static_cast<double>(*whole);
  if (dot != std::string_view::npos) {
    const std::string_view frac = s.substr(dot + 1);
    if (frac.empty() || frac.size() > 6) return errc::malformed;
    double scale = 0.1;
    for (const char c : frac) {
      if (!is_digit(c)) return errc::malformed;
      v += (c - '0') * scale;
      scale /= 10;
    }
  }
  if (v > 100) return errc::malformed;
  return v;
}

inline result<psi_line> parse_psi_fields(std::string_view fields) noexcept {
  psi_line p;
  bool seen[4] = {false, false, false, false};
  while (!fields.empty()) {
    std::string_view field = next_field(fields, ' ');
    if (field.empty()) continue;
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) return errc::malformed;
    const std::string_view key = field.substr(0, eq);
    const std::string_view value = field.substr(eq + 1);
    if (key == "total") {
      auto n = parse_u64(value);
      if (!n) return errc::malformed;
      p.total_us = *n;
      seen[3] = true;
      continue;
    }
    if (key != "avg10" && key != "avg60" && key != "avg300")
      continue;  // a key from a newer kernel
    auto avg = parse_psi_average(value);
    if (!avg) return errc::malformed;
    if (key == "avg10") {
      p.avg10 = *avg;
      seen[0] = true;
    } else if (key == "avg60") {
      p.avg60 = *avg;
      seen[1] = true;
    } else {
      p.avg300 = *avg;
      seen[2] = true;
    }
  }
  if (!seen[0] || !seen[1] || !seen[2] || !seen[3]) return errc::malformed;
  return p;
}

}  // namespace detail

inline result<psi_stats> parse_psi(std::string_view text) noexcept {
  psi_stats out;
  bool have_some = false;
  while (!text.empty()) {
    std::string_view line = detail::next_line(text);
    if (line.empty()) continue;
    const std::string_view kind = detail::next_field(line, ' ');
    auto fields = detail::parse_psi_fields(line);
    if (!fields) return errc::malformed;
    if (kind == "some") {
      out.some = *fields;
      have_some = true;
    } else if (kind == "full") {
      out.full = *fields;
    } else {
      return errc::malformed;
    }
  }
  if (!have_some) return errc::malformed;
  return out;
}

}  // namespace headroom
