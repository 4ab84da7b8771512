// SPDX-License-Identifier: MIT
// headroom: cgroup v2, as data. Format and meaning:
// Documentation/admin-guide/cgroup-v2.rst ("Memory Interface Files", "CPU
// Interface Files", "Cpuset Interface Files").
#pragma once

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

// memory.stat keys (hierarchical, as memory.current is).
inline constexpr std::string_view stat_anon = "anon";
inline constexpr std::string_view stat_file = "file";
inline constexpr std::string_view stat_inactive_file = "inactive_file";

// memory.events keys.
inline constexpr std::string_view oom_kill = "oom_kill";

// cpu and cpuset.
inline constexpr std::string_view cpu_max = "cpu.max";
inline constexpr std::string_view cpuset_effective = "cpuset.cpus.effective";

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
    },
    cpu_layout{cpu_max, std::nullopt, {cpuset_effective, {}}, true},
    false,  // files_in_every_dir
};

}  // namespace headroom::detail::v2
