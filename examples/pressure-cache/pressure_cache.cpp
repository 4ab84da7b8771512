// SPDX-License-Identifier: MIT
// Caches that shrink on pressure events, with the monitor on its own thread
// (monitor::start). Two caches and an arena share one headroom::
// shared_budget as large as the limit: each grows up to its target, and
// pressure lowers the targets (by the bytes the event says must go) and
// calls back the consumers that hold more. The callbacks run on the
// monitor's thread, so the consumers are used under a mutex. The program
// (put in a fresh 96 MiB cgroup; needs root) fills them for a few seconds
// and prints each event: level, what each consumer holds, why.
//
//   headroom-pressure-cache [--limit 96Mi] [--seconds 5]
#include <headroom/format.hpp>
#include <headroom/pressure.hpp>
#include <headroom/release.hpp>
#include <headroom/shared_budget.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../survival/cgroup_sandbox.hpp"
#include "lru_cache.hpp"

namespace {

using cache = pressure_cache::lru_cache<std::uint64_t, std::string>;

std::size_t entry_size(const std::uint64_t&, const std::string& v) {
  return v.capacity() + 64;
}

// An arena that grows in 1 MiB chunks, touched so that they are charged.
struct arena {
  std::vector<std::vector<char>> chunks;
  std::uint64_t bytes() const { return chunks.size() * chunk; }
  void grow() { chunks.emplace_back(chunk, 'a'); }
  void shrink_to(std::uint64_t target) {
    while (bytes() > target && !chunks.empty()) chunks.pop_back();
  }
  static constexpr std::size_t chunk = 1 << 20;
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t limit = 96 * 1024 * 1024;
  int seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--limit") == 0)
      limit = headroom::parse_size(argv[i + 1]).value_or(limit);
    if (std::strcmp(argv[i], "--seconds") == 0)
      seconds = std::atoi(argv[i + 1]);
  }
  if (::geteuid() != 0) {
    std::printf(
        "SKIP: the example moves itself into a new memory cgroup: run it as "
        "root\n");
    return 77;
  }
  survival::cgroup_sandbox cg(
      "headroom-pressure-cache-" + std::to_string(::getpid()), limit);
  if (!cg.ok() || !cg.move_in(::getpid())) {
    std::printf("SKIP: cannot make a memory cgroup: %s\n", cg.error().c_str());
    return 77;
  }

  auto mon = headroom::monitor::create();
  if (!mon) {
    std::fprintf(stderr, "monitor: %s\n", mon.error().message().c_str());
    return 1;
  }
  // All of the limit: the consumers alone would fill it, so pressure comes
  // and the budget takes back.
  auto budget = headroom::shared_budget::create(mon->last_snapshot(), {});
  if (!budget) {
    std::fprintf(stderr, "budget: %s\n", budget.error().message().c_str());
    return 1;
  }
  std::mutex mu;
  cache pages(entry_size), blobs(entry_size);
  arena scratch;
  std::uint64_t shrinks = 0;
  // Called on the monitor's thread (the budget delivers there after
  // follow()): shrink under the lock the filling loop below also takes.
  const auto shrink_cache = [&](cache& c) {
    return [&c, &mu, &shrinks](std::uint64_t target) {
      std::lock_guard<std::mutex> lock(mu);
      c.set_capacity(static_cast<std::size_t>(target));
      (void)headroom::release_free_memory();
      ++shrinks;
    };
  };
  auto pages_share = budget->join({"pages", 3}, shrink_cache(pages));
  auto blobs_share = budget->join({"blobs", 1, 4 << 20}, shrink_cache(blobs));
  auto scratch_share = budget->join({"arena", 1}, [&](std::uint64_t target) {
    std::lock_guard<std::mutex> lock(mu);
    scratch.shrink_to(target);
    ++shrinks;
  });
  if (!pages_share || !blobs_share || !scratch_share) return 1;
  auto budget_sub = budget->follow(*mon);
  auto print_sub = mon->subscribe([&](const headroom::memory_event& e) {
    std::lock_guard<std::mutex> lock(mu);
    std::printf("  %-13s %-8s pages %9s  blobs %9s  arena %9s  (%s)\n",
                headroom::to_string(e.kind), headroom::to_string(e.level),
                headroom::format_bytes(pages.bytes()).c_str(),
                headroom::format_bytes(blobs.bytes()).c_str(),
                headroom::format_bytes(scratch.bytes()).c_str(),
                e.reason.c_str());
  });
  if (!mon->start()) return 1;
  std::printf(
      "cgroup %s, limit %s, budget %s: filling two caches (256 KiB "
      "entries, weights 3 and 1) and an arena (1 MiB chunks, weight 1) for "
      "%d s\n",
      cg.dir().c_str(), headroom::format_bytes(limit).c_str(),
      headroom::format_bytes(budget->total()).c_str(), seconds);

  const auto end =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::uint64_t key = 0;
  while (std::chrono::steady_clock::now() < end) {
    {
      std::lock_guard<std::mutex> lock(mu);
      cache& c = key % 4 == 3 ? blobs : pages;
      headroom::budget_share& s = key % 4 == 3 ? *blobs_share : *pages_share;
      c.set_capacity(static_cast<std::size_t>(s.target()));
      c.put(key++, std::string(256 * 1024, 'x'));
      s.report(c.bytes());
      if (key % 8 == 0 &&
          scratch.bytes() + arena::chunk <= scratch_share->target())
        scratch.grow();
      scratch_share->report(scratch.bytes());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  mon->stop();
  std::printf(
      "done: %llu entries put; pages %s, blobs %s, arena %s after %llu "
      "shrinks; still alive\n",
      static_cast<unsigned long long>(key),
      headroom::format_bytes(pages.bytes()).c_str(),
      headroom::format_bytes(blobs.bytes()).c_str(),
      headroom::format_bytes(scratch.bytes()).c_str(),
      static_cast<unsigned long long>(shrinks));
  return shrinks > 0 ? 0 : 1;
}
