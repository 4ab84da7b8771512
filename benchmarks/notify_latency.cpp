// SPDX-License-Identifier: MIT
// Notification delay: from the moment a process's working set crosses a
// band edge to the callback that says so. headroom's monitor (v1: eventfd
// thresholds; v2: the adaptive sampler) against fixed-interval pollers at
// 1 s and 5 s (what Envoy and Chromium do), all watching the same crossings
// in one run.
//
// A child in a fresh memory cgroup (limit 256 MiB, under this process's
// own) allocates anonymous memory in 256 KiB steps, one every 2 ms, and
// stamps the start of every step in shared memory. The usage file read
// after each step tells which step took the working set past the moderate
// edge (50%); the crossing happened during that step, so each detector's
// delay is measured from the step's start: an upper bound, which includes
// the step's own page faults (a detector can see the edge mid-step, before
// the step ends). Needs root.
//
//   notify_latency [--trials N] [--quick]
// Prints a table, and "result <name> <field> <value>" lines for scripts.
#include <headroom/pressure.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../tests/live/live_cgroup.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::uint64_t MiB = 1 << 20;
constexpr std::uint64_t limit = 256 * MiB;
constexpr std::uint64_t edge = limit / 2;  // moderate at 50%
constexpr std::size_t step = 256 * 1024;
constexpr int max_steps = 4096;

// Shared with the child: commands, and when each allocation step ended.
enum : int { cmd_allocate = 1, cmd_free = 2, cmd_quit = 3 };
struct shared_state {
  std::atomic<int> cmd;       // what to do
  std::atomic<int> cmd_seq;   // bumped by the parent for each command
  std::atomic<int> done_seq;  // set by the child when it is done
  std::int64_t step_start_ns[max_steps];
  std::uint64_t step_usage[max_steps];  // the cgroup's usage file right after
};

void command_child(shared_state* st, int cmd) {
  st->cmd = cmd;
  const int seq = ++st->cmd_seq;
  while (st->done_seq.load() != seq)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_type::now().time_since_epoch())
      .count();
}

__attribute__((no_sanitize("address", "thread"))) void touch(char* p,
                                                             std::size_t n) {
  for (std::size_t i = 0; i < n; i += 4096)
    static_cast<volatile char*>(p)[i] = 1;
}

// The child: allocates up to `target` bytes, frees, or quits, on command.
[[noreturn]] void child_main(shared_state* st, std::uint64_t target,
                             const std::string& usage_file) {
  std::vector<char*> blocks;
  // A plain descriptor, as a poller would keep one.
  const int usage_fd = ::open(usage_file.c_str(), O_RDONLY | O_CLOEXEC);
  int last = 0;
  for (;;) {
    const int seq = st->cmd_seq.load();
    if (seq == last) {
      ::usleep(200);
      continue;
    }
    last = seq;
    const int cmd = st->cmd.load();
    if (cmd == cmd_allocate) {
      for (std::uint64_t done = 0; done < target && blocks.size() < max_steps;
           done += step) {
        const std::int64_t start = now_ns();
        auto* p =
            static_cast<char*>(::mmap(nullptr, step, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        touch(p, step);
        blocks.push_back(p);
        st->step_start_ns[blocks.size() - 1] = start;
        char buf[64];
        const ssize_t got =
            usage_fd >= 0 ? ::pread(usage_fd, buf, sizeof buf, 0) : -1;
        auto u =
            got > 0
                ? headroom::parse_counter(
                      std::string_view(buf, static_cast<std::size_t>(got)))
                : headroom::result<std::uint64_t>(headroom::errc::malformed);
        st->step_usage[blocks.size() - 1] = u ? *u : 0;
        ::usleep(2000);
      }
    } else if (cmd == cmd_free) {
      for (char* p : blocks) ::munmap(p, step);
      blocks.clear();
    } else {
      ::_exit(0);
    }
    st->done_seq = seq;
  }
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(
                                      p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
#ifndef __OPTIMIZE__
  std::printf(
      "warning: built without optimization; figures are not representative\n");
#endif
  int trials = 10;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--trials") == 0 && i + 1 < argc)
      trials = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--quick") == 0) trials = 2;
  }
  if (::geteuid() != 0) {
    std::printf("SKIP: needs root to create a memory cgroup\n");
    return 77;
  }
  const auto host = headroom_live::probe_host();
  if (host.mode == headroom::hierarchy_mode::none) {
    std::printf("SKIP: no memory cgroup visible\n");
    return 77;
  }
  std::string err;
  auto dir = headroom_live::cgroup_dir::make(
      host, host.own_dir, "headroom-bench-" + std::to_string(::getpid()), &err);
  if (!dir) {
    std::printf("SKIP: cannot create a memory cgroup: %s\n", err.c_str());
    return 77;
  }
  headroom_live::cgroup_dir cg(host, *dir);
  cg.set_limit(limit);

  auto* st = static_cast<shared_state*>(
      ::mmap(nullptr, sizeof(shared_state), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  std::memset(static_cast<void*>(st), 0, sizeof *st);
  const std::uint64_t target =
      edge + 32 * MiB;  // cross the edge, stay below critical
  // The child cannot move itself before it knows where; the file is named
  // now and read only after the move.
  const std::string usage_file =
      cg.dir() + (host.v2() ? "/memory.current" : "/memory.usage_in_bytes");
  const pid_t child = ::fork();
  if (child == 0) child_main(st, target, usage_file);
  cg.move_in(child);

  headroom::monitor_options o;
  o.reader.pid = child;
  o.moderate = headroom::band_edge::percent(50);
  o.critical = headroom::band_edge::percent(90);
  o.use_psi = false;  // the bands alone: that is what is measured
  auto mon = headroom::monitor::create(o);
  if (!mon) {
    std::printf("FAIL: monitor: %s\n", mon.error().message().c_str());
    return 1;
  }
  std::string how = "?";
  for (const auto& s : mon->sources()) {
    if (s.kind == headroom::source_kind::usage_bands) {
      how = s.detail.find("eventfd") != std::string::npos ? "eventfd thresholds"
                                                          : "adaptive sampler";
    }
  }
  const char* mode = headroom::to_string(host.mode);

  std::atomic<std::int64_t> monitor_seen{0};
  auto sub = mon->subscribe([&](const headroom::memory_event& e) {
    if (e.kind == headroom::event_kind::pressure &&
        e.level != headroom::pressure_level::none && monitor_seen == 0) {
      monitor_seen = now_ns();
    }
  });
  if (!mon->start()) return 1;

  // A fixed-interval poller: reads a snapshot every `period`, from a phase
  // that is independent of the crossing.
  struct poller {
    std::chrono::milliseconds period;
    std::atomic<std::int64_t> seen{0};
  };
  poller p1{std::chrono::milliseconds(1000)};
  poller p5{std::chrono::milliseconds(5000)};
  std::atomic<bool> done{false};
  headroom::options ro;
  ro.pid = child;
  const auto run_poller = [&](poller& p) {
    auto reader = headroom::memory_reader::open(ro);
    auto next = clock_type::now() + p.period;
    while (!done) {
      std::this_thread::sleep_until(next);
      next += p.period;
      const auto s = reader->snapshot();
      if (s.working_set && *s.working_set >= edge && p.seen == 0)
        p.seen = now_ns();
    }
  };
  std::thread t1(run_poller, std::ref(p1));
  std::thread t5(run_poller, std::ref(p5));

  std::vector<double> d_mon, d_1s, d_5s;
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> jitter(0, trials > 2 ? 4999 : 999);
  for (int t = 0; t < trials; ++t) {
    monitor_seen = 0;
    p1.seen = 0;
    p5.seen = 0;
    // Inactive file cache now (stays put while the child allocates anon
    // memory): working set = usage - it.
    auto reader = headroom::memory_reader::open(ro);
    const auto before = reader->snapshot();
    const std::uint64_t inactive = before.stat ? before.stat->inactive_file : 0;
    std::memset(st->step_usage, 0, sizeof st->step_usage);
    // A random start, so the pollers meet the crossing at any phase.
    std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
    command_child(st, cmd_allocate);
    const auto deadline = clock_type::now() + std::chrono::seconds(8);
    while ((monitor_seen == 0 || p1.seen == 0 || p5.seen == 0) &&
           clock_type::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // The crossing: the first step after which the kernel's usage, less
    // the inactive file cache, reached the edge.
    int k = 0;
    while (k + 1 < max_steps && st->step_usage[k] != 0 &&
           st->step_usage[k] - std::min(st->step_usage[k], inactive) < edge)
      ++k;
    const std::int64_t crossed = st->step_start_ns[k];
    const auto delay_ms = [&](std::int64_t seen) {
      return seen ? static_cast<double>(seen - crossed) / 1e6 : -1.0;
    };
    d_mon.push_back(delay_ms(monitor_seen));
    d_1s.push_back(delay_ms(p1.seen));
    d_5s.push_back(delay_ms(p5.seen));
    std::printf(
        "trial %2d: headroom %8.3f ms   poll-1s %8.1f ms   poll-5s %8.1f ms\n",
        t + 1, d_mon.back(), d_1s.back(), d_5s.back());
    command_child(st, cmd_free);  // and let the level fall back
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  done = true;
  t1.join();
  t5.join();
  mon->stop();
  st->cmd = cmd_quit;
  ++st->cmd_seq;
  ::waitpid(child, nullptr, 0);

  std::printf(
      "\nband edge -> callback, %d crossings, cgroup %s (%s), 256 KiB every 2 "
      "ms:\n",
      trials, mode, how.c_str());
  std::printf("  %-22s median %9.3f ms   p90 %9.3f ms   max %9.3f ms\n",
              "headroom monitor", median(d_mon), percentile(d_mon, 0.9),
              *std::max_element(d_mon.begin(), d_mon.end()));
  std::printf("  %-22s median %9.1f ms   p90 %9.1f ms\n", "fixed poller 1 s",
              median(d_1s), percentile(d_1s, 0.9));
  std::printf("  %-22s median %9.1f ms   p90 %9.1f ms\n", "fixed poller 5 s",
              median(d_5s), percentile(d_5s, 0.9));
  std::printf("result notify_%s headroom_median_ms %.3f\n", mode,
              median(d_mon));
  std::printf("result notify_%s headroom_max_ms %.3f\n", mode,
              *std::max_element(d_mon.begin(), d_mon.end()));
  std::printf("result notify_%s poll1s_median_ms %.1f\n", mode, median(d_1s));
  std::printf("result notify_%s poll5s_median_ms %.1f\n", mode, median(d_5s));
  std::printf("result notify_%s source %s\n", mode,
              how == "eventfd thresholds" ? "eventfd" : "sampler");
  return 0;
}
