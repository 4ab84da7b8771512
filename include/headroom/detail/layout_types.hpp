// SPDX-License-Identifier: MIT
// headroom: the shape of a per-version table (see layout.hpp).
#pragma once

#include <array>        // cpu_layout::cpuset
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t
#include <optional>     // values a version does not have
#include <string_view>  // file names and keys

#include "../error.hpp"     // result<T>, for the limit parser's type
#include "../snapshot.hpp"  // stat_key, for the memory.stat key rows

namespace headroom {

// A constexpr array seen as a range: the rows of a table.
template <class T>
struct table_rows {
  const T* first = nullptr;
  std::size_t count = 0;

  constexpr const T* begin() const noexcept { return first; }
  constexpr const T* end() const noexcept { return first + count; }
  constexpr std::size_t size() const noexcept { return count; }
  constexpr bool empty() const noexcept { return count == 0; }
};

template <class T, std::size_t N>
constexpr table_rows<T> rows_of(const std::array<T, N>& a) noexcept {
  return {a.data(), N};
}

// How the swap limit is found.
enum class swap_rule {
  chain_min,          // v2: the minimum of memory.swap.max on the chain
  memsw_minus_limit,  // v1: the tightest memory+swap limit minus the limit
};

// What an event registered through cgroup.event_control (v1) reports.
enum class cgroup_event_kind {
  pressure_moderate,  // memory.pressure_level "medium"
  pressure_critical,  // memory.pressure_level "critical"
  oom,                // memory.oom_control: an OOM in the cgroup
};

// One registration: an eventfd, the file, and the argument written with
// them into cgroup.event_control (Documentation/admin-guide/cgroup-v1/
// memory.rst, 9 and 11). Rows with the same `source` are one source.
struct cgroup_event {
  std::string_view source;    // the name sources() shows
  std::string_view file;      // e.g. memory.pressure_level
  std::string_view argument;  // e.g. "medium,local"
  // Written instead when the kernel refuses `argument` with EINVAL (the
  // mode suffix is Linux 4.10+). Empty: no second try.
  std::string_view fallback;
  cgroup_event_kind kind;
};

// A memory.stat entry and its key in one version's file.
struct stat_key_row {
  stat_key key;
  std::string_view name;
};

// A limit file's parser: bytes, or std::nullopt for "no limit".
using limit_parser = result<std::optional<std::uint64_t>> (*)(std::string_view);

// The memory controller of one version.
struct memory_layout {
  std::string_view limit;  // the hard limit of a directory
  limit_parser parse_limit;
  std::string_view usage;  // what the kernel compares with the limit
  std::string_view stat;
  // memory.stat keys, hierarchical as usage is.
  std::string_view stat_anon;
  std::string_view stat_file;
  std::string_view stat_inactive_file;
  // The kernel's own minimum of the limits up to the hierarchy's root, in
  // memory.stat (v1): it also sees ancestors above the mount point.
  std::optional<std::string_view> stat_hierarchical_limit;
  // A file whose "0" in a parent ends the chain there (v1).
  std::optional<std::string_view> use_hierarchy;
  std::optional<std::string_view> high;  // the throttling threshold (v2)
  std::string_view low;                  // memory.low, v1 soft limit
  swap_rule swap;
  std::string_view swap_file;  // memory.swap.max or memory.memsw.limit_in_bytes
  std::string_view peak;       // the highest usage seen
  std::optional<std::string_view> failcnt;  // times usage hit the limit (v1)
  // The counters file (memory.events, v1 memory.oom_control) and its key
  // for processes killed by the OOM killer.
  std::string_view events;
  std::string_view oom_kill_key;
  // The counters file wakes poll() with POLLPRI when it changes (v2).
  bool events_notify;
  // The usage file can wake an eventfd at thresholds through
  // cgroup.event_control (v1).
  bool usage_thresholds;
  // Events registered through cgroup.event_control (v1; none on v2).
  table_rows<cgroup_event> cgroup_events;
  // The memory.stat entries of the full accounting (memory_report::stat),
  // hierarchical where the version has both kinds.
  table_rows<stat_key_row> stat_keys;
  // Swap in use: v2 memory.swap.current (swap only); v1
  // memory.memsw.usage_in_bytes (memory and swap: the swap rule says so).
  std::string_view swap_usage;
  std::optional<std::string_view> zswap_usage;   // memory.zswap.current (v2)
  std::optional<std::string_view> kernel_usage;  // memory.kmem.usage (v1)
  // What cAdvisor calls the reservation: v2 memory.min, v1 the soft limit.
  std::string_view reservation;
  // Whether one OOM kill takes every process of the cgroup (v2).
  std::optional<std::string_view> oom_group;
  // memory.stat has the names cAdvisor looks up for file_dirty,
  // file_writeback, pgscan, pgsteal and workingset_refault_* (v2; on v1
  // cAdvisor finds none of them and writes 0, or a local count).
  bool cadvisor_stat_names;
  // The local (this cgroup only) memory.stat keys cAdvisor reads where
  // cadvisor_stat_names is false: v1's workingset_refault_anon and _file
  // (Linux 5.9+), beside the total_* ones of the accounting. None on v2.
  table_rows<stat_key_row> cadvisor_local_keys;
};

// The cpu and cpuset controllers of one version.
struct cpu_layout {
  std::string_view quota;  // cpu.max, v1 cpu.cfs_quota_us
  // v1 keeps the period in a file of its own; v2 cpu.max holds both.
  std::optional<std::string_view> period;
  // The cpuset files to try in a directory, first that exists wins (v1:
  // cpuset.effective_cpus, then cpuset.cpus on old kernels).
  std::array<std::string_view, 2> cpuset;
  // v2: a cgroup without the cpuset controller runs on its nearest
  // ancestor's CPUs, so the chain is walked up; v1: the own cpuset only.
  bool cpuset_from_ancestors;
  // CFS bandwidth counters (Documentation/scheduler/sched-bwc.rst,
  // "Statistics"): cpu.stat with the periods, the throttled periods and the
  // throttled time, whose key and unit differ (v1 throttled_time in ns, v2
  // throttled_usec in us).
  std::string_view stat;
  std::string_view stat_periods;
  std::string_view stat_throttled;
  std::string_view stat_throttled_time;
  std::uint64_t throttled_time_ns_per_unit;
};

// Everything one version reads.
struct cgroup_layout {
  std::string_view name;  // "cgroup v1", "cgroup v2"
  memory_layout memory;
  cpu_layout cpu;
  // Every directory of the hierarchy, the root too, has the controller's
  // files (v1); else only directories with the controller enabled (v2). A
  // missing limit or quota file is then an error, never "no limit".
  bool files_in_every_dir;
};

}  // namespace headroom
