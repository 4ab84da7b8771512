// SPDX-License-Identifier: MIT
// Notification delay: from the moment a process's working set crosses a
// band edge to the callback that says so, for three cases measured in one
// run:
//  - ramp: a child in a fresh memory cgroup (limit 256 MiB, under this
//    process's own) allocates anonymous memory in 256 KiB steps, one every
//    2 ms, across the moderate edge (50% here). headroom's monitor with the
//    mode's usage source (v1: eventfd thresholds; v2: the adaptive sampler)
//    against fixed-interval pollers at 1 s and 5 s (what Envoy and
//    Chromium do), all watching the same crossings;
//  - ramp, sampled: the same, with v1's thresholds off, so the monitor
//    samples as on v2 or a read-only cgroupfs (v1 and hybrid only);
//  - jump: the v2 worst case. The child sits at 10% of the limit while a
//    monitor with the library's default options (moderate at 80%) is made
//    and left idle for a random 0-1 s, then allocates as fast as it can up
//    to 90%. Each trial has a fresh monitor, so no growth seen earlier
//    shortens its sampling interval.
// The child stamps the start of every step in shared memory and reads the
// usage file after it: the first step after which the working set reached
// the edge is the crossing, and each detector's delay is measured from that
// step's start (an upper bound, which includes the step's own page faults).
// The jump is also measured from its start: at the child's speed (about
// 1 GiB/s) it lasts longer than a sampling interval, so the sampler often
// reads it mid-way and closes in on the edge. Each case prints p50, p99 and
// max over its trials (nearest rank: with
// fewer than 100 trials p99 is the max). Needs root.
// With --read-only, the cgroup is made and the child moved in first; then
// this process enters a private mount namespace in which the cgroup mounts
// are bound read-only (as in a Docker or Kubernetes container): the v1
// thresholds and events cannot be registered (EROFS), so the monitor falls
// back to the sampler, with the defaults. Its rows are named <mode>_ro.
//
//   notify_latency [--trials N] [--jump-trials N] [--quick] [--read-only]
// Prints a table, and "result <name> <field> <value>" lines for scripts.
#include <headroom/pressure.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../tests/live/live_cgroup.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::uint64_t MiB = 1 << 20;
constexpr std::uint64_t limit = 256 * MiB;
constexpr std::uint64_t edge = limit / 2;  // moderate at 50% in the ramps
constexpr std::size_t step = 256 * 1024;
constexpr int max_steps = 4096;

// Shared with the child: commands, and when each allocation step ended.
enum : int { cmd_allocate = 1, cmd_free = 2, cmd_quit = 3 };
struct shared_state {
  std::atomic<int> cmd;       // what to do
  std::atomic<int> cmd_seq;   // bumped by the parent for each command
  std::atomic<int> done_seq;  // set by the child when it is done
  // cmd_allocate: allocate until this many bytes are held, sleeping this
  // long after each step (0: as fast as it can).
  std::atomic<std::uint64_t> target;
  std::atomic<int> pause_us;
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

// The child: allocates up to st->target bytes, frees, or quits, on command.
[[noreturn]] void child_main(shared_state* st, const std::string& usage_file) {
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
      const std::uint64_t target = st->target.load();
      const int pause = st->pause_us.load();
      while (blocks.size() * step < target && blocks.size() < max_steps) {
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
        if (pause > 0) ::usleep(static_cast<unsigned>(pause));
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

// Delays of one case, in ms; a trial whose detector never fired is a miss.
struct delays {
  std::vector<double> ms;
  int missed = 0;
  void add(double d) {
    if (d < 0) {
      ++missed;
    } else {
      ms.push_back(d);
    }
  }
  // Nearest rank: the smallest value with at least p of the trials at or
  // below it. -1 without any.
  double at(double p) const {
    if (ms.empty()) return -1;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    const auto rank =
        static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank > 0 ? rank - 1 : 0)];
  }
  double p50() const { return at(0.50); }
  double p99() const { return at(0.99); }
  double max() const { return at(1.0); }
};

void print_row(const char* name, const delays& d, const char* fmt) {
  std::printf("  %-30s p50 ", name);
  std::printf(fmt, d.p50());
  std::printf(" ms   p99 ");
  std::printf(fmt, d.p99());
  std::printf(" ms   max ");
  std::printf(fmt, d.max());
  std::printf(" ms   (%zu seen", d.ms.size());
  if (d.missed) std::printf(", %d missed", d.missed);
  std::printf(")\n");
}

void print_results(const std::string& name, const char* what, const delays& d) {
  std::printf("result %s %s_median_ms %.3f\n", name.c_str(), what, d.p50());
  std::printf("result %s %s_p99_ms %.3f\n", name.c_str(), what, d.p99());
  std::printf("result %s %s_max_ms %.3f\n", name.c_str(), what, d.max());
  std::printf("result %s %s_missed %d\n", name.c_str(), what, d.missed);
}

// The first step after which the kernel's usage, less the inactive file
// cache, reached `at`; its start is the crossing.
std::int64_t crossing(const shared_state* st, std::uint64_t inactive,
                      std::uint64_t at) {
  int k = 0;
  while (k + 1 < max_steps && st->step_usage[k] != 0 &&
         st->step_usage[k] - std::min(st->step_usage[k], inactive) < at)
    ++k;
  return st->step_start_ns[k];
}

std::string usage_source(const headroom::monitor& m) {
  for (const auto& s : m.sources()) {
    if (s.kind == headroom::source_kind::usage_bands) {
      return s.detail.find("eventfd") != std::string::npos ? "eventfd"
                                                           : "sampler";
    }
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
#ifndef __OPTIMIZE__
  std::printf(
      "warning: built without optimization; figures are not representative\n");
#endif
  int trials = 10;
  int jump_trials = 50;
  bool read_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--trials") == 0 && i + 1 < argc)
      trials = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--jump-trials") == 0 && i + 1 < argc)
      jump_trials = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--quick") == 0) trials = jump_trials = 2;
    if (std::strcmp(argv[i], "--read-only") == 0) read_only = true;
  }
  if (trials < 1 || jump_trials < 1) {
    std::printf("FAIL: --trials and --jump-trials take a positive number\n");
    return 2;
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
  // The child cannot move itself before it knows where; the file is named
  // now and read only after the move.
  const std::string usage_file =
      cg.dir() + (host.v2() ? "/memory.current" : "/memory.usage_in_bytes");
  const pid_t child = ::fork();
  if (child == 0) child_main(st, usage_file);
  cg.move_in(child);
  // Read-only: the cgroup is removed at the end through a descriptor of its
  // parent opened now, on the writable mount.
  int parent_fd = -1;
  if (read_only) {
    parent_fd =
        ::open(host.own_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const std::string e = headroom_live::enter_read_only_cgroupfs();
    if (!e.empty()) {
      std::printf("SKIP: no read-only cgroupfs: %s\n", e.c_str());
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
      return 77;
    }
  }
  const auto allocate = [&](std::uint64_t target, int pause_us) {
    st->target = target;
    st->pause_us = pause_us;
    command_child(st, cmd_allocate);
  };

  headroom::options ro;
  ro.pid = child;
  const std::string mode = headroom::to_string(host.mode);
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  // Inactive file cache now (it stays put while the child allocates anon
  // memory): working set = usage - it.
  const auto inactive_now = [&] {
    auto reader = headroom::memory_reader::open(ro);
    if (!reader) return std::uint64_t{0};
    const auto s = reader->snapshot();
    return s.stat ? s.stat->inactive_file : std::uint64_t{0};
  };

  // ------------------------------------------------------------ the ramps
  struct ramp_result {
    delays mon, p1s, p5s;
    std::string how;
  };
  const auto ramp = [&](bool thresholds,
                        bool pollers) -> std::optional<ramp_result> {
    headroom::monitor_options o;
    o.reader.pid = child;
    o.moderate = headroom::band_edge::percent(50);
    o.critical = headroom::band_edge::percent(90);
    o.use_psi = false;  // the bands alone: that is what is measured
    o.use_v1_thresholds = thresholds;
    auto mon = headroom::monitor::create(o);
    if (!mon) {
      std::printf("FAIL: monitor: %s\n", mon.error().message().c_str());
      return std::nullopt;
    }
    ramp_result r;
    r.how = usage_source(*mon);
    std::atomic<std::int64_t> monitor_seen{0};
    auto sub = mon->subscribe([&](const headroom::memory_event& e) {
      if (e.kind == headroom::event_kind::pressure &&
          e.level != headroom::pressure_level::none && monitor_seen == 0) {
        monitor_seen = now_ns();
      }
    });
    if (!mon->start()) return std::nullopt;
    // A fixed-interval poller: reads a snapshot every `period`, from a
    // phase that is independent of the crossing.
    struct poller {
      std::chrono::milliseconds period;
      std::atomic<std::int64_t> seen{0};
    };
    poller p1{std::chrono::milliseconds(1000)};
    poller p5{std::chrono::milliseconds(5000)};
    std::atomic<bool> done{false};
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
    std::optional<std::thread> t1, t5;
    if (pollers) {
      t1.emplace(run_poller, std::ref(p1));
      t5.emplace(run_poller, std::ref(p5));
    }
    std::uniform_int_distribution<int> jitter(0, trials > 2 ? 4999 : 999);
    for (int t = 0; t < trials; ++t) {
      monitor_seen = 0;
      p1.seen = 0;
      p5.seen = 0;
      const std::uint64_t inactive = inactive_now();
      std::memset(st->step_usage, 0, sizeof st->step_usage);
      // A random start, so the pollers meet the crossing at any phase.
      std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
      allocate(edge + 32 * MiB, 2000);  // across the edge, below critical
      const auto deadline = clock_type::now() + std::chrono::seconds(8);
      while (
          (monitor_seen == 0 || (pollers && (p1.seen == 0 || p5.seen == 0))) &&
          clock_type::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      const std::int64_t crossed = crossing(st, inactive, edge);
      // A detector can fire before the crossing the child recorded (it
      // reads usage and the inactive file cache at another moment): 0.
      const auto delay_ms = [&](std::int64_t seen) {
        return seen ? std::max(0.0, static_cast<double>(seen - crossed) / 1e6)
                    : -1.0;
      };
      r.mon.add(delay_ms(monitor_seen));
      if (pollers) {
        r.p1s.add(delay_ms(p1.seen));
        r.p5s.add(delay_ms(p5.seen));
        std::printf(
            "ramp %-7s trial %3d: headroom %8.3f ms   poll-1s %8.1f ms   "
            "poll-5s %8.1f ms\n",
            r.how.c_str(), t + 1, delay_ms(monitor_seen), delay_ms(p1.seen),
            delay_ms(p5.seen));
      } else {
        std::printf("ramp %-7s trial %3d: headroom %8.3f ms\n", r.how.c_str(),
                    t + 1, delay_ms(monitor_seen));
      }
      command_child(st, cmd_free);  // and let the level fall back
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    done = true;
    if (t1) t1->join();
    if (t5) t5->join();
    mon->stop();
    return r;
  };

  // ------------------------------------------------------------- the jump
  // The library's default edges: moderate at 80% of the effective limit
  // (the limit: it is far below MemTotal).
  const std::uint64_t jump_from = limit / 10, jump_to = limit * 9 / 10;
  const std::uint64_t jump_edge = limit * 8 / 10;
  const auto jump = [&](delays& d, delays& from_start,
                        std::vector<double>& rates) -> bool {
    std::uniform_int_distribution<int> idle(0, 999);
    for (int t = 0; t < jump_trials; ++t) {
      std::memset(st->step_usage, 0, sizeof st->step_usage);
      allocate(jump_from, 2000);
      const std::uint64_t inactive = inactive_now();
      headroom::monitor_options o;  // the defaults, but for the bands alone
      o.reader.pid = child;
      o.use_psi = false;
      // Sampled, as on v2 or read-only (where the thresholds fail).
      o.use_v1_thresholds = read_only;
      auto mon = headroom::monitor::create(o);
      if (!mon) {
        std::printf("FAIL: monitor: %s\n", mon.error().message().c_str());
        return false;
      }
      std::atomic<std::int64_t> seen{0};
      {
        auto sub = mon->subscribe([&](const headroom::memory_event& e) {
          if (e.kind == headroom::event_kind::pressure &&
              e.level != headroom::pressure_level::none && seen == 0) {
            seen = now_ns();
          }
        });
        if (!mon->start()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(idle(rng)));
        const std::size_t first = static_cast<std::size_t>(
            (jump_from + step - 1) / step);  // the jump's first step
        allocate(jump_to, 0);
        const auto deadline = clock_type::now() + std::chrono::seconds(3);
        while (seen == 0 && clock_type::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        mon->stop();
        const std::int64_t crossed = crossing(st, inactive, jump_edge);
        const double ms =  // before the recorded crossing: 0, as above
            seen ? std::max(0.0, static_cast<double>(seen - crossed) / 1e6)
                 : -1.0;
        d.add(ms);
        from_start.add(
            seen ? static_cast<double>(seen - st->step_start_ns[first]) / 1e6
                 : -1.0);
        const std::size_t last =
            static_cast<std::size_t>((jump_to + step - 1) / step) - 1;
        const double took = static_cast<double>(st->step_start_ns[last] -
                                                st->step_start_ns[first]) /
                            1e9;
        const double rate = took > 0
                                ? static_cast<double>((last - first) * step) /
                                      took / static_cast<double>(MiB)
                                : 0;
        rates.push_back(rate);
        std::printf(
            "jump    trial %3d: headroom %8.3f ms after the edge, %8.3f ms "
            "after the jump began (%.0f MiB/s)\n",
            t + 1, ms, from_start.ms.empty() ? -1.0 : from_start.ms.back(),
            rate);
      }
      command_child(st, cmd_free);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return true;
  };

  bool ok = true;
  const auto main_ramp = ramp(true, true);
  ok = main_ramp.has_value();
  std::optional<ramp_result> sampled;
  if (ok && main_ramp->how == "eventfd") {
    sampled = ramp(false, false);
    ok = sampled.has_value();
  }
  delays jumped, jumped_from_start;
  std::vector<double> rates;
  if (ok) ok = jump(jumped, jumped_from_start, rates);
  st->cmd = cmd_quit;
  ++st->cmd_seq;
  ::waitpid(child, nullptr, 0);
  if (parent_fd >= 0) {
    const std::string leaf = cg.dir().substr(cg.dir().rfind('/') + 1);
    for (int i = 0;
         i < 200 && ::unlinkat(parent_fd, leaf.c_str(), AT_REMOVEDIR) != 0 &&
         errno == EBUSY;
         ++i)
      ::usleep(10 * 1000);
    ::close(parent_fd);
  }
  if (!ok) return 1;

  const std::string layout = mode + (read_only ? "_ro" : "");
  const std::string name = "notify_" + layout;
  std::printf(
      "\nramp: band edge (50%%) -> callback, %d crossings, cgroup %s, 256 KiB "
      "every 2 ms:\n",
      trials, layout.c_str());
  const std::string mon_row = "headroom monitor, " + main_ramp->how;
  print_row(mon_row.c_str(), main_ramp->mon, "%9.3f");
  if (sampled) print_row("headroom monitor, sampler", sampled->mon, "%9.3f");
  print_row("fixed poller 1 s", main_ramp->p1s, "%9.1f");
  print_row("fixed poller 5 s", main_ramp->p5s, "%9.1f");
  std::sort(rates.begin(), rates.end());
  const double rate = rates.empty() ? 0 : rates[rates.size() / 2];
  std::printf(
      "jump: 10%% -> 90%% of the limit at %.0f MiB/s (median), moderate edge "
      "(80%%) -> callback, %d trials, default options, sampled, a fresh "
      "monitor each:\n",
      rate, jump_trials);
  print_row("edge -> callback", jumped, "%9.3f");
  print_row("jump's start -> callback", jumped_from_start, "%9.3f");

  print_results(name, "headroom", main_ramp->mon);
  print_results(name, "poll1s", main_ramp->p1s);
  print_results(name, "poll5s", main_ramp->p5s);
  std::printf("result %s source %s\n", name.c_str(), main_ramp->how.c_str());
  if (sampled) print_results(name + "_sampled", "headroom", sampled->mon);
  print_results("jump_" + layout, "headroom", jumped);
  print_results("jump_" + layout, "from_start", jumped_from_start);
  std::printf("result jump_%s rate_mib_per_s %.0f\n", layout.c_str(), rate);
  return 0;
}
