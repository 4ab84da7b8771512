// headroom: pure parsers for the kernel files the library reads.
//
// Each parser is a function from text to a value: no I/O, no allocation
// unless a string must be unescaped. Its comment gives the file's format and
// the kernel document that defines it. The I/O that feeds these lives in
// discover.hpp and memory.hpp (read_x opens and reads, parse_x parses).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"

namespace headroom {

// ---------------------------------------------------------------------------
// Lines and fields

namespace detail {

// Removes and returns the first line of `text` (without its '\n').
inline std::string_view next_line(std::string_view& text) noexcept {
  const std::size_t nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  return line;
}

// Removes and returns the next field of `text` up to `sep` (the separator is
// consumed; the last field runs to the end).
inline std::string_view next_field(std::string_view& text, char sep) noexcept {
  const std::size_t at = text.find(sep);
  std::string_view field = text.substr(0, at);
  text.remove_prefix(at == std::string_view::npos ? text.size() : at + 1);
  return field;
}

inline std::string_view trim_trailing_newline(std::string_view s) noexcept {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace detail

// ---------------------------------------------------------------------------
// Numbers

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

// ---------------------------------------------------------------------------
// /proc/<pid>/cgroup
//
// Format (man 7 cgroups, "/proc/[pid]/cgroup"): one line per hierarchy,
//   hierarchy-ID:controller-list:cgroup-path
//   4:memory:/docker/0123abcd        (v1: ID > 0, controllers comma-separated)
//   1:name=systemd:/user.slice       (v1 named hierarchy, no controller)
//   0::/system.slice/foo.service     (v2: ID 0, empty list)
// Only the first two colons separate fields: the path may contain ':'.

struct cgroup_entry {
  std::uint32_t hierarchy_id = 0;
  std::string_view controllers;  // "memory", "cpu,cpuacct", "" (v2)
  std::string_view path;         // as printed, relative to the cgroup ns root
};

inline result<cgroup_entry> parse_cgroup_line(std::string_view line) noexcept {
  line = detail::trim_trailing_newline(line);
  const std::size_t c1 = line.find(':');
  if (c1 == std::string_view::npos) return errc::malformed;
  const std::size_t c2 = line.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return errc::malformed;
  auto id = parse_u64(line.substr(0, c1));
  if (!id || *id > UINT32_MAX) return errc::malformed;
  cgroup_entry e;
  e.hierarchy_id = static_cast<std::uint32_t>(*id);
  e.controllers = line.substr(c1 + 1, c2 - c1 - 1);
  e.path = line.substr(c2 + 1);
  if (e.path.empty() || e.path.front() != '/') return errc::malformed;
  return e;
}

// True when the comma-separated `list` names `controller` exactly
// ("cpu,cpuacct" holds "cpu" but "cpuacct" does not hold "cpu").
inline bool has_controller(std::string_view list,
                           std::string_view controller) noexcept {
  while (!list.empty()) {
    if (detail::next_field(list, ',') == controller) return true;
  }
  return false;
}

// Same for a space-separated list (cgroup v2 cgroup.controllers).
inline bool has_word(std::string_view list, std::string_view word) noexcept {
  list = detail::trim_trailing_newline(list);
  while (!list.empty()) {
    if (detail::next_field(list, ' ') == word) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// /proc/<pid>/mountinfo
//
// Format (man 5 proc, "/proc/[pid]/mountinfo";
// Documentation/filesystems/proc.rst, "3.5 /proc/<pid>/mountinfo"):
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
//  (1) mount ID  (2) parent ID  (3) major:minor  (4) root: the directory of
//  the filesystem mounted here  (5) mount point  (6) mount options
//  (7) zero or more optional fields "tag[:value]"  (8) the separator "-"
//  (9) filesystem type  (10) source  (11) super options (for cgroup v1 they
//  hold the controllers: "rw,memory", "rw,cpu,cpuacct", "rw,name=systemd").
// Root and mount point escape space, tab, newline and backslash as octal
// (\040 \011 \012 \134); see unescape_mount_path. Lines can be very long
// (overlay mounts with many layers): nothing here limits their length.

struct mountinfo_entry {
  std::uint32_t mount_id = 0;
  std::uint32_t parent_id = 0;
  std::string_view major_minor;
  std::string_view root;         // escaped
  std::string_view mount_point;  // escaped
  std::string_view mount_options;
  std::string_view optional_fields;  // space-separated, maybe empty
  std::string_view fs_type;
  std::string_view source;
  std::string_view super_options;
};

inline result<mountinfo_entry> parse_mountinfo_line(
    std::string_view line) noexcept {
  line = detail::trim_trailing_newline(line);
  mountinfo_entry e;
  std::string_view rest = line;
  auto id = parse_u64(detail::next_field(rest, ' '));
  auto parent = parse_u64(detail::next_field(rest, ' '));
  if (!id || !parent || *id > UINT32_MAX || *parent > UINT32_MAX) {
    return errc::malformed;
  }
  e.mount_id = static_cast<std::uint32_t>(*id);
  e.parent_id = static_cast<std::uint32_t>(*parent);
  e.major_minor = detail::next_field(rest, ' ');
  e.root = detail::next_field(rest, ' ');
  e.mount_point = detail::next_field(rest, ' ');
  e.mount_options = detail::next_field(rest, ' ');
  if (e.major_minor.find(':') == std::string_view::npos || e.root.empty() ||
      e.mount_point.empty() || e.mount_options.empty()) {
    return errc::malformed;
  }
  // The optional fields end at the separator " - " (a field of its own).
  std::size_t sep;
  if (rest.substr(0, 2) == "- ") {
    sep = 0;
  } else {
    sep = rest.find(" - ");
    if (sep == std::string_view::npos) return errc::malformed;
    e.optional_fields = rest.substr(0, sep);
    sep += 1;
  }
  rest.remove_prefix(sep + 2);
  e.fs_type = detail::next_field(rest, ' ');
  e.source = detail::next_field(rest, ' ');
  e.super_options = detail::next_field(rest, ' ');
  if (e.fs_type.empty()) return errc::malformed;
  return e;
}

// Undoes mountinfo's octal escapes ("\040" -> ' '). A backslash that does not
// start a three-digit octal escape is kept as it is.
inline std::string unescape_mount_path(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto octal = [&](std::size_t at, char max) {
      return at < s.size() && s[at] >= '0' && s[at] <= max;
    };
    if (s[i] == '\\' && octal(i + 1, '3') && octal(i + 2, '7') &&
        octal(i + 3, '7')) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 +
                                      (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Keyed files: memory.stat, memory.events, memory.events.local (v2),
// memory.stat and memory.oom_control (v1).
//
// Format (cgroup-v2.rst "Format": flat keyed; cgroup-v1/memory.rst 5.2):
// one "key value" pair per line, value a decimal number. Keys can be added
// anywhere by newer kernels, so look them up by name, never by position.
// Every line must have that shape, or the whole file is malformed: garbage
// must not yield a number. A negative value (an old kernel's transiently
// negative per-CPU sum) is accepted and reads as 0.

// Calls f(key, value) for every line; stops at the first malformed line.
template <class F>
result<void> for_each_key_value(std::string_view text, F&& f) {
  while (!text.empty()) {
    std::string_view line = detail::next_line(text);
    if (line.empty()) continue;
    const std::size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string_view::npos) return errc::malformed;
    const std::string_view key = line.substr(0, sp);
    std::string_view value = line.substr(sp + 1);
    const bool negative = !value.empty() && value.front() == '-';
    if (negative) value.remove_prefix(1);
    auto n = parse_u64(value);
    if (!n) return errc::malformed;
    f(key, negative ? std::uint64_t{0} : *n);
  }
  return {};
}

// One key to look up in a keyed file, and what was found for it.
struct key_slot {
  std::string_view key;
  std::optional<std::uint64_t> value;  // nullopt: the key is not in the file
};

// Fills each slot's value in one pass over `text`.
template <std::size_t N>
result<void> parse_keyed(std::string_view text,
                         std::array<key_slot, N>& slots) {
  for (auto& s : slots) s.value.reset();
  return for_each_key_value(text, [&](std::string_view key, std::uint64_t v) {
    for (auto& s : slots) {
      if (s.key == key) s.value = v;
    }
  });
}

// ---------------------------------------------------------------------------
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
  double avg10 = 0;
  double avg60 = 0;
  double avg300 = 0;
  std::uint64_t total_us = 0;
};

struct psi_stats {
  psi_line some;
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
    if (key != "avg10" && key != "avg60" && key != "avg300") continue;  // a key from a newer kernel
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

// ---------------------------------------------------------------------------
// /proc/meminfo
//
// Format (Documentation/filesystems/proc.rst, "meminfo"): "Key:   value kB"
// per line, values in KiB (a few counters, HugePages_*, have no unit).
// MemTotal is required; MemAvailable exists since Linux 3.14.

struct meminfo {
  std::uint64_t total = 0;  // bytes
  std::uint64_t free = 0;   // bytes
  std::optional<std::uint64_t> available;  // bytes
};

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
  return m;
}

}  // namespace headroom
