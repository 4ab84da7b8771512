// SPDX-License-Identifier: MIT
// Monitor idle cost: how often a monitor far from its limit wakes up, and
// the CPU time it spends, over a stretch of time. The monitor runs on this
// thread through fd() + dispatch(), so every wakeup is counted and the CPU
// time is this thread's own.
//
//   monitor_idle [--seconds N]       (default 60)
// Prints a summary and "result <name> <field> <value>" lines for scripts.
#include <headroom/format.hpp>
#include <headroom/pressure.hpp>

#include <poll.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
}  // namespace

int main(int argc, char** argv) {
#ifndef __OPTIMIZE__
  std::printf(
      "warning: built without optimization; figures are not representative\n");
#endif
  int seconds = 60;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = std::atoi(argv[++i]);
  }
  auto m = headroom::monitor::create();
  if (!m) {
    std::printf("FAIL: %s\n", m.error().message().c_str());
    return 1;
  }
  std::printf("monitor sources:\n");
  for (const auto& s : m->sources()) {
    std::printf(
        "  %-18s %s %s\n", headroom::to_string(s.kind),
        s.active ? "active" : ("failed: " + s.failure.message()).c_str(),
        s.detail.c_str());
  }
  const auto s = m->last_snapshot();
  if (s.working_set && s.effective_limit) {
    std::printf("working set %s of %s: far from the edges\n",
                headroom::format_bytes(*s.working_set).c_str(),
                headroom::format_bytes(*s.effective_limit).c_str());
  }
  long wakeups = 0;
  long callbacks = 0;
  const double cpu0 = thread_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::seconds(seconds);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{m->fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) == 1) {
      ++wakeups;
      callbacks += static_cast<long>(m->dispatch());
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const double cpu = thread_cpu_seconds() - cpu0;
  std::printf(
      "over %.1f s: %ld wakeups (%.2f per second), %.3f ms CPU (%.4f%% of one "
      "core), %ld callbacks\n",
      wall, wakeups, static_cast<double>(wakeups) / wall, cpu * 1e3,
      100.0 * cpu / wall, callbacks);
  std::printf("result idle wakeups_per_s %.3f\n",
              static_cast<double>(wakeups) / wall);
  std::printf("result idle cpu_ms_per_min %.3f\n", cpu * 1e3 * 60.0 / wall);
  std::printf("result idle seconds %.1f\n", wall);
  return 0;
}
