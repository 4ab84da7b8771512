// SPDX-License-Identifier: MIT
// The monitor on fixture trees: the sampler sees usage move, bands give
// levels with hysteresis, limits change, the process moves, its cgroup goes
// away, OOM kills are counted. Subscriptions, dispatch(), start()/stop(),
// and no descriptor left behind. (The kernel's own event sources are
// exercised by the live tests.)
#include <headroom/pressure.hpp>

#include <dirent.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../support/doctest.hpp"
#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;
using namespace std::chrono_literals;

namespace {

// A v2 container with a 1000 MiB limit; 100 MiB used, 20 MiB inactive file.
void layout(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup", "0::/app.slice\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir d;
  d.max = std::to_string(1000 * MiB);
  write_v2(t, "sys/fs/cgroup/app.slice", d);
}

// Sets usage and working set (usage - 0 inactive) of the fixture cgroup.
void set_usage(fixture_tree& t, std::uint64_t bytes,
               const std::string& dir = "app.slice") {
  t.file("sys/fs/cgroup/" + dir + "/memory.current", n(bytes));
  t.file("sys/fs/cgroup/" + dir + "/memory.stat", v2_stat(bytes, 0, 0));
}

monitor_options fast_options(const fixture_tree& t) {
  monitor_options o;
  o.reader.root = t.root();
  o.fast_interval = 1ms;
  o.slow_interval = 40ms;
  o.repeat_interval = 100000ms;
  return o;
}

struct recorder {
  std::vector<memory_event> events;
  subscription sub;
  explicit recorder(monitor& m) {
    sub = m.subscribe([this](const memory_event& e) { events.push_back(e); });
  }
};

// Dispatches until pred() holds, or fails after `limit`.
template <class Pred>
bool pump_until(monitor& m, Pred pred,
                std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    pollfd p{m.fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    m.dispatch();
  }
  return true;
}

bool has(const std::vector<memory_event>& evs, event_kind k,
         pressure_level l = pressure_level::none) {
  for (const auto& e : evs) {
    if (e.kind == k && (k != event_kind::pressure || e.level == l)) return true;
  }
  return false;
}

std::string read_whole_or_empty(const std::string& path) {
  auto r = detail::read_whole(path);
  return r ? *r : std::string();
}

int count_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

monitor make(const monitor_options& o) {
  auto m = monitor::create(o);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  return std::move(*m);
}

}  // namespace

TEST_CASE("monitor: sources on a captured tree (nothing is written into it)") {
  fixture_tree t;
  layout(t);
  const auto before =
      read_whole_or_empty(t.path("sys/fs/cgroup/app.slice/memory.pressure"));
  auto m = make(fast_options(t));
  bool sampler = false;
  for (const auto& s : m.sources()) {
    CAPTURE(to_string(s.kind));
    if (s.kind == source_kind::usage_bands) {
      CHECK(s.active);
      CHECK(s.detail.find("sampler") != std::string::npos);
      sampler = true;
    }
    if (s.kind == source_kind::psi) {
      CHECK_FALSE(s.active);
      CHECK(s.failure.code == errc::not_supported);
    }
    if (s.kind == source_kind::memory_events) CHECK(s.active);
  }
  CHECK(sampler);
  CHECK(read_whole_or_empty(
            t.path("sys/fs/cgroup/app.slice/memory.pressure")) == before);
}

TEST_CASE(
    "monitor: usage crossing the bands gives moderate, critical, then none") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  recorder r(m);
  CHECK(m.level() == pressure_level::none);

  set_usage(t, 810 * MiB);
  REQUIRE(pump_until(m, [&] {
    return has(r.events, event_kind::pressure, pressure_level::moderate);
  }));
  const auto& mod = r.events.back();
  CHECK(mod.previous == pressure_level::none);
  CHECK(mod.source == source_kind::usage_bands);
  CHECK(mod.working_set == 810 * MiB);
  CHECK(mod.effective_limit == 1000 * MiB);
  CHECK(mod.reason.find("working set 810.0 MiB") != std::string::npos);
  CHECK(m.level() == pressure_level::moderate);

  set_usage(t, 950 * MiB);
  REQUIRE(pump_until(m, [&] {
    return has(r.events, event_kind::pressure, pressure_level::critical);
  }));
  // Inside the hysteresis: still critical, nothing new.
  set_usage(t, 900 * MiB);
  const std::size_t seen = r.events.size();
  REQUIRE(pump_until(
              m, [] { return false; }, 200ms) == false);
  CHECK(r.events.size() == seen);
  CHECK(m.level() == pressure_level::critical);

  set_usage(t, 100 * MiB);
  REQUIRE(pump_until(m, [&] { return m.level() == pressure_level::none; }));
  CHECK(r.events.back().level == pressure_level::none);
  CHECK(r.events.back().previous == pressure_level::critical);
}

TEST_CASE(
    "monitor: a level already reached at start is reported by the first "
    "dispatch") {
  fixture_tree t;
  layout(t);
  set_usage(t, 990 * MiB);
  auto m = make(fast_options(t));
  recorder r(m);
  REQUIRE(pump_until(m, [&] { return !r.events.empty(); }));
  CHECK(r.events.front().level == pressure_level::critical);
}

TEST_CASE(
    "monitor: a limit changed at runtime gives limit_changed, and new bands") {
  fixture_tree t;
  layout(t);
  set_usage(t, 850 * MiB);
  auto m = make(fast_options(t));
  recorder r(m);
  REQUIRE(pump_until(m, [&] { return m.level() == pressure_level::moderate; }));
  t.file("sys/fs/cgroup/app.slice/memory.max", n(4000 * MiB));
  REQUIRE(
      pump_until(m, [&] { return has(r.events, event_kind::limit_changed); }));
  const memory_event* changed = nullptr;
  for (const auto& e : r.events) {
    if (e.kind == event_kind::limit_changed) changed = &e;
  }
  REQUIRE(changed);
  CHECK(changed->old_limit == 1000 * MiB);
  CHECK(changed->new_limit == 4000 * MiB);
  CHECK(changed->new_cgroup == "/sys/fs/cgroup/app.slice");
  CHECK_FALSE(changed->moved);
  REQUIRE(pump_until(m, [&] { return m.level() == pressure_level::none; }));

  t.file("sys/fs/cgroup/app.slice/memory.max", "max\n");
  REQUIRE(pump_until(m, [&] {
    return r.events.back().kind == event_kind::limit_changed &&
           !r.events.back().new_limit;
  }));
}

TEST_CASE("monitor: the process moves to another cgroup") {
  fixture_tree t;
  layout(t);
  v2_dir other;
  other.max = std::to_string(500 * MiB);
  write_v2(t, "sys/fs/cgroup/other.slice", other);
  auto m = make(fast_options(t));
  recorder r(m);
  t.file("proc/self/cgroup", "0::/other.slice\n");
  REQUIRE(
      pump_until(m, [&] { return has(r.events, event_kind::limit_changed); }));
  const auto& e = r.events.back();
  CHECK(e.moved);
  CHECK(e.old_cgroup == "/sys/fs/cgroup/app.slice");
  CHECK(e.new_cgroup == "/sys/fs/cgroup/other.slice");
  CHECK(e.old_limit == 1000 * MiB);
  CHECK(e.new_limit == 500 * MiB);
  // The new cgroup is watched: 450 of 500 MiB is moderate.
  set_usage(t, 450 * MiB, "other.slice");
  REQUIRE(pump_until(m, [&] { return m.level() == pressure_level::moderate; }));
}

TEST_CASE("monitor: the cgroup is removed and the process is in its parent") {
  // What removal looks like from the process: its cgroup is gone and
  // /proc/self/cgroup names the parent. (A removed cgroup's kept files fail
  // with ENODEV on a real kernel, which also re-resolves; the live tests
  // cover that.)
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  recorder r(m);
  t.remove("sys/fs/cgroup/app.slice");
  t.file("proc/self/cgroup", "0::/\n");
  REQUIRE(
      pump_until(m, [&] { return has(r.events, event_kind::limit_changed); }));
  CHECK(r.events.back().moved);
  CHECK(r.events.back().new_cgroup == "/sys/fs/cgroup");
  CHECK_FALSE(r.events.back().new_limit.has_value());
}

TEST_CASE(
    "monitor: an OOM kill counted in memory.events is an oom_kill event") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  recorder r(m);
  t.file("sys/fs/cgroup/app.slice/memory.events",
         "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
  REQUIRE(pump_until(m, [&] { return has(r.events, event_kind::oom_kill); }));
  for (const auto& e : r.events) {
    if (e.kind != event_kind::oom_kill) continue;
    CHECK(e.oom_kills == 1);
    CHECK(e.new_oom_kills == 1);
  }
  // max and oom grew too, but the periodic re-check reports kills only:
  // high/max/oom signals come from the memory.events source (POLLPRI on a
  // real kernel, see the live tests), which can be turned off.
  CHECK(m.level() == pressure_level::none);
}

TEST_CASE(
    "monitor: callbacks may unsubscribe themselves and others, and subscribe") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  int a_calls = 0;
  int b_calls = 0;
  int c_calls = 0;
  subscription a;
  subscription b;
  subscription c;
  a = m.subscribe([&](const memory_event&) {
    ++a_calls;
    a.reset();  // itself
    b.reset();  // another
    c = m.subscribe([&](const memory_event&) { ++c_calls; });
  });
  b = m.subscribe([&](const memory_event&) { ++b_calls; });
  set_usage(t, 850 * MiB);
  REQUIRE(pump_until(m, [&] { return a_calls > 0; }));
  set_usage(t, 100 * MiB);
  REQUIRE(pump_until(m, [&] { return c_calls > 0; }));
  CHECK(a_calls == 1);
  CHECK(b_calls == 0);  // unsubscribed by a, called before it
  CHECK_FALSE(a);
  CHECK_FALSE(b);
  CHECK(c);
}

TEST_CASE("monitor: start() runs callbacks on its own thread; stop() returns") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  std::atomic<int> calls{0};
  std::atomic<bool> other_thread{false};
  const auto me = std::this_thread::get_id();
  auto sub = m.subscribe([&](const memory_event&) {
    other_thread = std::this_thread::get_id() != me;
    ++calls;
  });
  // Before start(): dispatch runs, though nothing may be due.
  CHECK(m.try_dispatch().ran);
  REQUIRE(m.start());
  CHECK_FALSE(m.start());  // already running
  CHECK(m.dispatch() == 0);
  // Refused, not "nothing to do": the thread runs the loop.
  const dispatch_result refused = m.try_dispatch();
  CHECK_FALSE(refused.ran);
  CHECK(refused.callbacks == 0);
  set_usage(t, 990 * MiB);
  for (int i = 0; i < 500 && calls == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(calls > 0);
  CHECK(other_thread);
  const auto t0 = std::chrono::steady_clock::now();
  m.stop();
  // A hang would fail the run; the figure is for the reader.
  MESSAGE(
      "stop() took " << std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count()
                     << " us");
  // Stopped: dispatch() works again on this thread.
  set_usage(t, 100 * MiB);
  const int before = calls;
  REQUIRE(pump_until(m, [&] { return calls > before; }));
  REQUIRE(m.start());  // and it can start again
  m.stop();
}

TEST_CASE("monitor: stop() from inside a callback") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  std::atomic<int> calls{0};
  auto sub = m.subscribe([&](const memory_event&) {
    ++calls;
    m.stop();
  });
  REQUIRE(m.start());
  set_usage(t, 990 * MiB);
  for (int i = 0; i < 500 && calls == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(calls == 1);
  m.stop();  // joins the thread that asked itself to stop
}

TEST_CASE("monitor: no descriptor is left behind") {
  fixture_tree t;
  layout(t);
  const int before = count_fds();
  for (int i = 0; i < 20; ++i) {
    auto m = make(fast_options(t));
    auto sub = m.subscribe([](const memory_event&) {});
    REQUIRE(m.start());
    m.stop();
  }
  CHECK(count_fds() == before);
}

TEST_CASE(
    "monitor: fork() with a running monitor; the child forgets it and makes "
    "its own") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  std::atomic<int> parent_events{0};
  auto sub = m.subscribe([&](const memory_event&) { ++parent_events; });
  REQUIRE(m.start());
  set_usage(t, 990 * MiB);
  for (int i = 0; i < 500 && parent_events == 0; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(parent_events > 0);

  const pid_t child = ::fork();
  if (child == 0) {
    // The child: the inherited monitor is the parent's; forget it, then
    // watch with a monitor of its own. No doctest in here: exit codes.
    m.forget_after_fork();
    if (m.dispatch() != 0 || m.start()) ::_exit(2);
    auto own = monitor::create(fast_options(t));
    if (!own) ::_exit(3);
    int seen = 0;
    auto s = own->subscribe([&](const memory_event& e) {
      if (e.level == pressure_level::critical) ++seen;
    });
    const auto end = std::chrono::steady_clock::now() + 3s;
    while (seen == 0 && std::chrono::steady_clock::now() < end) {
      pollfd p{own->fd(), POLLIN, 0};
      ::poll(&p, 1, 20);
      own->dispatch();
    }
    ::_exit(seen > 0 ? 0 : 4);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  // The parent's monitor still works.
  const int before = parent_events;
  set_usage(t, 100 * MiB);
  for (int i = 0; i < 500 && parent_events == before; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(parent_events > before);
  CHECK(m.level() == pressure_level::none);
  m.stop();
}

TEST_CASE("monitor: calls on a moved-from monitor return errors, never crash") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  monitor other = std::move(m);
  // NOLINTBEGIN(bugprone-use-after-move): that is the point.
  CHECK(m.fd() == -1);
  CHECK(m.dispatch() == 0);
  CHECK_FALSE(m.try_dispatch().ran);
  auto started = m.start();
  REQUIRE_FALSE(started);
  CHECK(started.error().code == std::errc::invalid_argument);
  m.stop();
  CHECK_FALSE(m.subscribe([](const memory_event&) {}));
  CHECK(m.level() == pressure_level::none);
  CHECK(m.sources().empty());
  CHECK_FALSE(m.last_snapshot().usage.has_value());
  m.forget_after_fork();
  // NOLINTEND(bugprone-use-after-move)
  // The one moved into works.
  CHECK(other.fd() >= 0);
  CHECK_FALSE(other.sources().empty());
  m = std::move(other);  // and assigning back makes it whole again
  CHECK(m.fd() >= 0);
  REQUIRE(m.start());
  m.stop();
}

// The names of this process's threads (/proc/self/task/*/comm).
static std::vector<std::string> thread_names() {
  std::vector<std::string> names;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string comm = read_whole_or_empty(std::string("/proc/self/task/") +
                                             e->d_name + "/comm");
      while (!comm.empty() && comm.back() == '\n') comm.pop_back();
      names.push_back(comm);
    }
    ::closedir(d);
  }
  return names;
}

TEST_CASE("monitor: its thread is named headroom") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  const auto count = [] {
    const auto names = thread_names();
    return std::count(names.begin(), names.end(), std::string("headroom"));
  };
  const auto before = count();
  REQUIRE(m.start());
  std::ptrdiff_t during = 0;
  for (int i = 0; i < 200 && during <= before; ++i) {
    during = count();
    std::this_thread::sleep_for(5ms);
  }
  CHECK(during == before + 1);
  m.stop();
  // stop() has joined the thread; the kernel can list its task in
  // /proc/self/task a moment longer, until the exited task is reaped.
  std::ptrdiff_t after = count();
  for (int i = 0; i < 200 && after != before; ++i) {
    std::this_thread::sleep_for(5ms);
    after = count();
  }
  CHECK(after == before);
}

TEST_CASE(
    "monitor: memory.high on the chain moves the critical edge before it") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/cgroup", "0::/app.slice\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir d;
  d.max = std::to_string(1000 * MiB);
  d.high = std::to_string(900 * MiB);  // Kubernetes MemoryQoS, no request: 90%
  write_v2(t, "sys/fs/cgroup/app.slice", d);
  auto m = make(fast_options(t));
  recorder r(m);
  // 885 MiB: under the default 92% edge (920 MiB), past high - 2% (880 MiB).
  set_usage(t, 885 * MiB);
  REQUIRE(pump_until(m, [&] { return m.level() == pressure_level::critical; }));
  const auto& crit = r.events.back();
  CHECK(crit.reason.find("critical at 880.0 MiB") != std::string::npos);
  CHECK(crit.reason.find("memory.high 900.0 MiB") != std::string::npos);
  CAPTURE(crit.reason);
  // Turned off: the plain 92% edge again.
  auto o = fast_options(t);
  o.high_margin_percent = -1;
  auto plain = make(o);
  recorder pr(plain);
  REQUIRE(pump_until(
      plain, [&] { return plain.level() == pressure_level::moderate; }));
  plain.dispatch();
  CHECK(plain.level() == pressure_level::moderate);
}

TEST_CASE(
    "monitor: pressure events say how much to free and when the limit is "
    "reached") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  recorder r(m);
  set_usage(t, 810 * MiB);
  REQUIRE(pump_until(m, [&] {
    return has(r.events, event_kind::pressure, pressure_level::moderate);
  }));
  const auto& mod = r.events.back();
  // Moderate ends below 800 - 50 MiB of hysteresis.
  REQUIRE(mod.bytes_to_free);
  CHECK(*mod.bytes_to_free == 60 * MiB + 1);
  // It grew from 100 to 810 MiB: a time to the limit.
  REQUIRE(mod.time_to_limit);
  CHECK(mod.time_to_limit->count() > 0);
  // Growing on: critical, with less time left; then flat: none of it.
  set_usage(t, 950 * MiB);
  REQUIRE(pump_until(m, [&] { return m.level() == pressure_level::critical; }));
  CHECK(*r.events.back().bytes_to_free == 200 * MiB + 1);
  // Back down: nothing to free, and not growing.
  set_usage(t, 100 * MiB);
  REQUIRE(pump_until(m, [&] { return m.level() == pressure_level::none; }));
  CHECK(r.events.back().bytes_to_free == 0);
  CHECK_FALSE(r.events.back().time_to_limit);
}

TEST_CASE(
    "monitor: the sampler reads usage at least every sample_bound far from the "
    "edges") {
  fixture_tree t;
  layout(t);
  auto o = fast_options(t);
  o.slow_interval = 60000ms;  // re-checks out of the way
  o.sample_bound = 50ms;
  auto m = make(o);
  recorder r(m);
  bool sampler = false;
  for (const auto& s : m.sources()) {
    if (s.kind == source_kind::usage_bands)
      sampler = s.detail.find("to 50 ms") != std::string::npos;
  }
  CHECK(sampler);
  // A jump from 10% to 95%: seen by the next read of usage.
  set_usage(t, 950 * MiB);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(pump_until(
      m, [&] { return m.level() == pressure_level::critical; }, 2000ms));
  const auto took = std::chrono::steady_clock::now() - t0;
  MESSAGE("jump seen after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
          << " ms (bound 50 ms; not a timing assertion beyond 2 s)");
}

TEST_CASE(
    "monitor: after stop() from a callback, dispatch() and start() work "
    "again") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  std::atomic<int> calls{0};
  std::atomic<bool> stop_in_callback{true};
  auto sub = m.subscribe([&](const memory_event&) {
    ++calls;
    if (stop_in_callback) m.stop();
  });
  REQUIRE(m.start());
  set_usage(t, 990 * MiB);
  for (int i = 0; i < 500 && calls == 0; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(calls == 1);
  stop_in_callback = false;
  // The thread ends after that callback; then this thread may dispatch.
  set_usage(t, 100 * MiB);
  REQUIRE(pump_until(m, [&] { return calls > 1; }));
  auto again = m.start();
  CHECK_MESSAGE(again, (again ? std::string() : again.error().message()));
  m.stop();
}

TEST_CASE("monitor: stop() from several threads at once returns in each") {
  fixture_tree t;
  layout(t);
  for (int round = 0; round < 20; ++round) {
    auto m = make(fast_options(t));
    REQUIRE(m.start());
    std::vector<std::thread> stoppers;
    std::atomic<int> returned{0};
    for (int i = 0; i < 4; ++i) {
      stoppers.emplace_back([&] {
        m.stop();
        ++returned;
      });
    }
    for (auto& th : stoppers) th.join();  // a hang fails the run
    CHECK(returned == 4);
    CHECK(m.start());  // and it starts again
  }
}

TEST_CASE(
    "monitor: start() right after a callback stopped it is not refused as "
    "already started") {
  fixture_tree t;
  layout(t);
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    set_usage(t, 100 * MiB);
    auto m = make(fast_options(t));
    std::atomic<bool> stop_once{true};
    std::atomic<bool> stopped{false};
    std::atomic<bool> starting{false};
    auto stopper = m.subscribe([&](const memory_event&) {
      if (stop_once.exchange(false)) {
        m.stop();
        stopped = true;
      }
    });
    // Holds the ending thread until start() is under way: the window in
    // which start() used to say "monitor already started".
    auto holder = m.subscribe([&](const memory_event&) {
      if (!stopped) return;
      while (!starting) std::this_thread::yield();
    });
    REQUIRE(m.start());
    set_usage(t, 990 * MiB);
    while (!stopped) std::this_thread::yield();  // a hang fails the run
    starting = true;
    auto again = m.start();
    CHECK_MESSAGE(again, (again ? std::string() : again.error().message()));
    m.stop();
  }
}

TEST_CASE(
    "monitor: dispatch() right after a callback stopped it waits for the "
    "thread, then delivers") {
  fixture_tree t;
  layout(t);
  auto o = fast_options(t);
  o.sample_bound = 5ms;  // a sample is due at most 5 ms after the last
  auto m = make(o);
  std::atomic<bool> stop_once{true};
  std::atomic<bool> stopped{false};
  std::atomic<bool> dispatching{false};
  std::atomic<int> on_this_thread{0};
  const auto me = std::this_thread::get_id();
  auto stopper = m.subscribe([&](const memory_event&) {
    if (std::this_thread::get_id() == me) ++on_this_thread;
    if (stop_once.exchange(false)) {
      m.stop();
      stopped = true;
    }
  });
  auto holder = m.subscribe([&](const memory_event&) {
    if (std::this_thread::get_id() == me || !stopped) return;
    while (!dispatching) std::this_thread::yield();
  });
  REQUIRE(m.start());
  set_usage(t, 990 * MiB);
  while (!stopped) std::this_thread::yield();
  // Back to 100 MiB, and past sample_bound since the thread's last pass:
  // the first dispatch() samples it and delivers the drop. (A wait of at
  // least that long, never a judgement of time.)
  set_usage(t, 100 * MiB);
  std::this_thread::sleep_for(50ms);
  dispatching = true;
  const std::size_t called = m.dispatch();
  CHECK(called > 0);
  CHECK(on_this_thread > 0);
}

TEST_CASE("monitor: stop() and start() at once from two threads both return") {
  fixture_tree t;
  layout(t);
  for (int round = 0; round < 20; ++round) {
    auto m = make(fast_options(t));
    REQUIRE(m.start());
    std::thread stopper([&] { m.stop(); });
    std::thread starter([&] { (void)m.start(); });
    stopper.join();  // a hang fails the run
    starter.join();
    m.stop();  // whichever won, this ends it
    CHECK(m.start());
    m.stop();
  }
}

TEST_CASE("monitor: stop() while another thread dispatches returns") {
  fixture_tree t;
  layout(t);
  auto m = make(fast_options(t));
  std::atomic<bool> done{false};
  std::atomic<int> calls{0};
  auto sub = m.subscribe([&](const memory_event&) { ++calls; });
  std::thread dispatcher([&] {
    while (!done) {
      pollfd p{m.fd(), POLLIN, 0};
      ::poll(&p, 1, 5);
      m.dispatch();
    }
  });
  set_usage(t, 990 * MiB);
  for (int i = 0; i < 200; ++i) {
    m.stop();  // nothing to join: it returns
    if (i % 50 == 0) {
      // A started thread meanwhile: the dispatcher's calls return 0, and
      // stop() joins it.
      if (m.start()) m.stop();
    }
  }
  // The dispatcher still delivers (a hang fails the run).
  while (calls == 0) std::this_thread::yield();
  done = true;
  dispatcher.join();
  CHECK(calls > 0);
}

// The descriptors an epoll set holds, as /proc/self/fdinfo lists them.
static std::vector<std::string> epoll_entries(int epfd) {
  std::vector<std::string> out;
  const std::string text =
      read_whole_or_empty("/proc/self/fdinfo/" + std::to_string(epfd));
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    if (line.rfind("tfd:", 0) == 0) out.push_back(line);
    at = nl + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE(
    "monitor: a forked child never changes the parent's epoll set, with or "
    "without forget_after_fork()") {
  fixture_tree t;
  layout(t);
  for (const bool forget : {true, false}) {
    for (const bool started : {false, true}) {
      CAPTURE(forget);
      CAPTURE(started);
      set_usage(t, 100 * MiB);
      std::optional<monitor> m(make(fast_options(t)));
      std::atomic<int> calls{0};
      auto sub = m->subscribe([&](const memory_event&) { ++calls; });
      const int epfd = m->fd();
      const auto before = epoll_entries(epfd);
      REQUIRE_FALSE(before.empty());
      if (started) REQUIRE(m->start());
      const pid_t child = ::fork();
      if (child == 0) {
        // The child: forgets the monitor (or not), then destroys it: no
        // join of the parent's thread, nothing taken out of the set.
        if (forget) m->forget_after_fork();
        m->stop();
        if (m->dispatch() != 0 || m->start()) ::_exit(2);
        m.reset();
        ::_exit(0);
      }
      int status = 0;
      REQUIRE(::waitpid(child, &status, 0) == child);
      CHECK(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);
      CHECK(epoll_entries(epfd) == before);
      m->stop();
      // The parent's monitor still works.
      const int was = calls;
      set_usage(t, 990 * MiB);
      CHECK(pump_until(*m, [&] { return calls > was; }));
    }
  }
}

TEST_CASE(
    "monitor: destroyed, it takes every descriptor out of its epoll set "
    "first") {
  // A second holder of the epoll set and of each descriptor in it (a
  // forked child would be one): whatever is still registered when the
  // monitor's copies close stays in the set.
  fixture_tree t;
  layout(t);
  std::optional<monitor> m(make(fast_options(t)));
  REQUIRE(m->start());
  m->stop();
  const int epfd = ::dup(m->fd());
  REQUIRE(epfd >= 0);
  std::vector<int> copies;
  for (const auto& line : epoll_entries(epfd)) {
    const int fd = std::atoi(line.c_str() + 4);
    copies.push_back(::dup(fd));
  }
  REQUIRE_FALSE(copies.empty());
  m.reset();
  const auto left = epoll_entries(epfd);
  CHECK_MESSAGE(left.empty(), "left in the set: " << left.size());
  for (const int fd : copies) ::close(fd);
  ::close(epfd);
}

TEST_CASE(
    "monitor: memory.events growth: max is moderate, high and oom critical, "
    "each reason naming its own counter") {
  fixture_tree t;
  t.file("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
  detail::event_counters c;
  c.reset(t.path("memory.events"), source_kind::memory_events);
  detail::source_outcome first;
  REQUIRE(c.read(detail::event_counters::report::baseline, first));
  CHECK(first.signals.empty());

  // Only max grew: moderate, and the reason speaks of max, not of high.
  t.file("memory.events", "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n");
  detail::source_outcome at_max;
  REQUIRE(c.read(detail::event_counters::report::everything, at_max));
  REQUIRE(at_max.signals.size() == 1);
  CHECK(at_max.signals[0].level == pressure_level::moderate);
  CHECK(at_max.signals[0].reason.find("max +3") != std::string::npos);
  CHECK(at_max.signals[0].reason.find("high") == std::string::npos);

  // high and oom grew: two critical signals, each with its own count.
  t.file("memory.events", "low 0\nhigh 7\nmax 3\noom 1\noom_kill 0\n");
  detail::source_outcome at_high;
  REQUIRE(c.read(detail::event_counters::report::everything, at_high));
  REQUIRE(at_high.signals.size() == 2);
  for (const auto& s : at_high.signals)
    CHECK(s.level == pressure_level::critical);
  CHECK(at_high.signals[0].reason.find("high +7") != std::string::npos);
  CHECK(at_high.signals[1].reason.find("oom +1") != std::string::npos);
  CHECK(at_high.kills.empty());

  // kills only: the periodic re-check raises no signal for the rest.
  t.file("memory.events", "low 0\nhigh 9\nmax 5\noom 2\noom_kill 1\n");
  detail::source_outcome kills;
  REQUIRE(c.read(detail::event_counters::report::kills, kills));
  CHECK(kills.signals.empty());
  REQUIRE(kills.kills.size() == 1);
  CHECK(c.kills() == 1);
}
