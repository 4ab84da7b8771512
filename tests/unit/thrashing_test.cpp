// SPDX-License-Identifier: MIT
// The thrashing source: the refault rate against the file cache (pure, with
// times passed in), and the monitor raising moderate on a fixture tree whose
// memory.stat refault counter climbs while usage stays far below the bands.
#include <headroom/pressure.hpp>

#include <poll.h>

#include <chrono>
#include <string>
#include <vector>

#include "../support/doctest.hpp"
#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;
using namespace std::chrono_literals;

namespace {

// A v2 cgroup with a 1000 MiB limit, 200 MiB used: 100 MiB anon, a 100 MiB
// file cache, `refaults` pages read back so far.
void layout(fixture_tree& t, std::uint64_t refaults, bool has_counter = true) {
  write_host(t);
  t.file("proc/self/cgroup", "0::/app.slice\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir d;
  d.max = std::to_string(1000 * MiB);
  write_v2(t, "sys/fs/cgroup/app.slice", d);
  t.file("sys/fs/cgroup/app.slice/memory.current", n(200 * MiB));
  std::string stat = v2_stat(100 * MiB, 100 * MiB, 50 * MiB);
  if (has_counter)
    stat += "workingset_refault_file " + std::to_string(refaults) + "\n";
  t.file("sys/fs/cgroup/app.slice/memory.stat", stat);
}

monitor_options options_for(const fixture_tree& t) {
  monitor_options o;
  o.reader.root = t.root();
  o.fast_interval = 1ms;
  o.slow_interval = 20ms;
  o.thrashing_percent = 10;
  o.thrashing_window = 50ms;
  return o;
}

std::vector<memory_event> pump(monitor& m, std::chrono::milliseconds d) {
  std::vector<memory_event> events;
  auto sub = m.subscribe([&](const memory_event& e) { events.push_back(e); });
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{m.fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    m.dispatch();
  }
  return events;
}

const source_status* status_of(const std::vector<source_status>& all,
                               source_kind k) {
  for (const auto& s : all)
    if (s.kind == k) return &s;
  return nullptr;
}

}  // namespace

TEST_CASE("thrashing: the refault rate against the file cache") {
  const std::uint64_t page = 4096;
  // 2560 pages (10 MiB) in 1 s against a 100 MiB cache: 10% a second.
  detail::refault_sample a{t0, 1000, 100 * MiB};
  detail::refault_sample b{t0 + 1s, 1000 + 2560, 100 * MiB};
  auto r = detail::refaults_between(a, b, page, 10, MiB);
  REQUIRE(r);
  CHECK(r->bytes_per_second == doctest::Approx(10.0 * MiB));
  CHECK(r->percent_per_second == doctest::Approx(10.0));
  CHECK(r->thrashing);
  // The same over 2 s: 5% a second.
  b.at = t0 + 2s;
  r = detail::refaults_between(a, b, page, 10, MiB);
  REQUIRE(r);
  CHECK(r->percent_per_second == doctest::Approx(5.0));
  CHECK(!r->thrashing);
  // A small cache read back whole is under the minimum rate.
  detail::refault_sample small_a{t0, 0, 512 * 1024};
  detail::refault_sample small_b{t0 + 1s, 128, 512 * 1024};  // 512 KiB/s
  r = detail::refaults_between(small_a, small_b, page, 10, MiB);
  REQUIRE(r);
  CHECK(r->percent_per_second == doctest::Approx(100.0));
  CHECK(!r->thrashing);
  // No time, or a counter that went back (a new cgroup): no rate.
  CHECK(!detail::refaults_between(a, a, page, 10, MiB));
  detail::refault_sample back{t0 + 1s, 10, 100 * MiB};
  CHECK(!detail::refaults_between(a, back, page, 10, MiB));
  // An empty cache counts as one page: no division by zero.
  detail::refault_sample empty{t0 + 1s, 1000 + 256, 0};
  r = detail::refaults_between(a, empty, page, 10, MiB);
  REQUIRE(r);
  CHECK(r->thrashing);
}

TEST_CASE("thrashing: off unless asked, and said so in sources()") {
  fixture_tree t;
  layout(t, 0);
  monitor_options o = options_for(t);
  o.thrashing_percent.reset();
  auto m = monitor::create(o);
  REQUIRE(m);
  const auto all = m->sources();
  const auto* s = status_of(all, source_kind::thrashing);
  REQUIRE(s != nullptr);
  CHECK(!s->active);
  CHECK(s->failure.code == make_error_code(errc::disabled));
}

TEST_CASE(
    "thrashing: a file cache read back fast raises moderate below the bands") {
  fixture_tree t;
  layout(t, 1000);
  auto m = monitor::create(options_for(t));
  REQUIRE(m);
  const auto all = m->sources();
  const auto* s = status_of(all, source_kind::thrashing);
  REQUIRE(s != nullptr);
  CHECK(s->active);
  CHECK(s->detail.find("memory.stat") != std::string::npos);

  // A trickle: 16 pages (64 KiB) per read, under the 1 MiB/s minimum.
  std::uint64_t refaults = 1000;
  for (int i = 0; i < 5; ++i) {
    refaults += 16;
    layout(t, refaults);
    for (const auto& e : pump(*m, 60ms))
      CHECK(e.source != source_kind::thrashing);
  }
  CHECK(m->level() == pressure_level::none);

  // 100 MiB read back at once: the whole cache, within the window.
  layout(t, refaults + 25600);
  const auto events = pump(*m, 500ms);
  const memory_event* moderate = nullptr;
  for (const auto& e : events)
    if (e.kind == event_kind::pressure && e.source == source_kind::thrashing)
      moderate = &e;
  REQUIRE(moderate != nullptr);
  CHECK(moderate->level == pressure_level::moderate);
  CHECK(moderate->reason.find("thrashing") != std::string::npos);
  CHECK(moderate->working_set == 150 * MiB);  // far below the 800 MiB edge
}

TEST_CASE("thrashing: a kernel without workingset_refault_file says why") {
  fixture_tree t;
  layout(t, 0, false);
  auto m = monitor::create(options_for(t));
  REQUIRE(m);
  const auto all = m->sources();
  const auto* s = status_of(all, source_kind::thrashing);
  REQUIRE(s != nullptr);
  CHECK(!s->active);
  CHECK(s->failure.message().find("workingset_refault_file") !=
        std::string::npos);
}
