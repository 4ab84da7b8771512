// SPDX-License-Identifier: MIT
// CPU files for fixture trees: cpu.max, cpu.cfs_quota_us/period_us, cpuset
// lists and the affinity line of /proc/self/status, on top of the memory
// layouts of layouts.hpp.
#pragma once

#include <string>

#include "fixture_tree.hpp"
#include "layouts.hpp"

namespace headroom_test {

// /proc/self/status as the kernel prints it, with the given affinity list.
inline std::string status_with_affinity(const std::string& cpus_allowed_list) {
  return "Name:\theadroom-test\nUmask:\t0022\nState:\tS (sleeping)\n"
         "Tgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t1\n"
         "Threads:\t1\nCpus_allowed:\tffff\nCpus_allowed_list:\t" +
         cpus_allowed_list +
         "\nMems_allowed:\t00000001\nMems_allowed_list:\t0\n"
         "voluntary_ctxt_switches:\t3\nnonvoluntary_ctxt_switches:\t0\n";
}

inline void write_affinity(fixture_tree& t, const std::string& list) {
  t.file("proc/self/status", status_with_affinity(list));
}

// v1 bandwidth files of one cpu cgroup ("-1": no quota).
inline void write_v1_cpu(fixture_tree& t, const std::string& dir,
                         const std::string& quota,
                         const std::string& period = "100000") {
  t.file(dir + "/cpu.cfs_quota_us", quota + "\n");
  t.file(dir + "/cpu.cfs_period_us", period + "\n");
  t.file(dir + "/cpu.shares", "1024\n");  // a weight, never a limit
}

// v2 cpu.max of one cgroup ("max 100000": no quota).
inline void write_v2_cpu(fixture_tree& t, const std::string& dir,
                         const std::string& max) {
  t.file(dir + "/cpu.max", max + "\n");
  t.file(dir + "/cpu.weight", "100\n");
}

// The Kubernetes v2 layout of layouts.hpp with a CPU limit of 1.5 on the
// pod slice, none on the container, cpuset 0-3 granted to the container
// and an affinity of 8 CPUs (a tree captured from a process).
inline void layout_kubernetes_v2_cpu(fixture_tree& t) {
  layout_kubernetes_v2(t);
  const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
  const std::string ctr = pod + k8s_container;
  write_v2_cpu(t, "sys/fs/cgroup/kubepods.slice", "max 100000");
  write_v2_cpu(t, "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice",
               "max 100000");
  write_v2_cpu(t, pod, "150000 100000");
  write_v2_cpu(t, ctr, "max 100000");
  t.file("sys/fs/cgroup/cpuset.cpus.effective", "0-7\n");
  t.file(ctr + "/cpuset.cpus.effective", "0-3\n");
  write_affinity(t, "0-7");
}

// Docker on v1 with cpu,cpuacct co-mounted at the container's cgroup
// (layout_docker_v1): 2.5 CPUs, 16 CPUs of affinity, no cpuset mounted.
inline void layout_docker_v1_cpu(fixture_tree& t) {
  layout_docker_v1(t);
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct", "250000");
  write_affinity(t, "0-15");
}

// A v1 host (systemd, hybrid): memory, cpu,cpuacct and cpuset on v1 at
// the hierarchy roots, no limit and no quota anywhere, cpuset and affinity
// 0-15, the unified mount listed; the process in system.slice/app.service.
inline void layout_v1_host_cpu(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup",
         "11:cpu,cpuacct:/system.slice/app.service\n"
         "8:cpuset:/system.slice/app.service\n"
         "4:memory:/system.slice/app.service\n"
         "1:name=systemd:/system.slice/app.service\n"
         "0::/system.slice/app.service\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) + mi_v1_host +
             "33 31 0:30 / /sys/fs/cgroup/cpuset rw,relatime shared:10 - "
             "cgroup cgroup rw,cpuset\n" +
             mi_unified);
  v1_dir m;
  write_v1(t, "sys/fs/cgroup/memory/system.slice/app.service", m);
  write_v1(t, "sys/fs/cgroup/memory/system.slice", m);
  write_v1(t, "sys/fs/cgroup/memory", m);
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct", "-1");
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct/system.slice", "-1");
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service", "-1");
  t.file("sys/fs/cgroup/cpuset/cpuset.cpus", "0-15\n");
  t.file("sys/fs/cgroup/cpuset/cpuset.effective_cpus", "0-15\n");
  t.file("sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.cpus", "0-15\n");
  t.file("sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.effective_cpus",
         "0-15\n");
  write_affinity(t, "0-15");
}

}  // namespace headroom_test
