// Building blocks for fixture trees: cgroup directories as the kernel shows
// them on v1 and v2, and the proc files around them.
#pragma once

#include <cstdint>
#include <string>

#include "fixture_tree.hpp"

namespace headroom_test {

inline constexpr std::uint64_t MiB = 1024 * 1024;
inline constexpr std::uint64_t GiB = 1024 * MiB;

// v1 shows "no limit" as LONG_MAX rounded down to the page size.
inline const char* const v1_unlimited_4k = "9223372036854771712";
inline const char* const v1_unlimited_64k = "9223372036854710272";

// A 16 GiB host with 12 GiB available.
inline const char* const meminfo_16g =
    "MemTotal:       16777216 kB\n"
    "MemFree:         8388608 kB\n"
    "MemAvailable:   12582912 kB\n"
    "Buffers:          102400 kB\n"
    "Cached:          2097152 kB\n";

inline const char* const host_psi =
    "some avg10=0.10 avg60=0.20 avg300=0.30 total=1000\n"
    "full avg10=0.01 avg60=0.02 avg300=0.03 total=100\n";

inline std::string n(std::uint64_t v) { return std::to_string(v) + "\n"; }

// v1 memory.stat: local keys, the hierarchical limits, then total_* keys.
inline std::string v1_stat(const std::string& hierarchical_limit,
                           std::uint64_t rss, std::uint64_t cache,
                           std::uint64_t inactive_file,
                           const std::string& hierarchical_memsw =
                               v1_unlimited_4k) {
  return "cache " + std::to_string(cache / 2) + "\nrss " +
         std::to_string(rss / 2) + "\nrss_huge 0\nshmem 0\nmapped_file 0\n" +
         "inactive_anon 0\nactive_anon 0\ninactive_file 7\nactive_file 0\n" +
         "hierarchical_memory_limit " + hierarchical_limit + "\n" +
         "hierarchical_memsw_limit " + hierarchical_memsw + "\n" +
         "total_cache " + std::to_string(cache) + "\ntotal_rss " +
         std::to_string(rss) + "\ntotal_rss_huge 0\ntotal_shmem 0\n" +
         "total_inactive_anon 0\ntotal_active_anon " + std::to_string(rss) +
         "\ntotal_inactive_file " + std::to_string(inactive_file) +
         "\ntotal_active_file " + std::to_string(cache - inactive_file) +
         "\ntotal_unevictable 0\n";
}

struct v1_dir {
  std::string limit = v1_unlimited_4k;
  std::uint64_t usage = 100 * MiB;
  std::uint64_t rss = 60 * MiB;
  std::uint64_t cache = 40 * MiB;
  std::uint64_t inactive_file = 20 * MiB;
  std::string hierarchical_limit = v1_unlimited_4k;
  std::string memsw_limit = v1_unlimited_4k;  // "" for no swap accounting
  std::string use_hierarchy = "1";
  std::uint64_t failcnt = 0;
  std::uint64_t oom_kill = 0;
};

inline void write_v1(fixture_tree& t, const std::string& dir, const v1_dir& d) {
  t.file(dir + "/memory.limit_in_bytes", d.limit + "\n");
  t.file(dir + "/memory.usage_in_bytes", n(d.usage));
  t.file(dir + "/memory.max_usage_in_bytes", n(d.usage + 10 * MiB));
  t.file(dir + "/memory.soft_limit_in_bytes", std::string(v1_unlimited_4k) + "\n");
  t.file(dir + "/memory.failcnt", n(d.failcnt));
  t.file(dir + "/memory.use_hierarchy", d.use_hierarchy + "\n");
  t.file(dir + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill " +
                                          std::to_string(d.oom_kill) + "\n");
  t.file(dir + "/memory.stat",
         v1_stat(d.hierarchical_limit, d.rss, d.cache, d.inactive_file,
                 d.memsw_limit.empty() ? v1_unlimited_4k : d.memsw_limit));
  if (!d.memsw_limit.empty()) {
    t.file(dir + "/memory.memsw.limit_in_bytes", d.memsw_limit + "\n");
  }
}

inline std::string v2_stat(std::uint64_t anon, std::uint64_t file,
                           std::uint64_t inactive_file) {
  return "anon " + std::to_string(anon) + "\nfile " + std::to_string(file) +
         "\nkernel 327680\nkernel_stack 16384\nsock 0\nshmem 0\n" +
         "inactive_anon " + std::to_string(anon) + "\nactive_anon 0\n" +
         "inactive_file " + std::to_string(inactive_file) + "\nactive_file " +
         std::to_string(file - inactive_file) + "\nunevictable 0\n" +
         "pgfault 100\npgmajfault 1\n";
}

struct v2_dir {
  std::string max = "max";
  std::string high = "max";
  std::string low = "0";
  std::string swap_max = "max";
  std::uint64_t current = 100 * MiB;
  std::uint64_t anon = 60 * MiB;
  std::uint64_t file = 40 * MiB;
  std::uint64_t inactive_file = 20 * MiB;
  std::string controllers = "cpuset cpu io memory pids";
  std::string events = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";
  std::string pressure =
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
};

// A non-root cgroup2 directory with the memory controller enabled.
inline void write_v2(fixture_tree& t, const std::string& dir, const v2_dir& d) {
  t.file(dir + "/cgroup.controllers", d.controllers + "\n");
  t.file(dir + "/cgroup.type", "domain\n");
  t.file(dir + "/memory.pressure", d.pressure);
  t.file(dir + "/memory.max", d.max + "\n");
  t.file(dir + "/memory.high", d.high + "\n");
  t.file(dir + "/memory.low", d.low + "\n");
  t.file(dir + "/memory.swap.max", d.swap_max + "\n");
  t.file(dir + "/memory.current", n(d.current));
  t.file(dir + "/memory.peak", n(d.current + 10 * MiB));
  t.file(dir + "/memory.events", d.events);
  t.file(dir + "/memory.stat", v2_stat(d.anon, d.file, d.inactive_file));
}

// The cgroup2 root: no memory.max, memory.current, cgroup.type.
inline void write_v2_root(fixture_tree& t, const std::string& dir,
                          const std::string& controllers = "cpuset cpu io memory pids") {
  t.file(dir + "/cgroup.controllers", controllers + "\n");
  t.file(dir + "/memory.pressure", host_psi);
  t.file(dir + "/memory.stat", v2_stat(1 * GiB, 2 * GiB, 1 * GiB));
}

inline void write_host(fixture_tree& t) {
  t.file("proc/meminfo", meminfo_16g);
  t.file("proc/pressure/memory", host_psi);
}

}  // namespace headroom_test
