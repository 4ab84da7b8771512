// SPDX-License-Identifier: MIT
// locate(): the pure decision from the texts of /proc/<pid>/cgroup and
// mountinfo: hierarchy mode, mapping of the path, chain.
#include <headroom/discover.hpp>

#include "../support/doctest.hpp"

using namespace headroom;

namespace {

const char* const mi_hybrid =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
    "rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

const char* const mi_v1_only =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup "
    "rw,memory\n";

const char* const mi_v2 =
    "26 23 0:23 / /sys/fs/cgroup rw,relatime shared:4 - cgroup2 cgroup2 rw\n";

}  // namespace

TEST_CASE("mode decision") {
  const struct {
    const char* name;
    const char* cgroup;
    const char* mountinfo;
    hierarchy_mode mode;
    errc why;  // for none
  } cases[] = {
      {"hybrid",
       "4:memory:/a\n1:name=systemd:/a\n0::/a\n",
       mi_hybrid,
       hierarchy_mode::hybrid,
       {}},
      {"v1 only (0:: line present, no cgroup2 mount)",
       "4:memory:/a\n0::/\n",
       mi_v1_only,
       hierarchy_mode::v1,
       {}},
      {"v2", "0::/a\n", mi_v2, hierarchy_mode::v2, {}},
      {"v1 line but memory not mounted", "4:memory:/a\n0::/\n", mi_v2,
       hierarchy_mode::none, errc::controller_absent},
      {"no cgroup lines", "", mi_v2, hierarchy_mode::none, errc::no_cgroup},
      {"no cgroup mounts", "0::/\n", "27 1 254:0 / / rw - ext4 /dev/vda rw\n",
       hierarchy_mode::none, errc::no_cgroup},
      {"v1 memory co-mounted with other controllers",
       "5:memory,hugetlb:/a\n",
       "35 31 0:32 / /sys/fs/cgroup/memory,hugetlb rw - cgroup cgroup "
       "rw,memory,hugetlb\n",
       hierarchy_mode::v1,
       {}},
      {"a named hierarchy is not the memory controller", "1:name=memory:/a\n",
       "35 31 0:32 / /sys/fs/cgroup/x rw - cgroup cgroup rw,name=memory\n",
       hierarchy_mode::none, errc::no_cgroup},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto loc = locate(c.cgroup, c.mountinfo);
    REQUIRE(loc);
    CHECK(loc->mode == c.mode);
    if (c.mode == hierarchy_mode::none) {
      CHECK(loc->why_none.code == c.why);
      CHECK(loc->chain.empty());
    } else {
      CHECK_FALSE(loc->chain.empty());
    }
  }
}

TEST_CASE("hybrid: the memory directory on v1 and the cgroup2 directory") {
  auto loc = locate("4:memory:/user.slice/x.scope\n0::/user.slice/x.scope\n",
                    mi_hybrid);
  REQUIRE(loc);
  CHECK(loc->mode == hierarchy_mode::hybrid);
  CHECK(loc->path == "/user.slice/x.scope");
  CHECK(loc->dir == "/sys/fs/cgroup/memory/user.slice/x.scope");
  CHECK(loc->chain ==
        std::vector<std::string>{"/sys/fs/cgroup/memory/user.slice/x.scope",
                                 "/sys/fs/cgroup/memory/user.slice",
                                 "/sys/fs/cgroup/memory"});
  CHECK(loc->unified_dir == "/sys/fs/cgroup/unified/user.slice/x.scope");
  CHECK(loc->unified_path == "/user.slice/x.scope");
}

TEST_CASE("path mapping") {
  const struct {
    const char* name;
    const char* root;
    const char* mount_point;
    const char* path;
    const char* dir;
    path_mapping how;
  } cases[] = {
      {"mount root /", "/", "/sys/fs/cgroup", "/a/b", "/sys/fs/cgroup/a/b",
       path_mapping::mount_root},
      {"mount root / and path /", "/", "/sys/fs/cgroup", "/", "/sys/fs/cgroup",
       path_mapping::mount_root},
      {"mount root equal to the path", "/docker/abc", "/sys/fs/cgroup/memory",
       "/docker/abc", "/sys/fs/cgroup/memory", path_mapping::below_mount_root},
      {"path below the mount root", "/docker/abc", "/sys/fs/cgroup/memory",
       "/docker/abc/x/y", "/sys/fs/cgroup/memory/x/y",
       path_mapping::below_mount_root},
      {"a sibling sharing a prefix is not below", "/docker/abc",
       "/sys/fs/cgroup/memory", "/docker/abcdef", "",
       path_mapping::not_under_mount_root},
      {"path elsewhere", "/docker/abc", "/sys/fs/cgroup/memory",
       "/system.slice", "", path_mapping::not_under_mount_root},
      {"outside the namespace root", "/", "/sys/fs/cgroup", "/../../x.scope",
       "", path_mapping::outside_namespace},
      {"just /..", "/", "/sys/fs/cgroup", "/..", "",
       path_mapping::outside_namespace},
      {"a .. inside the path never climbs", "/", "/sys/fs/cgroup",
       "/a/../../etc", "", path_mapping::malformed_path},
      {"a . component", "/", "/sys/fs/cgroup", "/a/./b", "",
       path_mapping::malformed_path},
      {"an empty component", "/", "/sys/fs/cgroup", "/a//b", "",
       path_mapping::malformed_path},
      {"a trailing slash", "/", "/sys/fs/cgroup", "/a/", "",
       path_mapping::malformed_path},
      {"a name starting with dots is fine", "/", "/sys/fs/cgroup", "/..a/.b",
       "/sys/fs/cgroup/..a/.b", path_mapping::mount_root},
      // Both relative to the reader's cgroup namespace: a path under a
      // root above the namespace maps, /.. prefixes included.
      {"root and path above the namespace", "/../../../..", "/sys/fs/cgroup",
       "/../../../../init.scope", "/sys/fs/cgroup/init.scope",
       path_mapping::below_mount_root},
      {"path equal to a root above the namespace", "/../..",
       "/sys/fs/cgroup/memory", "/../..", "/sys/fs/cgroup/memory",
       path_mapping::below_mount_root},
      {"namespace over the host's mounts: path / under root /../../..",
       "/../../..", "/sys/fs/cgroup/memory", "/", "",
       path_mapping::not_under_mount_root},
      {"moved to a sibling of the namespace root", "/", "/sys/fs/cgroup",
       "/../sib", "", path_mapping::outside_namespace},
      {"a shorter climb is not under a longer root", "/../../x",
       "/sys/fs/cgroup", "/../x", "", path_mapping::outside_namespace},
      {"the rest of the path may not climb", "/..", "/sys/fs/cgroup", "/../..",
       "", path_mapping::outside_namespace},
      {"a root above, the path below it elsewhere", "/../a", "/sys/fs/cgroup",
       "/../b/c", "", path_mapping::outside_namespace},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const cgroup_mount m{c.mount_point, c.root, "cgroup2", "rw"};
    const auto mapped = detail::map_cgroup_path(m, c.path);
    CHECK(mapped.dir == c.dir);
    CHECK(mapped.how == c.how);
  }
}

TEST_CASE("the chain stops at the mount point, never above it") {
  CHECK(detail::chain_to_mount("/sys/fs/cgroup/memory",
                               "/sys/fs/cgroup/memory") ==
        std::vector<std::string>{"/sys/fs/cgroup/memory"});
  CHECK(detail::chain_to_mount("/sys/fs/cgroup/a/b/c", "/sys/fs/cgroup") ==
        std::vector<std::string>{"/sys/fs/cgroup/a/b/c", "/sys/fs/cgroup/a/b",
                                 "/sys/fs/cgroup/a", "/sys/fs/cgroup"});
  CHECK(detail::chain_to_mount("/a", "/") ==
        std::vector<std::string>{"/a", "/"});
}

TEST_CASE(
    "duplicate mounts: prefer one that maps, then /sys/fs/cgroup, then the "
    "first") {
  const std::string bind_first =
      "70 27 0:32 / /mnt/memory rw - cgroup cgroup rw,memory\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  auto a = locate("4:memory:/svc\n", bind_first);
  REQUIRE(a);
  CHECK(a->dir == "/sys/fs/cgroup/memory/svc");

  // A mount under /sys/fs/cgroup that cannot map the path loses to one
  // that can.
  const std::string cannot_map =
      "35 31 0:32 /docker/other /sys/fs/cgroup/memory rw - cgroup cgroup "
      "rw,memory\n"
      "70 27 0:32 / /mnt/memory rw - cgroup cgroup rw,memory\n";
  auto b = locate("4:memory:/svc\n", cannot_map);
  REQUIRE(b);
  CHECK(b->dir == "/mnt/memory/svc");
  CHECK(b->mapping == path_mapping::mount_root);

  // Neither under /sys/fs/cgroup: the first one.
  const std::string two_elsewhere =
      "70 27 0:32 / /mnt/a rw - cgroup cgroup rw,memory\n"
      "71 27 0:32 / /mnt/b rw - cgroup cgroup rw,memory\n";
  auto c = locate("4:memory:/svc\n", two_elsewhere);
  REQUIRE(c);
  CHECK(c->dir == "/mnt/a/svc");
}

TEST_CASE("malformed input is an error, not a guess") {
  CHECK(locate("garbage\n", mi_v2).error().code == errc::malformed);
  // Mount points the kernel never prints: relative, or climbing.
  CHECK(locate("0::/a\n", "4 7 0:1 / rel rw - cgroup2 cgroup2 rw\n")
            .error()
            .code == errc::malformed);
  CHECK(locate("0::/a\n",
               "4 7 0:1 / /sys/fs/cgroup/../../home rw - cgroup2 cgroup2 rw\n")
            .error()
            .code == errc::malformed);
  // A cgroup path longer than PATH_MAX is not from a kernel.
  CHECK(locate("0::/" + std::string(5000, 'a') + "\n", mi_v2).error().code ==
        errc::malformed);
  CHECK(locate("0::/" + std::string(4000, 'a') + "\n", mi_v2).has_value());
  CHECK(locate("0::/\n", "garbage\n").error().code == errc::malformed);
  CHECK(locate("0::/\n", std::string(mi_v2) + "35 31 0:32\n").error().code ==
        errc::malformed);
}

TEST_CASE("very long mountinfo: many mounts and a long line") {
  std::string mi;
  for (int i = 0; i < 5000; ++i) {
    mi += std::to_string(100 + i) + " 27 0:" + std::to_string(100 + i) +
          " / /var/lib/containers/" + std::to_string(i) +
          " rw - overlay overlay rw,lowerdir=/l" + std::string(300, 'x') + "\n";
  }
  mi += mi_v2;
  auto loc = locate("0::/svc\n", mi);
  REQUIRE(loc);
  CHECK(loc->mode == hierarchy_mode::v2);
  CHECK(loc->dir == "/sys/fs/cgroup/svc");
}
