// SPDX-License-Identifier: MIT
// headroom: cgroup v1 (also the memory side of a hybrid host), as data.
// Format and meaning: Documentation/admin-guide/cgroup-v1/memory.rst,
// Documentation/scheduler/sched-bwc.rst (bandwidth control) and
// Documentation/admin-guide/cgroup-v1/cpusets.rst.
#pragma once

#include <array>        // the event rows
#include <string_view>  // file names and keys

#include "../parse/numbers.hpp"  // parse_v1_limit
#include "layout_types.hpp"      // cgroup_layout

namespace headroom::detail::v1 {

inline constexpr std::string_view limit = "memory.limit_in_bytes";
inline constexpr std::string_view usage = "memory.usage_in_bytes";
inline constexpr std::string_view stat = "memory.stat";
inline constexpr std::string_view soft_limit = "memory.soft_limit_in_bytes";
inline constexpr std::string_view memsw_limit = "memory.memsw.limit_in_bytes";
inline constexpr std::string_view max_usage = "memory.max_usage_in_bytes";
inline constexpr std::string_view failcnt = "memory.failcnt";
inline constexpr std::string_view oom_control = "memory.oom_control";
inline constexpr std::string_view pressure_level = "memory.pressure_level";
inline constexpr std::string_view use_hierarchy = "memory.use_hierarchy";
inline constexpr std::string_view event_control = "cgroup.event_control";

// memory.stat keys. The total_* keys include descendants, as usage does.
inline constexpr std::string_view stat_anon = "total_rss";
inline constexpr std::string_view stat_file = "total_cache";
inline constexpr std::string_view stat_inactive_file = "total_inactive_file";
// The kernel's own minimum of the limits from this cgroup up to the root of
// the hierarchy, including ancestors above a container's mount point.
inline constexpr std::string_view stat_hierarchical_limit =
    "hierarchical_memory_limit";
inline constexpr std::string_view stat_hierarchical_memsw_limit =
    "hierarchical_memsw_limit";

// The full accounting: the total_* key of each entry v1 has (the local keys
// leave descendants out). v1 has no kernel, sock, slab or pgscan entries;
// its kernel memory is memory.kmem.usage_in_bytes.
inline constexpr std::array<stat_key_row, 18> stat_keys{{
    {stat_key::anon, "total_rss"},
    {stat_key::file, "total_cache"},
    {stat_key::shmem, "total_shmem"},
    {stat_key::file_mapped, "total_mapped_file"},
    {stat_key::file_dirty, "total_dirty"},
    {stat_key::file_writeback, "total_writeback"},
    {stat_key::anon_thp, "total_rss_huge"},
    {stat_key::swapcached, "total_swapcached"},
    {stat_key::active_anon, "total_active_anon"},
    {stat_key::inactive_anon, "total_inactive_anon"},
    {stat_key::active_file, "total_active_file"},
    {stat_key::inactive_file, "total_inactive_file"},
    {stat_key::unevictable, "total_unevictable"},
    {stat_key::workingset_refault_anon, "total_workingset_refault_anon"},
    {stat_key::workingset_refault_file, "total_workingset_refault_file"},
    {stat_key::pgfault, "total_pgfault"},
    {stat_key::pgmajfault, "total_pgmajfault"},
    {stat_key::swap, "total_swap"},
}};
// The local keys cAdvisor exports as container_memory_workingset_refault_*
// (its handler.go looks the v2 names up, which v1 prints for the cgroup
// alone).
inline constexpr std::array<stat_key_row, 2> cadvisor_local_keys{{
    {stat_key::workingset_refault_anon, "workingset_refault_anon"},
    {stat_key::workingset_refault_file, "workingset_refault_file"},
}};
inline constexpr std::string_view memsw_usage = "memory.memsw.usage_in_bytes";
inline constexpr std::string_view kmem_usage = "memory.kmem.usage_in_bytes";

// memory.oom_control keys.
inline constexpr std::string_view oom_kill = "oom_kill";

// cpu and cpuset.
inline constexpr std::string_view cfs_quota = "cpu.cfs_quota_us";
inline constexpr std::string_view cfs_period = "cpu.cfs_period_us";
inline constexpr std::string_view cpu_stat = "cpu.stat";
// Linux 4.x+ shows the CPUs the cpuset really grants; older kernels only
// cpuset.cpus, which a v1 child cannot widen beyond its parent's.
inline constexpr std::string_view cpuset_effective = "cpuset.effective_cpus";
inline constexpr std::string_view cpuset_cpus = "cpuset.cpus";

// The events a monitor registers: pressure_level in local mode (only this
// cgroup's own pressure; plain "medium" before Linux 4.10), and
// oom_control, which fires on every OOM in the cgroup.
inline constexpr std::array<cgroup_event, 3> events{{
    {"v1_pressure_level", pressure_level, "medium,local", "medium",
     cgroup_event_kind::pressure_moderate},
    {"v1_pressure_level", pressure_level, "critical,local", "critical",
     cgroup_event_kind::pressure_critical},
    {"v1_oom_control", oom_control, "", "", cgroup_event_kind::oom},
}};

inline constexpr cgroup_layout layout{
    "cgroup v1",
    memory_layout{
        limit,
        &parse_v1_limit,
        usage,
        stat,
        stat_anon,
        stat_file,
        stat_inactive_file,
        stat_hierarchical_limit,  // a witness above the mount point
        use_hierarchy,            // a parent with 0 ends the chain
        std::nullopt,             // no memory.high
        soft_limit,
        swap_rule::memsw_minus_limit,
        memsw_limit,
        max_usage,
        failcnt,
        oom_control,
        oom_kill,
        false,  // oom_control does not poll
        true,   // usage thresholds by eventfd
        rows_of(events),
        rows_of(stat_keys),
        memsw_usage,   // memory and swap
        std::nullopt,  // no zswap
        kmem_usage,
        soft_limit,    // cAdvisor's reservation
        std::nullopt,  // no memory.oom.group
        false,         // other memory.stat names than cAdvisor's
        rows_of(cadvisor_local_keys),
    },
    cpu_layout{cfs_quota,
               cfs_period,
               {cpuset_effective, cpuset_cpus},
               false,
               cpu_stat,
               "nr_periods",
               "nr_throttled",
               "throttled_time",
               1},  // nanoseconds
    true,           // files_in_every_dir
};

}  // namespace headroom::detail::v1
