// SPDX-License-Identifier: MIT
// Many threads on one reader and one monitor at once, the way a service
// uses them: 8 threads call snapshot() and usage() in a loop on ONE shared
// memory_reader (memory.hpp documents usage() and snapshot() as "safe to
// call from many threads at once"), while a monitor runs its own thread
// (start()), is stopped and started again and again, a thread subscribes
// and unsubscribes callbacks without pause, and the callbacks call
// last_snapshot() and level(). Meanwhile usage moves across a band edge so
// that callbacks do run.
//
// Twice: on a fixture tree (unprivileged; usage flipped by a driver
// thread), and on the live kernel when this process is root and has a
// memory cgroup (a child cgroup with a 256 MiB limit and a forked child
// that allocates and frees 220 MiB in turn).
//
// What is checked: every snapshot is consistent (limit as set, usage in
// range, working set <= usage, headroom = effective limit - working set);
// stop() returns within a bound every time; no callback runs, or is still
// running, once unsubscribe has returned; every kind of call happened. Run
// it under TSan (the tsan configuration of tests/run-all.sh) for the races.
#include <headroom/pressure.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>

#include "../live/live_cgroup.hpp"
#include "../support/doctest.hpp"
#include "../support/layouts.hpp"
#include "../support/skip.hpp"

using namespace headroom;
using namespace std::chrono_literals;
using headroom_test::fixture_tree;
using headroom_test::MiB;

namespace {

using clock_type = std::chrono::steady_clock;

constexpr int reader_threads = 8;
// stop() must return within this, every time (generous: TSan on 2 CPUs
// with a dozen busy threads). The figure seen is printed.
constexpr auto stop_bound = 500ms;

// What every snapshot must show.
struct expected {
  hierarchy_mode mode = hierarchy_mode::none;
  std::uint64_t limit = 0;            // exact
  std::uint64_t effective_limit = 0;  // exact
  std::function<bool(std::uint64_t)> usage_ok;
  std::string usage_rule;  // for messages
};

std::string consistency(const memory_snapshot& s, const expected& x) {
  if (s.mode != x.mode) return std::string("mode ") + to_string(s.mode);
  if (!s.limit) return "limit unreadable: " + s.limit.error().message();
  if (!s.limit->has_value()) return "no limit";
  if (**s.limit != x.limit) return "limit " + std::to_string(**s.limit);
  if (!s.usage) return "usage unreadable: " + s.usage.error().message();
  if (!x.usage_ok(*s.usage))
    return "usage " + std::to_string(*s.usage) + " not " + x.usage_rule;
  if (!s.stat) return "memory.stat unreadable: " + s.stat.error().message();
  if (!s.working_set)
    return "working set unreadable: " + s.working_set.error().message();
  if (*s.working_set > *s.usage) {
    return "working set " + std::to_string(*s.working_set) + " > usage " +
           std::to_string(*s.usage);
  }
  if (!s.effective_limit || *s.effective_limit != x.effective_limit)
    return "effective limit";
  const std::uint64_t room = x.effective_limit > *s.working_set
                                 ? x.effective_limit - *s.working_set
                                 : 0;
  if (!s.headroom || *s.headroom != room) return "headroom";
  return {};
}

// What the threads saw; checked on the test's thread afterwards.
struct tally {
  std::atomic<long> snapshots{0};
  std::atomic<long> usages{0};
  std::atomic<long> inconsistent{0};
  std::array<std::atomic<long>, reader_threads> per_thread{};

  std::atomic<long> callbacks{0};        // the permanent subscriber
  std::atomic<long> churn_callbacks{0};  // the churned ones
  std::atomic<long> nested_subscribes{0};
  std::atomic<long> callback_inconsistent{0};
  std::atomic<long> subscriptions{0};
  // A churned callback that started after its unsubscribe had returned, or
  // was still running when it returned.
  std::atomic<long> after_unsubscribe{0};
  std::atomic<long> running_at_return{0};

  std::atomic<long> restarts{0};
  std::atomic<long> driver_steps{0};
  std::atomic<long long> max_stop_us{0};

  std::mutex mu;
  std::string first_problem;
  void problem(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_problem.empty()) first_problem = what;
  }
};

void note_max(std::atomic<long long>& m, long long v) {
  long long cur = m.load();
  while (v > cur && !m.compare_exchange_weak(cur, v)) {
  }
}

// The callbacks' view: what the monitor last read must be consistent too
// (its usage may be newer than the rest, so only the limit and the usage
// rule are checked), and the level one of the three.
void check_from_callback(const monitor& m, const memory_event& e,
                         const expected& x, tally& t) {
  const memory_snapshot s = m.last_snapshot();
  const int level = static_cast<int>(m.level());
  std::string bad;
  if (!s.limit || !s.limit->has_value() || **s.limit != x.limit) {
    bad = "last_snapshot() limit";
  } else if (!s.usage || !x.usage_ok(*s.usage)) {
    bad = "last_snapshot() usage";
  } else if (level < 0 || level > 2) {
    bad = "level() " + std::to_string(level);
  } else if (e.kind == event_kind::pressure && e.effective_limit &&
             *e.effective_limit != x.effective_limit) {
    bad = "event effective limit " + std::to_string(*e.effective_limit);
  }
  if (!bad.empty()) {
    ++t.callback_inconsistent;
    t.problem("in a callback: " + bad);
  }
}

// Runs the threads for at least `least` and until every count is above
// zero (at most `most`), with `drive` called in a loop on its own thread
// to move usage. Then checks everything.
void run_stress(const memory_reader& reader, monitor& m, const expected& x,
                const std::function<void()>& drive, clock_type::duration least,
                clock_type::duration most) {
  tally t;
  std::atomic<bool> done{false};

  // The permanent subscriber; every 8th call it also subscribes and
  // unsubscribes from inside the callback (allowed: no lock is held).
  auto permanent = m.subscribe([&](const memory_event& e) {
    const long n = ++t.callbacks;
    check_from_callback(m, e, x, t);
    if (n % 8 == 0) {
      auto inner = m.subscribe([](const memory_event&) {});
      ++t.nested_subscribes;
      inner.reset();
    }
  });

  std::vector<std::thread> threads;
  for (int i = 0; i < reader_threads; ++i) {
    threads.emplace_back([&, i] {
      while (!done.load(std::memory_order_relaxed)) {
        const memory_snapshot s = reader.snapshot();
        ++t.snapshots;
        const std::string bad = consistency(s, x);
        if (!bad.empty()) {
          ++t.inconsistent;
          t.problem("snapshot(): " + bad);
        }
        const auto u = reader.usage();
        ++t.usages;
        if (!u || !x.usage_ok(*u)) {
          ++t.inconsistent;
          t.problem("usage(): " +
                    (u ? std::to_string(*u) : u.error().message()));
        }
        ++t.per_thread[static_cast<std::size_t>(i)];
      }
    });
  }

  // Subscribes and unsubscribes without pause. Each churned callback has a
  // flag set once its unsubscribe has returned, and a count of its running
  // calls, which must be 0 when unsubscribe returns.
  threads.emplace_back([&] {
    std::mt19937 rng(12345);
    while (!done.load(std::memory_order_relaxed)) {
      auto gone = std::make_shared<std::atomic<bool>>(false);
      auto running = std::make_shared<std::atomic<int>>(0);
      auto sub = m.subscribe([&m, &x, &t, gone,
                              running](const memory_event& e) {
        ++*running;
        if (gone->load()) ++t.after_unsubscribe;
        ++t.churn_callbacks;
        check_from_callback(m, e, x, t);
        std::this_thread::yield();  // widen the window for a bad unsubscribe
        if (gone->load()) ++t.after_unsubscribe;
        --*running;
      });
      ++t.subscriptions;
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
      sub.reset();
      if (running->load() != 0) ++t.running_at_return;
      gone->store(true);
    }
  });

  threads.emplace_back([&] {
    while (!done.load(std::memory_order_relaxed)) {
      drive();
      ++t.driver_steps;
    }
  });

  // This thread stops and starts the monitor every 100 ms or so.
  const auto begin = clock_type::now();
  const auto all_seen = [&] {
    for (const auto& n : t.per_thread) {
      if (n.load() == 0) return false;
    }
    return t.callbacks > 0 && t.churn_callbacks > 0 &&
           t.nested_subscribes > 0 && t.restarts > 2;
  };
  bool started = true;
  while (clock_type::now() - begin < most &&
         (clock_type::now() - begin < least || !all_seen())) {
    std::this_thread::sleep_for(100ms);
    const auto t0 = clock_type::now();
    m.stop();
    note_max(t.max_stop_us,
             std::chrono::duration_cast<std::chrono::microseconds>(
                 clock_type::now() - t0)
                 .count());
    std::this_thread::sleep_for(5ms);
    if (!m.start()) {
      started = false;
      t.problem("start() failed after stop()");
      break;
    }
    ++t.restarts;
  }

  const auto t0 = clock_type::now();
  m.stop();
  const auto last_stop = clock_type::now() - t0;
  note_max(
      t.max_stop_us,
      std::chrono::duration_cast<std::chrono::microseconds>(last_stop).count());
  done = true;
  for (auto& th : threads) th.join();
  permanent.reset();

  MESSAGE("snapshots " << t.snapshots.load() << ", usage() " << t.usages.load()
                       << ", callbacks " << t.callbacks.load() << " + "
                       << t.churn_callbacks.load() << " churned, subscriptions "
                       << t.subscriptions.load() << ", restarts "
                       << t.restarts.load() << ", driver steps "
                       << t.driver_steps.load() << ", longest stop() "
                       << t.max_stop_us.load() << " us");
  CHECK(started);
  CHECK_MESSAGE(t.inconsistent.load() == 0, t.first_problem);
  CHECK_MESSAGE(t.callback_inconsistent.load() == 0, t.first_problem);
  CHECK(t.after_unsubscribe.load() == 0);
  CHECK(t.running_at_return.load() == 0);
  CHECK(t.max_stop_us.load() <
        std::chrono::duration_cast<std::chrono::microseconds>(stop_bound)
            .count());
  for (std::size_t i = 0; i < t.per_thread.size(); ++i) {
    CAPTURE(i);
    CHECK(t.per_thread[i].load() > 0);
  }
  CHECK(t.snapshots.load() > 0);
  CHECK(t.usages.load() > 0);
  CHECK(t.callbacks.load() > 0);
  CHECK(t.churn_callbacks.load() > 0);
  CHECK(t.nested_subscribes.load() > 0);
  CHECK(t.subscriptions.load() > 0);
  CHECK(t.restarts.load() > 2);
  CHECK(t.driver_steps.load() > 0);
}

// Writes one byte at offset 0 of a file, in place: a reader's pread sees
// the old or the new content, never a truncated file.
void poke(const std::string& path, char c) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, &c, 1, 0) == 1);
  ::close(fd);
}

}  // namespace

TEST_CASE("concurrency: one reader, one monitor, many threads (fixture tree)") {
  // A v2 container with a 1000 MiB limit and no inactive file, so the
  // working set is memory.current. Usage flips between 104857600 (100 MiB,
  // level none) and 904857600 (863 MiB: moderate, the edge is 80%) by
  // rewriting only the first digit in place.
  fixture_tree tree;
  headroom_test::write_host(tree);
  tree.file("proc/self/cgroup", "0::/app.slice\n");
  tree.file("proc/self/mountinfo",
            std::string(headroom_test::mi_base) + headroom_test::mi_v2_host);
  headroom_test::write_v2_root(tree, "sys/fs/cgroup");
  headroom_test::v2_dir d;
  d.max = std::to_string(1000 * MiB);
  d.current = 104857600;
  d.anon = 104857600;
  d.file = 0;
  d.inactive_file = 0;
  headroom_test::write_v2(tree, "sys/fs/cgroup/app.slice", d);
  const std::string current =
      tree.path("sys/fs/cgroup/app.slice/memory.current");

  options ro;
  ro.root = tree.root();
  ro.use_environment = false;
  auto reader = memory_reader::open(ro);
  REQUIRE_MESSAGE(reader.has_value(), reader.error().message());

  monitor_options mo;
  mo.reader = ro;
  mo.fast_interval = 1ms;
  mo.slow_interval = 20ms;
  mo.repeat_interval = 50ms;  // repeats too: more callbacks
  auto m = monitor::create(mo);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  REQUIRE(m->start());

  expected x;
  x.mode = hierarchy_mode::v2;
  x.limit = 1000 * MiB;
  x.effective_limit = 1000 * MiB;
  x.usage_ok = [](std::uint64_t u) { return u == 104857600 || u == 904857600; };
  x.usage_rule = "104857600 or 904857600";

  bool high = false;
  run_stress(
      *reader, *m, x,
      [&] {
        high = !high;
        poke(current, high ? '9' : '1');
        std::this_thread::sleep_for(15ms);
      },
      2s, 30s);
}

TEST_CASE("concurrency: one reader, one monitor, many threads (live kernel)") {
  using namespace headroom_live;
  if (::geteuid() != 0)
    HEADROOM_SKIP_CASE("the live case needs root (it creates a memory cgroup)");
  const host_layout host = probe_host();
  if (host.mode == hierarchy_mode::none)
    HEADROOM_SKIP_CASE("no memory cgroup is visible to this process");
  std::string err;
  auto dir = cgroup_dir::make(
      host, host.own_dir, "headroom-concurrency-" + std::to_string(::getpid()),
      &err);
  if (!dir) HEADROOM_SKIP_CASE("cannot create a child memory cgroup: " + err);
  cgroup_dir cg(host, *dir);
  constexpr std::uint64_t limit = 256 * MiB;
  REQUIRE(cg.set_limit(limit));

  // Forked before any thread of this test exists, with nothing buffered
  // (a sanitizer's exit path in the child may flush a copy of it).
  std::cout.flush();
  std::fflush(nullptr);
  child_process child;
  REQUIRE(child.pid() > 0);
  REQUIRE(cg.move_in(child.pid()));
  const auto first = child.ask(command::snapshot);
  REQUIRE(first.has_value());
  REQUIRE(first->open_ok == 1);

  options ro;
  ro.pid = child.pid();
  ro.use_environment = false;
  auto reader = memory_reader::open(ro);
  REQUIRE_MESSAGE(reader.has_value(), reader.error().message());
  REQUIRE(reader->location().dir.size() > 0);

  monitor_options mo;
  mo.reader = ro;
  mo.slow_interval = 100ms;
  mo.repeat_interval = 200ms;
  auto m = monitor::create(mo);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  for (const auto& s : m->sources()) {
    MESSAGE("source " << std::string(to_string(s.kind)) << ": "
                      << (s.active ? "active "
                                   : "failed: " + s.failure.message() + " ")
                      << s.detail);
  }
  REQUIRE(m->start());

  std::uint64_t host_total = 0;
  {
    const auto s = reader->snapshot();
    REQUIRE(s.host_total.has_value());
    host_total = *s.host_total;
  }
  expected x;
  x.mode = reader->mode();
  x.limit = limit;
  x.effective_limit = std::min(limit, host_total);
  x.usage_ok = [](std::uint64_t u) { return u > 0 && u <= limit; };
  x.usage_rule = "in (0, 256 MiB]";

  // 220 MiB of 256 is 86%: moderate; freed: none. About 5 changes a second.
  bool full = false;
  std::atomic<bool> child_died{false};
  run_stress(
      *reader, *m, x,
      [&] {
        if (child_died) {
          std::this_thread::sleep_for(10ms);
          return;
        }
        full = !full;
        if (!child.ask(full ? command::allocate : command::free_all, 220 * MiB))
          child_died = true;
        std::this_thread::sleep_for(100ms);
      },
      3s, 30s);
  CHECK_FALSE(child_died.load());
  child.ask(command::quit);
  child.wait_exit();
}

// dispatch() polled on one thread while another stops and starts the
// monitor: two loops must never run at once (under TSan a race on the
// loop's state; everywhere, callbacks running on two threads at once are
// counted). dispatch() and start() exclude each other through the loop
// mutex; this found the race when they did not.
TEST_CASE(
    "concurrency: dispatch() on one thread while another stops and starts the "
    "monitor") {
  fixture_tree tree;
  headroom_test::write_host(tree);
  tree.file("proc/self/cgroup", "0::/app.slice\n");
  tree.file("proc/self/mountinfo",
            std::string(headroom_test::mi_base) + headroom_test::mi_v2_host);
  headroom_test::write_v2_root(tree, "sys/fs/cgroup");
  headroom_test::v2_dir d;
  d.max = std::to_string(1000 * MiB);
  d.current = 836 * MiB;  // next to the moderate edge: sampled every ms
  d.inactive_file = 0;
  headroom_test::write_v2(tree, "sys/fs/cgroup/app.slice", d);
  monitor_options mo;
  mo.reader.root = tree.root();
  mo.reader.use_environment = false;
  mo.fast_interval = 1ms;
  mo.slow_interval = 5ms;
  mo.repeat_interval = 1ms;
  auto m = monitor::create(mo);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());

  std::atomic<int> in_flight{0};
  std::atomic<long> overlapped{0};
  std::atomic<long> calls{0};
  auto sub = m->subscribe([&](const memory_event&) {
    if (++in_flight > 1) ++overlapped;
    ++calls;
    std::this_thread::yield();
    --in_flight;
  });
  std::atomic<bool> done{false};
  std::thread poller([&] {
    while (!done) m->dispatch();
  });
  REQUIRE(m->start());
  for (int i = 0; i < 3000; ++i) {
    std::this_thread::sleep_for(300us);
    m->stop();
    std::this_thread::sleep_for(150us);
    (void)m->start();
  }
  m->stop();
  done = true;
  poller.join();
  MESSAGE("callbacks " << calls.load() << ", overlapping "
                       << overlapped.load());
  CHECK(overlapped.load() == 0);
}

// From inside a dispatch() callback: a nested dispatch() does nothing and
// start() fails busy (the thread would run beside the dispatching one).
TEST_CASE(
    "concurrency: dispatch() and start() from inside a dispatch() callback") {
  fixture_tree tree;
  headroom_test::write_host(tree);
  tree.file("proc/self/cgroup", "0::/app.slice\n");
  tree.file("proc/self/mountinfo",
            std::string(headroom_test::mi_base) + headroom_test::mi_v2_host);
  headroom_test::write_v2_root(tree, "sys/fs/cgroup");
  headroom_test::v2_dir d;
  d.max = std::to_string(1000 * MiB);
  d.current = 900 * MiB;  // moderate: an event on the first dispatch
  d.inactive_file = 0;
  headroom_test::write_v2(tree, "sys/fs/cgroup/app.slice", d);
  monitor_options mo;
  mo.reader.root = tree.root();
  mo.reader.use_environment = false;
  mo.fast_interval = 1ms;
  auto m = monitor::create(mo);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());

  int calls = 0;
  std::size_t nested = 99;
  bool start_failed = false;
  auto sub = m->subscribe([&](const memory_event&) {
    if (calls++) return;
    nested = m->dispatch();
    const auto started = m->start();
    start_failed =
        !started && started.error().code == std::errc::device_or_resource_busy;
  });
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (calls == 0 && std::chrono::steady_clock::now() < end) {
    m->dispatch();
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(calls > 0);
  CHECK(nested == 0);
  CHECK(start_failed);
  // Outside the callback, start() works.
  REQUIRE(m->start());
  m->stop();
}
