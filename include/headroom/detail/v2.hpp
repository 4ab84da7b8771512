// headroom: cgroup v2 memory controller files. Format and meaning:
// Documentation/admin-guide/cgroup-v2.rst, "Memory Interface Files".
#pragma once

#include <string_view>

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

}  // namespace headroom::detail::v2
