// SPDX-License-Identifier: MIT
// The monitor's level logic with a fake clock: bands with hysteresis,
// signals held and expiring, escalation at once, repeats rate-limited, and
// the adaptive sampling interval.
#include <headroom/detail/level.hpp>

#include "../support/doctest.hpp"
#include "../support/units.hpp"

using namespace headroom;
using namespace headroom::detail;
using namespace std::chrono_literals;

using headroom_test::MiB;
using headroom_test::t0;

namespace {
// A 1000 MiB limit: moderate at 800, critical at 920, hysteresis 50.
const band_edges edges{800 * MiB, 920 * MiB, 50 * MiB};
}  // namespace

TEST_CASE("band_level: edges and hysteresis") {
  const struct {
    const char* name;
    pressure_level current;
    std::uint64_t ws;
    pressure_level expect;
  } cases[] = {
      {"low stays none", pressure_level::none, 100 * MiB, pressure_level::none},
      {"just below moderate", pressure_level::none, 800 * MiB - 1,
       pressure_level::none},
      {"at moderate", pressure_level::none, 800 * MiB,
       pressure_level::moderate},
      {"at critical from none", pressure_level::none, 920 * MiB,
       pressure_level::critical},
      {"over the limit", pressure_level::none, 2000 * MiB,
       pressure_level::critical},
      {"moderate holds inside the hysteresis", pressure_level::moderate,
       760 * MiB, pressure_level::moderate},
      {"moderate holds at the exit edge", pressure_level::moderate, 750 * MiB,
       pressure_level::moderate},
      {"moderate leaves below the exit edge", pressure_level::moderate,
       750 * MiB - 1, pressure_level::none},
      {"critical holds inside its hysteresis", pressure_level::critical,
       880 * MiB, pressure_level::critical},
      {"critical falls to moderate", pressure_level::critical, 860 * MiB,
       pressure_level::moderate},
      {"critical falls to none", pressure_level::critical, 700 * MiB,
       pressure_level::none},
      {"critical falls to moderate, inside moderate's hysteresis",
       pressure_level::critical, 780 * MiB, pressure_level::moderate},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(band_level(c.current, c.ws, edges) == c.expect);
  }
}

TEST_CASE("tracker: escalation and de-escalation are notified at once") {
  level_tracker t({3s, 10s});
  CHECK_FALSE(t.on_band(t0, pressure_level::none));
  auto n = t.on_band(t0 + 1ms, pressure_level::moderate);
  REQUIRE(n);
  CHECK(n->level == pressure_level::moderate);
  CHECK(n->previous == pressure_level::none);
  CHECK_FALSE(n->repeat);
  n = t.on_band(t0 + 2ms, pressure_level::critical);
  REQUIRE(n);
  CHECK(n->level == pressure_level::critical);
  n = t.on_band(t0 + 3ms, pressure_level::none);
  REQUIRE(n);
  CHECK(n->level == pressure_level::none);
  CHECK(n->previous == pressure_level::critical);
}

TEST_CASE(
    "tracker: a sustained level is repeated at most once per repeat_interval") {
  level_tracker t({3s, 10s});
  REQUIRE(t.on_band(t0, pressure_level::moderate));
  int repeats = 0;
  for (auto at = 100ms; at <= 35s; at += 100ms) {
    if (auto n = t.on_band(t0 + at, pressure_level::moderate)) {
      CHECK(n->repeat);
      CHECK(n->level == pressure_level::moderate);
      ++repeats;
    }
  }
  CHECK(repeats == 3);  // at 10 s, 20 s, 30 s
  // none is never repeated
  REQUIRE(t.on_band(t0 + 36s, pressure_level::none));
  for (auto at = 37s; at < 80s; at += 1s)
    CHECK_FALSE(t.on_band(t0 + at, pressure_level::none));
}

TEST_CASE("tracker: signals hold their level, then expire to the band level") {
  level_tracker t({3s, 10s});
  auto n = t.on_signal(t0, pressure_level::moderate);
  REQUIRE(n);
  CHECK(n->level == pressure_level::moderate);
  CHECK(t.next_expiry(t0) == t0 + 3s);
  // A band sample at none does not end a held signal.
  CHECK_FALSE(t.on_band(t0 + 1s, pressure_level::none));
  CHECK(t.level() == pressure_level::moderate);
  // Firing again extends the hold; no new notice (same level, < 10 s).
  CHECK_FALSE(t.on_signal(t0 + 2s, pressure_level::moderate));
  CHECK_FALSE(t.on_tick(t0 + 4s));
  CHECK(t.next_expiry(t0 + 4s) == t0 + 5s);
  n = t.on_tick(t0 + 5s);
  REQUIRE(n);
  CHECK(n->level == pressure_level::none);
  CHECK_FALSE(t.next_expiry(t0 + 5s).has_value());
}

TEST_CASE("tracker: the level is the higher of band and signals") {
  level_tracker t({3s, 10s});
  REQUIRE(t.on_band(t0, pressure_level::moderate));
  auto n = t.on_signal(t0 + 1s, pressure_level::critical);
  REQUIRE(n);
  CHECK(n->level == pressure_level::critical);
  // The critical signal expires: back to the band's moderate.
  n = t.on_tick(t0 + 4s);
  REQUIRE(n);
  CHECK(n->level == pressure_level::moderate);
  CHECK(n->previous == pressure_level::critical);
  // A moderate signal under a critical band changes nothing.
  REQUIRE(t.on_band(t0 + 5s, pressure_level::critical));
  CHECK_FALSE(t.on_signal(t0 + 6s, pressure_level::moderate));
  CHECK(t.level() == pressure_level::critical);
}

TEST_CASE(
    "sampling interval: slow far away, fast near an edge or when growing "
    "fast") {
  const auto fast = steady::duration(2ms);
  const auto slow = steady::duration(1000ms);
  const std::uint64_t limit = 1000 * MiB;
  const auto at = [&](std::uint64_t ws, pressure_level l, double rate = 0) {
    return next_sample_interval(ws, limit, edges, l, rate, fast, slow);
  };
  CHECK(at(100 * MiB, pressure_level::none) == slow);    // 70% from moderate
  CHECK(at(600 * MiB, pressure_level::none) == slow);    // 20% away
  const auto ten = at(700 * MiB, pressure_level::none);  // 10% away: a quarter
  CHECK(ten >= 240ms);
  CHECK(ten <= 260ms);
  CHECK(at(799 * MiB, pressure_level::none) == fast);  // 0.1% away
  CHECK(at(800 * MiB, pressure_level::none) == fast);  // on it
  // Growing 1000 MiB/s at 600 MiB: the edge is 200 ms away, sample in 50.
  const auto growing = at(600 * MiB, pressure_level::none, 1000.0 * MiB);
  CHECK(growing >= 45ms);
  CHECK(growing <= 55ms);
  // Shrinking is not growth.
  CHECK(at(600 * MiB, pressure_level::none, -1000.0 * MiB) == slow);
  // At moderate, the nearer of critical above and the exit edge below.
  CHECK(at(751 * MiB, pressure_level::moderate) == fast);
  CHECK(at(840 * MiB, pressure_level::moderate) > 50ms);
  // Never below fast nor above slow.
  CHECK(at(0, pressure_level::none, 1e15) == fast);
}

TEST_CASE(
    "sampling interval: planned growth is read before the limit, and the "
    "cost is stated") {
  const auto fast = steady::duration(2ms);
  const auto bound = steady::duration(250ms);
  const double planned = 512.0 * MiB;  // the default
  // 128 MiB, edges at 80% and 92% (5% hysteresis).
  const std::uint64_t limit = 128 * MiB;
  const band_edges e{limit * 80 / 100, limit * 92 / 100, limit * 5 / 100};
  const auto at = [&](std::uint64_t ws, pressure_level l, double p) {
    return next_sample_interval(ws, limit, e, l, 0, fast, bound, p);
  };
  // Without a plan, far from the edges: the bound.
  CHECK(at(13 * MiB, pressure_level::none, 0) == bound);
  // 115 MiB left at 512 MiB/s: 225 ms to the limit, read in half.
  const auto first = at(13 * MiB, pressure_level::none, planned);
  CHECK(first >= 110ms);
  CHECK(first <= 115ms);
  // Growth at the planned rate from 10%, simulated on a fake clock: every
  // read sees where it got; the levels come in order, before the limit.
  double ws = 0.10 * static_cast<double>(limit);
  double seen_moderate_left = -1, seen_critical_left = -1;
  pressure_level l = pressure_level::none;
  for (int reads = 0; reads < 1000 && ws < static_cast<double>(limit);
       ++reads) {
    const auto w = static_cast<std::uint64_t>(ws);
    const pressure_level band = band_level(l, w, e);
    const double left = 1.0 - ws / static_cast<double>(limit);
    if (band == pressure_level::moderate && seen_moderate_left < 0)
      seen_moderate_left = left;
    if (band == pressure_level::critical && seen_critical_left < 0)
      seen_critical_left = left;
    l = band;
    const auto dt = at(w, l, planned);
    ws += planned * std::chrono::duration<double>(dt).count();
  }
  CHECK(seen_moderate_left >= 0.10);
  CHECK(seen_critical_left >= 0.04);
  // Idle cost: the bound (4 reads a second) with 256 MiB or more left;
  // 2 x planned / headroom below it.
  const std::uint64_t big = 4096 * MiB;
  CHECK(next_sample_interval(
            1024 * MiB, big, band_edges{big * 8 / 10, big * 92 / 100, 0},
            pressure_level::none, 0, fast, bound, planned) == bound);
  const auto small = at(0, pressure_level::none, planned);  // 128 MiB left
  CHECK(small >= 124ms);
  CHECK(small <= 126ms);
  // Faster growth than planned (a fast peak seen) shortens it in proportion.
  CHECK(at(13 * MiB, pressure_level::none, 4 * planned) <= first / 4 + 1ms);
}

TEST_CASE(
    "tracker: a drop in usage ends held signals; the level falls at once") {
  level_tracker t({3s, 10s});
  REQUIRE(t.on_band(t0, pressure_level::moderate));
  REQUIRE(t.on_signal(t0 + 100ms, pressure_level::critical));
  CHECK(t.level() == pressure_level::critical);
  CHECK(t.held_by_signal(t0 + 100ms));
  // The band stays: the signal holds.
  CHECK_FALSE(t.on_band(t0 + 200ms, pressure_level::moderate));
  CHECK(t.level() == pressure_level::critical);
  // Usage falls out of moderate: straight to none, not through moderate.
  auto n = t.on_band(t0 + 300ms, pressure_level::none);
  REQUIRE(n);
  CHECK(n->level == pressure_level::none);
  CHECK(n->previous == pressure_level::critical);
  CHECK_FALSE(t.held_by_signal(t0 + 300ms));
  CHECK_FALSE(t.next_expiry(t0 + 300ms).has_value());
  // A live signal raises it again.
  n = t.on_signal(t0 + 400ms, pressure_level::moderate);
  REQUIRE(n);
  CHECK(n->level == pressure_level::moderate);
}
