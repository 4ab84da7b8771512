// SPDX-License-Identifier: MIT
// cpu_reader on fixture trees, read through the root prefix as a captured
// tree is replayed: quotas on a parent slice (v2), cpu,cpuacct co-mounted
// (v1), nested quotas with different periods, cpusets narrower than the
// affinity, no cpu controller at all, and garbage in every file.
#include <headroom/cpu.hpp>
#include "../support/doctest.hpp"

#include <sched.h>
#include <stdlib.h>

#include <string>

#include "../support/cpu_layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

cpu_reader open_at(const fixture_tree& t) {
  options o;
  o.root = t.root();
  auto r = cpu_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return std::move(*r);
}

std::uint32_t up(const cpu_snapshot& s) {
  auto n = s.effective(cpu_rounding::up);
  REQUIRE_MESSAGE(n.has_value(), n.error().message());
  return *n;
}

std::uint32_t down(const cpu_snapshot& s) {
  auto n = s.effective(cpu_rounding::down);
  REQUIRE_MESSAGE(n.has_value(), n.error().message());
  return *n;
}

const cpu_quota& quota_of(const cpu_snapshot& s) {
  REQUIRE_MESSAGE(s.quota.has_value(), s.quota.error().message());
  REQUIRE(s.quota->has_value());
  return **s.quota;
}

}  // namespace

TEST_CASE(
    "Kubernetes v2: the quota sits on the pod slice, the container scope says "
    "max") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  auto r = open_at(t);
  const std::string pod = std::string("/sys/fs/cgroup") + k8s_pod;
  const std::string ctr = pod + k8s_container;
  CHECK(r.cpu_location().mode == hierarchy_mode::v2);
  CHECK(r.cpu_location().dir == ctr);
  CHECK(r.cpuset_location().mode == hierarchy_mode::v2);

  const auto s = r.snapshot();
  CHECK(s.affinity_from == affinity_source::proc_status);
  CHECK(*s.affinity == 8);
  CHECK(quota_of(s).quota_us == 150000);
  CHECK(quota_of(s).period_us == 100000);
  CHECK(quota_of(s).cpus() == doctest::Approx(1.5));
  CHECK(r.quota_cgroup(s) == pod);
  CHECK(r.quota_path(s) == pod + "/cpu.max");
  REQUIRE(s.cpuset);
  CHECK(*s.cpuset == std::optional<std::uint32_t>{4});
  CHECK(r.cpuset_path(s) == ctr + "/cpuset.cpus.effective");
  CHECK(up(s) == 2);
  CHECK(down(s) == 1);

  // An in-place resize is seen by the same reader.
  t.file(ctr.substr(1) + "/cpu.max", "50000 100000\n");
  const auto after = r.snapshot();
  CHECK(quota_of(after).quota_us == 50000);
  CHECK(r.quota_cgroup(after) == ctr);
  CHECK(up(after) == 1);
  CHECK(down(after) == 1);
}

TEST_CASE("v2: a leaf without the cpu controller reads its parent's cpu.max") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const std::string ctr =
      std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
  t.remove(ctr + "/cpu.max");
  t.remove(ctr + "/cpuset.cpus.effective");
  t.file(ctr + "/cgroup.controllers", "memory pids\n");
  auto r = open_at(t);
  const auto s = r.snapshot();
  CHECK(quota_of(s).quota_us == 150000);
  CHECK(r.quota_cgroup(s) == std::string("/sys/fs/cgroup") + k8s_pod);
  // The nearest cpuset.cpus.effective up the chain: the root's.
  CHECK(*s.cpuset == std::optional<std::uint32_t>{8});
  CHECK(r.cpuset_path(s) == "/sys/fs/cgroup/cpuset.cpus.effective");
  CHECK(up(s) == 2);
}

TEST_CASE("v1: cpu,cpuacct co-mounted at the container's cgroup (Docker)") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  auto r = open_at(t);
  CHECK(is_v1(r.cpu_location().mode));
  CHECK(r.cpu_location().dir == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(r.cpu_location().mapping == path_mapping::below_mount_root);
  const auto s = r.snapshot();
  CHECK(quota_of(s).cpus() == doctest::Approx(2.5));
  CHECK(r.quota_path(s) == "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us");
  // No cpuset hierarchy is mounted in this container.
  CHECK(r.cpuset_location().mode == hierarchy_mode::none);
  REQUIRE(s.cpuset);
  CHECK_FALSE(s.cpuset->has_value());
  CHECK(*s.affinity == 16);
  CHECK(up(s) == 3);
  CHECK(down(s) == 2);
}

TEST_CASE("v1: nested quotas with different periods, the tightest wins") {
  fixture_tree t;
  layout_v1_host_cpu(t);
  // 300000/200000 = 1.5 on the slice, 200000/100000 = 2 on the service.
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct/system.slice", "300000", "200000");
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service",
               "200000");
  auto r = open_at(t);
  CHECK(r.cpu_location().chain.size() == 3);
  auto s = r.snapshot();
  CHECK(quota_of(s).quota_us == 300000);
  CHECK(quota_of(s).period_us == 200000);
  CHECK(r.quota_cgroup(s) == "/sys/fs/cgroup/cpu,cpuacct/system.slice");
  CHECK(up(s) == 2);
  CHECK(down(s) == 1);

  // Half a CPU: rounded either way, never below one.
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service",
               "50000");
  s = r.snapshot();
  CHECK(quota_of(s).cpus() == doctest::Approx(0.5));
  CHECK(r.quota_cgroup(s) ==
        "/sys/fs/cgroup/cpu,cpuacct/system.slice/app.service");
  CHECK(up(s) == 1);
  CHECK(down(s) == 1);
}

TEST_CASE("v1: no quota anywhere (-1): the affinity and the cpuset decide") {
  fixture_tree t;
  layout_v1_host_cpu(t);
  auto r = open_at(t);
  const auto s = r.snapshot();
  REQUIRE(s.quota);
  CHECK_FALSE(s.quota->has_value());
  CHECK(r.quota_path(s).empty());
  CHECK(*s.cpuset == std::optional<std::uint32_t>{16});
  CHECK(r.cpuset_path(s) ==
        "/sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.effective_cpus");
  CHECK(up(s) == 16);
  CHECK(down(s) == 16);
}

TEST_CASE("a cpuset narrower than the affinity") {
  SUBCASE("v1 cpuset.effective_cpus") {
    fixture_tree t;
    layout_v1_host_cpu(t);
    t.file(
        "sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.effective_cpus",
        "2-3,6\n");
    auto r = open_at(t);
    const auto s = r.snapshot();
    CHECK(*s.cpuset == std::optional<std::uint32_t>{3});
    CHECK(*s.affinity == 16);
    CHECK(up(s) == 3);
  }
  SUBCASE("v1 on a kernel without effective_cpus: cpuset.cpus") {
    fixture_tree t;
    layout_v1_host_cpu(t);
    t.remove(
        "sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.effective_cpus");
    t.file("sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.cpus",
           "4-5\n");
    auto r = open_at(t);
    const auto s = r.snapshot();
    CHECK(*s.cpuset == std::optional<std::uint32_t>{2});
    CHECK(r.cpuset_path(s) ==
          "/sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.cpus");
    CHECK(down(s) == 2);
  }
  SUBCASE("v2, with a quota that would allow more") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const std::string ctr =
        std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
    t.file(ctr + "/cpuset.cpus.effective", "3\n");
    write_v2_cpu(t, std::string("sys/fs/cgroup") + k8s_pod, "400000 100000");
    auto r = open_at(t);
    const auto s = r.snapshot();
    CHECK(*s.cpuset == std::optional<std::uint32_t>{1});
    CHECK(up(s) == 1);
    CHECK(down(s) == 1);
  }
}

TEST_CASE("no cpu controller: the affinity alone") {
  SUBCASE("v1 host with only the memory hierarchy mounted") {
    fixture_tree t;
    layout_docker_v1(t);  // mounts cpu,cpuacct: replace the mountinfo
    t.file("proc/self/mountinfo",
           std::string(mi_base) +
               "1290 1282 0:29 /docker/0123abcd /sys/fs/cgroup/memory ro - "
               "cgroup cgroup rw,memory\n");
    write_affinity(t, "0-3");
    auto r = open_at(t);
    CHECK(r.cpu_location().mode == hierarchy_mode::none);
    CHECK(r.cpu_location().why_none.code == errc::controller_absent);
    const auto s = r.snapshot();
    REQUIRE(s.quota);
    CHECK_FALSE(s.quota->has_value());
    CHECK(up(s) == 4);
    CHECK(down(s) == 4);
  }
  SUBCASE("v2 without cpu and cpuset in cgroup.controllers") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
    for (const std::string& dir :
         {std::string("sys/fs/cgroup"),
          std::string("sys/fs/cgroup/kubepods.slice"),
          std::string("sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice"),
          pod, pod + k8s_container}) {
      t.file(dir + "/cgroup.controllers", "io memory pids\n");
    }
    auto r = open_at(t);
    CHECK(r.cpu_location().mode == hierarchy_mode::none);
    CHECK(r.cpu_location().why_none.code == errc::controller_absent);
    CHECK(r.cpuset_location().mode == hierarchy_mode::none);
    const auto s = r.snapshot();
    CHECK_FALSE(s.quota->has_value());
    CHECK_FALSE(s.cpuset->has_value());
    CHECK(up(s) == 8);
  }
  SUBCASE("no cgroup at all") {
    fixture_tree t;
    write_host(t);
    t.file("proc/self/mountinfo", mi_base);
    write_affinity(t, "0");
    auto r = open_at(t);
    CHECK(r.cpu_location().why_none.code == errc::no_cgroup);
    CHECK(up(r.snapshot()) == 1);
  }
}

TEST_CASE("garbage files: errors that name the file, never a made-up count") {
  const struct {
    const char* name;
    std::string file;
    std::string content;
    std::string field;  // which witness fails: quota, cpuset, affinity
  } cases[] = {
      {"cpu.max words", "/cpu.max", "lots\n", "quota"},
      {"cpu.max zero period", "/cpu.max", "100000 0\n", "quota"},
      {"cpu.max huge", "/cpu.max", std::string(200, '9') + " 100000\n",
       "quota"},
      {"cpuset backwards", "/cpuset.cpus.effective", "3-1\n", "cpuset"},
      {"cpuset empty", "/cpuset.cpus.effective", "\n", "cpuset"},
      {"cpuset binary", "/cpuset.cpus.effective", std::string("\0\1\2", 3),
       "cpuset"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const std::string ctr =
        std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
    t.file(ctr + c.file, c.content);
    auto r = open_at(t);
    const auto s = r.snapshot();
    const error* e = nullptr;
    if (c.field == "quota") {
      REQUIRE_FALSE(s.quota.has_value());
      e = &s.quota.error();
    } else {
      REQUIRE_FALSE(s.cpuset.has_value());
      e = &s.cpuset.error();
    }
    CHECK(e->code == errc::malformed);
    CHECK(e->path == t.root() + "/" + ctr + c.file);
    const auto n = s.effective(cpu_rounding::up);
    REQUIRE_FALSE(n.has_value());
    CHECK(n.error().path == e->path);
    CHECK(*s.affinity == 8);  // the other witnesses are still there
  }

  SUBCASE("v1 quota and period") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "0\n");
    auto r = open_at(t);
    auto s = r.snapshot();
    REQUIRE_FALSE(s.quota);
    CHECK(s.quota.error().path ==
          t.root() + "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us");
    t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-7\n");
    s = r.snapshot();
    REQUIRE_FALSE(s.quota);
    CHECK(s.quota.error().path ==
          t.root() + "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us");
  }
  SUBCASE("status without Cpus_allowed_list, and missing") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    t.file("proc/self/status", "Name:\tx\n");
    auto s = open_at(t).snapshot();
    REQUIRE_FALSE(s.affinity);
    CHECK(s.affinity.error().code == errc::malformed);
    CHECK(s.affinity.error().path == t.root() + "/proc/self/status");
    t.remove("proc/self/status");
    s = open_at(t).snapshot();
    CHECK(s.affinity.error().code == std::errc::no_such_file_or_directory);
    CHECK_FALSE(s.effective(cpu_rounding::down));
  }
  SUBCASE("a cpu.max that is a directory: the read fails, with its path") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const std::string ctr =
        std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
    t.remove(ctr + "/cpu.max").dir(ctr + "/cpu.max");
    auto s = open_at(t).snapshot();
    REQUIRE_FALSE(s.quota);
    CHECK(s.quota.error().code == std::errc::is_a_directory);
  }
}

TEST_CASE("the live process: affinity from sched_getaffinity") {
  auto r = cpu_reader::open();
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  const auto s = r->snapshot();
  CHECK(s.affinity_from == affinity_source::sched_getaffinity);
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(::sched_getaffinity(0, sizeof set, &set) == 0);
  REQUIRE(s.affinity);
  CHECK(*s.affinity == static_cast<std::uint32_t>(CPU_COUNT(&set)));
  const auto n = s.effective(cpu_rounding::up);
  REQUIRE_MESSAGE(n.has_value(), n.error().message());
  CHECK(*n >= 1);
  CHECK(*n <= *s.affinity);
}

TEST_CASE(
    "HEADROOM_DETECT=off: no cgroup is looked for, the affinity is still "
    "read") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  REQUIRE(::setenv("HEADROOM_DETECT", "off", 1) == 0);
  options o;
  o.root = t.root();
  auto off = cpu_reader::open(o);
  o.use_environment = false;
  auto ignored = cpu_reader::open(o);
  ::unsetenv("HEADROOM_DETECT");
  REQUIRE(off);
  CHECK(off->cpu_location().mode == hierarchy_mode::none);
  CHECK(off->cpu_location().why_none.code == errc::disabled);
  CHECK(off->cpu_location().why_none.path == "HEADROOM_DETECT=off");
  const auto s = off->snapshot();
  CHECK_FALSE(s.quota->has_value());
  CHECK(up(s) == 8);
  REQUIRE(ignored);
  CHECK(ignored->cpu_location().mode == hierarchy_mode::v2);
  CHECK(up(ignored->snapshot()) == 2);
}

TEST_CASE("cpu: the mapping and the search are the memory reader's") {
  fixture_tree t;
  write_host(t);
  write_affinity(t, "0-7");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "50 31 0:32 / /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
             "51 31 0:33 /docker/other /sys/fs/cgroup/cpu,cpuacct ro - cgroup "
             "cgroup rw,cpu,cpuacct\n");
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct", "50000");  // another container's
  SUBCASE("a quota of a cgroup that is not the process's is never its own") {
    t.file("proc/self/cgroup",
           "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n");
    t.file("sys/fs/cgroup/cpu,cpuacct/cgroup.procs", "1\n");
    const auto r = open_at(t);
    CHECK(r.cpu_location().mapping == path_mapping::not_under_mount_root);
    CHECK(r.cpu_location().dir.empty());
    const auto s = r.snapshot();
    REQUIRE_FALSE(s.quota);
    CHECK(s.quota.error().code == errc::not_visible);
    CHECK_FALSE(s.effective(cpu_rounding::up));
  }
  SUBCASE("found by pid below the mount") {
    t.file("proc/self/cgroup",
           "4:memory:/docker/abc\n3:cpu,cpuacct:/elsewhere/x\n0::/\n");
    t.file("sys/fs/cgroup/cpu,cpuacct/cgroup.procs", "1\n");
    write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct/x", "150000");
    t.file("sys/fs/cgroup/cpu,cpuacct/x/cgroup.procs", "4242\n");
    const auto r = open_at(t);
    CHECK(r.cpu_location().mapping == path_mapping::found_by_pid);
    CHECK(r.cpu_location().dir == "/sys/fs/cgroup/cpu,cpuacct/x");
    const auto s = r.snapshot();
    REQUIRE(s.quota);
    REQUIRE(s.quota->has_value());
    CHECK((*s.quota)->quota_us == 50000);  // the tighter one, an ancestor's
    CHECK(r.quota_cgroup(s) == "/sys/fs/cgroup/cpu,cpuacct");
  }
}

TEST_CASE("cpu.stat throttling: each version's keys and unit") {
  const auto v2 = parse_cpu_throttling(
      "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 50\n"
      "nr_throttled 7\nthrottled_usec 1234567\nnr_bursts 0\nburst_usec 0\n",
      detail::v2::layout.cpu);
  REQUIRE(v2);
  REQUIRE(v2->has_value());
  CHECK((*v2)->periods == 50);
  CHECK((*v2)->throttled_periods == 7);
  CHECK((*v2)->throttled_us == 1234567);
  // v1 throttled_time is in nanoseconds.
  const auto v1 = parse_cpu_throttling(
      "nr_periods 21\nnr_throttled 21\nthrottled_time 1690417920\n",
      detail::v1::layout.cpu);
  REQUIRE(v1);
  REQUIRE(v1->has_value());
  CHECK((*v1)->throttled_us == 1690417);
  // v2 without the cpu controller: no counters, not an error.
  const auto none = parse_cpu_throttling(
      "usage_usec 100\nuser_usec 60\nsystem_usec 40\n", detail::v2::layout.cpu);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  // Some counters without the others, or garbage: malformed.
  CHECK_FALSE(parse_cpu_throttling("nr_periods 1\n", detail::v2::layout.cpu));
  CHECK_FALSE(parse_cpu_throttling("nr_periods x\n", detail::v2::layout.cpu));
  // v1's key is not v2's.
  CHECK_FALSE(
      parse_cpu_throttling("nr_periods 1\nnr_throttled 1\nthrottled_usec 5\n",
                           detail::v1::layout.cpu));
}

TEST_CASE("cpu.stat throttling of the own cgroup from fixture trees") {
  SUBCASE("v2: the container's scope") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const std::string ctr =
        std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
    t.file(ctr + "/cpu.stat",
           "usage_usec 9\nnr_periods 300\nnr_throttled 40\n"
           "throttled_usec 2500000\n");
    const auto c = open_at(t);
    const auto s = c.snapshot();
    REQUIRE(s.throttling);
    REQUIRE(s.throttling->has_value());
    CHECK((*s.throttling)->periods == 300);
    CHECK((*s.throttling)->throttled_periods == 40);
    CHECK((*s.throttling)->throttled_us == 2500000);
    CHECK(c.stat_path() == "/" + ctr + "/cpu.stat");
    // Rewritten in place: the next snapshot sees it.
    t.file(ctr + "/cpu.stat",
           "nr_periods 301\nnr_throttled 41\nthrottled_usec 2600000\n");
    CHECK((*c.snapshot().throttling)->throttled_periods == 41);
    // Garbage is an error, never a number.
    t.file(ctr + "/cpu.stat", "nr_periods 1\nnr_throttled\n");
    CHECK_FALSE(c.snapshot().throttling);
  }
  SUBCASE("v1: cpu,cpuacct co-mounted, throttled_time in ns") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    t.file("sys/fs/cgroup/cpu,cpuacct/cpu.stat",
           "nr_periods 10\nnr_throttled 3\nthrottled_time 4000000000\n");
    const auto s = open_at(t).snapshot();
    REQUIRE(s.throttling);
    REQUIRE(s.throttling->has_value());
    CHECK((*s.throttling)->throttled_us == 4000000);
  }
  SUBCASE("no cpu.stat: none, not an error") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    const auto s = open_at(t).snapshot();
    REQUIRE(s.throttling);
    CHECK_FALSE(s.throttling->has_value());
  }
}

TEST_CASE(
    "the own cpu cgroup's quota and period as written (cAdvisor's spec)") {
  SUBCASE("v2: the container says max, the pod slice holds the quota") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const auto c = open_at(t);
    const auto s = c.snapshot();
    REQUIRE(s.own_bandwidth);
    REQUIRE(s.own_bandwidth->has_value());
    CHECK_FALSE((*s.own_bandwidth)->quota_us.has_value());
    CHECK((*s.own_bandwidth)->period_us == 100000);
    CHECK(c.own_quota_path() ==
          std::string("/sys/fs/cgroup") + k8s_pod + k8s_container + "/cpu.max");
    // The tightest on the chain is still the pod's.
    REQUIRE(s.has_quota());
    CHECK((*s.quota)->quota_us == 150000);
  }
  SUBCASE("v1: the container's own quota, and its period with -1") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    auto s = open_at(t).snapshot();
    REQUIRE(s.own_bandwidth);
    REQUIRE(s.own_bandwidth->has_value());
    CHECK((*s.own_bandwidth)->quota_us == std::uint64_t{250000});
    CHECK((*s.own_bandwidth)->period_us == 100000);
    write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct", "-1", "50000");
    s = open_at(t).snapshot();
    REQUIRE(s.own_bandwidth);
    CHECK_FALSE((*s.own_bandwidth)->quota_us.has_value());
    CHECK((*s.own_bandwidth)->period_us == 50000);
    // A garbage period is an error even without a quota, never a number.
    t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "lots\n");
    s = open_at(t).snapshot();
    REQUIRE_FALSE(s.own_bandwidth);
    CHECK(s.own_bandwidth.error().code == errc::malformed);
  }
}
