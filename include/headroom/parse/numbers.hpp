// SPDX-License-Identifier: MIT
// headroom: numbers as the kernel prints them (byte counts, counters, "max",
// v1's page-rounded LONG_MAX) and sizes as people write them ("512Mi").
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t, UINT64_MAX, INT64_MAX
#include <optional>     // "max" and v1 unlimited are std::nullopt
#include <string_view>  // the text parsed
#include <utility>      // std::move

#include "../error.hpp"  // result<T>, errc::malformed
#include "text.hpp"      // trim_trailing_newline, is_digit

namespace headroom {

// A decimal unsigned 64-bit integer: digits only, no sign, no space, no
// overflow. This is how the kernel prints every byte count and counter.
inline result<std::uint64_t> parse_u64(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return errc::malformed;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (!detail::is_digit(c)) return errc::malformed;
    const auto d = static_cast<std::uint64_t>(c - '0');
    // Up to 19 digits cannot overflow (10^19 - 1 < 2^64): only the 20th
    // digit needs the check. Every memory.stat line goes through here.
    if (s.size() == 20 && v > (UINT64_MAX - d) / 10) return errc::malformed;
    v = v * 10 + d;
  }
  return v;
}

// A cgroup v2 single-value file: memory.max, memory.high, memory.low,
// memory.min, memory.swap.max. Format (Documentation/admin-guide/cgroup-v2.rst,
// "Interface Files"): one line, a byte count or the word "max".
// Returns the bytes, or std::nullopt for "max" (no limit).
inline result<std::optional<std::uint64_t>> parse_number_or_max(
    std::string_view text) noexcept {
  const std::string_view s = detail::trim_trailing_newline(text);
  if (s == "max") return std::optional<std::uint64_t>{};
  auto n = parse_u64(s);
  if (!n) return std::move(n).error();
  return std::optional<std::uint64_t>{*n};
}

// The largest value a cgroup v1 limit file shows when no limit is set. The
// kernel keeps limits in pages and prints PAGE_COUNTER_MAX * PAGE_SIZE, that
// is LONG_MAX rounded down to the page size: 9223372036854771712 with 4 KiB
// pages, 9223372036854710272 with 64 KiB pages. Any value within 1 MiB of
// LONG_MAX therefore means "unlimited" for every page size Linux supports; no
// real limit is that close to 8 EiB.
inline constexpr std::uint64_t v1_unlimited_threshold =
    static_cast<std::uint64_t>(INT64_MAX) - (std::uint64_t{1} << 20) + 1;

// A cgroup v1 limit file: memory.limit_in_bytes, memory.soft_limit_in_bytes,
// memory.memsw.limit_in_bytes, and hierarchical_memory_limit in memory.stat.
// Format (Documentation/admin-guide/cgroup-v1/memory.rst): one decimal byte
// count. Returns the bytes, or std::nullopt for the page-rounded LONG_MAX
// that means unlimited (see v1_unlimited_threshold).
inline std::optional<std::uint64_t> v1_limit_from_bytes(
    std::uint64_t bytes) noexcept {
  if (bytes >= v1_unlimited_threshold) return std::nullopt;
  return bytes;
}

// Parses a v1 limit file's text: the bytes, std::nullopt for unlimited
// (v1_limit_from_bytes), or parse_u64's error when it is not one decimal
// number.
inline result<std::optional<std::uint64_t>> parse_v1_limit(
    std::string_view text) noexcept {
  auto n = parse_u64(detail::trim_trailing_newline(text));
  if (!n) return std::move(n).error();
  return v1_limit_from_bytes(*n);
}

// A single counter file: memory.current, memory.peak, memory.usage_in_bytes,
// memory.max_usage_in_bytes, memory.failcnt. One decimal number and '\n'.
inline result<std::uint64_t> parse_counter(std::string_view text) noexcept {
  return parse_u64(detail::trim_trailing_newline(text));
}

// A size as people write it in configuration, the way Kubernetes writes
// quantities: bytes ("536870912"), binary suffixes Ki Mi Gi Ti ("512Mi"),
// decimal suffixes k/K M G T ("500M" = 500000000). No sign, no spaces, no
// fractions; overflow is malformed.
inline result<std::uint64_t> parse_size(std::string_view s) noexcept {
  std::size_t digits = 0;
  while (digits < s.size() && detail::is_digit(s[digits])) ++digits;
  const std::string_view suffix = s.substr(digits);
  std::uint64_t scale = 1;
  if (suffix.empty()) {
    scale = 1;
  } else if (suffix == "Ki") {
    scale = std::uint64_t{1} << 10;
  } else if (suffix == "Mi") {
    scale = std::uint64_t{1} << 20;
  } else if (suffix == "Gi") {
    scale = std::uint64_t{1} << 30;
  } else if (suffix == "Ti") {
    scale = std::uint64_t{1} << 40;
  } else if (suffix == "k" || suffix == "K") {
    scale = 1000;
  } else if (suffix == "M") {
    scale = 1000 * 1000;
  } else if (suffix == "G") {
    scale = 1000 * 1000 * 1000;
  } else if (suffix == "T") {
    scale = std::uint64_t{1000} * 1000 * 1000 * 1000;
  } else {
    return errc::malformed;
  }
  auto n = parse_u64(s.substr(0, digits));
  if (!n || *n > UINT64_MAX / scale) return errc::malformed;
  return *n * scale;
}

}  // namespace headroom
