// SPDX-License-Identifier: MIT
// Table tests of the CPU parsers (cpu.max, cpu.cfs_quota_us,
// cpu.cfs_period_us, CPU lists, /proc/<pid>/status), the effective count
// from its witnesses, and locate().
#include <headroom/cpu.hpp>
#include "../support/doctest.hpp"

#include <cstdint>
#include <optional>
#include <string>

using namespace headroom;

TEST_CASE("parse_cpu_max") {
  const struct {
    const char* name;
    const char* text;
    bool ok;
    std::optional<std::uint64_t> quota;  // nullopt with ok: "max"
    std::uint64_t period;
  } cases[] = {
      {"default: unlimited", "max 100000\n", true, std::nullopt, 100000},
      {"half a CPU", "50000 100000\n", true, 50000, 100000},
      {"one and a half", "150000 100000\n", true, 150000, 100000},
      {"no newline", "200000 100000", true, 200000, 100000},
      {"other period", "300000 200000\n", true, 300000, 200000},
      {"max alone (written, never read back)", "max\n", false, {}, 0},
      {"empty", "", false, {}, 0},
      {"newline only", "\n", false, {}, 0},
      {"zero period", "50000 0\n", false, {}, 0},
      {"zero quota", "0 100000\n", false, {}, 0},
      {"negative quota", "-1 100000\n", false, {}, 0},
      {"two spaces", "50000  100000\n", false, {}, 0},
      {"tab", "50000\t100000\n", false, {}, 0},
      {"three fields", "50000 100000 1\n", false, {}, 0},
      {"Max capitalised", "Max 100000\n", false, {}, 0},
      {"period overflow", "1 18446744073709551616\n", false, {}, 0},
      {"two lines", "50000 100000\n50000 100000\n", false, {}, 0},
      {"garbage", "lots\n", false, {}, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = parse_cpu_max(c.text);
    REQUIRE(r.has_value() == c.ok);
    // The same file as the setting cAdvisor reports: the period too for
    // "max".
    auto b = parse_cpu_max_bandwidth(c.text);
    REQUIRE(b.has_value() == c.ok);
    if (c.ok) {
      CHECK(b->quota_us == c.quota);
      CHECK(b->period_us == c.period);
    }
    if (!c.ok) {
      CHECK(r.error().code == errc::malformed);
      continue;
    }
    REQUIRE(r->has_value() == c.quota.has_value());
    if (c.quota) {
      CHECK((*r)->quota_us == *c.quota);
      CHECK((*r)->period_us == c.period);
    }
  }
}

TEST_CASE("parse_cfs_quota and parse_cfs_period") {
  const struct {
    const char* text;
    bool ok;
    std::optional<std::uint64_t> value;
  } quotas[] = {
      {"-1\n", true, std::nullopt},
      {"150000\n", true, 150000},
      {"1000", true, 1000},
      {"0\n", false, {}},
      {"-2\n", false, {}},
      {"-1 \n", false, {}},
      {" 150000\n", false, {}},
      {"", false, {}},
      {"max\n", false, {}},
      {"1.5\n", false, {}},
      {"99999999999999999999\n", false, {}},
  };
  for (const auto& c : quotas) {
    CAPTURE(c.text);
    auto r = parse_cfs_quota(c.text);
    REQUIRE(r.has_value() == c.ok);
    if (c.ok) {
      CHECK(*r == c.value);
    } else {
      CHECK(r.error().code == errc::malformed);
    }
  }
  CHECK(*parse_cfs_period("100000\n") == 100000);
  CHECK(*parse_cfs_period("1000") == 1000);
  CHECK(parse_cfs_period("0\n").error().code == errc::malformed);
  CHECK(parse_cfs_period("-1\n").error().code == errc::malformed);
  CHECK(parse_cfs_period("\n").error().code == errc::malformed);
}

TEST_CASE("parse_cpu_list") {
  const struct {
    const char* text;
    bool ok;
    std::uint32_t count;
  } cases[] = {
      {"0-3,8,10-11\n", true, 7},
      {"0\n", true, 1},
      {"0-1\n", true, 2},
      {"0,2,4,6\n", true, 4},
      {"5-5\n", true, 1},
      {"0-8191\n", true, 8192},
      {"\n", true, 0},  // a v1 cpuset nobody configured yet
      {"", true, 0},
      {"3-1\n", false, 0},      // backwards range
      {"0-3,2-5\n", false, 0},  // overlap
      {"4,2\n", false, 0},      // descending
      {"1,1\n", false, 0},      // repeated
      {"0-3,\n", false, 0},     // trailing comma
      {",0\n", false, 0},       // leading comma
      {"0,,1\n", false, 0},     // empty item
      {"0-\n", false, 0},
      {"-3\n", false, 0},
      {"0 - 3\n", false, 0},
      {"0-3 \n", false, 0},
      {"0-7:2/4\n", false, 0},  // stride: accepted on write, never printed
      {"a-b\n", false, 0},
      {"0-1048576\n", false, 0},  // beyond any CPU number Linux has
      {"0-3\n4\n", false, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parse_cpu_list(c.text);
    REQUIRE(r.has_value() == c.ok);
    if (c.ok) {
      CHECK(*r == c.count);
    } else {
      CHECK(r.error().code == errc::malformed);
    }
  }
}

TEST_CASE("parse_status_cpus_allowed") {
  const std::string status =
      "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t42\n"
      "Cpus_allowed:\tff\nCpus_allowed_list:\t0-5,7\n"
      "Mems_allowed:\t1\nMems_allowed_list:\t0\n";
  CHECK(*parse_status_cpus_allowed(status) == 7);
  CHECK(parse_status_cpus_allowed("Name:\tcat\n").error().code ==
        errc::malformed);
  CHECK(parse_status_cpus_allowed("Cpus_allowed_list:\t\n").error().code ==
        errc::malformed);
  CHECK(parse_status_cpus_allowed("Cpus_allowed_list:\t0-x\n").error().code ==
        errc::malformed);
  CHECK(*parse_status_cpus_allowed("Cpus_allowed_list: 3\n") == 1);
}

TEST_CASE(
    "quota_cpu_count: up like the JDK and .NET, down like automaxprocs, never "
    "0") {
  const struct {
    std::uint64_t quota;
    std::uint64_t period;
    std::uint32_t up;
    std::uint32_t down;
  } cases[] = {
      {150000, 100000, 2, 1}, {100000, 100000, 1, 1},
      {50000, 100000, 1, 1},  {1000, 100000, 1, 1},
      {250000, 100000, 3, 2}, {400000, 100000, 4, 4},
      {300000, 200000, 2, 1}, {UINT64_MAX, 1, UINT32_MAX, UINT32_MAX},
  };
  for (const auto& c : cases) {
    CAPTURE(c.quota);
    CAPTURE(c.period);
    const cpu_quota q{c.quota, c.period};
    CHECK(quota_cpu_count(q, cpu_rounding::up) == c.up);
    CHECK(quota_cpu_count(q, cpu_rounding::down) == c.down);
  }
  CHECK(cpu_quota{150000, 100000}.cpus() == doctest::Approx(1.5));
}

TEST_CASE("quotas with different periods compare exactly") {
  using detail::no_more_cpu;
  CHECK(no_more_cpu({300000, 200000}, {200000, 100000}));  // 1.5 <= 2
  CHECK_FALSE(no_more_cpu({200000, 100000}, {300000, 200000}));
  CHECK(no_more_cpu({150000, 100000}, {300000, 200000}));  // equal
  CHECK(no_more_cpu({300000, 200000}, {150000, 100000}));
  // Products beyond 64 bits: (2^63 + 1) / 2^62 is just above 2.
  const std::uint64_t big = (std::uint64_t{1} << 63) + 1;
  CHECK(no_more_cpu({2, 1}, {big, std::uint64_t{1} << 62}));
  CHECK_FALSE(no_more_cpu({big, std::uint64_t{1} << 62}, {2, 1}));
}

TEST_CASE(
    "effective_cpu_count: the minimum of the witnesses; an unreadable one "
    "makes it unknown") {
  using q = std::optional<cpu_quota>;
  using c = std::optional<std::uint32_t>;
  const result<std::uint32_t> aff8 = 8u;
  CHECK(*effective_cpu_count(aff8, q{}, c{}, cpu_rounding::up) == 8);
  CHECK(*effective_cpu_count(aff8, q{{150000, 100000}}, c{},
                             cpu_rounding::up) == 2);
  CHECK(*effective_cpu_count(aff8, q{{150000, 100000}}, c{},
                             cpu_rounding::down) == 1);
  CHECK(*effective_cpu_count(aff8, q{{950000, 100000}}, c{4u},
                             cpu_rounding::up) == 4);
  CHECK(*effective_cpu_count(aff8, q{}, c{3u}, cpu_rounding::down) == 3);
  CHECK(*effective_cpu_count(2u, q{{400000, 100000}}, c{},
                             cpu_rounding::down) == 2);
  CHECK(*effective_cpu_count(aff8, q{{10000, 100000}}, c{},
                             cpu_rounding::down) == 1);

  const error bad{make_error_code(errc::malformed), "/x/cpu.max"};
  const auto e1 =
      effective_cpu_count(aff8, result<q>(bad), c{}, cpu_rounding::up);
  REQUIRE_FALSE(e1);
  CHECK(e1.error().path == "/x/cpu.max");
  CHECK_FALSE(effective_cpu_count(result<std::uint32_t>(bad), q{}, c{},
                                  cpu_rounding::up));
  CHECK_FALSE(effective_cpu_count(aff8, q{}, result<c>(bad), cpu_rounding::up));
}

namespace {

const char* const mi_v1_cpu_cpuacct =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup "
    "rw,memory\n";

const char* const mi_v1_separate =  // cpu and cpuacct mounted apart
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup "
    "rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

const char* const mi_v2 =
    "26 23 0:23 / /sys/fs/cgroup rw,relatime shared:4 - cgroup2 cgroup2 rw\n";

}  // namespace

TEST_CASE("locate(): cpu and cpuset on v1, v2 and hybrid layouts") {
  const struct {
    const char* name;
    const char* cgroup;
    const char* mountinfo;
    const char* controller;
    hierarchy_mode version;
    const char* dir;
    std::size_t chain;
    errc why;  // for none
  } cases[] = {
      {"v1 cpu co-mounted with cpuacct",
       "11:cpu,cpuacct:/system.slice/a.service\n4:memory:/x\n0::/\n",
       mi_v1_cpu_cpuacct,
       "cpu",
       hierarchy_mode::v1,
       "/sys/fs/cgroup/cpu,cpuacct/system.slice/a.service",
       3,
       {}},
      {"cpuacct alone is not cpu", "11:cpuacct:/a\n0::/\n",
       "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n",
       "cpu", hierarchy_mode::none, "", 0, errc::no_cgroup},
      {"cpu mounted apart from cpuacct (this host's layout)",
       "3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n",
       mi_v1_separate,
       "cpu",
       hierarchy_mode::v1,
       "/sys/fs/cgroup/cpu",
       1,
       {}},
      {"v1 cpuset",
       "3:cpuset:/docker/abc\n0::/\n",
       mi_v1_cpu_cpuacct,
       "cpuset",
       hierarchy_mode::v1,
       "/sys/fs/cgroup/cpuset/docker/abc",
       3,
       {}},
      {"cpuset is not cpu", "3:cpuset:/a\n0::/\n",
       "33 31 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n",
       "cpu", hierarchy_mode::none, "", 0, errc::no_cgroup},
      {"v2",
       "0::/kubepods.slice/pod.slice/c.scope\n",
       mi_v2,
       "cpu",
       hierarchy_mode::v2,
       "/sys/fs/cgroup/kubepods.slice/pod.slice/c.scope",
       4,
       {}},
      {"hybrid: cpu on v1, not the unified mount",
       "1:cpu:/a\n0::/a\n",
       mi_v1_separate,
       "cpu",
       hierarchy_mode::v1,
       "/sys/fs/cgroup/cpu/a",
       2,
       {}},
      {"hybrid: cpuset not mounted on v1 is not on cgroup2 either",
       "3:cpuset:/a\n1:cpu:/a\n0::/a\n", mi_v1_separate, "cpuset",
       hierarchy_mode::none, "", 0, errc::controller_absent},
      {"no cgroup lines", "", mi_v2, "cpu", hierarchy_mode::none, "", 0,
       errc::no_cgroup},
      {"Docker v1 with the host's namespace: the mount root is stripped",
       "11:cpu,cpuacct:/docker/0123abcd\n",
       "1291 1282 0:30 /docker/0123abcd /sys/fs/cgroup/cpu,cpuacct ro - cgroup "
       "cgroup "
       "rw,cpu,cpuacct\n",
       "cpu",
       hierarchy_mode::v1,
       "/sys/fs/cgroup/cpu,cpuacct",
       1,
       {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto loc = locate(c.cgroup, c.mountinfo, c.controller);
    REQUIRE(loc);
    // cpu on v1 next to a cgroup2 mount is hybrid; the cases say v1.
    CHECK((is_v1(loc->mode) ? hierarchy_mode::v1 : loc->mode) == c.version);
    if (c.version == hierarchy_mode::none) {
      CHECK(loc->why_none.code == c.why);
      continue;
    }
    CHECK(loc->dir == c.dir);
    CHECK(loc->chain.size() == c.chain);
    CHECK(loc->chain.back() == loc->mount.mount_point);
  }
  CHECK(locate("garbage\n", mi_v2, "cpu").error().code == errc::malformed);
  CHECK(locate("0::/\n", "garbage\n", "cpu").error().code == errc::malformed);
}
