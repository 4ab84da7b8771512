// SPDX-License-Identifier: MIT
// Container layouts as named table rows: the mountinfo shapes that runtimes,
// orchestrators and node agents produce (stacked mounts, covered mounts,
// namespace-relative roots, moved processes), each with the files of the
// hierarchy it shows and the answer: mapping, directory, and the limit or
// the error that says why there is none. The same rows feed the memory and
// the CPU fixture tests.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <headroom/discover.hpp>

#include "layouts.hpp"

namespace headroom_test {

// The pid the captured trees say they were read from (proc/self/status).
inline constexpr int tree_pid = 4242;

inline std::string status_of(int pid) {
  return "Name:\tapp\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" +
         std::to_string(pid) + "\nNgid:\t0\nPid:\t" + std::to_string(pid) +
         "\nPPid:\t1\nCpus_allowed_list:\t0-3\n";
}

// A v1 memory cgroup directory with `limit` (nullopt: unlimited) whose
// cgroup.procs lists `pids`, and a cpu quota file when `quota` is set.
inline void v1_cgroup(fixture_tree& t, const std::string& dir,
                      std::optional<std::uint64_t> limit,
                      const std::string& pids = "") {
  v1_dir d;
  if (limit) d.limit = std::to_string(*limit);
  write_v1(t, dir, d);
  t.file(dir + "/cgroup.procs", pids);
}

inline void v2_cgroup(fixture_tree& t, const std::string& dir,
                      std::optional<std::uint64_t> limit,
                      const std::string& pids = "") {
  v2_dir d;
  if (limit) d.max = std::to_string(*limit);
  write_v2(t, dir, d);
  t.file(dir + "/cgroup.procs", pids);
}

inline const std::string me = std::to_string(tree_pid) + "\n";

struct container_row {
  const char* name;
  std::string cgroup;  // /proc/self/cgroup
  std::string
      mountinfo;  // /proc/self/mountinfo (cgroup lines; mi_base is added)
  std::function<void(fixture_tree&)>
      files;  // the hierarchy as the mounts show it
  headroom::path_mapping mapping;
  std::string dir;  // "" when no directory
  std::optional<std::uint64_t> limit =
      std::nullopt;        // the limit the kernel enforces...
  bool unlimited = false;  // ...or none
  std::optional<headroom::errc> error =
      std::nullopt;  // ...or why it cannot be read
};

inline std::vector<container_row> container_rows() {
  using headroom::path_mapping;
  const std::string host_v1 =
      "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  // Docker's own mounts: a tmpfs and the container's cgroup as mount root.
  const std::string runtime_v1 =
      "1282 1281 0:60 / /sys/fs/cgroup ro - tmpfs tmpfs rw,mode=755\n"
      "1290 1282 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup "
      "rw,memory\n";
  // -v /sys/fs/cgroup:/sys/fs/cgroup: the host's tree bound over them.
  const std::string bound_over_v1 =
      "1300 1282 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
      "1301 1300 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  const auto docker_tree = [](fixture_tree& t) {
    // The host's hierarchy is what /sys/fs/cgroup/memory shows.
    v1_cgroup(t, "sys/fs/cgroup/memory", std::nullopt);
    v1_cgroup(t, "sys/fs/cgroup/memory/docker", std::nullopt);
    v1_cgroup(t, "sys/fs/cgroup/memory/docker/abc", 256 * MiB, me);
  };
  return {
      {"docker v1, runtime binds: the container's cgroup as mount root",
       "4:memory:/docker/abc\n0::/\n", runtime_v1,
       [](fixture_tree& t) {
         v1_cgroup(t, "sys/fs/cgroup/memory", 256 * MiB, me);
       },
       path_mapping::below_mount_root, "/sys/fs/cgroup/memory", 256 * MiB},
      {"docker v1 -v /sys/fs/cgroup:/sys/fs/cgroup: the runtime's mount is "
       "covered",
       "4:memory:/docker/abc\n0::/\n", runtime_v1 + bound_over_v1, docker_tree,
       path_mapping::mount_root, "/sys/fs/cgroup/memory/docker/abc", 256 * MiB},
      {"the same, listed the other way round: ids decide, not the order",
       "4:memory:/docker/abc\n0::/\n",
       bound_over_v1 + runtime_v1.substr(0, runtime_v1.find('\n') + 1) +
           runtime_v1.substr(runtime_v1.find('\n') + 1),
       docker_tree, path_mapping::mount_root,
       "/sys/fs/cgroup/memory/docker/abc", 256 * MiB},
      {"a cgroup mount stacked on the same mount point",
       "4:memory:/docker/abc\n0::/\n",
       host_v1 + "1400 35 0:32 /docker/other /sys/fs/cgroup/memory ro - cgroup "
                 "cgroup rw,memory\n",
       [](fixture_tree& t) {
         v1_cgroup(t, "sys/fs/cgroup/memory", 64 * MiB, "");
       },
       path_mapping::not_under_mount_root, "", std::nullopt, false,
       headroom::errc::not_visible},
      {"a tmpfs over the cgroup mounts hides them all",
       "4:memory:/docker/abc\n0::/\n",
       runtime_v1 + "1500 1282 0:70 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
       [](fixture_tree& t) { t.dir("sys/fs/cgroup"); },
       path_mapping::hidden_mount, "", std::nullopt, false,
       headroom::errc::not_visible},
      {"v1 cgroup namespace over the host's mounts: found by pid",
       "4:memory:/\n0::/\n",
       "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
       "35 31 0:32 /../../.. /sys/fs/cgroup/memory rw - cgroup cgroup "
       "rw,memory\n",
       [](fixture_tree& t) {
         v1_cgroup(t, "sys/fs/cgroup/memory", std::nullopt, "1\n");
         v1_cgroup(t, "sys/fs/cgroup/memory/a", std::nullopt);
         v1_cgroup(t, "sys/fs/cgroup/memory/a/b", 500 * MiB);
         v1_cgroup(t, "sys/fs/cgroup/memory/a/b/other", 10 * MiB, "77\n4243\n");
         v1_cgroup(t, "sys/fs/cgroup/memory/a/b/c", 300 * MiB,
                   "17\n" + me + "99\n");
       },
       path_mapping::found_by_pid, "/sys/fs/cgroup/memory/a/b/c", 300 * MiB},
      {"v2 root and path both above the namespace: /.. prefixes map",
       "0::/../../../../init.scope\n",
       "26 23 0:23 /../../../.. /sys/fs/cgroup rw - cgroup2 cgroup2 "
       "rw,nsdelegate\n",
       [](fixture_tree& t) {
         write_v2_root(t, "sys/fs/cgroup");
         v2_cgroup(t, "sys/fs/cgroup/init.scope", 128 * MiB, me);
       },
       path_mapping::below_mount_root, "/sys/fs/cgroup/init.scope", 128 * MiB},
      {"v2 private namespace, moved to a sibling: not visible, never the old "
       "cgroup's limit",
       "0::/../sib\n",
       "26 23 0:23 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw,nsdelegate\n",
       [](fixture_tree& t) {
         v2_cgroup(t, "sys/fs/cgroup", 200 * MiB, "1\n");
         v2_cgroup(t, "sys/fs/cgroup/worker", std::nullopt, "5\n");
       },
       path_mapping::outside_namespace, "", std::nullopt, false,
       headroom::errc::not_visible},
      {"v1 moved to a sibling with the host's mount kept: found by pid",
       "4:memory:/../sib\n0::/\n",
       "35 31 0:32 /../.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
       [](fixture_tree& t) {
         v1_cgroup(t, "sys/fs/cgroup/memory", std::nullopt);
         v1_cgroup(t, "sys/fs/cgroup/memory/a", std::nullopt);
         v1_cgroup(t, "sys/fs/cgroup/memory/a/ctr", 200 * MiB);
         v1_cgroup(t, "sys/fs/cgroup/memory/a/sib", 90 * MiB, me);
       },
       path_mapping::found_by_pid, "/sys/fs/cgroup/memory/a/sib", 90 * MiB},
      {"the search never follows a symlink", "4:memory:/\n0::/\n",
       "35 31 0:32 /../.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
       [](fixture_tree& t) {
         v1_cgroup(t, "sys/fs/cgroup/memory", std::nullopt);
         v1_cgroup(t, "elsewhere/trap", 1 * MiB, me);
         std::filesystem::create_directory_symlink(
             t.path("elsewhere/trap"), t.path("sys/fs/cgroup/memory/link"));
       },
       path_mapping::not_under_mount_root, "", std::nullopt, false,
       headroom::errc::not_visible},
      {"v2 private namespace at the container: its limit", "0::/\n",
       "26 23 0:23 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw,nsdelegate\n",
       [](fixture_tree& t) { v2_cgroup(t, "sys/fs/cgroup", 300 * MiB, me); },
       path_mapping::mount_root, "/sys/fs/cgroup", 300 * MiB},
      {"v2 namespace rooted below the limit cgroup: the limit is not visible, "
       "never \"none\"",
       "0::/\n",
       "26 23 0:23 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw,nsdelegate\n",
       [](fixture_tree& t) { v2_cgroup(t, "sys/fs/cgroup", std::nullopt, me); },
       path_mapping::mount_root, "/sys/fs/cgroup", std::nullopt, false,
       headroom::errc::not_visible},
      {"v2 host root: no limit is a state", "0::/svc\n",
       "26 23 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
       [](fixture_tree& t) {
         write_v2_root(t, "sys/fs/cgroup");
         v2_cgroup(t, "sys/fs/cgroup/svc", std::nullopt, me);
       },
       path_mapping::mount_root, "/sys/fs/cgroup/svc", std::nullopt, true},
      {"a sibling mount that maps wins over one under /sys/fs/cgroup that "
       "cannot",
       "4:memory:/svc\n0::/\n",
       "35 31 0:32 /docker/other /sys/fs/cgroup/memory ro - cgroup cgroup "
       "rw,memory\n"
       "70 27 0:32 / /mnt/memory rw - cgroup cgroup rw,memory\n",
       [](fixture_tree& t) {
         v1_cgroup(t, "sys/fs/cgroup/memory", 64 * MiB);
         v1_cgroup(t, "mnt/memory", std::nullopt);
         v1_cgroup(t, "mnt/memory/svc", 48 * MiB, me);
       },
       path_mapping::mount_root, "/mnt/memory/svc", 48 * MiB},
  };
}

// A v1 pod whose 512 MiB limit is above the container's mount: seen only
// through hierarchical_memory_limit, usage only the container's.
inline void layout_v1_pod_above_mount(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/kubepods/pod1/ctr\n0::/\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "50 31 0:32 /kubepods/pod1/ctr /sys/fs/cgroup/memory ro - cgroup "
             "cgroup rw,memory\n");
  v1_dir d;
  d.hierarchical_limit = std::to_string(512 * MiB);
  write_v1(t, "sys/fs/cgroup/memory", d);
}

inline void write_row(fixture_tree& t, const container_row& row) {
  write_host(t);
  t.file("proc/self/status", status_of(tree_pid));
  t.file("proc/self/cgroup", row.cgroup);
  t.file("proc/self/mountinfo", std::string(mi_base) + row.mountinfo);
  row.files(t);
}

}  // namespace headroom_test
