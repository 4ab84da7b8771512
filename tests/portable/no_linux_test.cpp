// SPDX-License-Identifier: MIT
// Built with HEADROOM_HAVE_LINUX=0, as on a system without /proc and
// cgroups: the headers compile, the reader opens in mode none, and every
// value says "not supported" instead of inventing a number.
#include <headroom/headroom.hpp>

#include "../support/doctest.hpp"

static_assert(HEADROOM_HAVE_LINUX == 0,
              "this test pretends not to be on Linux");

TEST_CASE("without Linux: mode none, every value not supported") {
  auto r = headroom::memory_reader::open();
  REQUIRE(r.has_value());
  CHECK(r->mode() == headroom::hierarchy_mode::none);
  CHECK(r->location().why_none.code == headroom::errc::not_supported);
  const auto s = r->snapshot();
  REQUIRE(s.limit.has_value());
  CHECK_FALSE(s.limit->has_value());
  CHECK(s.usage.error().code == headroom::errc::not_supported);
  CHECK(s.host_total.error().code == headroom::errc::not_supported);
  CHECK_FALSE(s.effective_limit.has_value());
  CHECK_FALSE(s.headroom.has_value());
  CHECK(r->usage().error().code == headroom::errc::not_supported);
  const auto rep = r->report();
  CHECK_FALSE(rep.pressure.value.has_value());
}

TEST_CASE(
    "without Linux: the monitor exists, and create() says not supported") {
  headroom::monitor_options o;
  o.moderate = headroom::band_edge::percent(70);
  auto m = headroom::monitor::create(o);
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error().code == headroom::errc::not_supported);
}
