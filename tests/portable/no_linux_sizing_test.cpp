// SPDX-License-Identifier: MIT
// cpu.hpp, policy.hpp, release.hpp and allocator.hpp built with
// HEADROOM_HAVE_LINUX=0: they compile, report nothing found, and never invent a
// number.
#include <headroom/headroom.hpp>

#include "../support/doctest.hpp"

static_assert(HEADROOM_HAVE_LINUX == 0,
              "this test pretends not to be on Linux");

TEST_CASE("without Linux: no cpu controller, no affinity, no effective count") {
  auto r = headroom::cpu_reader::open();
  REQUIRE(r.has_value());
  CHECK(r->cpu_location().mode == headroom::hierarchy_mode::none);
  CHECK(r->cpu_location().why_none.code == headroom::errc::not_supported);
  const auto s = r->snapshot();
  CHECK(s.affinity.error().code == headroom::errc::not_supported);
  REQUIRE(s.quota.has_value());
  CHECK_FALSE(s.quota->has_value());
  CHECK_FALSE(s.effective(headroom::cpu_rounding::up).has_value());
}

TEST_CASE(
    "without Linux: no rlimits, no release call, no budget from nothing") {
  CHECK(headroom::read_address_limits().error().code ==
        headroom::errc::not_supported);
  CHECK(headroom::release_free_memory().error().code ==
        headroom::errc::not_supported);
  auto reader = headroom::memory_reader::open();
  REQUIRE(reader.has_value());
  const auto b = headroom::compute_budget(
      reader->snapshot(), headroom::presets::jvm(), headroom::address_limits{});
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().code == headroom::errc::not_supported);
}

TEST_CASE("without Linux: every allocator action says unsupported") {
  CHECK(headroom::read_allocator_slack().error().code ==
        headroom::errc::not_supported);
  CHECK(headroom::set_heap_limit(1u << 30).status ==
        headroom::action_status::unsupported);
  CHECK(headroom::set_arena_max(4u).status ==
        headroom::action_status::unsupported);
  headroom::allocator_policy_options opt;
  opt.min_release_interval = std::chrono::milliseconds(0);
  headroom::allocator_policy policy(opt);
  policy.notify(headroom::pressure_level::critical);
  policy.wait_idle();
  const auto actions = policy.actions();
  REQUIRE(actions.size() == 2);  // the release, and the decay once
  for (const auto& a : actions) {
    CHECK(a.status == headroom::action_status::unsupported);
    CHECK(a.call.empty());
    CHECK_FALSE(a.reason.empty());
  }
}
