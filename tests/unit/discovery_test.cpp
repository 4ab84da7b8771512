// SPDX-License-Identifier: MIT
// One discovery, two readers: memory_reader::open(d) and cpu_reader::open(d)
// see what open(opt) sees on v1, v2 and hybrid trees, without reading
// /proc/self/cgroup or mountinfo again; and the cases where there is no
// cgroup to find (detection off, no cgroup file, no mountinfo) end the same
// way both ways.
#include <headroom/cpu.hpp>
#include <headroom/memory.hpp>
#include "../support/doctest.hpp"

#include <filesystem>
#include <string>

#include "../support/cpu_layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

options at(const fixture_tree& t) {
  options o;
  o.root = t.root();
  o.use_environment = false;  // the test's environment is not the tree's
  return o;
}

void same_location(const cgroup_location& a, const cgroup_location& b) {
  CHECK(a.mode == b.mode);
  CHECK(a.why_none.code == b.why_none.code);
  CHECK(a.path == b.path);
  CHECK(a.mount.mount_point == b.mount.mount_point);
  CHECK(a.mapping == b.mapping);
  CHECK(a.dir == b.dir);
  CHECK(a.chain == b.chain);
  CHECK(a.unified_dir == b.unified_dir);
  CHECK(a.view == b.view);
}

template <class T>
void same_result(const result<T>& a, const result<T>& b) {
  REQUIRE(a.has_value() == b.has_value());
  if (a) {
    CHECK(*a == *b);
  } else {
    CHECK(a.error().code == b.error().code);
    CHECK(a.error().path == b.error().path);
  }
}

std::optional<std::size_t> index_of(const std::optional<chain_position>& p) {
  if (!p) return std::nullopt;
  return p->index;
}

void same_memory(const memory_reader& a, const memory_reader& b) {
  same_location(a.location(), b.location());
  CHECK(a.chain_size() == b.chain_size());
  const auto sa = a.snapshot();
  const auto sb = b.snapshot();
  CHECK(sa.mode == sb.mode);
  same_result(sa.limit, sb.limit);
  CHECK(sa.source == sb.source);
  CHECK(index_of(sa.limit_at) == index_of(sb.limit_at));
  CHECK(index_of(sa.usage_at) == index_of(sb.usage_at));
  same_result(sa.usage, sb.usage);
  same_result(sa.working_set, sb.working_set);
  same_result(sa.effective_limit, sb.effective_limit);
}

void same_cpu(const cpu_reader& a, const cpu_reader& b) {
  same_location(a.cpu_location(), b.cpu_location());
  same_location(a.cpuset_location(), b.cpuset_location());
  const auto sa = a.snapshot();
  const auto sb = b.snapshot();
  same_result(sa.affinity, sb.affinity);
  REQUIRE(sa.quota.has_value() == sb.quota.has_value());
  CHECK(sa.has_quota() == sb.has_quota());
  if (sa.has_quota() && sb.has_quota()) {
    CHECK((*sa.quota)->quota_us == (*sb.quota)->quota_us);
    CHECK((*sa.quota)->period_us == (*sb.quota)->period_us);
  }
  CHECK(a.quota_path(sa) == b.quota_path(sb));
  same_result(sa.cpuset, sb.cpuset);
  CHECK(a.cpuset_path(sa) == b.cpuset_path(sb));
}

// Opens both readers separately and from one discovery, and checks that
// they agree; then that the discovery's readers did not read the two files
// again (they are garbage by then). Returns the memory mode seen.
hierarchy_mode check_shared(fixture_tree& t) {
  const options o = at(t);
  auto mem = memory_reader::open(o);
  REQUIRE_MESSAGE(mem.has_value(), mem.error().message());
  auto cpu = cpu_reader::open(o);
  REQUIRE_MESSAGE(cpu.has_value(), cpu.error().message());

  const auto d = discovery::read(o);
  REQUIRE(d.texts().has_value());
  t.file("proc/self/mountinfo", "garbage\n");
  t.file("proc/self/cgroup", "garbage\n");
  auto shared_mem = memory_reader::open(d);
  REQUIRE_MESSAGE(shared_mem.has_value(), shared_mem.error().message());
  auto shared_cpu = cpu_reader::open(d);
  REQUIRE_MESSAGE(shared_cpu.has_value(), shared_cpu.error().message());
  same_memory(*mem, *shared_mem);
  same_cpu(*cpu, *shared_cpu);

  // Read now, the files are garbage: open(opt) reads them, open(d) did not.
  CHECK(memory_reader::open(o).error().code == errc::malformed);
  return shared_mem->mode();
}

// A hybrid host (layout_v1_host_cpu) with a 512 MiB memory limit and 2
// CPUs of quota on the service, cpuset 0-3, and the unified mount's root for
// PSI.
void layout_hybrid_cpu(fixture_tree& t) {
  layout_v1_host_cpu(t);
  v1_dir m;
  m.limit = std::to_string(512 * MiB);
  write_v1(t, "sys/fs/cgroup/memory/system.slice/app.service", m);
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct/system.slice/app.service",
               "200000");
  t.file("sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.cpus", "0-3\n");
  t.file("sys/fs/cgroup/cpuset/system.slice/app.service/cpuset.effective_cpus",
         "0-3\n");
  write_v2_root(t, "sys/fs/cgroup/unified");
}

}  // namespace

TEST_CASE("one discovery: v1 (Docker, cpu,cpuacct co-mounted)") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  CHECK(check_shared(t) == hierarchy_mode::v1);
}

TEST_CASE("one discovery: v2 (Kubernetes, quota on the pod slice)") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  CHECK(check_shared(t) == hierarchy_mode::v2);
}

TEST_CASE("one discovery: hybrid (memory and cpu on v1, PSI on cgroup2)") {
  fixture_tree t;
  layout_hybrid_cpu(t);
  CHECK(check_shared(t) == hierarchy_mode::hybrid);
}

TEST_CASE("one discovery: no cgroup file, detection off, no mountinfo") {
  SUBCASE("no /proc/self/cgroup: mode none for both, as open(opt)") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    std::filesystem::remove(t.path("proc/self/cgroup"));
    const auto d = discovery::read(at(t));
    auto mem = memory_reader::open(d);
    REQUIRE(mem.has_value());
    CHECK(mem->mode() == hierarchy_mode::none);
    CHECK(mem->location().why_none.code == errc::no_cgroup);
    auto cpu = cpu_reader::open(d);
    REQUIRE(cpu.has_value());
    CHECK(cpu->cpu_location().why_none.code == errc::no_cgroup);
    same_memory(*mem, memory_reader::open(at(t)).value());
  }
  SUBCASE("HEADROOM_DETECT=off: nothing is read, both readers say why") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    scoped_env off("HEADROOM_DETECT", "off");
    options o = at(t);
    o.use_environment = true;
    const auto d = discovery::read(o);
    REQUIRE(d.disabled());
    CHECK(d.texts().error().code == errc::disabled);
    auto mem = memory_reader::open(d);
    REQUIRE(mem.has_value());
    CHECK(mem->mode() == hierarchy_mode::none);
    CHECK(mem->location().why_none.code == errc::disabled);
    auto cpu = cpu_reader::open(d);
    REQUIRE(cpu.has_value());
    CHECK(cpu->cpu_location().why_none.code == errc::disabled);
    CHECK(cpu->cpuset_location().why_none.code == errc::disabled);
  }
  SUBCASE("no mountinfo: both readers fail with open(opt)'s error") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    std::filesystem::remove(t.path("proc/self/mountinfo"));
    const auto d = discovery::read(at(t));
    auto mem = memory_reader::open(d);
    auto cpu = cpu_reader::open(d);
    REQUIRE_FALSE(mem.has_value());
    REQUIRE_FALSE(cpu.has_value());
    const auto alone = memory_reader::open(at(t));
    REQUIRE_FALSE(alone.has_value());
    CHECK(mem.error().code == alone.error().code);
    CHECK(mem.error().path == alone.error().path);
    CHECK(cpu.error().code == alone.error().code);
  }
}
