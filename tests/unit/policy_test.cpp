// SPDX-License-Identifier: MIT
// Budgets and presets, with numbers worked out by hand from the runtimes'
// rules (see the comments on the presets in policy.hpp).
#include <headroom/policy.hpp>
#include "../support/doctest.hpp"
#include "../support/units.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

using namespace headroom;
using headroom_test::GiB;
using headroom_test::MiB;

namespace {

constexpr std::uint64_t host = 16 * GiB;

// A snapshot with a limit (nullopt: none) on a 16 GiB host.
memory_snapshot snap(std::optional<std::uint64_t> limit) {
  memory_snapshot s;
  s.mode = hierarchy_mode::v2;
  s.limit = limit;
  s.source = limit ? limit_source::chain : limit_source::none;
  s.host_total = host;
  s.effective_limit = limit ? std::min(*limit, host) : host;
  return s;
}

const address_limits no_rlimits{};

budget must(const result<std::optional<budget>>& b) {
  REQUIRE_MESSAGE(b.has_value(), b.error().message());
  REQUIRE(b->has_value());
  return **b;
}

}  // namespace

TEST_CASE(
    "JVM: MaxRAMPercentage, the small-memory rule and InitialRAMPercentage") {
  // MaxHeapSize default: 96 MiB * 13 / 10 = 130862284.8, truncated and
  // rounded down to 8 bytes: 130862280. Heap alignment 2 MiB.
  const struct {
    const char* name;
    std::uint64_t limit;
    std::uint64_t max;
    budget_bound bound;
    std::uint64_t initial;
  } cases[] = {
      // 128 MiB: 50% = 64 MiB < 124.8 MiB: small memory, half. Initial:
      // 1.5625% = 2 MiB < OldSize + NewSize (6815736), aligned up: 8 MiB.
      {"128 MiB", 128 * MiB, 64 * MiB, budget_bound::small_memory, 8 * MiB},
      // 249 MiB: 50% = 130547712 < 130862280, still small; aligned up to
      // 2 MiB: 63 * 2 MiB = 126 MiB.
      {"249 MiB", 249 * MiB, 126 * MiB, budget_bound::small_memory, 8 * MiB},
      // One byte under 2 * 130862280: 50% truncates to 130862279, small.
      {"261724559 bytes", 261724559, 126 * MiB, budget_bound::small_memory,
       8 * MiB},
      // 2 * 130862280 exactly: 50% is not below MaxHeapSize: the floor,
      // max(25% = 62.4 MiB, 130862280), aligned up: 126 MiB.
      {"261724560 bytes", 261724560, 126 * MiB, budget_bound::floor, 8 * MiB},
      // 256 MiB: 25% = 64 MiB, floored at 130862280, aligned: 126 MiB.
      {"256 MiB", 256 * MiB, 126 * MiB, budget_bound::floor, 8 * MiB},
      // 499 MiB: 25% = 124.75 MiB < 124.8 MiB: still the floor.
      {"499 MiB", 499 * MiB, 126 * MiB, budget_bound::floor, 8 * MiB},
      // 512 MiB: 25% = 128 MiB. Initial: 1.5625% = 8 MiB.
      {"512 MiB", 512 * MiB, 128 * MiB, budget_bound::percent, 8 * MiB},
      // 1 GiB: 256 MiB, initial 16 MiB.
      {"1 GiB", 1 * GiB, 256 * MiB, budget_bound::percent, 16 * MiB},
      // 3000 MiB: 25% = 750 MiB; initial 1.5625% = 46.875 MiB -> 48 MiB.
      {"3000 MiB", 3000 * MiB, 750 * MiB, budget_bound::percent, 48 * MiB},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const budget b =
        must(compute_budget(snap(c.limit), presets::jvm(), no_rlimits));
    CHECK(b.basis == c.limit);
    CHECK(b.max == c.max);
    CHECK(b.max_bound == c.bound);
    REQUIRE(b.initial.has_value());
    CHECK(*b.initial == c.initial);
  }
  // No limit: the host's 16 GiB: 4 GiB and 256 MiB.
  const budget h =
      must(compute_budget(snap(std::nullopt), presets::jvm(), no_rlimits));
  CHECK(h.basis == host);
  CHECK(h.max == 4 * GiB);
  CHECK(*h.initial == 256 * MiB);
  // A limit above host RAM counts as host RAM.
  CHECK(must(compute_budget(snap(64 * GiB), presets::jvm(), no_rlimits)).max ==
        4 * GiB);
}

TEST_CASE(
    "JVM: RLIMIT_AS / MaxVirtMemFraction bounds both sizes; RLIMIT_DATA is not "
    "read") {
  address_limits lim;
  lim.address_space = 512 * MiB;
  lim.data = 1 * MiB;  // ignored by the JVM preset
  // 4 GiB: 25% = 1 GiB, capped at 512 MiB / 2; initial 64 MiB fits.
  const budget b = must(compute_budget(snap(4 * GiB), presets::jvm(), lim));
  CHECK(b.max == 256 * MiB);
  CHECK(b.max_bound == budget_bound::address_space);
  CHECK(*b.initial == 64 * MiB);
  // An odd cap: 101 MiB / 2 = 50.5 MiB; rounding up to 2 MiB would cross
  // it, so it rounds down.
  lim.address_space = 101 * MiB;
  const budget odd = must(compute_budget(snap(4 * GiB), presets::jvm(), lim));
  CHECK(odd.max == 50 * MiB);
  CHECK(*odd.initial == 50 * MiB);
}

TEST_CASE(".NET: max(20 MB, 75% of the limit), and no hard limit without one") {
  CHECK(must(compute_budget(snap(256 * MiB), presets::dotnet(), no_rlimits))
            .max == 192 * MiB);
  CHECK(
      must(compute_budget(snap(1 * GiB), presets::dotnet(), no_rlimits)).max ==
      768 * MiB);
  // 16 MiB: 12 MiB < 20 MiB: the floor, above the limit as .NET does.
  const budget small =
      must(compute_budget(snap(16 * MiB), presets::dotnet(), no_rlimits));
  CHECK(small.max == 20 * MiB);
  CHECK(small.max_bound == budget_bound::floor);
  CHECK_FALSE(small.initial.has_value());
  // Nothing limits: no budget.
  auto none = compute_budget(snap(std::nullopt), presets::dotnet(), no_rlimits);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  // RLIMIT_AS caps the limit before the percentage.
  address_limits lim;
  lim.address_space = 100 * MiB;
  const budget capped =
      must(compute_budget(snap(1 * GiB), presets::dotnet(), lim));
  CHECK(capped.basis == 100 * MiB);
  CHECK(capped.max == 75 * MiB);
  CHECK(capped.max_bound == budget_bound::percent);
}

TEST_CASE("Go automemlimit: 90% of the limit, unset without one") {
  // 0.9 * 1073741824 = 966367641.6, truncated.
  CHECK(must(compute_budget(snap(1 * GiB), presets::go_automemlimit(),
                            no_rlimits))
            .max == 966367641);
  // A limit above host RAM: 90% of the host's 16 GiB.
  CHECK(must(compute_budget(snap(32 * GiB), presets::go_automemlimit(),
                            no_rlimits))
            .max == 15461882265);
  auto none = compute_budget(snap(std::nullopt), presets::go_automemlimit(),
                             no_rlimits);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  address_limits lim;
  lim.address_space = 1 * MiB;
  lim.data = 1 * MiB;
  CHECK(must(compute_budget(snap(1 * GiB), presets::go_automemlimit(), lim))
            .max == 966367641);
}

TEST_CASE("a custom policy: percent, reserve, floor, ceiling, RLIMIT_DATA") {
  budget_policy p;
  p.percent = 50;
  p.reserve = 64 * MiB;
  p.floor = 32 * MiB;
  p.ceiling = 1 * GiB;
  // 256 MiB: 128 - 64 = 64 MiB.
  auto b = must(compute_budget(snap(256 * MiB), p, no_rlimits));
  CHECK(b.max == 64 * MiB);
  CHECK(b.max_bound == budget_bound::percent);
  CHECK_FALSE(b.initial.has_value());
  // 64 MiB: 32 - 64 is nothing: the floor.
  b = must(compute_budget(snap(64 * MiB), p, no_rlimits));
  CHECK(b.max == 32 * MiB);
  CHECK(b.max_bound == budget_bound::floor);
  // 4 GiB: 2 GiB - 64 MiB: the ceiling.
  b = must(compute_budget(snap(4 * GiB), p, no_rlimits));
  CHECK(b.max == 1 * GiB);
  CHECK(b.max_bound == budget_bound::ceiling);
  // The ceiling wins over the floor.
  p.ceiling = 16 * MiB;
  CHECK(must(compute_budget(snap(64 * MiB), p, no_rlimits)).max == 16 * MiB);
  // RLIMIT_DATA below RLIMIT_AS: the data limit binds.
  budget_policy all;
  address_limits lim;
  lim.address_space = 300 * MiB;
  lim.data = 100 * MiB;
  b = must(compute_budget(snap(1 * GiB), all, lim));
  CHECK(b.max == 100 * MiB);
  CHECK(b.max_bound == budget_bound::data);
  // An initial size.
  all.initial_percent = 10;
  all.initial_floor = 200 * MiB;
  b = must(compute_budget(snap(1 * GiB), all, no_rlimits));
  CHECK(b.max == 1 * GiB);
  CHECK(*b.initial == 200 * MiB);  // 102.4 MiB, raised to the floor
}

TEST_CASE("an unreadable limit is an error, never a made-up budget") {
  const error garbage{make_error_code(errc::malformed),
                      "/sys/fs/cgroup/a/memory.max"};
  memory_snapshot s = snap(256 * MiB);
  s.limit = garbage;
  s.effective_limit = garbage;
  for (const auto& p :
       {presets::jvm(), presets::dotnet(), presets::go_automemlimit()}) {
    auto b = compute_budget(s, p, no_rlimits);
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().code == errc::malformed);
    CHECK(b.error().path == "/sys/fs/cgroup/a/memory.max");
  }
  // No limit, and MemTotal unreadable: the JVM has nothing to size from;
  // .NET does not need it (no limit: no budget).
  memory_snapshot no_total = snap(std::nullopt);
  const error meminfo{std::make_error_code(std::errc::permission_denied),
                      "/proc/meminfo"};
  no_total.host_total = meminfo;
  no_total.effective_limit = meminfo;
  auto jvm = compute_budget(no_total, presets::jvm(), no_rlimits);
  REQUIRE_FALSE(jvm);
  CHECK(jvm.error().path == "/proc/meminfo");
  auto net = compute_budget(no_total, presets::dotnet(), no_rlimits);
  REQUIRE(net);
  CHECK_FALSE(net->has_value());
}

TEST_CASE("a policy out of range is refused") {
  for (const double bad :
       {-1.0, 100.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    CAPTURE(bad);
    budget_policy p;
    p.percent = bad;
    CHECK(compute_budget(snap(1 * GiB), p, no_rlimits).error().code ==
          std::errc::invalid_argument);
    budget_policy q;
    q.initial_percent = bad;
    CHECK(compute_budget(snap(1 * GiB), q, no_rlimits).error().code ==
          std::errc::invalid_argument);
  }
  budget_policy a;
  a.alignment = 0;
  CHECK_FALSE(compute_budget(snap(1 * GiB), a, no_rlimits));
  budget_policy d;
  d.rlimit_divisor = 0;
  CHECK_FALSE(compute_budget(snap(1 * GiB), d, no_rlimits));
}

TEST_CASE(
    "read_address_limits: what getrlimit says, in a child with RLIMIT_AS set") {
  const pid_t child = ::fork();
  if (child == 0) {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_AS, &rl) != 0) ::_exit(10);
    rl.rlim_cur = 1 * GiB;  // the hard limit stays as it is
    if (::setrlimit(RLIMIT_AS, &rl) != 0) ::_exit(11);
    const auto lim = read_address_limits();
    if (!lim) ::_exit(12);
    if (lim->address_space != std::optional<std::uint64_t>{1 * GiB})
      ::_exit(13);
    // The JVM preset then caps a 16 GiB host's 4 GiB at 512 MiB.
    const auto b = compute_budget(snap(std::nullopt), presets::jvm());
    if (!b || !b->has_value() || (*b)->max != 512 * MiB) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  struct rlimit rl {};
  REQUIRE(::getrlimit(RLIMIT_DATA, &rl) == 0);
  const auto lim = read_address_limits();
  REQUIRE(lim);
  if (rl.rlim_cur == RLIM_INFINITY) {
    CHECK_FALSE(lim->data.has_value());
  } else {
    CHECK(lim->data == std::optional<std::uint64_t>{rl.rlim_cur});
  }
}
