// SPDX-License-Identifier: MIT
// A budget shared by weighted consumers: proportional targets, floors,
// pressure taking back from what is held, rate-limited regrowth, limits
// raised and lowered. Time is passed in, so nothing here waits.
#include <headroom/shared_budget.hpp>
#include "../support/doctest.hpp"
#include "../support/units.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

using namespace headroom;
using headroom_test::t0;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// What a share's shrink callback was last told, and how often.
struct told {
  std::uint64_t target = 0;
  int calls = 0;
  shared_budget::shrink_callback callback() {
    return [this](std::uint64_t t) {
      target = t;
      ++calls;
    };
  }
};

}  // namespace

TEST_CASE("shared budget: targets are floors plus the weights' shares") {
  shared_budget b(1000);
  auto pages = b.join({"pages", 3});
  auto blobs = b.join({"blobs", 1});
  REQUIRE(pages);
  REQUIRE(blobs);
  CHECK(pages->target(t0) == 750);
  CHECK(blobs->target(t0) == 250);

  auto arena = b.join({"arena", 0, 200});
  REQUIRE(arena);
  CHECK(arena->target(t0) == 200);  // weight 0: its floor only
  CHECK(pages->target(t0) == 600);  // 3/4 of the 800 above the floors
  CHECK(blobs->target(t0) == 200);

  arena->reset();
  CHECK(!*arena);
  CHECK(arena->target(t0) == 0);
  CHECK(pages->target(t0) == 750);
}

TEST_CASE("shared budget: floors above the allowance leave each its floor") {
  shared_budget b(100);
  auto x = b.join({"x", 1, 80});
  auto y = b.join({"y", 1, 60});
  REQUIRE(x);
  REQUIRE(y);
  CHECK(x->target(t0) == 80);
  CHECK(y->target(t0) == 60);
}

TEST_CASE(
    "shared budget: a weight that is not a number or negative is refused") {
  shared_budget b(100);
  auto neg = b.join({"neg", -1});
  REQUIRE(!neg);
  CHECK(neg.error().code == std::make_error_code(std::errc::invalid_argument));
  CHECK(neg.error().path.find("neg") != std::string::npos);
  CHECK(!b.join({"nan", std::nan("")}));
  CHECK(!b.join({"inf", std::numeric_limits<double>::infinity()}));
}

TEST_CASE("shared budget: pressure takes bytes_to_free from what is held") {
  shared_budget b(1000);
  told p, q;
  auto pages = b.join({"pages", 3}, p.callback());
  auto blobs = b.join({"blobs", 1}, q.callback());
  REQUIRE(pages);
  REQUIRE(blobs);

  // Nothing reported: the shares are taken to hold their targets.
  b.on_pressure(pressure_level::moderate, 100, t0);
  CHECK(b.allowance(t0) == 900);
  CHECK(p.calls == 1);
  CHECK(p.target == 675);
  CHECK(q.calls == 1);
  CHECK(q.target == 225);

  // pages holds 100 of its 675, blobs all of its 225: 325 held, 100 to
  // free leaves 225, and only blobs is above its new target.
  pages->report(100);
  blobs->report(225);
  b.on_pressure(pressure_level::moderate, 100, t0 + milliseconds(10));
  CHECK(b.allowance(t0 + milliseconds(10)) == 225);
  CHECK(p.calls == 1);  // 100 held is below its 168
  CHECK(pages->target(t0 + milliseconds(10)) == 168);
  CHECK(q.calls == 2);
  CHECK(q.target == 56);
}

TEST_CASE(
    "shared budget: without bytes_to_free, moderate and critical shed shares "
    "of the total") {
  shared_budget_options o;
  o.shed_at_moderate = 10;
  o.shed_at_critical = 25;
  shared_budget b(1000, o);
  auto s = b.join({"s", 1});
  REQUIRE(s);
  b.on_pressure(pressure_level::moderate, std::nullopt, t0);
  CHECK(b.allowance(t0) == 900);
  b.on_pressure(pressure_level::critical, std::nullopt, t0);
  CHECK(b.allowance(t0) == 650);
  // critical sheds at least 25% even when the event asks for less
  b.on_pressure(pressure_level::critical, 10, t0);
  CHECK(b.allowance(t0) == 400);
  // bytes_to_free 0 at moderate: already below the edge, nothing is shed
  b.on_pressure(pressure_level::moderate, 0, t0);
  CHECK(b.allowance(t0) == 400);
  // none is not pressure
  b.on_pressure(pressure_level::none, 300, t0);
  CHECK(b.allowance(t0) == 400);
  // never below the floors
  auto f = b.join({"f", 0, 350});
  REQUIRE(f);
  b.on_pressure(pressure_level::critical, 1000, t0);
  CHECK(b.allowance(t0) == 350);
}

TEST_CASE("shared budget: regrowth waits for calm, then comes in steps") {
  shared_budget_options o;
  o.calm = seconds(2);
  o.regrow_percent = 10;
  o.regrow_interval = seconds(1);
  shared_budget b(1000, o);
  auto s = b.join({"s", 1});
  REQUIRE(s);
  b.on_pressure(pressure_level::critical, 500, t0);
  CHECK(s->target(t0) == 500);
  CHECK(s->target(t0 + milliseconds(1999)) == 500);
  CHECK(s->target(t0 + seconds(2)) == 600);
  CHECK(s->target(t0 + milliseconds(2999)) == 600);
  CHECK(s->target(t0 + seconds(3)) == 700);
  CHECK(s->target(t0 + seconds(6)) == 1000);
  CHECK(s->target(t0 + seconds(600)) == 1000);

  // A new pressure event restarts the wait from what had grown back.
  b.on_pressure(pressure_level::moderate, 100, t0 + seconds(3));
  CHECK(b.allowance(t0 + seconds(3)) == 600);
  CHECK(b.allowance(t0 + seconds(4)) == 600);
  CHECK(b.allowance(t0 + seconds(5)) == 700);
}

TEST_CASE(
    "shared budget: a raised limit adds room at once, a lowered one caps") {
  shared_budget_options o;
  o.calm = seconds(2);
  o.regrow_percent = 10;
  o.regrow_interval = seconds(1);
  shared_budget b(1000, o);
  told t;
  auto s = b.join({"s", 1}, t.callback());
  REQUIRE(s);
  b.on_pressure(pressure_level::critical, 400, t0);
  CHECK(t.calls == 1);
  CHECK(b.allowance(t0) == 600);

  b.set_total(2000, t0 + seconds(1));
  CHECK(b.total() == 2000);
  CHECK(b.allowance(t0 + seconds(1)) == 1600);
  CHECK(t.calls == 1);  // a raise asks nobody to shrink
  // what pressure took grows back at 10% of the new total per second
  CHECK(b.allowance(t0 + seconds(2)) == 1800);
  CHECK(b.allowance(t0 + seconds(3)) == 2000);

  s->report(1900);
  b.set_total(500, t0 + seconds(3));
  CHECK(b.allowance(t0 + seconds(3)) == 500);
  CHECK(t.calls == 2);
  CHECK(t.target == 500);
}

TEST_CASE(
    "shared budget: from a policy, and limit_changed events recompute it") {
  memory_snapshot s;
  s.limit = std::optional<std::uint64_t>(1000000);
  s.effective_limit = std::uint64_t{1000000};
  budget_policy p;
  p.percent = 50;
  p.address_space = rlimit_use::ignore;
  p.data = rlimit_use::ignore;
  auto b = shared_budget::create(s, p);
  REQUIRE(b);
  CHECK(b->total() == 500000);

  memory_event e;
  e.kind = event_kind::limit_changed;
  e.old_limit = 1000000;
  e.new_limit = 3000000;
  e.effective_limit = 3000000;
  b->on_event(e, t0);
  CHECK(b->total() == 1500000);

  e.kind = event_kind::pressure;
  e.level = pressure_level::moderate;
  e.bytes_to_free = 500000;
  b->on_event(e, t0);
  CHECK(b->allowance(t0) == 1000000);

  // A policy that only sizes under a limit: no limit, nothing to share.
  p.basis = budget_basis::limit_only;
  s.limit = std::optional<std::uint64_t>();
  auto none = shared_budget::create(s, p);
  REQUIRE(!none);
  CHECK(none.error().code == make_error_code(errc::not_supported));
  // A snapshot whose effective limit is unreadable is that error.
  memory_snapshot bad;
  bad.effective_limit = errno_error(EACCES, "/sys/fs/cgroup/memory.max");
  auto unread = shared_budget::create(bad, budget_policy{});
  REQUIRE(!unread);
  CHECK(unread.error().path == "/sys/fs/cgroup/memory.max");
}

TEST_CASE(
    "shared budget: a callback may reset its own share and read targets") {
  shared_budget b(1000);
  budget_share self;
  std::uint64_t seen = 0;
  auto other = b.join({"other", 1});
  auto joined = b.join({"self", 1}, [&](std::uint64_t) {
    seen = other->target(t0);
    self.reset();
  });
  REQUIRE(joined);
  self = std::move(*joined);
  b.on_pressure(pressure_level::critical, 500, t0);
  CHECK(!self);
  CHECK(seen == 250);
  CHECK(other->target(t0) == 500);  // all that is left is its own
}

TEST_CASE("shared budget: shares used from several threads at once") {
  shared_budget b(1 << 30);
  std::atomic<bool> go{true};
  std::atomic<int> shrinks{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      while (go.load()) {
        auto s = b.join({"t" + std::to_string(i), 1.0 + i},
                        [&](std::uint64_t) { ++shrinks; });
        if (!s) {
          ++refused;
          continue;
        }
        s->report(s->target() / 2);
        (void)s->target();
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    b.on_pressure(i % 2 ? pressure_level::critical : pressure_level::moderate,
                  1 << 20);
    b.set_total((1u << 30) + static_cast<std::uint64_t>(i % 7) * 4096);
  }
  go = false;
  for (auto& t : threads) t.join();
  CHECK(refused == 0);
  CHECK(b.total() >= (1u << 30));
  CHECK(b.allowance() <= b.total());
}
