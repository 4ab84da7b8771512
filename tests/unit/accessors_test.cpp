// SPDX-License-Identifier: MIT
// The accessors that read right: has_limit() and limit_bytes() on a
// snapshot, high_bytes() and swap_limit_bytes() on a report, quota_cpus()
// on a cpu snapshot. `if (s.limit) use(**s.limit)` compiles and is wrong
// when nothing limits; these give bytes only where there are bytes.
#include <headroom/memory.hpp>
#include "../support/doctest.hpp"

#include <optional>
#include <string>

#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

memory_snapshot snapshot_at(const fixture_tree& t) {
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return r->snapshot();
}

}  // namespace

TEST_CASE("has_limit() and limit_bytes(): a limit, none, and unreadable") {
  SUBCASE("a limit: its bytes") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    const auto s = snapshot_at(t);
    CHECK(s.has_limit());
    CHECK_FALSE(s.limit_unreadable());
    CHECK(s.limit_bytes() == std::optional<std::uint64_t>(1 * GiB));
  }
  SUBCASE("nothing limits: no bytes, and not an error") {
    fixture_tree t;
    layout_docker_v1(t);
    v1_dir d;
    d.limit = "9223372036854771712";  // v1's unlimited, 4 KiB pages
    d.hierarchical_limit = d.limit;
    write_v1(t, "sys/fs/cgroup/memory", d);
    const auto s = snapshot_at(t);
    REQUIRE(s.limit.has_value());  // the trap: `if (s.limit)` is true here
    CHECK_FALSE(s.has_limit());
    CHECK_FALSE(s.limit_unreadable());
    CHECK(s.limit_bytes() == std::nullopt);
  }
  SUBCASE("unreadable: no bytes, and the error is kept") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    t.file(std::string("sys/fs/cgroup") + k8s_pod + "/memory.max", "lots\n");
    const auto s = snapshot_at(t);
    CHECK_FALSE(s.has_limit());
    CHECK(s.limit_unreadable());
    CHECK(s.limit_bytes() == std::nullopt);
    CHECK(s.limit.error().code == errc::malformed);
  }
}

TEST_CASE("report: high_bytes() and swap_limit_bytes()") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  REQUIRE(r);
  const auto rep = r->report();
  CHECK(rep.limit_bytes() == std::optional<std::uint64_t>(1 * GiB));
  CHECK(rep.high_bytes() == std::optional<std::uint64_t>(900 * MiB));
  REQUIRE(rep.swap_limit.value.has_value());
  CHECK(rep.swap_limit_bytes() == *rep.swap_limit.value);
}
