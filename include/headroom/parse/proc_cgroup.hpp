// SPDX-License-Identifier: MIT
// headroom: /proc/<pid>/cgroup lines and controller lists.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t
#include <string_view>  // fields are views into the text

#include "../error.hpp"  // result<T>
#include "numbers.hpp"   // parse_u64
#include "text.hpp"      // next_field, trim_trailing_newline

namespace headroom {

// /proc/<pid>/cgroup
//
// Format (man 7 cgroups, "/proc/[pid]/cgroup"): one line per hierarchy,
//   hierarchy-ID:controller-list:cgroup-path
//   4:memory:/docker/0123abcd        (v1: ID > 0, controllers comma-separated)
//   1:name=systemd:/user.slice       (v1 named hierarchy, no controller)
//   0::/system.slice/foo.service     (v2: ID 0, empty list)
// Only the first two colons separate fields: the path may contain ':'.

struct cgroup_entry {
  // 0 for the cgroup2 line, the hierarchy ID for a v1 line.
  std::uint32_t hierarchy_id = 0;
  std::string_view controllers;  // "memory", "cpu,cpuacct", "" (v2)
  std::string_view path;         // as printed, relative to the cgroup ns root
};

// Parses one /proc/PID/cgroup line (a trailing newline is allowed);
// errc::malformed without the three fields, a numeric ID, or a path that
// starts with '/'.
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

}  // namespace headroom
