// SPDX-License-Identifier: MIT
// headroom: the cpu and cpuset controller files (cpu.max, cpu.cfs_quota_us,
// cpu.cfs_period_us, CPU lists) and Cpus_allowed_list of /proc/<pid>/status.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t, std::uint64_t
#include <optional>     // "max" and -1 are std::nullopt
#include <string_view>  // the text parsed

#include "../error.hpp"  // result<T>
#include "numbers.hpp"   // parse_u64
#include "text.hpp"      // next_line, next_field, trim_trailing_newline

namespace headroom {

// A CFS bandwidth quota: the group may run quota_us of CPU time in every
// period_us of wall time, so it may use quota_us / period_us CPUs.
struct cpu_quota {
  std::uint64_t quota_us = 0;   // > 0
  std::uint64_t period_us = 0;  // > 0

  // The fraction of CPUs, e.g. 1.5 for "150000 100000".
  double cpus() const noexcept {
    return static_cast<double>(quota_us) / static_cast<double>(period_us);
  }
};

// cgroup v2 cpu.max. Format (Documentation/admin-guide/cgroup-v2.rst, "CPU
// Interface Files"): one line "$MAX $PERIOD", both in microseconds, e.g.
// "50000 100000"; "max" for $MAX means no limit ("max 100000", the
// default). The file exists on non-root cgroups with the cpu controller.
// Returns the quota, or std::nullopt for "max". A zero quota or period (which
// the kernel never shows) is malformed.
inline result<std::optional<cpu_quota>> parse_cpu_max(
    std::string_view text) noexcept {
  std::string_view s = detail::trim_trailing_newline(text);
  const std::string_view max = detail::next_field(s, ' ');
  auto period = parse_u64(s);
  if (!period || *period == 0) return errc::malformed;
  if (max == "max") return std::optional<cpu_quota>{};
  auto quota = parse_u64(max);
  if (!quota || *quota == 0) return errc::malformed;
  return std::optional<cpu_quota>{cpu_quota{*quota, *period}};
}

// One cgroup's own bandwidth setting as it is written: its quota (nullopt:
// "max" or -1) and its period, which every cgroup with the controller has.
// cAdvisor reports these of a container (container_spec_cpu_quota, _period).
struct cpu_bandwidth {
  std::optional<std::uint64_t> quota_us;  // > 0; nullopt: none
  std::uint64_t period_us = 0;            // > 0
};

// cgroup v2 cpu.max as a cpu_bandwidth: the period also for "max PERIOD".
inline result<cpu_bandwidth> parse_cpu_max_bandwidth(
    std::string_view text) noexcept {
  auto q = parse_cpu_max(text);
  if (!q) return std::move(q).error();
  cpu_bandwidth b;
  if (q->has_value()) {
    b.quota_us = (*q)->quota_us;
    b.period_us = (*q)->period_us;
    return b;
  }
  std::string_view s = detail::trim_trailing_newline(text);
  detail::next_field(s, ' ');  // "max", checked by parse_cpu_max
  auto period = parse_u64(s);
  if (!period) return errc::malformed;
  b.period_us = *period;
  return b;
}

// cgroup v1 cpu.cfs_quota_us. Format (Documentation/scheduler/sched-bwc.rst,
// "Management"): one decimal number of microseconds of run time per period;
// "-1" means the group has no bandwidth restriction. Returns the quota, or
// std::nullopt for -1. Zero and other negative values are malformed.
inline result<std::optional<std::uint64_t>> parse_cfs_quota(
    std::string_view text) noexcept {
  const std::string_view s = detail::trim_trailing_newline(text);
  if (s == "-1") return std::optional<std::uint64_t>{};
  auto n = parse_u64(s);
  if (!n || *n == 0) return errc::malformed;
  return std::optional<std::uint64_t>{*n};
}

// cgroup v1 cpu.cfs_period_us. Format (sched-bwc.rst): one decimal number,
// the length of a period in microseconds (1 ms to 1 s; default 100000).
inline result<std::uint64_t> parse_cfs_period(std::string_view text) noexcept {
  auto n = parse_u64(detail::trim_trailing_newline(text));
  if (!n || *n == 0) return errc::malformed;
  return *n;
}

// The largest CPU number accepted in a list. Linux supports at most 8192
// CPUs (CONFIG_NR_CPUS); anything far beyond is garbage, not a machine.
inline constexpr std::uint64_t max_cpu_number = (std::uint64_t{1} << 20) - 1;

// A CPU list: cgroup v2 cpuset.cpus.effective, v1 cpuset.effective_cpus and
// cpuset.cpus, and Cpus_allowed_list in /proc/<pid>/status. Format
// (Documentation/admin-guide/cgroup-v2.rst, "Cpuset Interface Files";
// Documentation/admin-guide/cgroup-v1/cpusets.rst, "List format"):
// comma-separated CPU numbers and inclusive ranges, e.g. "0-3,8,10-11".
// The kernel prints them in ascending order without overlaps, so anything
// else (descending, overlapping, a range a-b with a > b, spaces, a stride
// "0-7:2/4", which the kernel accepts on write but never prints) is
// malformed. An empty line is the empty set. Returns the number of CPUs.
inline result<std::uint32_t> parse_cpu_list(std::string_view text) noexcept {
  std::string_view s = detail::trim_trailing_newline(text);
  // next_field would swallow a trailing comma; an empty item elsewhere
  // fails to parse below.
  if (!s.empty() && s.back() == ',') return errc::malformed;
  std::uint32_t count = 0;
  std::optional<std::uint64_t> last;  // highest CPU so far
  while (!s.empty()) {
    std::string_view item = detail::next_field(s, ',');
    const std::size_t dash = item.find('-');
    auto first = parse_u64(item.substr(0, dash));
    if (!first || *first > max_cpu_number) return errc::malformed;
    std::uint64_t end = *first;
    if (dash != std::string_view::npos) {
      auto second = parse_u64(item.substr(dash + 1));
      if (!second || *second > max_cpu_number || *second < *first) {
        return errc::malformed;
      }
      end = *second;
    }
    if (last && *first <= *last) return errc::malformed;
    count += static_cast<std::uint32_t>(end - *first + 1);
    last = end;
  }
  return count;
}

// The CPUs a task may run on, from /proc/<pid>/status. Format
// (Documentation/filesystems/proc.rst, "Contents of the status fields"):
// "Key:<TAB>value" lines; Cpus_allowed_list holds the affinity mask in the
// list format above (Linux 2.6.26+). Returns the number of CPUs; a missing
// line or an empty list is malformed (a task always has a CPU to run on).
inline result<std::uint32_t> parse_status_cpus_allowed(
    std::string_view text) noexcept {
  constexpr std::string_view key = "Cpus_allowed_list:";
  while (!text.empty()) {
    std::string_view line = detail::next_line(text);
    if (line.substr(0, key.size()) != key) continue;
    line.remove_prefix(key.size());
    while (!line.empty() && (line.front() == '\t' || line.front() == ' ')) {
      line.remove_prefix(1);
    }
    auto n = parse_cpu_list(line);
    if (!n || *n == 0) return errc::malformed;
    return n;
  }
  return errc::malformed;
}

}  // namespace headroom
