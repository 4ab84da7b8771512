// SPDX-License-Identifier: MIT
// Building blocks for fixture trees: cgroup directories as the kernel shows
// them on v1 and v2, and the proc files around them.
#pragma once

#include <cstdint>
#include <string>

#include "fixture_tree.hpp"
#include "units.hpp"

namespace headroom_test {

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
// Host-wide CPU and IO pressure: the CPU's full line is 0 at the system
// level (Linux 5.13+ prints it all the same).
inline const char* const host_cpu_psi =
    "some avg10=0.40 avg60=0.30 avg300=0.20 total=3000\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
inline const char* const host_io_psi =
    "some avg10=0.20 avg60=0.10 avg300=0.05 total=2000\n"
    "full avg10=0.15 avg60=0.08 avg300=0.04 total=1500\n";

inline std::string n(std::uint64_t v) { return std::to_string(v) + "\n"; }

// v1 memory.stat: local keys, the hierarchical limits, then total_* keys.
inline std::string v1_stat(
    const std::string& hierarchical_limit, std::uint64_t rss,
    std::uint64_t cache, std::uint64_t inactive_file,
    const std::string& hierarchical_memsw = v1_unlimited_4k) {
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
  std::uint64_t swap = 0;  // swap in use (memsw usage - usage)
};

inline void write_v1(fixture_tree& t, const std::string& dir, const v1_dir& d) {
  t.file(dir + "/memory.limit_in_bytes", d.limit + "\n");
  t.file(dir + "/memory.usage_in_bytes", n(d.usage));
  t.file(dir + "/memory.max_usage_in_bytes", n(d.usage + 10 * MiB));
  t.file(dir + "/memory.soft_limit_in_bytes",
         std::string(v1_unlimited_4k) + "\n");
  t.file(dir + "/memory.failcnt", n(d.failcnt));
  t.file(dir + "/memory.use_hierarchy", d.use_hierarchy + "\n");
  t.file(dir + "/memory.oom_control",
         "oom_kill_disable 0\nunder_oom 0\noom_kill " +
             std::to_string(d.oom_kill) + "\n");
  t.file(dir + "/memory.stat",
         v1_stat(d.hierarchical_limit, d.rss, d.cache, d.inactive_file,
                 d.memsw_limit.empty() ? v1_unlimited_4k : d.memsw_limit));
  t.file(dir + "/memory.kmem.usage_in_bytes", n(4 * MiB));
  if (!d.memsw_limit.empty()) {
    t.file(dir + "/memory.memsw.limit_in_bytes", d.memsw_limit + "\n");
    t.file(dir + "/memory.memsw.usage_in_bytes", n(d.usage + d.swap));
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
  std::string min = "0";
  std::string oom_group = "0";
  std::uint64_t swap_current = 0;
  std::uint64_t current = 100 * MiB;
  std::uint64_t anon = 60 * MiB;
  std::uint64_t file = 40 * MiB;
  std::uint64_t inactive_file = 20 * MiB;
  std::string controllers = "cpuset cpu io memory pids";
  std::string events =
      "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";
  std::string pressure =
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
  // cpu.pressure and io.pressure; "" leaves the file out.
  std::string cpu_pressure =
      "some avg10=1.50 avg60=1.00 avg300=0.50 total=2500000\n"
      "full avg10=0.25 avg60=0.10 avg300=0.05 total=400000\n";
  std::string io_pressure =
      "some avg10=3.00 avg60=2.00 avg300=1.00 total=7000000\n"
      "full avg10=2.50 avg60=1.50 avg300=0.75 total=6000000\n";
};

// A non-root cgroup2 directory with the memory controller enabled.
inline void write_v2(fixture_tree& t, const std::string& dir, const v2_dir& d) {
  t.file(dir + "/cgroup.controllers", d.controllers + "\n");
  t.file(dir + "/cgroup.type", "domain\n");
  t.file(dir + "/memory.pressure", d.pressure);
  if (!d.cpu_pressure.empty()) t.file(dir + "/cpu.pressure", d.cpu_pressure);
  if (!d.io_pressure.empty()) t.file(dir + "/io.pressure", d.io_pressure);
  t.file(dir + "/memory.max", d.max + "\n");
  t.file(dir + "/memory.high", d.high + "\n");
  t.file(dir + "/memory.low", d.low + "\n");
  t.file(dir + "/memory.swap.max", d.swap_max + "\n");
  t.file(dir + "/memory.swap.current", n(d.swap_current));
  t.file(dir + "/memory.min", d.min + "\n");
  t.file(dir + "/memory.oom.group", d.oom_group + "\n");
  t.file(dir + "/memory.current", n(d.current));
  t.file(dir + "/memory.peak", n(d.current + 10 * MiB));
  t.file(dir + "/memory.events", d.events);
  t.file(dir + "/memory.stat", v2_stat(d.anon, d.file, d.inactive_file));
}

// The cgroup2 root: no memory.max, memory.current, cgroup.type.
inline void write_v2_root(
    fixture_tree& t, const std::string& dir,
    const std::string& controllers = "cpuset cpu io memory pids") {
  t.file(dir + "/cgroup.controllers", controllers + "\n");
  t.file(dir + "/memory.pressure", host_psi);
  t.file(dir + "/cpu.pressure", host_cpu_psi);
  t.file(dir + "/io.pressure", host_io_psi);
  t.file(dir + "/memory.stat", v2_stat(1 * GiB, 2 * GiB, 1 * GiB));
}

inline void write_host(fixture_tree& t) {
  t.file("proc/meminfo", meminfo_16g);
  t.file("proc/pressure/memory", host_psi);
  t.file("proc/pressure/cpu", host_cpu_psi);
  t.file("proc/pressure/io", host_io_psi);
}

// mountinfo lines shared by the layouts.
inline const char* const mi_base =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";

inline const char* const mi_v1_host =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime shared:8 - tmpfs tmpfs "
    "rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup "
    "rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:17 - cgroup cgroup "
    "rw,xattr,name=systemd\n";

inline const char* const mi_unified =
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:18 - cgroup2 "
    "cgroup2 rw,nsdelegate\n";

inline const char* const mi_v2_host =
    "26 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
    "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

// Docker on cgroup v1 with the host's cgroup namespace: the mount root is
// the container's cgroup; 256 MiB limit, 100 MiB usage, 20 MiB inactive file.
inline void layout_docker_v1(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup",
         "12:memory:/docker/0123abcd\n"
         "11:cpu,cpuacct:/docker/0123abcd\n"
         "1:name=systemd:/docker/0123abcd\n"
         "0::/\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "1290 1282 0:29 /docker/0123abcd /sys/fs/cgroup/memory "
             "ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup "
             "rw,memory\n"
             "1291 1282 0:30 /docker/0123abcd /sys/fs/cgroup/cpu,cpuacct "
             "ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup "
             "rw,cpu,cpuacct\n");
  v1_dir d;
  d.limit = std::to_string(256 * MiB);
  d.hierarchical_limit = d.limit;
  write_v1(t, "sys/fs/cgroup/memory", d);
}

inline const char* const k8s_pod =
    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice";
inline const char* const k8s_container = "/cri-containerd-abcd.scope";

// Kubernetes on cgroup v2 without a cgroup namespace: the pod slice holds a
// 1 GiB limit (700 MiB used, 100 MiB inactive file), the container scope
// says max, the node's kubepods.slice 15 GiB.
inline void layout_kubernetes_v2(fixture_tree& t) {
  write_host(t);
  const std::string pod = k8s_pod;
  const std::string ctr = pod + k8s_container;
  t.file("proc/self/cgroup", "0::" + ctr + "\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir kubepods;
  kubepods.max = std::to_string(15 * GiB);
  kubepods.current = 3 * GiB;
  write_v2(t, "sys/fs/cgroup/kubepods.slice", kubepods);
  v2_dir burstable;
  burstable.current = 2 * GiB;
  write_v2(t, "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice",
           burstable);
  v2_dir p;
  p.max = std::to_string(1 * GiB);
  p.current = 700 * MiB;
  p.file = 200 * MiB;  // at least the inactive file: active_file is the rest
  p.inactive_file = 100 * MiB;
  p.events = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
  write_v2(t, "sys/fs/cgroup" + pod, p);
  v2_dir c;
  c.current = 600 * MiB;
  c.high = std::to_string(900 * MiB);
  write_v2(t, "sys/fs/cgroup" + ctr, c);
}

}  // namespace headroom_test
