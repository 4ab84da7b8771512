// headroom: cgroup cpu and cpuset controller files, v1 and v2. Format and
// meaning: Documentation/admin-guide/cgroup-v2.rst ("CPU Interface Files",
// "Cpuset Interface Files"), Documentation/scheduler/sched-bwc.rst (v1
// bandwidth control) and Documentation/admin-guide/cgroup-v1/cpusets.rst.
#pragma once

#include <string_view>

namespace headroom::detail::v1 {

inline constexpr std::string_view cfs_quota = "cpu.cfs_quota_us";
inline constexpr std::string_view cfs_period = "cpu.cfs_period_us";
// Linux 4.x+ shows the CPUs the cpuset really grants; older kernels only
// cpuset.cpus, which a v1 child cannot widen beyond its parent's.
inline constexpr std::string_view cpuset_effective = "cpuset.effective_cpus";
inline constexpr std::string_view cpuset_cpus = "cpuset.cpus";

}  // namespace headroom::detail::v1

namespace headroom::detail::v2 {

inline constexpr std::string_view cpu_max = "cpu.max";
inline constexpr std::string_view cpuset_effective = "cpuset.cpus.effective";

}  // namespace headroom::detail::v2
