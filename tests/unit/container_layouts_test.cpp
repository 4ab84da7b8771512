// SPDX-License-Identifier: MIT
// The container layouts of container_layouts.hpp read through the real
// memory_reader: the enforced limit, or an error and no number.
#include <headroom/memory.hpp>
#include "../support/doctest.hpp"

#include <filesystem>
#include <string>

#include "../support/container_layouts.hpp"

using namespace headroom;
using namespace headroom_test;

TEST_CASE("container layouts: the enforced limit, or an error that says why") {
  for (const auto& row : container_rows()) {
    CAPTURE(row.name);
    fixture_tree t;
    write_row(t, row);
    options o;
    o.root = t.root();
    auto r = memory_reader::open(o);
    REQUIRE_MESSAGE(r.has_value(), r.error().message());
    const auto& loc = r->location();
    CHECK(to_string(loc.mapping) == std::string(to_string(row.mapping)));
    CHECK(loc.dir == row.dir);
    if (row.mapping == path_mapping::found_by_pid) CHECK(loc.dirs_searched > 0);
    const auto s = r->snapshot();
    if (row.error) {
      REQUIRE_FALSE(s.limit.has_value());
      CHECK(s.limit.error().code == *row.error);
      CHECK_FALSE(s.headroom.has_value());
      if (is_unmapped(row.mapping)) {
        CHECK_FALSE(s.usage.has_value());
        CHECK_FALSE(r->usage().has_value());
      }
      CHECK(r->limit_path(s).empty());
      // Neither the swap limit nor high is "none" where the limit could
      // not be read: the same unseen ancestor may set them.
      const auto rep = r->report();
      CHECK_FALSE(rep.swap_limit.value.has_value());
      CHECK_FALSE(rep.high.value.has_value());
    } else {
      REQUIRE_MESSAGE(s.limit.has_value(), s.limit.error().message());
      if (row.unlimited) {
        CHECK_FALSE(s.limit->has_value());
      } else {
        REQUIRE(s.limit->has_value());
        CHECK(**s.limit == *row.limit);
        CHECK(std::filesystem::exists(t.root() + r->limit_path(s)));
        CHECK(s.scope == usage_scope::limit_cgroup);
        CHECK_FALSE(s.headroom_is_bound());
      }
    }
  }
}

TEST_CASE("a cgroup found by pid: its cgroup2 directory too, for PSI") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/status", status_of(tree_pid));
  SUBCASE("v2: the directory found") {
    t.file("proc/self/cgroup", "0::/\n");
    t.file("proc/self/mountinfo",
           std::string(mi_base) +
               "26 23 0:23 /../.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    write_v2_root(t, "sys/fs/cgroup");
    v2_cgroup(t, "sys/fs/cgroup/a", std::nullopt);
    v2_cgroup(t, "sys/fs/cgroup/a/b", 64 * MiB, me);
  }
  SUBCASE("hybrid: searched in the unified mount") {
    t.file("proc/self/cgroup", "4:memory:/\n0::/\n");
    t.file("proc/self/mountinfo",
           std::string(mi_base) +
               "35 31 0:32 /../.. /sys/fs/cgroup/memory rw - cgroup cgroup "
               "rw,memory\n"
               "41 31 0:38 /../.. /sys/fs/cgroup/unified rw - cgroup2 cgroup2 "
               "rw\n");
    v1_cgroup(t, "sys/fs/cgroup/memory", std::nullopt);
    v1_cgroup(t, "sys/fs/cgroup/memory/a", std::nullopt);
    v1_cgroup(t, "sys/fs/cgroup/memory/a/b", 64 * MiB, me);
    write_v2_root(t, "sys/fs/cgroup/unified");
    v2_cgroup(t, "sys/fs/cgroup/unified/a", std::nullopt);
    v2_cgroup(t, "sys/fs/cgroup/unified/a/b", std::nullopt, me);
  }
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  REQUIRE(r);
  CHECK(r->location().mapping == path_mapping::found_by_pid);
  CHECK(**r->snapshot().limit == 64 * MiB);
  CHECK(r->location().unified_dir.substr(r->location().unified_dir.size() -
                                         4) == "/a/b");
  const auto rep = r->report();
  CHECK(rep.pressure_from == pressure_scope::cgroup);
  CHECK(rep.pressure.path == r->location().unified_dir + "/memory.pressure");
}

TEST_CASE("the search is bounded, and says so") {
  const auto rows = container_rows();
  const auto& row = rows[5];  // found by pid at depth 3
  REQUIRE(row.mapping == path_mapping::found_by_pid);
  fixture_tree t;
  write_row(t, row);
  options o;
  o.root = t.root();
  SUBCASE("by directories") { o.search_max_dirs = 3; }
  SUBCASE("by depth") { o.search_max_depth = 2; }
  auto r = memory_reader::open(o);
  REQUIRE(r);
  CHECK(r->location().mapping == path_mapping::not_under_mount_root);
  CHECK(r->location().dirs_searched <= 4);
  const auto s = r->snapshot();
  REQUIRE_FALSE(s.limit);
  CHECK(s.limit.error().code == errc::not_visible);
  CHECK(s.limit.error().path == "/proc/self/cgroup");
  CHECK(r->location().unmapped_reason.find("search bounded") !=
        std::string::npos);
}

TEST_CASE(
    "usage scope: the limit cgroup's, or below it and the headroom a bound") {
  fixture_tree t;
  write_host(t);
  SUBCASE(
      "v1 pod limit above the mount: usage is the container's, below the "
      "limit") {
    layout_v1_pod_above_mount(t);
    options o;
    o.root = t.root();
    auto r = memory_reader::open(o);
    REQUIRE(r);
    const auto s = r->snapshot();
    CHECK(**s.limit == 512 * MiB);
    CHECK(s.source == limit_source::hierarchical);
    CHECK(s.scope == usage_scope::below_limit_cgroup);
    CHECK(s.headroom_is_bound());
  }
  SUBCASE("no limit: the own cgroup's usage against the host's memory") {
    t.file("proc/self/cgroup", "4:memory:/svc\n0::/\n");
    t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host);
    write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
    write_v1(t, "sys/fs/cgroup/memory/svc", v1_dir{});
    options o;
    o.root = t.root();
    auto r = memory_reader::open(o);
    REQUIRE(r);
    const auto s = r->snapshot();
    CHECK_FALSE(s.limit->has_value());
    CHECK(s.scope == usage_scope::below_limit_cgroup);
    CHECK(s.headroom_is_bound());
  }
  SUBCASE("host-wide") {
    t.file("proc/self/cgroup", "0::/\n");
    t.file("proc/self/mountinfo", std::string(mi_base));
    options o;
    o.root = t.root();
    auto r = memory_reader::open(o);
    REQUIRE(r);
    const auto s = r->snapshot();
    CHECK(s.scope == usage_scope::host);
    CHECK_FALSE(s.headroom_is_bound());
  }
}

TEST_CASE("mount tree: covered mounts by ids") {
  const auto covered = [](const std::string& mi, std::size_t which) {
    std::vector<detail::mount_node> nodes;
    std::string_view text = mi;
    while (!text.empty()) {
      const auto line = detail::next_line(text);
      auto e = parse_mountinfo_line(line);
      REQUIRE(e);
      nodes.push_back(
          {e->mount_id, e->parent_id, unescape_mount_path(e->mount_point)});
    }
    return detail::is_covered(nodes, which);
  };
  const std::string host =
      "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
      "23 27 0:22 / /sys rw - sysfs sysfs rw\n"
      "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  CHECK_FALSE(covered(host, 3));
  CHECK_FALSE(covered(host, 2));
  // Stacked on it at the same point.
  CHECK(covered(
      host +
          "40 35 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
      3));
  // A child inside it covers nothing of it.
  CHECK_FALSE(covered(
      host + "40 35 0:9 / /sys/fs/cgroup/memory/x rw - tmpfs tmpfs rw\n", 3));
  // A tmpfs on the parent's point covers the children.
  CHECK(covered(host + "40 31 0:9 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", 3));
  CHECK(covered(host + "40 23 0:9 / /sys/fs rw - tmpfs tmpfs rw\n", 3));
  // ...but not when it sits on a point that the line's own mount shadows.
  CHECK_FALSE(covered(
      host + "40 23 0:9 / /sys/fs/cgroup/memory rw - tmpfs tmpfs rw\n", 3));
  // Mounted elsewhere: nothing.
  CHECK_FALSE(covered(host + "40 27 0:9 / /mnt rw - tmpfs tmpfs rw\n", 3));
  // A cycle of parent ids (not from a kernel) ends.
  CHECK_FALSE(covered(
      "5 6 0:1 / /a rw - tmpfs t rw\n6 5 0:1 / /a/b rw - tmpfs t rw\n", 1));
}
