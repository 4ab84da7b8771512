// SPDX-License-Identifier: MIT
// Monitor idle cost: how often a monitor far from its limit wakes up, the
// read syscalls each wakeup makes, and the CPU time it spends, over a
// stretch of time; then how long a limit change takes to be seen. The
// monitor runs on this thread through fd() + dispatch(), so every wakeup is
// counted, and the process has no other thread.
//
//   monitor_idle [--seconds N] [--cgroup] [--read-only] [--changes N]
//
// Without --cgroup the monitor watches the process's own cgroup as it is
// (the figure "idle"). With --cgroup (needs root) the process first moves
// into a cgroup of its own with a 1 GiB limit (far from the edges), and
// after the idle stretch the limit is changed N times (default 5), each
// timed from the write to the limit_changed callback; the figures are
// "idle_<mode>". --read-only (implies --cgroup) then enters a private mount
// namespace in which the cgroup mounts are read-only, as in a container,
// before the monitor is made; the limit is still written, through a
// descriptor opened before ("idle_<mode>_ro").
// Read syscalls are the process's own count (/proc/self/io syscr: read,
// pread and readv of any file, the monitor's eventfds and inotify included).
// Prints a summary and "result <name> <field> <value>" lines for scripts.
#include <headroom/format.hpp>
#include <headroom/pressure.hpp>

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "../tests/live/live_cgroup.hpp"

namespace {
double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The process's read syscalls so far (-1 where /proc/self/io is missing).
long read_syscalls() {
  const std::string io = headroom_live::read_file("/proc/self/io");
  const auto at = io.find("syscr: ");
  return at == std::string::npos ? -1 : std::atol(io.c_str() + at + 7);
}
}  // namespace

int main(int argc, char** argv) {
#ifndef __OPTIMIZE__
  std::printf(
      "warning: built without optimization; figures are not representative\n");
#endif
  int seconds = 60;
  int changes = 5;
  bool own_cgroup = false;
  bool read_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--changes") == 0 && i + 1 < argc)
      changes = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--cgroup") == 0) own_cgroup = true;
    if (std::strcmp(argv[i], "--read-only") == 0) own_cgroup = read_only = true;
  }
  std::string name = "idle";
  constexpr std::uint64_t GiB = 1ull << 30;
  std::optional<headroom_live::cgroup_dir> cg;
  int limit_fd = -1, parent_fd = -1;
  std::string leaf;
  if (own_cgroup) {
    if (::geteuid() != 0) {
      std::printf("SKIP: --cgroup needs root to create a memory cgroup\n");
      return 77;
    }
    const auto host = headroom_live::probe_host();
    std::string err;
    leaf = "headroom-bench-idle-" + std::to_string(::getpid());
    auto dir =
        host.mode == headroom::hierarchy_mode::none
            ? std::nullopt
            : headroom_live::cgroup_dir::make(host, host.own_dir, leaf, &err);
    if (!dir) {
      std::printf("SKIP: cannot create a memory cgroup: %s\n", err.c_str());
      return 77;
    }
    cg.emplace(host, *dir);
    if (!cg->set_limit(GiB) || !cg->move_in(::getpid())) {
      std::printf("FAIL: cannot set the limit of %s or move in\n",
                  dir->c_str());
      return 1;
    }
    name += "_" + std::string(headroom::to_string(host.mode));
    limit_fd = ::open(
        (*dir + (host.v2() ? "/memory.max" : "/memory.limit_in_bytes")).c_str(),
        O_WRONLY | O_CLOEXEC);
    parent_fd =
        ::open(host.own_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (read_only) {
      const std::string e = headroom_live::enter_read_only_cgroupfs();
      if (!e.empty()) {
        std::printf("SKIP: no read-only cgroupfs: %s\n", e.c_str());
        return 77;
      }
      name += "_ro";
    }
  }
  // Leaves the cgroup (to its parent, through the writable descriptor) and
  // removes it.
  const auto leave = [&] {
    if (parent_fd < 0) return;
    const int procs = ::openat(parent_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    const std::string me = std::to_string(::getpid());
    if (procs >= 0) {
      if (::write(procs, me.data(), me.size()) < 0) std::perror("cgroup.procs");
      ::close(procs);
    }
    // Retry briefly: the cgroup stays busy a moment after the move.
    int i = 0;
    while (::unlinkat(parent_fd, leaf.c_str(), AT_REMOVEDIR) != 0 &&
           errno == EBUSY && i++ < 200)
      ::usleep(10 * 1000);
    if (i > 200) std::printf("warning: %s is left: busy\n", leaf.c_str());
    ::close(limit_fd);
    ::close(parent_fd);
  };
  int rc = 0;
  {
    auto m = headroom::monitor::create();
    if (!m) {
      std::printf("FAIL: %s\n", m.error().message().c_str());
      leave();
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
    std::atomic<std::int64_t> limit_seen{0};
    auto sub = m->subscribe([&](const headroom::memory_event& e) {
      if (e.kind == headroom::event_kind::limit_changed)
        limit_seen =
            std::chrono::steady_clock::now().time_since_epoch().count();
    });
    long wakeups = 0;
    long callbacks = 0;
    // Runs the monitor on this thread until `until` or `stop()` is true.
    const auto run = [&](std::chrono::steady_clock::time_point until,
                         auto stop) {
      for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0 || stop()) break;
        pollfd p{m->fd(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) == 1) {
          ++wakeups;
          callbacks += static_cast<long>(m->dispatch());
        }
      }
    };
    // The cost of reading /proc/self/io itself, taken off the count.
    const long io_a = read_syscalls();
    const long io_cost = read_syscalls() - io_a;
    const long reads0 = read_syscalls();
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    run(t0 + std::chrono::seconds(seconds), [] { return false; });
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    const double cpu = cpu_seconds() - cpu0;
    const long reads = read_syscalls() - reads0 - io_cost;
    const double per_wakeup =
        wakeups > 0 && reads0 >= 0
            ? static_cast<double>(reads) / static_cast<double>(wakeups)
            : 0;
    std::printf(
        "over %.1f s: %ld wakeups (%.2f per second), %.2f read syscalls per "
        "wakeup, %.3f ms CPU (%.2f ms per minute), %ld callbacks\n",
        wall, wakeups, static_cast<double>(wakeups) / wall, per_wakeup,
        cpu * 1e3, cpu * 1e3 * 60.0 / wall, callbacks);
    std::printf("result %s wakeups_per_s %.3f\n", name.c_str(),
                static_cast<double>(wakeups) / wall);
    std::printf("result %s reads_per_wakeup %.2f\n", name.c_str(), per_wakeup);
    std::printf("result %s cpu_ms_per_min %.3f\n", name.c_str(),
                cpu * 1e3 * 60.0 / wall);
    std::printf("result %s seconds %.1f\n", name.c_str(), wall);

    // Limit changes: the write, then the callback.
    std::vector<double> ms;
    int missed = 0;
    for (int i = 0; cg && i < changes; ++i) {
      const std::string value =
          std::to_string(i % 2 == 0 ? GiB - 64 * (1ull << 20) : GiB);
      // A random phase against the monitor's timers.
      run(std::chrono::steady_clock::now() +
              std::chrono::milliseconds(300 + (std::rand() % 700)),
          [] { return false; });
      limit_seen = 0;
      const auto w = std::chrono::steady_clock::now();
      if (::pwrite(limit_fd, value.data(), value.size(), 0) !=
          static_cast<ssize_t>(value.size())) {
        std::printf("FAIL: cannot write the limit: %s\n", std::strerror(errno));
        rc = 1;
        break;
      }
      run(w + std::chrono::seconds(3), [&] { return limit_seen != 0; });
      if (limit_seen == 0) {
        ++missed;
        std::printf("limit change %d: not seen within 3 s\n", i + 1);
        continue;
      }
      const double d =
          static_cast<double>(limit_seen - w.time_since_epoch().count()) / 1e6;
      ms.push_back(d);
      std::printf("limit change %d: seen after %.3f ms\n", i + 1, d);
    }
    if (cg && !ms.empty()) {
      std::sort(ms.begin(), ms.end());
      std::printf("result %s limit_change_median_ms %.3f\n", name.c_str(),
                  ms[(ms.size() - 1) / 2]);
      std::printf("result %s limit_change_max_ms %.3f\n", name.c_str(),
                  ms.back());
    }
    if (cg)
      std::printf("result %s limit_change_missed %d\n", name.c_str(), missed);
  }
  leave();
  cg.reset();  // gone already; nothing left to remove
  return rc;
}
