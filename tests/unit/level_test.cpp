// SPDX-License-Identifier: MIT
// The monitor's level logic with a fake clock: bands with hysteresis,
// signals held and expiring, escalation at once, repeats rate-limited, and
// the adaptive sampling interval.
#include <headroom/detail/level.hpp>

#include "../support/doctest.hpp"

using namespace headroom;
using namespace headroom::detail;
using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t MiB = 1 << 20;
// A 1000 MiB limit: moderate at 800, critical at 920, hysteresis 50.
const band_edges edges{800 * MiB, 920 * MiB, 50 * MiB};
const steady::time_point t0{};
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
