// SPDX-License-Identifier: MIT
// allocator_policy in this process: the release rate limit on a fake clock,
// the work done on the policy's thread while notify() returns at once,
// levels merged, and the actions this process's allocator has no call for
// reported unsupported. The actions under jemalloc and gperftools are
// tested preloaded in tests/release (allocator_preload_test).
#include <headroom/allocator.hpp>
#include "../support/doctest.hpp"

#include <dlfcn.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "../support/sanitized.hpp"

using namespace headroom;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

// A clock the test moves by hand, read from the policy's thread.
struct fake_clock {
  std::atomic<steady::rep> ticks{0};
  void advance(steady::duration d) { ticks.fetch_add(d.count()); }
  std::function<steady::time_point()> fn() {
    return
        [this] { return steady::time_point(steady::duration(ticks.load())); };
  }
};

std::size_t count(const std::vector<allocator_action>& actions,
                  const std::string& what) {
  std::size_t n = 0;
  for (const auto& a : actions) n += a.what == what ? 1 : 0;
  return n;
}

// glibc in a normal build. In a sanitizer build the runtime, linked into
// this program, defines malloc: its purge call serves it where the runtime
// has one (ASan), else nothing known does (TSan).
allocator_kind expected_allocator() {
  if (!HEADROOM_TEST_SANITIZED) return allocator_kind::glibc;
  return ::dlsym(RTLD_DEFAULT, "__sanitizer_purge_allocator") != nullptr
             ? allocator_kind::sanitizer
             : allocator_kind::unknown;
}

// A release runs a call wherever one is known for this malloc.
action_status expected_release() {
  return expected_allocator() == allocator_kind::unknown
             ? action_status::unsupported
             : action_status::ok;
}

}  // namespace

TEST_CASE("release_gate: at most one release per interval") {
  detail::release_gate gate(5000ms);
  const steady::time_point t0{};
  CHECK(gate.admit(t0));
  CHECK_FALSE(gate.admit(t0));
  CHECK_FALSE(gate.admit(t0 + 4999ms));
  CHECK(gate.admit(t0 + 5000ms));
  CHECK_FALSE(gate.admit(t0 + 9999ms));  // counted from the last release
  CHECK(gate.admit(t0 + 60s));

  detail::release_gate none(0ms);
  CHECK(none.admit(t0));
  CHECK(none.admit(t0));
}

TEST_CASE("allocator_policy: pressure releases, rate-limited on its clock") {
  fake_clock clock;
  allocator_policy_options opt;
  opt.min_release_interval = 5000ms;
  opt.clock = clock.fn();
  allocator_policy policy(opt);

  policy.notify(pressure_level::none);
  policy.wait_idle();
  CHECK(count(policy.actions(), "release") == 0);

  policy.notify(pressure_level::moderate);
  policy.wait_idle();
  REQUIRE(count(policy.actions(), "release") == 1);
  const auto first = policy.actions().back();
  CHECK(first.status == expected_release());
  CHECK(first.allocator == expected_allocator());
  CHECK(first.before.has_value());
  CHECK(first.after.has_value());

  clock.advance(1s);
  policy.notify(pressure_level::moderate);
  policy.wait_idle();
  CHECK(count(policy.actions(), "release") == 1);
  CHECK(policy.rate_limited() == 1);

  clock.advance(4s);  // 5 s after the first
  policy.notify(pressure_level::moderate);
  policy.wait_idle();
  CHECK(count(policy.actions(), "release") == 2);
  CHECK(policy.rate_limited() == 1);

  // A direct call is not rate-limited.
  CHECK(policy.release().status == expected_release());
  CHECK(count(policy.actions(), "release") == 3);
}

TEST_CASE("allocator_policy: release_at critical ignores moderate") {
  allocator_policy_options opt;
  opt.release_at = pressure_level::critical;
  opt.min_release_interval = 0ms;
  opt.tighten_decay_on_critical = false;
  allocator_policy policy(opt);
  policy.notify(pressure_level::moderate);
  policy.wait_idle();
  CHECK(policy.actions().empty());
  policy.notify(pressure_level::critical);
  policy.wait_idle();
  CHECK(count(policy.actions(), "release") == 1);
  CHECK(policy.actions().size() == 1);
}

TEST_CASE(
    "allocator_policy: the work runs on its thread, notify returns at once") {
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<std::thread::id> threads;
  allocator_policy_options opt;
  opt.min_release_interval = 0ms;
  opt.tighten_decay_on_critical = false;
  opt.on_action = [&](const allocator_action&) {
    std::unique_lock<std::mutex> lock(mu);
    threads.push_back(std::this_thread::get_id());
    cv.notify_all();
    cv.wait(lock, [&] { return go; });
  };
  allocator_policy policy(opt);
  policy.notify(pressure_level::moderate);
  {
    // The first release is held inside on_action: notify() still returns.
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !threads.empty(); });
  }
  policy.notify(pressure_level::critical);
  policy.notify(pressure_level::moderate);
  policy.notify(pressure_level::none);
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(threads.size() == 1);
    go = true;
  }
  cv.notify_all();
  policy.wait_idle();
  std::lock_guard<std::mutex> lock(mu);
  // The three levels noted meanwhile are one batch: one more release.
  CHECK(threads.size() == 2);
  for (const auto& id : threads) CHECK(id != std::this_thread::get_id());
}

TEST_CASE("allocator_policy: decay on critical is jemalloc's, said once") {
  fake_clock clock;
  allocator_policy_options opt;
  opt.min_release_interval = 0ms;
  opt.clock = clock.fn();
  allocator_policy policy(opt);
  for (int i = 0; i < 3; ++i) {
    policy.notify(pressure_level::critical);
    policy.wait_idle();
    policy.notify(pressure_level::none);
    policy.wait_idle();
  }
  const auto actions = policy.actions();
  CHECK(count(actions, "release") == 3);
  REQUIRE(count(actions, "tighten decay") == 1);
  for (const auto& a : actions) {
    if (a.what != "tighten decay") continue;
    CHECK(a.status == action_status::unsupported);
    CHECK(a.allocator == expected_allocator());
    CHECK_FALSE(a.reason.empty());
  }
  CHECK_FALSE(policy.decay_tightened());
  CHECK(count(actions, "restore decay") == 0);
}

TEST_CASE("allocator_policy: many threads notify while it works") {
  allocator_policy_options opt;
  opt.min_release_interval = 1ms;
  std::atomic<int> seen{0};
  opt.on_action = [&](const allocator_action&) { seen.fetch_add(1); };
  {
    allocator_policy policy(opt);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&policy, t] {
        for (int i = 0; i < 200; ++i) {
          policy.notify(static_cast<pressure_level>((i + t) % 3));
          if (i % 50 == 0) policy.wait_idle();
        }
      });
    }
    for (auto& th : threads) th.join();
    policy.wait_idle();
    CHECK(policy.actions().size() <= 64);
  }  // destroyed with nothing pending, or with work queued: both end
  CHECK(seen.load() >= 1);
}

TEST_CASE("set_heap_limit and set_arena_max in this process") {
  const auto limit = set_heap_limit(256u << 20);
  CHECK(limit.status == action_status::unsupported);
  CHECK(limit.allocator == expected_allocator());
  CHECK(limit.call.empty());

  cpu_snapshot c;
  c.affinity = 4u;
  c.quota = std::optional<cpu_quota>(cpu_quota{150000, 100000});
  const auto arenas = set_arena_max(c);
  if (HEADROOM_TEST_SANITIZED) {
    CHECK(arenas.status == action_status::unsupported);
  } else {
    // 1.5 CPUs rounded up: 2, and glibc's 8 arenas per CPU.
    CHECK(arenas.status == action_status::ok);
    CHECK(arenas.call == "mallopt(M_ARENA_MAX, 16)");
    CHECK(set_arena_max(0u).status == action_status::failed);
  }

  cpu_snapshot unknown;  // affinity unread
  const auto failed = set_arena_max(unknown);
  CHECK(failed.status == action_status::failed);
  CHECK(failed.call.empty());
}

TEST_CASE("read_allocator_slack in this process") {
  const auto s = read_allocator_slack();
  if (HEADROOM_TEST_SANITIZED) {
    REQUIRE_FALSE(s);
    CHECK(s.error().code == errc::not_supported);
    CHECK(s.error().message().find(to_string(expected_allocator())) !=
          std::string::npos);
  } else {
    REQUIRE(s);
    CHECK(s->allocator == allocator_kind::glibc);
    CHECK(s->source == "mallinfo2()");
    CHECK(s->free.has_value());
    CHECK(s->in_use.has_value());
  }
}

TEST_CASE("allocator_policy: limit_changed moves the heap limit when asked") {
  memory_event e;
  e.kind = event_kind::limit_changed;
  e.new_limit = std::uint64_t{1} << 30;
  e.effective_limit = e.new_limit;
  {
    allocator_policy policy;  // no heap_limit_percent: nothing to move
    policy.notify(e);
    policy.wait_idle();
    CHECK(policy.actions().empty());
  }
  allocator_policy_options opt;
  opt.heap_limit_percent = 90;
  std::atomic<bool> on_caller{false};
  const auto caller = std::this_thread::get_id();
  opt.on_action = [&](const allocator_action& a) {
    if (a.what == "heap limit" && std::this_thread::get_id() == caller)
      on_caller.store(true);
  };
  allocator_policy policy(opt);
  const std::size_t at_start = policy.actions().size();  // 1 under a limit
  CHECK(at_start <= 1);
  on_caller.store(false);  // a limit found at start is pushed by the caller
  policy.notify(e);
  policy.wait_idle();
  const auto actions = policy.actions();
  REQUIRE(actions.size() == at_start + 1);
  // This process's allocator has no heap limit: said, not pretended.
  CHECK(actions.back().what == "heap limit");
  CHECK(actions.back().status == action_status::unsupported);
  CHECK_FALSE(on_caller.load());

  CHECK(set_heap_limit(1000).status == action_status::failed);
}
