// SPDX-License-Identifier: MIT
// headroom: cgroup v2, as data. Format and meaning:
// Documentation/admin-guide/cgroup-v2.rst ("Memory Interface Files", "CPU
// Interface Files", "Cpuset Interface Files").
#pragma once

#include <array>        // the memory.stat key rows
#include <string_view>  // file names and keys

#include "../parse/numbers.hpp"  // parse_number_or_max
#include "layout_types.hpp"      // cgroup_layout

namespace headroom::detail::v2 {

inline constexpr std::string_view limit = "memory.max";
inline constexpr std::string_view usage = "memory.current";
inline constexpr std::string_view stat = "memory.stat";
inline constexpr std::string_view high = "memory.high";
inline constexpr std::string_view low = "memory.low";
inline constexpr std::string_view swap_max = "memory.swap.max";
inline constexpr std::string_view peak = "memory.peak";  // Linux 5.19+
inline constexpr std::string_view events = "memory.events";
inline constexpr std::string_view controllers = "cgroup.controllers";
// PSI of the cgroup: a cgroup core file, present in every cgroup2 directory
// (also where the memory controller is not enabled).
inline constexpr std::string_view pressure = "memory.pressure";
// The CPU's and IO's, core files like it (Documentation/accounting/psi.rst,
// "Cgroup2 interface").
inline constexpr std::string_view cpu_pressure = "cpu.pressure";
inline constexpr std::string_view io_pressure = "io.pressure";

// memory.stat keys (hierarchical, as memory.current is).
inline constexpr std::string_view stat_anon = "anon";
inline constexpr std::string_view stat_file = "file";
inline constexpr std::string_view stat_inactive_file = "inactive_file";

// The full accounting, by the kernel's own names (hierarchical). Keys a
// kernel does not have are absent (kernel: 5.18+, zswap: 5.19+).
inline constexpr std::array<stat_key_row, 29> stat_keys{{
    {stat_key::anon, "anon"},
    {stat_key::file, "file"},
    {stat_key::kernel, "kernel"},
    {stat_key::kernel_stack, "kernel_stack"},
    {stat_key::pagetables, "pagetables"},
    {stat_key::sock, "sock"},
    {stat_key::shmem, "shmem"},
    {stat_key::slab_reclaimable, "slab_reclaimable"},
    {stat_key::slab_unreclaimable, "slab_unreclaimable"},
    {stat_key::file_mapped, "file_mapped"},
    {stat_key::file_dirty, "file_dirty"},
    {stat_key::file_writeback, "file_writeback"},
    {stat_key::anon_thp, "anon_thp"},
    {stat_key::swapcached, "swapcached"},
    {stat_key::active_anon, "active_anon"},
    {stat_key::inactive_anon, "inactive_anon"},
    {stat_key::active_file, "active_file"},
    {stat_key::inactive_file, "inactive_file"},
    {stat_key::unevictable, "unevictable"},
    {stat_key::zswap, "zswap"},
    {stat_key::zswapped, "zswapped"},
    {stat_key::workingset_refault_anon, "workingset_refault_anon"},
    {stat_key::workingset_refault_file, "workingset_refault_file"},
    {stat_key::workingset_activate_anon, "workingset_activate_anon"},
    {stat_key::workingset_activate_file, "workingset_activate_file"},
    {stat_key::pgscan, "pgscan"},
    {stat_key::pgsteal, "pgsteal"},
    {stat_key::pgfault, "pgfault"},
    {stat_key::pgmajfault, "pgmajfault"},
}};
inline constexpr std::string_view swap_current = "memory.swap.current";
inline constexpr std::string_view zswap_current = "memory.zswap.current";
inline constexpr std::string_view min = "memory.min";
inline constexpr std::string_view oom_group = "memory.oom.group";

// memory.events keys.
inline constexpr std::string_view oom_kill = "oom_kill";

// cpu and cpuset.
inline constexpr std::string_view cpu_max = "cpu.max";
inline constexpr std::string_view cpuset_effective = "cpuset.cpus.effective";
inline constexpr std::string_view cpu_stat = "cpu.stat";

inline constexpr cgroup_layout layout{
    "cgroup v2",
    memory_layout{
        limit,
        &parse_number_or_max,
        usage,
        stat,
        stat_anon,
        stat_file,
        stat_inactive_file,
        std::nullopt,  // no hierarchical witness
        std::nullopt,  // every parent's limit applies
        high,
        low,
        swap_rule::chain_min,
        swap_max,
        peak,
        std::nullopt,  // no failcnt
        events,
        oom_kill,
        true,   // memory.events wakes POLLPRI
        false,  // no usage thresholds
        {},     // no cgroup.event_control
        rows_of(stat_keys),
        swap_current,  // swap only
        zswap_current,
        std::nullopt,  // kernel memory is memory.stat kernel
        min,           // cAdvisor's reservation
        oom_group,
        true,  // the memory.stat names cAdvisor reads
        {},    // no local keys: memory.stat is hierarchical only
    },
    cpu_layout{cpu_max,
               std::nullopt,
               {cpuset_effective, {}},
               true,
               cpu_stat,
               "nr_periods",
               "nr_throttled",
               "throttled_usec",
               1000},  // microseconds
    false,             // files_in_every_dir
};

}  // namespace headroom::detail::v2
