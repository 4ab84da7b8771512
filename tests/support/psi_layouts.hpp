// SPDX-License-Identifier: MIT
// Pressure (PSI) as kernels show it, on v1, hybrid and v2 trees: with the
// cgroup's memory.pressure, cpu.pressure and io.pressure, with only the
// host's /proc/pressure files, and without PSI at all (a kernel built
// without CONFIG_PSI, or booted with psi=0, which hides them). One row per
// case: the tree, and what each resource's pressure must be read as. The
// same rows feed the library's report test, the CLI's outputs and
// promtool.
#pragma once

#include <string>
#include <vector>

#include "layouts.hpp"

namespace headroom_test {

// What one resource's pressure is read as: its scope ("cgroup",
// "root_cgroup", "host") and file, or "" when not available.
struct psi_expect {
  std::string scope;
  std::string path;  // logical; for "" the last file tried
  bool full = true;  // a full line is there
};

struct psi_row {
  const char* name;
  void (*build)(fixture_tree&);
  psi_expect memory;
  psi_expect cpu;
  psi_expect io;
};

inline const std::string psi_ctr =
    std::string("/sys/fs/cgroup") + k8s_pod + k8s_container;
inline const std::string psi_session =
    "/user.slice/user-1000.slice/session-3.scope";

// Removes every PSI file of the tree: the kernel has none.
inline void remove_all_psi(fixture_tree& t, const std::string& cgroup2_dir) {
  for (const char* r : {"memory", "cpu", "io"}) {
    t.remove("proc/pressure/" + std::string(r));
    if (!cgroup2_dir.empty())
      t.remove(cgroup2_dir.substr(1) + "/" + std::string(r) + ".pressure");
  }
}

// A hybrid host: memory on v1, the process in a session scope of the
// cgroup2 mount at /sys/fs/cgroup/unified, which holds its PSI.
inline void layout_hybrid_session(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup", "12:memory:" + psi_session + "\n1:name=systemd:" +
                                 psi_session + "\n0::" + psi_session + "\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host + mi_unified);
  write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
  write_v1(t, "sys/fs/cgroup/memory/user.slice", v1_dir{});
  write_v1(t, "sys/fs/cgroup/memory/user.slice/user-1000.slice", v1_dir{});
  write_v1(t, "sys/fs/cgroup/memory" + psi_session, v1_dir{});
  const std::string u = "sys/fs/cgroup/unified" + psi_session;
  v2_dir d;
  t.file(u + "/cgroup.type", "domain\n");
  t.file(u + "/memory.pressure", d.pressure);
  t.file(u + "/cpu.pressure", d.cpu_pressure);
  t.file(u + "/io.pressure", d.io_pressure);
}

// This machine's shape: hybrid, the process in the real cgroup2 root
// (no cgroup.type), whose pressure is host-wide.
inline void layout_hybrid_root(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/process_api/94dc\n0::/\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host + mi_unified);
  write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
  write_v1(t, "sys/fs/cgroup/memory/process_api", v1_dir{});
  write_v1(t, "sys/fs/cgroup/memory/process_api/94dc", v1_dir{});
  t.file("sys/fs/cgroup/unified/memory.pressure", host_psi);
  t.file("sys/fs/cgroup/unified/cpu.pressure", host_cpu_psi);
  t.file("sys/fs/cgroup/unified/io.pressure", host_io_psi);
}

inline std::vector<psi_row> psi_rows() {
  const std::string u = "/sys/fs/cgroup/unified" + psi_session;
  const auto host = [](const char* r, bool full = true) {
    return psi_expect{"host", "/proc/pressure/" + std::string(r), full};
  };
  const auto none = [](const std::string& path) {
    return psi_expect{"", path, false};
  };
  return {
      {"v2 with PSI: the container's own",
       layout_kubernetes_v2,
       {"cgroup", psi_ctr + "/memory.pressure"},
       {"cgroup", psi_ctr + "/cpu.pressure"},
       {"cgroup", psi_ctr + "/io.pressure"}},
      {"v2 without PSI (psi=0): not available",
       [](fixture_tree& t) {
         layout_kubernetes_v2(t);
         remove_all_psi(t, psi_ctr);
       },
       none(psi_ctr + "/memory.pressure"), none(psi_ctr + "/cpu.pressure"),
       none(psi_ctr + "/io.pressure")},
      {"v2, cgroup.pressure 0 in the container: the host's",
       [](fixture_tree& t) {
         layout_kubernetes_v2(t);
         t.file(psi_ctr.substr(1) + "/cgroup.pressure", "0\n");
         for (const char* r : {"memory", "cpu", "io"})
           t.remove(psi_ctr.substr(1) + "/" + r + ".pressure");
       },
       host("memory"), host("cpu"), host("io")},
      {"v2 before Linux 5.13: cpu.pressure without a full line",
       [](fixture_tree& t) {
         layout_kubernetes_v2(t);
         t.file(psi_ctr.substr(1) + "/cpu.pressure",
                "some avg10=1.50 avg60=1.00 avg300=0.50 total=2500000\n");
       },
       {"cgroup", psi_ctr + "/memory.pressure"},
       {"cgroup", psi_ctr + "/cpu.pressure", false},
       {"cgroup", psi_ctr + "/io.pressure"}},
      {"hybrid, a session scope: the unified mount's",
       layout_hybrid_session,
       {"cgroup", u + "/memory.pressure"},
       {"cgroup", u + "/cpu.pressure"},
       {"cgroup", u + "/io.pressure"}},
      {"hybrid, the cgroup2 root: host-wide",
       layout_hybrid_root,
       {"root_cgroup", "/sys/fs/cgroup/unified/memory.pressure"},
       {"root_cgroup", "/sys/fs/cgroup/unified/cpu.pressure"},
       {"root_cgroup", "/sys/fs/cgroup/unified/io.pressure"}},
      {"hybrid without PSI: not available",
       [](fixture_tree& t) {
         layout_hybrid_session(t);
         remove_all_psi(t, "/sys/fs/cgroup/unified" + psi_session);
       },
       none(u + "/memory.pressure"), none(u + "/cpu.pressure"),
       none(u + "/io.pressure")},
      {"v1 without a cgroup2 mount: /proc/pressure", layout_docker_v1,
       host("memory"), host("cpu"), host("io")},
      {"v1 without PSI: not available",
       [](fixture_tree& t) {
         layout_docker_v1(t);
         remove_all_psi(t, "");
       },
       none("/proc/pressure/memory"), none("/proc/pressure/cpu"),
       none("/proc/pressure/io")},
  };
}

}  // namespace headroom_test
