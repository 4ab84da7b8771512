// SPDX-License-Identifier: MIT
// Live tests on a real kernel: child memory cgroups under this process's own
// memory cgroup, real limits, a forked child moved in that reads what the
// kernel enforces. Runs on this host's cgroup v1 (hybrid) and inside the
// test VM on cgroup v2 and hybrid. Needs root; otherwise it says why and
// exits 77 (skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include "../support/doctest.hpp"
#include "../support/skip.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "live_support.hpp"

using namespace headroom_live;
using headroom::limit_source;

using headroom_live::g_host;
using headroom_live::MiB;

namespace {

// The kernel's own view, read by the test without the library: v1's
// hierarchical_memory_limit of a directory.
std::uint64_t kernel_hierarchical_limit(const std::string& dir) {
  const std::string stat = read_file(dir + "/memory.stat");
  std::array<headroom::key_slot, 1> k{{{"hierarchical_memory_limit", {}}}};
  REQUIRE(headroom::parse_keyed(stat, k));
  REQUIRE(k[0].value.has_value());
  return *k[0].value;
}

}  // namespace

TEST_CASE("live: a limit on the leaf") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));

  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto r = must(child.ask(command::snapshot));
  CHECK(r.own_dir == leaf.dir());
  CHECK(r.limit_set == 1);
  CHECK(r.limit == 64 * MiB);
  CHECK(r.source == static_cast<int>(limit_source::chain));
  CHECK(std::string(r.limit_dir) == leaf.dir());
  CHECK(r.effective_limit == 64 * MiB);
  CHECK(r.usage_ok == 1);
  CHECK(r.working_set_ok == 1);
  CHECK(r.headroom == 64 * MiB - r.working_set);
  if (!g_host.v2()) CHECK(kernel_hierarchical_limit(leaf.dir()) == r.limit);
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "live: a limit on the parent over an unlimited child, enforced by the "
    "kernel") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& parent = add(dirs, base, "parent");
  REQUIRE(parent.set_limit(96 * MiB));
  auto& leaf = add(dirs, parent.dir(), "child");

  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto r = must(child.ask(command::snapshot));
  CHECK(r.own_dir == leaf.dir());
  CHECK(r.limit_set == 1);
  CHECK(r.limit == 96 * MiB);
  CHECK(std::string(r.limit_dir) == parent.dir());
  if (!g_host.v2()) CHECK(kernel_hierarchical_limit(leaf.dir()) == r.limit);

  // The number is the one the kernel enforces: allocating past it ends the
  // child (OOM kill), and not before it got close.
  std::uint64_t last_allocated = 0;
  std::uint64_t last_usage = 0;
  bool killed = false;
  for (int step = 0; step < 40; ++step) {
    const auto s = child.ask(command::allocate, 8 * MiB);
    if (!s) {
      killed = true;
      break;
    }
    last_allocated = s->allocated;
    last_usage = s->usage;
    CHECK(s->usage <= 96 * MiB);
  }
  REQUIRE_MESSAGE(killed, "the child allocated 320 MiB under a 96 MiB limit");
  const int status = child.wait_exit();
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  MESSAGE("killed after allocating " << last_allocated / MiB
                                     << " MiB, last usage read "
                                     << last_usage / MiB << " MiB");
  CHECK(last_allocated >= 96 * MiB - 24 * MiB);
}

TEST_CASE("live: three levels, the tightest in the middle") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& a = add(dirs, base, "a");
  REQUIRE(a.set_limit(256 * MiB));
  auto& b = add(dirs, a.dir(), "b");
  REQUIRE(b.set_limit(80 * MiB));
  auto& leaf = add(dirs, b.dir(), "c");
  REQUIRE(leaf.set_limit(160 * MiB));

  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto r = must(child.ask(command::snapshot));
  CHECK(r.limit == 80 * MiB);
  CHECK(std::string(r.limit_dir) == b.dir());
  if (!g_host.v2()) CHECK(kernel_hierarchical_limit(leaf.dir()) == r.limit);
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE("live: usage follows an allocation of known size") {
  // Tolerance: 4 MiB on 64 MiB. The kernel charges in per-CPU batches (64
  // pages each, 2 CPUs here) and adds page tables (128 KiB for 64 MiB).
  constexpr std::uint64_t size = 64 * MiB;
  constexpr std::uint64_t tolerance = 4 * MiB;
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(512 * MiB));

  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto before = must(child.ask(command::snapshot));
  const auto after = must(child.ask(command::allocate, size));
  REQUIRE(after.allocated == size);
  const auto grown = static_cast<std::int64_t>(after.usage - before.usage);
  const auto ws_grown =
      static_cast<std::int64_t>(after.working_set - before.working_set);
  MESSAGE("usage grew by " << grown << " bytes for " << size << " allocated");
  CHECK(std::llabs(grown - static_cast<std::int64_t>(size)) <=
        static_cast<std::int64_t>(tolerance));
  CHECK(std::llabs(ws_grown - static_cast<std::int64_t>(size)) <=
        static_cast<std::int64_t>(tolerance));
  CHECK(after.headroom + tolerance >= 512 * MiB - after.working_set);

  const auto freed = must(child.ask(command::free_all));
  const auto shrunk = static_cast<std::int64_t>(after.usage - freed.usage);
  CHECK(std::llabs(shrunk - static_cast<std::int64_t>(size)) <=
        static_cast<std::int64_t>(tolerance));
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE("live: a limit changed at runtime is seen by the same reader") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& parent = add(dirs, base, "parent");
  auto& leaf = add(dirs, parent.dir(), "leaf");
  REQUIRE(leaf.set_limit(128 * MiB));

  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  auto r = must(child.ask(command::snapshot));
  CHECK(r.limit == 128 * MiB);

  REQUIRE(leaf.set_limit(200 * MiB));  // raised, as docker update would
  r = must(child.ask(command::snapshot));
  CHECK(r.limit == 200 * MiB);
  CHECK(std::string(r.limit_dir) == leaf.dir());

  REQUIRE(parent.set_limit(100 * MiB));  // a tighter limit appears above
  r = must(child.ask(command::snapshot));
  CHECK(r.limit == 100 * MiB);
  CHECK(std::string(r.limit_dir) == parent.dir());

  REQUIRE(parent.set_limit("max"));  // and goes away
  r = must(child.ask(command::snapshot));
  CHECK(r.limit == 200 * MiB);
  CHECK(std::string(r.limit_dir) == leaf.dir());
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "live: the process moved to another cgroup; a new reader follows it") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& first = add(dirs, base, "first");
  REQUIRE(first.set_limit(64 * MiB));
  auto& second = add(dirs, base, "second");
  REQUIRE(second.set_limit(48 * MiB));

  child_process child;
  REQUIRE(first.move_in(child.pid()));
  auto r = must(child.ask(command::snapshot));
  CHECK(r.limit == 64 * MiB);
  REQUIRE(second.move_in(child.pid()));
  r = must(child.ask(command::reopen));
  CHECK(r.own_dir == second.dir());
  CHECK(r.limit == 48 * MiB);
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE("live: an OOM kill is counted in the limit cgroup") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(48 * MiB));

  child_process observer;
  REQUIRE(leaf.move_in(observer.pid()));
  const auto before = must(observer.ask(command::snapshot));
  REQUIRE(before.oom_kills_ok == 1);
  CHECK(before.oom_kills == 0);
  {
    child_process victim;
    REQUIRE(leaf.move_in(victim.pid()));
    bool killed = false;
    for (int i = 0; i < 20 && !killed; ++i)
      killed = !victim.ask(command::allocate, 8 * MiB);
    REQUIRE(killed);
    victim.wait_exit();
  }
  const auto after = must(observer.ask(command::snapshot));
  REQUIRE(after.oom_kills_ok == 1);
  CHECK(after.oom_kills == 1);
  if (g_host.v2()) CHECK(after.events_max > 0);
  observer.ask(command::quit);
  observer.wait_exit();
}

TEST_CASE("live: PSI some/full of the own cgroup can be read") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto r = must(child.ask(command::snapshot));
  REQUIRE_MESSAGE(r.pressure_ok == 1, r.pressure_path);
  if (g_host.v2()) {
    CHECK(std::string(r.pressure_path) == leaf.dir() + "/memory.pressure");
    CHECK(r.pressure_scope ==
          static_cast<int>(headroom::pressure_scope::cgroup));
  } else {
    // Memory on v1: PSI comes from the process's directory on the unified
    // mount (or /proc/pressure/memory when there is none), never the v1 tree.
    CHECK(std::string(r.pressure_path).find("/memory.pressure") !=
          std::string::npos);
    CHECK(std::string(r.pressure_path).rfind(g_host.own_dir, 0) != 0);
  }
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "live v2: memory.high below memory.max is reported, and throttling is "
    "counted") {
  if (!g_host.v2())
    HEADROOM_SKIP_CASE(
        "memory.high exists on cgroup v2 only (this kernel has memory on v1)");
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(256 * MiB));
  REQUIRE(leaf.set_high(std::to_string(32 * MiB)));

  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto before = must(child.ask(command::snapshot));
  CHECK(before.limit == 256 * MiB);
  CHECK(before.high_set == 1);
  CHECK(before.high == 32 * MiB);
  CHECK(before.events_high == 0);
  // Past memory.high the kernel reclaims and throttles (without swap it
  // cannot reclaim anon memory, so it sleeps, longer the further over):
  // memory.events "high" climbs. A small overshoot keeps the sleeps short.
  const auto after = must(child.ask(command::allocate, 34 * MiB));
  CHECK(after.events_high > 0);
  CHECK(after.usage > 32 * MiB);
  MESSAGE("memory.events high=" << after.events_high
                                << " after 34 MiB under a 32 MiB high");
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "live v2: a leaf without the memory controller reads its nearest "
    "ancestor") {
  if (!g_host.v2())
    HEADROOM_SKIP_CASE(
        "on v1 every cgroup of the memory hierarchy has the controller");
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& limited = add(dirs, base, "limited");
  REQUIRE(limited.set_limit(100 * MiB));
  // "limited" does not pass the memory controller on to "leaf".
  auto& leaf = add(dirs, limited.dir(), "leaf", /*enable_memory=*/false);
  REQUIRE(::access((leaf.dir() + "/memory.max").c_str(), F_OK) != 0);

  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto before = must(child.ask(command::snapshot));
  CHECK(before.own_dir == leaf.dir());
  CHECK(before.limit == 100 * MiB);
  CHECK(std::string(before.limit_dir) == limited.dir());
  CHECK(before.usage_ok == 1);
  const auto after = must(child.ask(command::allocate, 32 * MiB));
  CHECK(after.usage >= before.usage + 28 * MiB);  // charged to "limited"
  child.ask(command::quit);
  child.wait_exit();
}

DOCTEST_REGISTER_LISTENER("case_counter", 1, headroom_test::case_counter);

int main(int argc, char** argv) {
  const auto skip = headroom_test::skip_run;
  if (::geteuid() != 0)
    return skip("live cgroup tests need root (they create cgroups)");
  g_host = probe_host();
  if (g_host.mode == headroom::hierarchy_mode::none) {
    return skip("no memory cgroup is visible to this process");
  }
  // Can we make (and remove) a child memory cgroup here?
  std::string err;
  auto probe = cgroup_dir::make(
      g_host, g_host.own_dir,
      "headroom-live-probe-" + std::to_string(::getpid()), &err);
  if (!probe) return skip("cannot create a child memory cgroup: " + err);
  ::rmdir(probe->c_str());
  std::printf("live tests: mode %s, own memory cgroup %s\n",
              headroom::to_string(g_host.mode), g_host.own_dir.c_str());

  doctest::Context ctx(argc, argv);
  const int result = ctx.run();
  if (ctx.shouldExit()) return result;
  return headroom_test::skip_exit_code(result);
}
