// SPDX-License-Identifier: MIT
// Fixture trees for every layout users run on, read through the root prefix
// by the real memory_reader: discovery, the chain walk, limit, usage,
// working set, effective limit, headroom, and the report's extras.
#include <headroom/memory.hpp>
#include "../support/doctest.hpp"

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

memory_reader open_at(const fixture_tree& t) {
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return std::move(*r);
}

std::uint64_t limit_of(const memory_snapshot& s) {
  REQUIRE_MESSAGE(s.limit.has_value(), s.limit.error().message());
  REQUIRE(s.limit->has_value());
  return **s.limit;
}

void check_no_limit(const memory_snapshot& s) {
  REQUIRE_MESSAGE(s.limit.has_value(), s.limit.error().message());
  CHECK_FALSE(s.limit->has_value());
  CHECK(s.source == limit_source::none);
}

}  // namespace

TEST_CASE("Docker v1 with the host's cgroup namespace") {
  fixture_tree t;
  layout_docker_v1(t);

  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::v1);
  CHECK(r.location().path == "/docker/0123abcd");
  CHECK(r.location().mapping == path_mapping::below_mount_root);
  CHECK(r.location().dir == "/sys/fs/cgroup/memory");
  CHECK(r.location().chain ==
        std::vector<std::string>{"/sys/fs/cgroup/memory"});
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 256 * MiB);
  CHECK(s.source == limit_source::chain);
  CHECK(r.limit_path(s) == "/sys/fs/cgroup/memory/memory.limit_in_bytes");
  CHECK(*s.usage == 100 * MiB);
  CHECK(*s.working_set == 80 * MiB);
  CHECK(*s.effective_limit == 256 * MiB);
  CHECK(*s.headroom == 176 * MiB);
  CHECK(*r.usage() == 100 * MiB);

  const auto rep = r.report();
  CHECK(rep.high.value.error().code == errc::not_supported);
  CHECK(rep.pressure_from == pressure_scope::host);
  CHECK(rep.pressure.path == "/proc/pressure/memory");
  REQUIRE(rep.pressure.value);
  CHECK(rep.pressure.value->some.avg10 == doctest::Approx(0.10));
  CHECK(*rep.peak.value == 110 * MiB);
  CHECK(*rep.failcnt.value == 0);
  CHECK(*rep.oom_kills.value == 0);
  REQUIRE(rep.swap_limit.value);
  CHECK_FALSE(rep.swap_limit.value->has_value());  // memsw unlimited
}

TEST_CASE(
    "Docker v1: a limit above the mount point, seen only by "
    "hierarchical_memory_limit") {
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

  auto r = open_at(t);
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 128 * MiB);
  CHECK(s.source == limit_source::hierarchical);
  CHECK(r.limit_path(s) ==
        "/sys/fs/cgroup/memory/memory.stat (hierarchical_memory_limit)");
  CHECK(*s.effective_limit == 128 * MiB);
  CHECK(*s.headroom == 48 * MiB);
}

TEST_CASE("Kubernetes v2 with a private cgroup namespace") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "1300 1290 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime "
             "- cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n");
  v2_dir d;
  d.max = std::to_string(512 * MiB);
  d.high = std::to_string(480 * MiB);
  d.pressure =
      "some avg10=2.50 avg60=1.00 avg300=0.50 total=5000\n"
      "full avg10=1.25 avg60=0.50 avg300=0.25 total=2500\n";
  write_v2(t, "sys/fs/cgroup", d);

  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::v2);
  CHECK(r.location().mapping == path_mapping::mount_root);
  CHECK(r.location().chain == std::vector<std::string>{"/sys/fs/cgroup"});
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 512 * MiB);
  CHECK(r.limit_path(s) == "/sys/fs/cgroup/memory.max");
  CHECK(*s.working_set == 80 * MiB);
  CHECK(*s.headroom == 432 * MiB);
  const auto rep = r.report();
  CHECK(rep.high.value.value() == 480 * MiB);
  // The namespace root is the container's cgroup: its PSI is the container's.
  CHECK(rep.pressure_from == pressure_scope::cgroup);
  CHECK(rep.pressure.path == "/sys/fs/cgroup/memory.pressure");
  CHECK(rep.pressure.value->some.avg10 == doctest::Approx(2.5));
  CHECK(rep.pressure.value->full->avg10 == doctest::Approx(1.25));
}

TEST_CASE(
    "Kubernetes v2 without a cgroup namespace: the pod slice holds the limit") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  const std::string pod = k8s_pod;

  auto r = open_at(t);
  CHECK(r.location().chain.size() == 5);
  CHECK(r.location().chain.back() == "/sys/fs/cgroup");
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 1 * GiB);
  CHECK(s.limit_at == chain_position{1});
  CHECK(r.dir_at(*s.limit_at) == "/sys/fs/cgroup" + pod);
  // Usage is the pod's: that is what the kernel compares with the limit.
  CHECK(s.usage_at == chain_position{1});
  CHECK(*s.usage == 700 * MiB);
  CHECK(*s.working_set == 600 * MiB);
  CHECK(*s.headroom == 1 * GiB - 600 * MiB);
  // usage() follows the limit cgroup found by the latest snapshot.
  CHECK(*r.usage() == 700 * MiB);
}

TEST_CASE("systemd: MemoryMax on the slice, MemoryHigh on the service") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/app.slice/web.service\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir slice;
  slice.max = std::to_string(2 * GiB);
  slice.current = 900 * MiB;
  write_v2(t, "sys/fs/cgroup/app.slice", slice);
  v2_dir svc;
  svc.high = std::to_string(1536 * MiB);
  svc.low = std::to_string(256 * MiB);
  svc.swap_max = "0";
  write_v2(t, "sys/fs/cgroup/app.slice/web.service", svc);

  auto r = open_at(t);
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 2 * GiB);
  CHECK(s.limit_at == chain_position{1});
  const auto rep = r.report();
  CHECK(rep.high.value.value() == 1536 * MiB);
  CHECK(rep.high_at == chain_position{0});
  CHECK(rep.high.path == "/sys/fs/cgroup/app.slice/web.service/memory.high");
  CHECK(rep.low.value.value() == 256 * MiB);
  CHECK(rep.swap_limit.value.value() == 0u);
  REQUIRE(rep.chain.size() == 3);
  CHECK(rep.chain[0].limit.value() == std::nullopt);
  CHECK(rep.chain[1].limit.value() == 2 * GiB);
  // The root has no memory.max.
  CHECK(rep.chain[2].limit.error().code ==
        std::errc::no_such_file_or_directory);
}

TEST_CASE("hybrid host: memory on v1, PSI from the unified mount") {
  fixture_tree t;
  write_host(t);
  const std::string scope = "/user.slice/user-1000.slice/session-3.scope";
  t.file("proc/self/cgroup", "12:memory:" + scope + "\n1:name=systemd:" +
                                 scope + "\n0::" + scope + "\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host + mi_unified);
  v1_dir root;
  root.usage = 3 * GiB;
  write_v1(t, "sys/fs/cgroup/memory", root);
  v1_dir user;
  user.limit = std::to_string(4 * GiB);
  user.hierarchical_limit = user.limit;
  write_v1(t, "sys/fs/cgroup/memory/user.slice", user);
  v1_dir u1000;
  u1000.hierarchical_limit = user.limit;
  write_v1(t, "sys/fs/cgroup/memory/user.slice/user-1000.slice", u1000);
  v1_dir session;
  session.hierarchical_limit = user.limit;
  write_v1(t, "sys/fs/cgroup/memory" + scope, session);
  t.file("sys/fs/cgroup/unified" + scope + "/memory.pressure",
         "some avg10=1.50 avg60=0.00 avg300=0.00 total=10\n"
         "full avg10=0.50 avg60=0.00 avg300=0.00 total=5\n");
  t.file("sys/fs/cgroup/unified" + scope + "/cgroup.type", "domain\n");

  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::hybrid);
  CHECK(r.location().unified_dir == "/sys/fs/cgroup/unified" + scope);
  CHECK(r.location().chain.size() == 4);
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 4 * GiB);
  CHECK(s.limit_at == chain_position{2});
  CHECK(s.source == limit_source::chain);
  const auto rep = r.report();
  CHECK(rep.pressure_from == pressure_scope::cgroup);
  CHECK(rep.pressure.value->some.avg10 == doctest::Approx(1.5));
}

TEST_CASE("this machine's shape: hybrid, process in the cgroup2 root") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/process_api/94dc\n0::/\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host + mi_unified);
  write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
  write_v1(t, "sys/fs/cgroup/memory/process_api", v1_dir{});
  write_v1(t, "sys/fs/cgroup/memory/process_api/94dc", v1_dir{});
  t.file("sys/fs/cgroup/unified/memory.pressure", host_psi);

  auto r = open_at(t);
  const auto s = r.snapshot();
  check_no_limit(s);
  CHECK(s.usage_at == chain_position{0});
  CHECK(*s.effective_limit == 16 * GiB);
  CHECK(*s.headroom == 16 * GiB - 80 * MiB);
  const auto rep = r.report();
  // The real cgroup2 root (no cgroup.type): its pressure is host-wide.
  CHECK(rep.pressure_from == pressure_scope::root_cgroup);
  CHECK(rep.pressure.path == "/sys/fs/cgroup/unified/memory.pressure");
}

TEST_CASE("v1 nested: the parent's limit binds an unlimited child") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/a/b\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host);
  write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
  v1_dir a;
  a.limit = std::to_string(300 * MiB);
  a.hierarchical_limit = a.limit;
  a.usage = 200 * MiB;
  a.inactive_file = 50 * MiB;
  write_v1(t, "sys/fs/cgroup/memory/a", a);

  SUBCASE("use_hierarchy 1") {
    v1_dir b;
    b.hierarchical_limit = a.limit;
    write_v1(t, "sys/fs/cgroup/memory/a/b", b);
    auto r = open_at(t);
    CHECK(r.mode() == hierarchy_mode::v1);
    CHECK(r.chain_size() == 3);
    const auto s = r.snapshot();
    CHECK(limit_of(s) == 300 * MiB);
    CHECK(s.limit_at == chain_position{1});
    CHECK(*s.usage == 200 * MiB);  // the parent's: siblings count
    CHECK(*s.working_set == 150 * MiB);
    CHECK(*s.headroom == 150 * MiB);
  }
  SUBCASE("use_hierarchy 0 on the parent: its limit does not apply") {
    a.use_hierarchy = "0";
    write_v1(t, "sys/fs/cgroup/memory/a", a);
    write_v1(t, "sys/fs/cgroup/memory/a/b", v1_dir{});
    auto r = open_at(t);
    CHECK(r.chain_size() == 1);
    check_no_limit(r.snapshot());
    const auto rep = r.report();
    REQUIRE(rep.chain.size() == 3);
    CHECK(rep.chain[1].limit.error().code == errc::not_supported);
  }
}

TEST_CASE("v1 three levels, the tightest in the middle") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/top/mid/leaf\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host);
  write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
  v1_dir top;
  top.limit = std::to_string(1 * GiB);
  write_v1(t, "sys/fs/cgroup/memory/top", top);
  v1_dir mid;
  mid.limit = std::to_string(256 * MiB);
  mid.usage = 120 * MiB;
  write_v1(t, "sys/fs/cgroup/memory/top/mid", mid);
  v1_dir leaf;
  leaf.limit = std::to_string(512 * MiB);
  write_v1(t, "sys/fs/cgroup/memory/top/mid/leaf", leaf);
  auto r = open_at(t);
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 256 * MiB);
  CHECK(s.limit_at == chain_position{1});
  CHECK(r.location().chain[1] == "/sys/fs/cgroup/memory/top/mid");
  CHECK(*s.usage == 120 * MiB);
}

TEST_CASE("v1 unlimited is a state, with 4 KiB and with 64 KiB pages") {
  for (const char* unlimited : {v1_unlimited_4k, v1_unlimited_64k}) {
    CAPTURE(unlimited);
    fixture_tree t;
    write_host(t);
    t.file("proc/self/cgroup", "4:memory:/svc\n");
    t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host);
    v1_dir d;
    d.limit = unlimited;
    d.hierarchical_limit = unlimited;
    d.memsw_limit = unlimited;
    write_v1(t, "sys/fs/cgroup/memory", d);
    write_v1(t, "sys/fs/cgroup/memory/svc", d);
    auto r = open_at(t);
    const auto s = r.snapshot();
    check_no_limit(s);
    CHECK(*s.effective_limit == 16 * GiB);
    CHECK(*s.headroom == 16 * GiB - 80 * MiB);
  }
}

TEST_CASE(
    "v1 swap limit: memsw minus the limit; absent without swap accounting") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/svc\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v1_host);
  v1_dir root;
  write_v1(t, "sys/fs/cgroup/memory", root);
  v1_dir d;
  d.limit = std::to_string(256 * MiB);
  SUBCASE("memsw 512 MiB") {
    d.memsw_limit = std::to_string(512 * MiB);
    write_v1(t, "sys/fs/cgroup/memory/svc", d);
    CHECK(open_at(t).report().swap_limit.value.value() == 256 * MiB);
  }
  SUBCASE(
      "no memsw files (swap accounting off): the cgroup does not limit swap") {
    root.memsw_limit = "";
    d.memsw_limit = "";
    t.remove("sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    write_v1(t, "sys/fs/cgroup/memory/svc", d);
    const auto rep = open_at(t).report();
    REQUIRE(rep.swap_limit.value);
    CHECK_FALSE(rep.swap_limit.value->has_value());
  }
}

TEST_CASE(
    "a limit above host RAM is reported as it is, and capped only in the "
    "effective limit") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/big.slice\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir d;
  d.max = std::to_string(100 * GiB);
  write_v2(t, "sys/fs/cgroup/big.slice", d);
  const auto s = open_at(t).snapshot();
  CHECK(limit_of(s) == 100 * GiB);
  CHECK(*s.host_total == 16 * GiB);
  CHECK(*s.effective_limit == 16 * GiB);
}

TEST_CASE("a mount root other than /") {
  fixture_tree t;
  write_host(t);
  SUBCASE("v1: the path lies below the mount root") {
    t.file("proc/self/cgroup", "4:memory:/docker/abc/worker\n");
    t.file("proc/self/mountinfo",
           std::string(mi_base) +
               "60 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup "
               "cgroup rw,memory\n");
    v1_dir outer;
    outer.limit = std::to_string(512 * MiB);
    write_v1(t, "sys/fs/cgroup/memory", outer);
    v1_dir worker;
    worker.limit = std::to_string(200 * MiB);
    write_v1(t, "sys/fs/cgroup/memory/worker", worker);
    auto r = open_at(t);
    CHECK(r.location().mapping == path_mapping::below_mount_root);
    CHECK(r.location().dir == "/sys/fs/cgroup/memory/worker");
    CHECK(r.location().chain.size() == 2);
    CHECK(limit_of(r.snapshot()) == 200 * MiB);
  }
  SUBCASE(
      "v2: the path is not under the mount root and not found: errors, no "
      "number") {
    t.file("proc/self/cgroup", "0::/system.slice/other.service\n");
    t.file("proc/self/mountinfo",
           std::string(mi_base) +
               "61 23 0:30 /system.slice/container.scope /sys/fs/cgroup rw - "
               "cgroup2 cgroup2 rw\n");
    v2_dir d;
    d.max = std::to_string(64 * MiB);
    write_v2(t, "sys/fs/cgroup", d);
    auto r = open_at(t);
    CHECK(r.location().mapping == path_mapping::not_under_mount_root);
    CHECK(is_fallback(r.location().mapping));
    CHECK(r.location().dir.empty());
    // The mount point's 64 MiB is not this process's cgroup's.
    const auto s = r.snapshot();
    CHECK(s.limit.error().code == errc::not_visible);
    CHECK(s.headroom.error().code == errc::not_visible);
    CHECK(r.usage().error().code == errc::not_visible);
  }
}

TEST_CASE(
    "a /.. path (moved out of the namespace root), not found: errors, no "
    "number") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/../../system.slice/moved.scope\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "62 23 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  v2_dir d;
  d.max = std::to_string(96 * MiB);
  write_v2(t, "sys/fs/cgroup", d);
  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::v2);
  CHECK(r.location().mapping == path_mapping::outside_namespace);
  CHECK(r.location().dir.empty());
  CHECK(r.location().chain.empty());
  const auto s = r.snapshot();
  CHECK(s.limit.error().code == errc::not_visible);
  CHECK(s.effective_limit.error().code == errc::not_visible);
}

TEST_CASE("an escaped mount point") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "4:memory:/svc\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "63 31 0:32 / /sys/fs/cgroup/mem\\040ory\\011x rw - cgroup cgroup "
             "rw,memory\n");
  write_v1(t, "sys/fs/cgroup/mem ory\tx", v1_dir{});
  v1_dir d;
  d.limit = std::to_string(42 * MiB);
  write_v1(t, "sys/fs/cgroup/mem ory\tx/svc", d);
  auto r = open_at(t);
  CHECK(r.location().mount.mount_point == "/sys/fs/cgroup/mem ory\tx");
  CHECK(r.location().dir == "/sys/fs/cgroup/mem ory\tx/svc");
  CHECK(limit_of(r.snapshot()) == 42 * MiB);
}

TEST_CASE(
    "duplicate mounts: the one under /sys/fs/cgroup wins, whatever the order") {
  for (const bool sys_first : {false, true}) {
    CAPTURE(sys_first);
    fixture_tree t;
    write_host(t);
    t.file("proc/self/cgroup", "4:memory:/svc\n");
    const std::string bind =
        "70 27 0:32 / /run/bind/memory rw - cgroup cgroup rw,memory\n";
    const std::string sys =
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    t.file("proc/self/mountinfo",
           std::string(mi_base) + (sys_first ? sys + bind : bind + sys));
    v1_dir a;
    a.limit = std::to_string(10 * MiB);
    write_v1(t, "run/bind/memory/svc", a);
    v1_dir b;
    b.limit = std::to_string(20 * MiB);
    write_v1(t, "sys/fs/cgroup/memory/svc", b);
    write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
    auto r = open_at(t);
    CHECK(r.location().mount.mount_point == "/sys/fs/cgroup/memory");
    CHECK(limit_of(r.snapshot()) == 20 * MiB);
  }
}

TEST_CASE(
    "a v2 leaf without the memory controller: its nearest ancestor that has "
    "it") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/svc.slice/leaf\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir svc;
  svc.max = std::to_string(300 * MiB);
  svc.current = 120 * MiB;
  svc.controllers = "cpu pids memory";
  write_v2(t, "sys/fs/cgroup/svc.slice", svc);
  // The leaf: memory not enabled by its parent; only memory.pressure, which
  // is cgroup core, exists.
  t.file("sys/fs/cgroup/svc.slice/leaf/cgroup.controllers", "cpu pids\n");
  t.file("sys/fs/cgroup/svc.slice/leaf/cgroup.type", "domain\n");
  t.file("sys/fs/cgroup/svc.slice/leaf/memory.pressure", host_psi);

  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::v2);
  CHECK(r.location().dir == "/sys/fs/cgroup/svc.slice/leaf");
  const auto s = r.snapshot();
  CHECK(limit_of(s) == 300 * MiB);
  CHECK(s.limit_at == chain_position{1});
  CHECK(s.usage_at == chain_position{1});
  CHECK(*s.usage == 120 * MiB);
  const auto rep = r.report();
  CHECK(rep.pressure.path == "/sys/fs/cgroup/svc.slice/leaf/memory.pressure");
  CHECK(rep.pressure_from == pressure_scope::cgroup);
}

TEST_CASE("v2 root only: no memory.current, host-wide usage") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::v2);
  const auto s = r.snapshot();
  check_no_limit(s);
  CHECK(!s.usage_at);
  CHECK(*s.usage == 8 * GiB);        // MemTotal - MemFree
  CHECK(*s.working_set == 4 * GiB);  // MemTotal - MemAvailable
  CHECK(*s.headroom == 12 * GiB);
  CHECK(r.usage_path(s) == "/proc/meminfo");
  // No directory has memory files: the report has no per-cgroup counters.
  const auto rep = r.report();
  CHECK(rep.peak.value.error().code == errc::not_supported);
  CHECK(rep.oom_kills.value.error().code == errc::not_supported);
  CHECK(*rep.snapshot.headroom == 12 * GiB);
}

TEST_CASE("no cgroup at all") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/mountinfo", mi_base);
  SUBCASE("no /proc/self/cgroup (a kernel without cgroups)") {}
  SUBCASE("cgroup lines but no cgroup mount") {
    t.file("proc/self/cgroup", "0::/\n");
  }
  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::none);
  CHECK(r.location().why_none.code == errc::no_cgroup);
  const auto s = r.snapshot();
  check_no_limit(s);
  CHECK(*s.usage == 8 * GiB);
  CHECK(*s.working_set == 4 * GiB);
  CHECK(*s.effective_limit == 16 * GiB);
  CHECK(*s.headroom == 12 * GiB);
  CHECK(*r.usage() == 8 * GiB);
  const auto rep = r.report();
  CHECK(rep.pressure_from == pressure_scope::host);
}

TEST_CASE("memory controller absent") {
  fixture_tree t;
  write_host(t);
  SUBCASE("v1: memory is bound to a hierarchy that is not mounted") {
    t.file("proc/self/cgroup", "4:memory:/svc\n0::/\n");
    t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
    write_v2_root(t, "sys/fs/cgroup", "cpu io pids");
  }
  SUBCASE("v2: no directory on the chain lists memory") {
    t.file("proc/self/cgroup", "0::/svc\n");
    t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
    write_v2_root(t, "sys/fs/cgroup", "cpu io pids");
    t.file("sys/fs/cgroup/svc/cgroup.controllers", "cpu\n");
  }
  auto r = open_at(t);
  CHECK(r.mode() == hierarchy_mode::none);
  CHECK(r.location().why_none.code == errc::controller_absent);
  CHECK(*r.snapshot().effective_limit == 16 * GiB);
}

TEST_CASE(
    "garbage and missing files: a clear error for that value, the rest works") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/svc\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir d;
  d.max = std::to_string(256 * MiB);
  write_v2(t, "sys/fs/cgroup/svc", d);

  SUBCASE("garbage limit") {
    t.file("sys/fs/cgroup/svc/memory.max", "garbage\n");
    auto r = open_at(t);
    const auto s = r.snapshot();
    REQUIRE_FALSE(s.limit.has_value());
    CHECK(s.limit.error().code == errc::malformed);
    CHECK(s.limit.error().path == t.root() + "/sys/fs/cgroup/svc/memory.max");
    CHECK_FALSE(s.effective_limit.has_value());
    CHECK_FALSE(s.headroom.has_value());
    CHECK(*s.usage == 100 * MiB);       // still read
    CHECK(*s.working_set == 80 * MiB);  // still read
  }
  SUBCASE("empty limit file") {
    t.file("sys/fs/cgroup/svc/memory.max", "");
    CHECK(open_at(t).snapshot().limit.error().code == errc::malformed);
  }
  SUBCASE("a limit file too large for its buffer") {
    t.file("sys/fs/cgroup/svc/memory.max", std::string(100, '1'));
    CHECK(open_at(t).snapshot().limit.error().code == errc::malformed);
  }
  SUBCASE("garbage memory.stat") {
    t.file("sys/fs/cgroup/svc/memory.stat", "anon 12\nfile twelve\n");
    const auto s = open_at(t).snapshot();
    CHECK(limit_of(s) == 256 * MiB);
    CHECK(s.stat.error().code == errc::malformed);
    CHECK(s.working_set.error().code == errc::malformed);
    CHECK(s.working_set.error().path ==
          t.root() + "/sys/fs/cgroup/svc/memory.stat");
    CHECK(*s.usage == 100 * MiB);
  }
  SUBCASE("memory.stat without inactive_file") {
    t.file("sys/fs/cgroup/svc/memory.stat", "anon 12\nfile 13\n");
    CHECK(open_at(t).snapshot().stat.error().code == errc::malformed);
  }
  SUBCASE("missing memory.current") {
    t.remove("sys/fs/cgroup/svc/memory.current");
    const auto s = open_at(t).snapshot();
    CHECK(limit_of(s) == 256 * MiB);
    CHECK(s.usage.error().code == std::errc::no_such_file_or_directory);
    CHECK(*s.effective_limit == 256 * MiB);
    CHECK_FALSE(s.headroom.has_value());
  }
  SUBCASE("missing /proc/meminfo: a limit is still a bound") {
    t.remove("proc/meminfo");
    const auto s = open_at(t).snapshot();
    CHECK(s.host_total.error().code == std::errc::no_such_file_or_directory);
    CHECK(*s.effective_limit == 256 * MiB);
    CHECK(*s.headroom == 176 * MiB);
  }
  SUBCASE("garbage meminfo") {
    t.file("proc/meminfo",
           "\x7f"
           "ELF\x01\x02");
    const auto s = open_at(t).snapshot();
    CHECK(s.host_total.error().code == errc::malformed);
  }
  SUBCASE("garbage memory.events and memory.pressure") {
    t.file("sys/fs/cgroup/svc/memory.events", "oom_kill\n");
    t.file("sys/fs/cgroup/svc/memory.pressure", "some avg10=x\n");
    t.remove("proc/pressure/memory");
    const auto rep = open_at(t).report();
    CHECK(rep.events.value.error().code == errc::malformed);
    CHECK(rep.oom_kills.value.error().code == errc::malformed);
    CHECK(rep.pressure.value.error().code == errc::malformed);
    CHECK(limit_of(rep.snapshot) == 256 * MiB);
  }
  SUBCASE("PSI missing in the cgroup: /proc/pressure/memory, labelled host") {
    t.remove("sys/fs/cgroup/svc/memory.pressure");
    const auto rep = open_at(t).report();
    CHECK(rep.pressure_from == pressure_scope::host);
    CHECK(rep.pressure.value);
  }
  SUBCASE("garbage mountinfo: no report") {
    t.file("proc/self/mountinfo", "this is not mountinfo\n");
    options o;
    o.root = t.root();
    auto r = memory_reader::open(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::malformed);
  }
  SUBCASE("garbage /proc/self/cgroup: no report") {
    t.file("proc/self/cgroup", "\x01\x02garbage");
    options o;
    o.root = t.root();
    auto r = memory_reader::open(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::malformed);
  }
  SUBCASE("missing mountinfo: no report") {
    t.remove("proc/self/mountinfo");
    options o;
    o.root = t.root();
    auto r = memory_reader::open(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == std::errc::no_such_file_or_directory);
  }
  SUBCASE("the cgroup directory is removed after open") {
    auto r = open_at(t);
    REQUIRE(limit_of(r.snapshot()) == 256 * MiB);
    // Kept fds still read the old (unlinked) files on a regular file system;
    // on cgroupfs the read fails with ENODEV. Either way: no crash, and a
    // new reader sees the directory gone.
    t.remove("sys/fs/cgroup/svc");
    (void)r.snapshot();
    auto again = open_at(t);
    const auto s = again.snapshot();
    CHECK(!s.usage_at);
    // Never the host's or the parent's numbers in its place.
    CHECK(s.limit.error().code == std::errc::no_such_file_or_directory);
    CHECK(s.headroom.error().code == std::errc::no_such_file_or_directory);
  }
}

TEST_CASE("HEADROOM_MEMORY_LIMIT replaces the detected limit") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  SUBCASE("a valid size") {
    scoped_env e(env_memory_limit, "512Mi");
    auto r = open_at(t);
    const auto s = r.snapshot();
    CHECK(limit_of(s) == 512 * MiB);
    CHECK(s.source == limit_source::environment);
    CHECK(r.limit_path(s) == "$HEADROOM_MEMORY_LIMIT");
    // Usage is the process's own memory cgroup (the container), not the
    // pod whose limit was replaced.
    CHECK(s.usage_at == chain_position{0});
    CHECK(*s.usage == 600 * MiB);
    CHECK(*s.effective_limit == 512 * MiB);
    CHECK(*s.headroom == 0);  // working set 580 MiB > 512 MiB
  }
  SUBCASE("a malformed size is an error, not the detected limit") {
    scoped_env e(env_memory_limit, "lots");
    const auto s = open_at(t).snapshot();
    REQUIRE_FALSE(s.limit.has_value());
    CHECK(s.limit.error().code == errc::malformed);
    CHECK(s.limit.error().path == "HEADROOM_MEMORY_LIMIT=lots");
    CHECK_FALSE(s.effective_limit.has_value());
    CHECK(*s.usage == 600 * MiB);
  }
  SUBCASE("ignored when the options say so") {
    scoped_env e(env_memory_limit, "512Mi");
    options o;
    o.root = t.root();
    o.use_environment = false;
    auto r = memory_reader::open(o);
    REQUIRE(r);
    CHECK(limit_of(r->snapshot()) == 1 * GiB);
  }
  SUBCASE("with detection off too: host-wide usage under the given limit") {
    scoped_env e(env_memory_limit, "2Gi");
    scoped_env d(env_detect, "off");
    auto r = open_at(t);
    CHECK(r.mode() == hierarchy_mode::none);
    const auto s = r.snapshot();
    CHECK(limit_of(s) == 2 * GiB);
    CHECK(!s.usage_at);
    CHECK(*s.working_set == 4 * GiB);  // MemTotal - MemAvailable
    CHECK(*s.effective_limit == 2 * GiB);
    CHECK(*s.headroom == 0);
  }
}

TEST_CASE("HEADROOM_DETECT=off: no cgroup is read") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  for (const char* off : {"off", "0", "false"}) {
    CAPTURE(off);
    scoped_env d(env_detect, off);
    auto r = open_at(t);
    CHECK(r.mode() == hierarchy_mode::none);
    CHECK(r.location().why_none.code == errc::disabled);
    const auto s = r.snapshot();
    check_no_limit(s);
    CHECK(*s.effective_limit == 16 * GiB);
  }
  scoped_env on(env_detect, "on");
  CHECK(open_at(t).mode() == hierarchy_mode::v2);
}

TEST_CASE("hostile trees: symlinks never lead a read outside the mount") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/app.slice/leaf\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  v2_dir root_dir;
  root_dir.max = std::to_string(300 * MiB);
  write_v2(t, "sys/fs/cgroup", root_dir);
  // Outside the mount: what a symlink would read.
  v2_dir outside;
  outside.max = "1";
  write_v2(t, "elsewhere/leaf", outside);
  t.file("secret", "12345\n");

  SUBCASE("a directory on the chain is a symlink: the mount point, reported") {
    std::filesystem::create_symlink(t.path("elsewhere"),
                                    t.path("sys/fs/cgroup/app.slice"));
    auto r = open_at(t);
    CHECK(r.location().mapping == path_mapping::unsafe_path);
    CHECK(is_fallback(r.location().mapping));
    CHECK(r.location().chain == std::vector<std::string>{"/sys/fs/cgroup"});
    CHECK(limit_of(r.snapshot()) == 300 * MiB);  // never the 1 byte outside
  }
  SUBCASE("a file is a symlink: an error for that value, not its target") {
    v2_dir leaf;
    leaf.max = std::to_string(200 * MiB);
    write_v2(t, "sys/fs/cgroup/app.slice/leaf", leaf);
    write_v2(t, "sys/fs/cgroup/app.slice", v2_dir{});
    t.remove("sys/fs/cgroup/app.slice/leaf/memory.max");
    std::filesystem::create_symlink(
        t.path("secret"), t.path("sys/fs/cgroup/app.slice/leaf/memory.max"));
    auto r = open_at(t);
    const auto s = r.snapshot();
    REQUIRE_FALSE(s.limit.has_value());
    CHECK(s.limit.error().code == std::errc::too_many_symbolic_link_levels);
    CHECK(*s.usage == 100 * MiB);  // the rest still works
  }
}

TEST_CASE("cpu and io PSI: the own cgroup2 directory's, else host-wide") {
  SUBCASE("v2: the container's scope, as memory.pressure") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    const auto r = open_at(t);
    const auto rep = r.report();
    const std::string dir = r.location().unified_dir;
    CHECK(dir == std::string("/sys/fs/cgroup") + k8s_pod + k8s_container);
    CHECK(rep.cpu_pressure_from == pressure_scope::cgroup);
    CHECK(rep.cpu_pressure.path == dir + "/cpu.pressure");
    REQUIRE(rep.cpu_pressure.value);
    CHECK(rep.cpu_pressure.value->some.avg10 == doctest::Approx(1.50));
    CHECK(rep.cpu_pressure.value->some.total_us == 2500000);
    REQUIRE(rep.cpu_pressure.value->full);
    CHECK(rep.cpu_pressure.value->full->total_us == 400000);
    CHECK(rep.io_pressure_from == pressure_scope::cgroup);
    CHECK(rep.io_pressure.path == dir + "/io.pressure");
    REQUIRE(rep.io_pressure.value);
    CHECK(rep.io_pressure.value->some.total_us == 7000000);
    CHECK(rep.io_pressure.value->full->avg300 == doctest::Approx(0.75));
  }
  SUBCASE("v1 without a cgroup2 mount: /proc/pressure, host-wide") {
    fixture_tree t;
    layout_docker_v1(t);
    const auto rep = open_at(t).report();
    CHECK(rep.cpu_pressure_from == pressure_scope::host);
    CHECK(rep.cpu_pressure.path == "/proc/pressure/cpu");
    REQUIRE(rep.cpu_pressure.value);
    CHECK(rep.cpu_pressure.value->some.total_us == 3000);
    CHECK(rep.io_pressure_from == pressure_scope::host);
    CHECK(rep.io_pressure.path == "/proc/pressure/io");
    REQUIRE(rep.io_pressure.value);
    CHECK(rep.io_pressure.value->full->total_us == 1500);
  }
  SUBCASE("a cgroup file missing: that resource alone falls back") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    const std::string ctr =
        std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
    t.remove(ctr + "/io.pressure");
    const auto rep = open_at(t).report();
    CHECK(rep.cpu_pressure_from == pressure_scope::cgroup);
    CHECK(rep.io_pressure_from == pressure_scope::host);
    CHECK(rep.io_pressure.path == "/proc/pressure/io");
    CHECK(rep.io_pressure.value);
  }
  SUBCASE("no PSI anywhere: the cgroup's ENOENT stands, never a number") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    const std::string ctr =
        std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
    t.remove(ctr + "/cpu.pressure");
    t.remove("proc/pressure/cpu");
    const auto rep = open_at(t).report();
    REQUIRE_FALSE(rep.cpu_pressure.value);
    CHECK(is_missing(rep.cpu_pressure.value.error()));
    CHECK(rep.cpu_pressure.path == "/" + ctr + "/cpu.pressure");
    CHECK(rep.io_pressure.value);  // io is still there
  }
  SUBCASE("garbage, and no host file: malformed, never a number") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    const std::string ctr =
        std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
    t.file(ctr + "/cpu.pressure", "some avg10=1.0 total=x\n");
    t.remove("proc/pressure/cpu");
    const auto rep = open_at(t).report();
    REQUIRE_FALSE(rep.cpu_pressure.value);
    CHECK(rep.cpu_pressure.value.error().code == errc::malformed);
  }
}

#include "../support/psi_layouts.hpp"

TEST_CASE("PSI of every resource on every psi_layouts row: scope and file") {
  for (const psi_row& row : psi_rows()) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    fixture_tree t;
    row.build(t);
    const auto rep = open_at(t).report();
    const struct {
      const char* name;
      const reading<psi_stats>& got;
      pressure_scope scope;
      const psi_expect& want;
    } resources[] = {
        {"memory", rep.pressure, rep.pressure_from, row.memory},
        {"cpu", rep.cpu_pressure, rep.cpu_pressure_from, row.cpu},
        {"io", rep.io_pressure, rep.io_pressure_from, row.io},
    };
    for (const auto& r : resources) {
      CAPTURE(r.name);
      CHECK(r.got.path == r.want.path);
      if (r.want.scope.empty()) {
        REQUIRE_FALSE(r.got.value);
        CHECK(is_missing(r.got.value.error()));
        continue;
      }
      REQUIRE_MESSAGE(r.got.value, r.got.value.error().message());
      CHECK(to_string(r.scope) == r.want.scope);
      CHECK(r.got.value->full.has_value() == r.want.full);
    }
  }
}
