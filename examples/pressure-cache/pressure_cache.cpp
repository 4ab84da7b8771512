// SPDX-License-Identifier: MIT
// A cache that shrinks on pressure events, with the monitor on its own
// thread (monitor::start). The callbacks run there, so the cache is used
// under a mutex. The program fills the cache until the process's cgroup
// (this process is put in a fresh 96 MiB one; needs root) reports pressure,
// and prints what happens: levels, shedding, the cache size.
//
//   headroom-pressure-cache [--limit 96Mi] [--seconds 5]
#include <headroom/format.hpp>
#include <headroom/pressure.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "../survival/cgroup_sandbox.hpp"
#include "lru_cache.hpp"

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
  std::mutex mu;
  pressure_cache::lru_cache<std::uint64_t, std::string> cache(
      [](const std::uint64_t&, const std::string& v) {
        return v.capacity() + 64;
      });
  // Events arrive on the monitor's thread: the cache sheds, and we print,
  // under the lock the worker below also takes.
  auto sub = mon->subscribe([&](const headroom::memory_event& e) {
    std::lock_guard<std::mutex> lock(mu);
    const std::size_t before = cache.bytes();
    cache.on_event(e);
    std::printf(
        "  %-13s %-8s cache %9s -> %9s  (%s)\n", headroom::to_string(e.kind),
        headroom::to_string(e.level), headroom::format_bytes(before).c_str(),
        headroom::format_bytes(cache.bytes()).c_str(), e.reason.c_str());
  });
  if (!mon->start()) return 1;
  std::printf(
      "cgroup %s, limit %s: filling a cache with 256 KiB entries for %d s\n",
      cg.dir().c_str(), headroom::format_bytes(limit).c_str(), seconds);

  const auto end =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::uint64_t key = 0;
  while (std::chrono::steady_clock::now() < end) {
    {
      std::lock_guard<std::mutex> lock(mu);
      cache.put(key++, std::string(256 * 1024, 'x'));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  mon->stop();
  std::printf(
      "done: %llu entries put, cache holds %s in %zu entries after %llu sheds; "
      "still alive\n",
      static_cast<unsigned long long>(key),
      headroom::format_bytes(cache.bytes()).c_str(), cache.entries(),
      static_cast<unsigned long long>(cache.sheds()));
  return cache.sheds() > 0 ? 0 : 1;
}
