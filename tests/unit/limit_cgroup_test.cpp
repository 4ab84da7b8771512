// SPDX-License-Identifier: MIT
// memory_reader::limit_cgroup(): the one answer to "which cgroup holds the
// limit", for every source of the limit, and the tables layout_for() picks.
#include <cstdlib>
#include <headroom/layout.hpp>
#include <headroom/memory.hpp>
#include <optional>
#include <string>

#include "../support/doctest.hpp"
#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

memory_reader open_tree(const fixture_tree& t) {
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return std::move(*r);
}

}  // namespace

TEST_CASE("limit_cgroup: the chain directory that holds the limit") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  const auto r = open_tree(t);
  const auto s = r.snapshot();
  const auto holder = r.limit_cgroup(s);
  REQUIRE(holder);
  CHECK(holder->dir == std::string("/sys/fs/cgroup") + k8s_pod);
  CHECK(holder->position == chain_position{1});
  CHECK(s.limit_at == holder->position);
  CHECK_FALSE(holder->above_mount);
  CHECK(r.dir_at(holder->position) == holder->dir);
}

TEST_CASE(
    "limit_cgroup: an ancestor above the mount point (v1 hierarchical limit)") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/docker/abc\n0::/\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "50 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup "
             "rw,memory\n");
  v1_dir d;
  d.hierarchical_limit = std::to_string(128 * MiB);
  write_v1(t, "sys/fs/cgroup/memory", d);
  const auto r = open_tree(t);
  const auto s = r.snapshot();
  REQUIRE(s.source == limit_source::hierarchical);
  const auto holder = r.limit_cgroup(s);
  REQUIRE(holder);
  CHECK(holder->above_mount);
  CHECK(holder->dir == "/sys/fs/cgroup/memory");  // the topmost visible
}

TEST_CASE("limit_cgroup: none when nothing limits") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  // The pod and kubepods.slice limits removed: nothing on the chain limits.
  t.file("sys/fs/cgroup" + std::string(k8s_pod) + "/memory.max", "max\n");
  t.file("sys/fs/cgroup/kubepods.slice/memory.max", "max\n");
  const auto r = open_tree(t);
  const auto s = r.snapshot();
  REQUIRE(s.limit);
  CHECK_FALSE(s.limit->has_value());
  CHECK_FALSE(s.limit_at);
  CHECK_FALSE(r.limit_cgroup(s));
  CHECK(r.limit_path(s).empty());
}

// Regression: HEADROOM_DETECT=off with HEADROOM_MEMORY_LIMIT gave a limit
// whose cgroup was position 0 of an empty chain; headroom-info --json then
// read past the end of it (SIGSEGV).
TEST_CASE(
    "limit_cgroup: none for a limit from the environment, with or without a "
    "chain") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  scoped_env limit(env_memory_limit, "512Mi");
  SUBCASE("detection off: mode none, an empty chain") {
    scoped_env off(env_detect, "off");
    const auto r = open_tree(t);
    REQUIRE(r.mode() == hierarchy_mode::none);
    CHECK(r.location().chain.empty());
    const auto s = r.snapshot();
    REQUIRE(s.limit);
    CHECK(**s.limit == 512 * MiB);
    CHECK(s.source == limit_source::environment);
    CHECK_FALSE(s.limit_at);
    CHECK_FALSE(s.usage_at);
    CHECK_FALSE(r.limit_cgroup(s));
    CHECK(r.limit_path(s) == "$HEADROOM_MEMORY_LIMIT");
    CHECK(r.usage_path(s) == "/proc/meminfo");
    CHECK(r.layout() == nullptr);
    const auto rep = r.report();  // must not touch the chain either
    CHECK(rep.chain.empty());
  }
  SUBCASE("detection on: the usage cgroup is read, but holds no limit") {
    const auto r = open_tree(t);
    const auto s = r.snapshot();
    CHECK(s.source == limit_source::environment);
    CHECK(s.usage_at == chain_position{0});
    CHECK_FALSE(r.limit_cgroup(s));
  }
}

TEST_CASE("layout_for: one table per version, none without a cgroup") {
  CHECK(layout_for(hierarchy_mode::none) == nullptr);
  CHECK(layout_for(hierarchy_mode::v1) == layout_for(hierarchy_mode::hybrid));
  const memory_layout& v1 = layout_for(hierarchy_mode::v1)->memory;
  const memory_layout& v2 = layout_for(hierarchy_mode::v2)->memory;
  CHECK(v1.limit == "memory.limit_in_bytes");
  CHECK(v2.limit == "memory.max");
  CHECK(v1.stat_inactive_file == "total_inactive_file");
  CHECK(v2.stat_inactive_file == "inactive_file");
  CHECK_FALSE(v1.high);
  CHECK(v2.high == std::string_view("memory.high"));
  CHECK(v1.failcnt);
  CHECK_FALSE(v2.failcnt);
  CHECK(v1.swap == swap_rule::memsw_minus_limit);
  CHECK(v2.swap == swap_rule::chain_min);
  CHECK(v2.events_notify);
  CHECK_FALSE(v1.events_notify);
  // v1 registers pressure_level twice (medium, critical) and oom_control.
  REQUIRE(v1.cgroup_events.size() == 3);
  CHECK(v1.cgroup_events.begin()[0].kind ==
        cgroup_event_kind::pressure_moderate);
  CHECK(v1.cgroup_events.begin()[0].argument == "medium,local");
  CHECK(v1.cgroup_events.begin()[0].fallback == "medium");
  CHECK(v1.cgroup_events.begin()[2].file == "memory.oom_control");
  CHECK(v2.cgroup_events.empty());
  // Parsers: v1 reads its page-rounded LONG_MAX as no limit, v2 "max".
  CHECK(v1.parse_limit("9223372036854771712\n").value() == std::nullopt);
  CHECK(v2.parse_limit("max\n").value() == std::nullopt);
  CHECK_FALSE(v2.parse_limit("9223372036854771712x"));
  const cpu_layout& c1 = layout_for(hierarchy_mode::v1)->cpu;
  const cpu_layout& c2 = layout_for(hierarchy_mode::v2)->cpu;
  CHECK(c1.period);
  CHECK_FALSE(c2.period);
  CHECK(c2.cpuset_from_ancestors);
  CHECK_FALSE(c1.cpuset_from_ancestors);
}
