// SPDX-License-Identifier: MIT
// The monitor's pure rules with a fake clock: band edges, the PSI stall
// rule over totals, counter deltas and the growth rate.
#include <headroom/detail/pressure_rules.hpp>

#include "../support/doctest.hpp"
#include "../support/units.hpp"

using namespace headroom;
using namespace headroom::detail;
using namespace std::chrono_literals;

using headroom_test::MiB;
using headroom_test::t0;

TEST_CASE("make_band_edges: edges, hysteresis, critical never below moderate") {
  const band_edges e = make_band_edges(1000 * MiB, 800 * MiB, 920 * MiB, 5);
  CHECK(e.moderate == 800 * MiB);
  CHECK(e.critical == 920 * MiB);
  CHECK(e.hysteresis == 50 * MiB);
  const band_edges inverted =
      make_band_edges(1000 * MiB, 900 * MiB, 700 * MiB, 0);
  CHECK(inverted.critical == 900 * MiB);
  CHECK(inverted.hysteresis == 0);
}

TEST_CASE("psi_stall_rule: stall per window over the totals read") {
  psi_stall_rule r;
  const auto window = 2s;
  // Nothing until a whole window is covered.
  r.add(t0, 1000, 0, window);
  CHECK_FALSE(r.per_window(t0, false, window));
  r.add(t0 + 1s, 150000, 0, window);
  CHECK_FALSE(r.per_window(t0 + 1s, false, window));
  CHECK_FALSE(r.fires(t0 + 1s, false, 200ms, window));
  // 2 s covered, 199 ms of `some` stall: just under 200 ms per 2 s.
  r.add(t0 + 2s, 200000, 0, window);
  REQUIRE(r.per_window(t0 + 2s, false, window));
  CHECK(*r.per_window(t0 + 2s, false, window) == doctest::Approx(199000));
  CHECK_FALSE(r.fires(t0 + 2s, false, 200ms, window));
  // Two more milliseconds of stall in 1 ms: 200.9 ms per 2 s, it fires.
  r.add(t0 + 2s + 1ms, 202000, 0, window);
  CHECK(r.fires(t0 + 2s + 1ms, false, 200ms, window));
  // `full` is its own total: none of it stalled.
  CHECK_FALSE(r.fires(t0 + 2s + 1ms, true, 200ms, window));
}

TEST_CASE(
    "psi_stall_rule: a longer history is a rate, old samples are dropped") {
  psi_stall_rule r;
  const auto window = 2s;
  // 100 ms of full stall per second for 10 s: 200 ms per 2 s window.
  for (int i = 0; i <= 10; ++i) {
    r.add(t0 + i * 1s, 0, static_cast<std::uint64_t>(i) * 100000, window);
  }
  const auto per = r.per_window(t0 + 10s, true, window);
  REQUIRE(per);
  CHECK(*per == doctest::Approx(200000));
  CHECK(r.fires(t0 + 10s, true, 200ms, window));
  CHECK_FALSE(r.fires(t0 + 10s, true, 201ms, window));
  // Totals that went down (a new cgroup) are no stall, not a wrap.
  r.add(t0 + 11s, 0, 0, window);
  CHECK(*r.per_window(t0 + 11s, true, window) == doctest::Approx(0));
  r.clear();
  CHECK_FALSE(r.per_window(t0 + 11s, true, window));
}

TEST_CASE(
    "counter_growth: what grew, and nothing for a counter that went down") {
  const event_counts was{3, 1, 0, 2};
  const event_counts now{5, 1, 1, 0};
  const event_counts g = counter_growth(was, now);
  CHECK(g.high == 2);
  CHECK(g.max == 0);
  CHECK(g.oom == 1);
  CHECK(g.oom_kill == 0);  // the cgroup was made again
}

TEST_CASE(
    "growth_rate: smoothed, a sudden rise counts at once, falling is "
    "negative") {
  growth_rate g;
  CHECK(g.per_second() == 0);
  g.add(t0, 100 * MiB);
  CHECK(g.per_second() == 0);  // one sample: no rate yet
  g.add(t0 + 1s, 110 * MiB);   // +10 MiB/s
  CHECK(g.per_second() == doctest::Approx(10.0 * MiB));
  g.add(t0 + 2s, 110 * MiB);  // flat: halves
  CHECK(g.per_second() == doctest::Approx(5.0 * MiB));
  g.add(t0 + 2s + 100ms, 210 * MiB);  // a jump: at once
  CHECK(g.per_second() == doctest::Approx(1000.0 * MiB));
  // Falling 10 MiB/s: the smoothed rate comes down to it.
  for (int i = 1; i <= 20; ++i) {
    g.add(t0 + 2s + 100ms + i * 1s,
          210 * MiB - static_cast<std::uint64_t>(i) * 10 * MiB);
  }
  CHECK(g.per_second() == doctest::Approx(-10.0 * MiB).epsilon(0.01));
  const double before = g.per_second();
  g.add(t0 + 22s + 100ms, 500 * MiB);  // no time passed: no new rate
  CHECK(g.per_second() == before);
  g.reset();
  CHECK(g.per_second() == 0);
}

TEST_CASE("growth_rate: the fastest growth seen halves every minute") {
  growth_rate g;
  g.add(t0, 0);
  g.add(t0 + 100ms, 40 * MiB);  // 400 MiB/s
  CHECK(g.peak() == doctest::Approx(400.0 * MiB));
  g.add(t0 + 60s + 100ms, 40 * MiB);  // flat for a minute: half
  CHECK(g.peak() == doctest::Approx(200.0 * MiB).epsilon(0.01));
  g.add(t0 + 60s + 200ms, 0);  // falling is no peak
  CHECK(g.peak() == doctest::Approx(200.0 * MiB).epsilon(0.01));
  g.add(t0 + 60s + 300ms, 100 * MiB);  // 1000 MiB/s: at once
  CHECK(g.peak() == doctest::Approx(1000.0 * MiB));
  g.reset();
  CHECK(g.peak() == 0);
}

TEST_CASE("bytes_to_free: down to where moderate ends") {
  const band_edges e =
      make_band_edges(1000 * MiB, 800 * MiB, 920 * MiB, 5);  // exit 750
  CHECK(bytes_to_free(810 * MiB, e) == 60 * MiB + 1);
  CHECK(bytes_to_free(750 * MiB, e) == 1);
  CHECK(bytes_to_free(750 * MiB - 1, e) == 0);
  CHECK(bytes_to_free(10 * MiB, e) == 0);
}

TEST_CASE("time_to_reach: at the growth rate; absent when not growing") {
  const auto t = time_to_reach(900 * MiB, 1000 * MiB, 50.0 * MiB);
  REQUIRE(t);
  CHECK(std::chrono::duration<double>(*t).count() == doctest::Approx(2.0));
  CHECK_FALSE(time_to_reach(900 * MiB, 1000 * MiB, 0));
  CHECK_FALSE(time_to_reach(900 * MiB, 1000 * MiB, -5.0 * MiB));
  CHECK_FALSE(time_to_reach(1000 * MiB, 1000 * MiB, 50.0 * MiB));
}

TEST_CASE("critical_edge_with_high: before the kernel throttles") {
  // Kubernetes MemoryQoS without a request: high at 90% of a 1000 MiB
  // limit, under the default 92% critical edge; a 2% margin moves it to 88%.
  CHECK(critical_edge_with_high(920 * MiB, 900 * MiB, 20 * MiB) == 880 * MiB);
  // A high above the critical edge changes nothing.
  CHECK(critical_edge_with_high(920 * MiB, 990 * MiB, 20 * MiB) == 920 * MiB);
  // A margin larger than high: 0, never a wrapped number.
  CHECK(critical_edge_with_high(920 * MiB, 10 * MiB, 20 * MiB) == 0);
}

TEST_CASE(
    "level_tracker: an OOM kill releases held signals; who holds the level") {
  level_tracker t({3s, 10s});
  // A signal alone holds critical (the band is none and stays none).
  auto n = t.on_signal(t0 + 1ms, pressure_level::critical);
  REQUIRE(n);
  CHECK(n->level == pressure_level::critical);
  CHECK(t.held_by_signal(t0 + 1ms));
  CHECK_FALSE(t.on_band(t0 + 2ms, pressure_level::none));
  CHECK(t.level() == pressure_level::critical);
  // The kill: straight to what the band says, not through moderate.
  n = t.release_signals(t0 + 3ms);
  REQUIRE(n);
  CHECK(n->level == pressure_level::none);
  CHECK(n->previous == pressure_level::critical);
  CHECK_FALSE(t.held_by_signal(t0 + 3ms));
  CHECK_FALSE(t.next_expiry(t0 + 3ms));
  // A signal that fires again after it counts again.
  n = t.on_signal(t0 + 4ms, pressure_level::moderate);
  REQUIRE(n);
  CHECK(n->level == pressure_level::moderate);
  // A band that falls (usage dropped) ends it too: no release needed.
  REQUIRE(t.on_band(t0 + 5ms, pressure_level::critical));
  n = t.on_band(t0 + 6ms, pressure_level::none);
  REQUIRE(n);
  CHECK(n->level == pressure_level::none);
  CHECK(n->previous == pressure_level::critical);
}
