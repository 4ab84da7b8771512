// SPDX-License-Identifier: MIT
// headroom: what a memory snapshot holds, without the reader that takes it.
// policy.hpp and other consumers of a snapshot include only this.
#pragma once

#include <cstddef>   // std::size_t
#include <cstdint>   // std::uint64_t
#include <optional>  // "no limit", "no such cgroup"

#include "error.hpp"  // result<T>
#include "mode.hpp"   // hierarchy_mode

namespace headroom {

// A directory's place on a reader's chain (cgroup_location::chain): 0 is
// the own cgroup, 1 its parent, up to the mount point.
struct chain_position {
  // 0: the own cgroup, 1 its parent, and so on.
  std::size_t index = 0;

  // Same place on the chain.
  friend constexpr bool operator==(chain_position a,
                                   chain_position b) noexcept {
    return a.index == b.index;
  }
  // Different places on the chain.
  friend constexpr bool operator!=(chain_position a,
                                   chain_position b) noexcept {
    return a.index != b.index;
  }
};

// Where the binding limit was found.
enum class limit_source {
  none,          // nothing on the chain limits
  chain,         // the limit file of the directory at limit_at
  hierarchical,  // v1 hierarchical_memory_limit: an ancestor above the mount
                 // point, which the process cannot see, holds the limit
  environment,   // HEADROOM_MEMORY_LIMIT replaced the detected limit
};

// The name of a limit_source ("chain", "hierarchical_memory_limit",
// "environment", "none"), as JSON and Prometheus write it.
constexpr const char* to_string(limit_source s) noexcept {
  switch (s) {
    case limit_source::chain:
      return "chain";
    case limit_source::hierarchical:
      return "hierarchical_memory_limit";
    case limit_source::environment:
      return "environment";
    case limit_source::none:
      break;
  }
  return "none";
}

// Whose usage the headroom was computed from.
enum class usage_scope {
  limit_cgroup,  // the limit cgroup's: what the kernel compares with the limit
  below_limit_cgroup,  // a cgroup below it (the limit is held above the visible
                       // mount, or is the host's, or was given): siblings'
                       // usage is not counted, so the headroom is an upper
                       // bound
  host,                // host-wide (/proc/meminfo)
};

// The name of a usage_scope ("limit_cgroup", "below_limit_cgroup",
// "host"), as JSON and Prometheus write it.
constexpr const char* to_string(usage_scope s) noexcept {
  switch (s) {
    case usage_scope::limit_cgroup:
      return "limit_cgroup";
    case usage_scope::below_limit_cgroup:
      return "below_limit_cgroup";
    case usage_scope::host:
      break;
  }
  return "host";
}

// The byte counts memory.stat gives for the usage cgroup (v1: total_rss,
// total_cache, total_inactive_file; v2: anon, file, inactive_file).
struct memory_stat {
  // Anonymous memory (v1 total_rss, v2 anon).
  std::uint64_t anon = 0;
  // Page cache (v1 total_cache, v2 file).
  std::uint64_t file = 0;
  // Page cache not recently used, the first reclaimed (inactive_file).
  std::uint64_t inactive_file = 0;
};

// The memory.stat entries the full accounting reads (memory_report::stat).
// Names are v2's; v1 reads its total_* equivalents where it has one (the
// per-version key tables are in detail/v1.hpp and detail/v2.hpp). Sizes are
// bytes; workingset_*, pg* are event counts (pages), as the kernel counts.
enum class stat_key {
  anon,
  file,
  kernel,
  kernel_stack,
  pagetables,
  sock,
  shmem,
  slab_reclaimable,
  slab_unreclaimable,
  file_mapped,
  file_dirty,
  file_writeback,
  anon_thp,
  swapcached,
  active_anon,
  inactive_anon,
  active_file,
  inactive_file,
  unevictable,
  zswap,
  zswapped,
  workingset_refault_anon,
  workingset_refault_file,
  workingset_activate_anon,
  workingset_activate_file,
  pgscan,
  pgsteal,
  pgfault,
  pgmajfault,
  swap,  // v1 only: total_swap (v2 has memory.swap.current instead)
  count_,
};

// How many stat_key values there are (the size of memory_accounting).
inline constexpr std::size_t stat_key_count =
    static_cast<std::size_t>(stat_key::count_);

// The name of a stat_key: the v2 memory.stat key (JSON uses it).
constexpr const char* to_string(stat_key k) noexcept {
  constexpr const char* names[stat_key_count] = {
      "anon",
      "file",
      "kernel",
      "kernel_stack",
      "pagetables",
      "sock",
      "shmem",
      "slab_reclaimable",
      "slab_unreclaimable",
      "file_mapped",
      "file_dirty",
      "file_writeback",
      "anon_thp",
      "swapcached",
      "active_anon",
      "inactive_anon",
      "active_file",
      "inactive_file",
      "unevictable",
      "zswap",
      "zswapped",
      "workingset_refault_anon",
      "workingset_refault_file",
      "workingset_activate_anon",
      "workingset_activate_file",
      "pgscan",
      "pgsteal",
      "pgfault",
      "pgmajfault",
      "swap",
  };
  const auto i = static_cast<std::size_t>(k);
  return i < stat_key_count ? names[i] : "";
}

// True for the entries that count events (pages), not bytes.
constexpr bool is_event_count(stat_key k) noexcept {
  return k == stat_key::workingset_refault_anon ||
         k == stat_key::workingset_refault_file ||
         k == stat_key::workingset_activate_anon ||
         k == stat_key::workingset_activate_file || k == stat_key::pgscan ||
         k == stat_key::pgsteal || k == stat_key::pgfault ||
         k == stat_key::pgmajfault;
}

// One cgroup's memory.stat as far as this kernel and version have it: an
// entry is std::nullopt where the file has no such key.
struct memory_accounting {
  // One entry per stat_key, indexed by its value.
  std::optional<std::uint64_t> values[stat_key_count] = {};

  // The entry for k.
  std::optional<std::uint64_t> operator[](stat_key k) const noexcept {
    return values[static_cast<std::size_t>(k)];
  }
  // The entry for k, to set it.
  std::optional<std::uint64_t>& operator[](stat_key k) noexcept {
    return values[static_cast<std::size_t>(k)];
  }
};

// What snapshot() reads: enough for the effective limit and the headroom.
// Each value either holds bytes or says why it could not be read.
struct memory_snapshot {
  // The hierarchy the values come from (none: host-wide only).
  hierarchy_mode mode = hierarchy_mode::none;
  // The tightest hard limit; std::nullopt when nothing limits.
  result<std::optional<std::uint64_t>> limit{std::optional<std::uint64_t>{}};
  // Where the limit was found.
  limit_source source = limit_source::none;
  // The limit cgroup's place on the chain (source chain), or the topmost
  // visible directory's (source hierarchical: the cgroup that holds the
  // limit is above the mount point). std::nullopt when no cgroup on the
  // chain holds the limit (none, environment). memory_reader::
  // limit_cgroup(s) gives its directory.
  std::optional<chain_position> limit_at;
  // Whose usage and memory.stat were read; std::nullopt: host-wide, from
  // /proc/meminfo (mode none, or only the cgroup2 root, which has no
  // memory.current).
  std::optional<chain_position> usage_at;
  // Whose usage it is (see usage_scope).
  usage_scope scope = usage_scope::host;
  // Bytes in use by the usage cgroup (memory.current, v1
  // memory.usage_in_bytes; host-wide: MemTotal - MemFree).
  result<std::uint64_t> usage{errc::not_supported};
  // The usage cgroup's memory.stat counts.
  result<memory_stat> stat{errc::not_supported};
  // usage - inactive_file, floored at 0 (host-wide: MemTotal - MemAvailable).
  result<std::uint64_t> working_set{errc::not_supported};
  result<std::uint64_t> host_total{errc::not_supported};  // MemTotal
  // min(limit, host total); host total when nothing limits.
  result<std::uint64_t> effective_limit{errc::not_supported};
  // effective limit - working set, floored at 0.
  result<std::uint64_t> headroom{errc::not_supported};

  // True when the limit was read and something on the chain limits:
  // `if (s.has_limit()) size_heap(*s.limit_bytes() / 2);`.
  bool has_limit() const noexcept { return limit && limit->has_value(); }
  // The limit in bytes; std::nullopt when nothing limits or when it could
  // not be read (then `limit.error()` says why, and has_limit() is false).
  std::optional<std::uint64_t> limit_bytes() const noexcept {
    return has_limit() ? *limit : std::nullopt;
  }
  // True when the limit could not be read: neither "no limit" nor bytes.
  bool limit_unreadable() const noexcept { return !limit.has_value(); }

  // True when usage was not read where the limit is enforced: the headroom
  // is then an upper bound (others' usage under the same limit is unseen).
  bool headroom_is_bound() const noexcept {
    return scope == usage_scope::below_limit_cgroup;
  }
};

}  // namespace headroom
