// headroom: cgroup v1 memory controller files (also the memory side of a
// hybrid host). Format and meaning: Documentation/admin-guide/cgroup-v1/memory.rst.
#pragma once

#include <string_view>

namespace headroom::detail::v1 {

inline constexpr std::string_view limit = "memory.limit_in_bytes";
inline constexpr std::string_view usage = "memory.usage_in_bytes";
inline constexpr std::string_view stat = "memory.stat";
inline constexpr std::string_view soft_limit = "memory.soft_limit_in_bytes";
inline constexpr std::string_view memsw_limit = "memory.memsw.limit_in_bytes";
inline constexpr std::string_view max_usage = "memory.max_usage_in_bytes";
inline constexpr std::string_view failcnt = "memory.failcnt";
inline constexpr std::string_view oom_control = "memory.oom_control";
inline constexpr std::string_view use_hierarchy = "memory.use_hierarchy";

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

// memory.oom_control keys.
inline constexpr std::string_view oom_kill = "oom_kill";

}  // namespace headroom::detail::v1
