// SPDX-License-Identifier: MIT
// Pods as kubelet lays them out: each cgroup driver on cgroup v1 and v2, a
// pod of each QoS class, with the oom_score_adj kubelet gives it.
#pragma once

#include <string>
#include <vector>

#include "layouts.hpp"

namespace headroom_test {

inline const char* const pod_uid = "0f3c2a9e-5b1d-4c7e-9a2b-6d8e1f0a3b4c";
inline const char* const ctr_id =
    "4b5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";

struct pod_row {
  const char* name;
  bool v2;
  std::string path;  // as /proc/self/cgroup prints it
  int oom_score_adj;
  std::string min = "0";  // the container's memory.min (v2)
  std::string limit;      // the container's limit, "" for unlimited
};

// The rows: both drivers, both versions, every class.
inline std::vector<pod_row> pod_rows() {
  const std::string uid = pod_uid;
  std::string uid_ = uid;
  for (char& c : uid_) {
    if (c == '-') c = '_';
  }
  const std::string id = ctr_id;
  const std::string cgroupfs_g = "/kubepods/pod" + uid + "/" + id;
  const std::string cgroupfs_b = "/kubepods/burstable/pod" + uid + "/" + id;
  const std::string cgroupfs_be = "/kubepods/besteffort/pod" + uid + "/" + id;
  const std::string systemd_g = "/kubepods.slice/kubepods-pod" + uid_ +
                                ".slice/cri-containerd-" + id + ".scope";
  const std::string systemd_b =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid_ +
      ".slice/cri-containerd-" + id + ".scope";
  const std::string systemd_be =
      "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
      uid_ + ".slice/crio-" + id + ".scope";
  const std::string gi = std::to_string(GiB);
  // 1000 - 1000 * 2 GiB / 16 GiB = 875.
  return {
      {"v1-cgroupfs-guaranteed", false, cgroupfs_g, -997, "0", gi},
      {"v1-cgroupfs-burstable", false, cgroupfs_b, 875, "0", ""},
      {"v1-cgroupfs-besteffort", false, cgroupfs_be, 1000, "0", ""},
      {"v1-systemd-guaranteed", false, systemd_g, -997, "0", gi},
      {"v1-systemd-burstable", false, systemd_b, 875, "0", ""},
      {"v1-systemd-besteffort", false, systemd_be, 1000, "0", ""},
      {"v2-cgroupfs-guaranteed", true, cgroupfs_g, -997, "0", gi},
      {"v2-cgroupfs-burstable", true, cgroupfs_b, 875, "0", ""},
      {"v2-cgroupfs-besteffort", true, cgroupfs_be, 1000, "0", ""},
      {"v2-systemd-guaranteed", true, systemd_g, -997, gi, gi},
      {"v2-systemd-burstable", true, systemd_b, 875, std::to_string(2 * GiB),
       ""},
      {"v2-systemd-besteffort", true, systemd_be, 1000, "0", ""},
  };
}

// The tree of a row: every directory from the root down to the container.
inline void write_pod(fixture_tree& t, const pod_row& row) {
  write_host(t);
  t.file("proc/self/oom_score_adj", std::to_string(row.oom_score_adj) + "\n");
  const std::string& path = row.path;
  std::vector<std::string> dirs;
  for (std::size_t at = path.find('/', 1); at != std::string::npos;
       at = path.find('/', at + 1))
    dirs.push_back(path.substr(0, at));
  dirs.push_back(path);
  if (row.v2) {
    t.file("proc/self/cgroup", "0::" + path + "\n");
    t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
    write_v2_root(t, "sys/fs/cgroup");
    for (const std::string& d : dirs) {
      v2_dir c;
      if (d == path) {
        c.min = row.min;
        c.oom_group = "1";
        if (!row.limit.empty()) c.max = row.limit;
      }
      write_v2(t, "sys/fs/cgroup" + d, c);
    }
  } else {
    t.file("proc/self/cgroup", "12:memory:" + path + "\n" + "11:cpu,cpuacct:" +
                                   path + "\n" + "1:name=systemd:/\n");
    t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host);
    write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
    for (const std::string& d : dirs) {
      v1_dir c;
      if (d == path && !row.limit.empty()) {
        c.limit = row.limit;
        c.hierarchical_limit = row.limit;
      }
      write_v1(t, "sys/fs/cgroup/memory" + d, c);
    }
  }
}

}  // namespace headroom_test
