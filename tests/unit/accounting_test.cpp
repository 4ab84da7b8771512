// SPDX-License-Identifier: MIT
// The full accounting: memory.stat by each version's key table, swap and
// zswap, oom.group, the estimates, and the memory cgroup's own values (the
// ones cAdvisor reports for a container), from fixture trees.
#include <headroom/memory.hpp>
#include "../support/doctest.hpp"

#include <string>

#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

memory_report report_at(const fixture_tree& t) {
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return r->report();
}

const char* const v2_full_stat =
    "anon 100\nfile 200\nkernel 30\nkernel_stack 4\npagetables 5\nsock 6\n"
    "vmalloc 0\nshmem 7\nzswap 8\nzswapped 9\nfile_mapped 10\n"
    "file_dirty 11\nfile_writeback 12\nswapcached 13\nanon_thp 14\n"
    "inactive_anon 15\nactive_anon 16\ninactive_file 17\nactive_file 18\n"
    "unevictable 19\nslab_reclaimable 20\nslab_unreclaimable 21\nslab 41\n"
    "workingset_refault_anon 22\nworkingset_refault_file 23\n"
    "workingset_activate_anon 24\nworkingset_activate_file 25\n"
    "pgscan 26\npgsteal 27\npgfault 28\npgmajfault 29\n";

}  // namespace

TEST_CASE("parse_accounting: every v2 key by name, in any order") {
  auto a = detail::parse_accounting(v2_full_stat,
                                    detail::v2::layout.memory.stat_keys);
  REQUIRE(a);
  CHECK((*a)[stat_key::anon] == 100u);
  CHECK((*a)[stat_key::kernel] == 30u);
  CHECK((*a)[stat_key::sock] == 6u);
  CHECK((*a)[stat_key::slab_reclaimable] == 20u);
  CHECK((*a)[stat_key::zswapped] == 9u);
  CHECK((*a)[stat_key::workingset_refault_file] == 23u);
  CHECK((*a)[stat_key::pgmajfault] == 29u);
  CHECK_FALSE((*a)[stat_key::swap]);  // v2 has memory.swap.current instead
  // Every key of the table is found once.
  std::size_t found = 0;
  for (std::size_t i = 0; i < stat_key_count; ++i)
    found += (*a)[static_cast<stat_key>(i)] ? 1 : 0;
  CHECK(found == detail::v2::layout.memory.stat_keys.size());

  // An older kernel without kernel, zswap or slab keys: those are absent.
  auto old = detail::parse_accounting("anon 1\nfile 2\ninactive_file 1\n",
                                      detail::v2::layout.memory.stat_keys);
  REQUIRE(old);
  CHECK_FALSE((*old)[stat_key::kernel]);
  CHECK_FALSE((*old)[stat_key::zswap]);
  // Garbage is malformed, never a number.
  CHECK_FALSE(detail::parse_accounting("anon 1\nfile x\n",
                                       detail::v2::layout.memory.stat_keys));
}

TEST_CASE("parse_accounting: v1 reads the total_* keys, not the local ones") {
  auto a = detail::parse_accounting(
      "cache 1\nrss 2\nmapped_file 3\nswap 4\npgfault 5\n"
      "total_cache 10\ntotal_rss 20\ntotal_mapped_file 30\ntotal_swap 40\n"
      "total_pgfault 50\ntotal_workingset_refault_file 60\n"
      "total_inactive_file 7\n",
      detail::v1::layout.memory.stat_keys);
  REQUIRE(a);
  CHECK((*a)[stat_key::file] == 10u);
  CHECK((*a)[stat_key::anon] == 20u);
  CHECK((*a)[stat_key::file_mapped] == 30u);
  CHECK((*a)[stat_key::swap] == 40u);
  CHECK((*a)[stat_key::pgfault] == 50u);
  CHECK((*a)[stat_key::workingset_refault_file] == 60u);
  CHECK_FALSE((*a)[stat_key::kernel]);  // v1: memory.kmem.usage_in_bytes
}

TEST_CASE("the estimates: reclaimable and available") {
  memory_accounting a;
  a[stat_key::inactive_file] = 30;
  a[stat_key::slab_reclaimable] = 10;
  CHECK(reclaimable_estimate(a).value() == 40u);
  memory_accounting v1;
  v1[stat_key::inactive_file] = 30;  // v1: no slab entry
  CHECK(reclaimable_estimate(v1).value() == 30u);
  CHECK_FALSE(reclaimable_estimate(memory_accounting{}));
  CHECK(available_estimate(100, 70, 40).value() == 70u);  // 100 - (70 - 40)
  CHECK(available_estimate(100, 30, 40).value() == 100u);
  CHECK(available_estimate(50, 200, 40).value() == 0u);  // over the limit
}

TEST_CASE(
    "report on Kubernetes v2: accounting of the pod, own of the container") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
  const std::string ctr = pod + k8s_container;
  t.file(pod + "/memory.stat", v2_full_stat);
  t.file(pod + "/memory.swap.current", n(5 * MiB));
  t.file(pod + "/memory.zswap.current", n(1 * MiB));
  t.file(ctr + "/memory.oom.group", "1\n");
  t.file(ctr + "/memory.min", n(256 * MiB));
  const memory_report r = report_at(t);
  REQUIRE(r.stat.value);
  CHECK(r.stat.path == "/" + pod + "/memory.stat");
  CHECK((*r.stat.value)[stat_key::sock] == 6u);
  CHECK(r.swap_usage.value.value() == 5 * MiB);
  CHECK(r.zswap_usage.value.value() == 1 * MiB);
  REQUIRE(r.oom_group.value);
  CHECK(*r.oom_group.value);
  CHECK(r.oom_group.path == "/" + ctr + "/memory.oom.group");
  CHECK(r.reclaimable.value() == 17u + 20u);
  CHECK(r.available.value() == 1 * GiB - (700 * MiB - 37));
  // The container's own cgroup, as cAdvisor reads it.
  CHECK(r.own.dir == "/" + ctr);
  REQUIRE(r.own.limit.value);
  CHECK_FALSE(r.own.limit.value->has_value());  // its memory.max says max
  CHECK(r.own.reservation.value.value() == 256 * MiB);
  CHECK(r.own.usage.value.value() == 600 * MiB);
  CHECK(r.own.swap.value.value() == 0u);
}

TEST_CASE(
    "report on Docker v1: total_swap, else memsw usage minus usage, is the "
    "swap") {
  fixture_tree t;
  layout_docker_v1(t);
  v1_dir d;
  d.limit = std::to_string(256 * MiB);
  d.hierarchical_limit = d.limit;
  d.swap = 3 * MiB;
  write_v1(t, "sys/fs/cgroup/memory", d);
  memory_report r = report_at(t);
  CHECK(r.swap_usage.value.value() == 3 * MiB);
  CHECK(r.own.kernel.value.value() == 4 * MiB);
  CHECK(r.own.swap_limit.value);
  CHECK(r.oom_group.value.error().code == errc::not_supported);
  SUBCASE("without swap accounting: not provided, not an error") {
    t.remove("sys/fs/cgroup/memory/memory.memsw.usage_in_bytes");
    t.remove("sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    r = report_at(t);
    CHECK(r.swap_usage.value.error().code == errc::not_supported);
    CHECK(r.own.swap_limit.value.error().code == errc::not_supported);
  }
  SUBCASE("total_swap in memory.stat is the swap, not memsw minus usage") {
    // memsw usage read after 252 KiB more were charged, no page swapped:
    // the difference of the two files is not swap.
    const std::string dir = "sys/fs/cgroup/memory/";
    t.file(dir + "memory.memsw.usage_in_bytes", n(d.usage + 252 * 1024));
    const std::string stat = v1_stat(d.hierarchical_limit, d.rss, d.cache,
                                     d.inactive_file, d.memsw_limit);
    t.file(dir + "memory.stat", stat + "total_swap 0\n");
    r = report_at(t);
    CHECK(r.swap_usage.value.value() == 0u);
    CHECK(r.swap_usage.path == "/" + dir + "memory.stat (total_swap)");
    t.file(dir + "memory.stat", stat + "total_swap " + n(2 * MiB));
    r = report_at(t);
    CHECK(r.swap_usage.value.value() == 2 * MiB);
    CHECK(r.own.swap.value.value() == 2 * MiB);
  }
  SUBCASE("a malformed memory.stat makes the accounting an error") {
    t.file("sys/fs/cgroup/memory/memory.stat", "total_rss lots\n");
    r = report_at(t);
    CHECK(r.stat.value.error().code == errc::malformed);
    CHECK_FALSE(r.reclaimable);
    CHECK_FALSE(r.available);
  }
}
