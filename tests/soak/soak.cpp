// SPDX-License-Identifier: MIT
// headroom-soak [--seconds N] [--limit-mib M] [--restart-every-ms MS] [--seed
// S] [--verbose]
//
// A long run of the pressure monitor against a real kernel, as root. It
// makes a child memory cgroup with a limit (256 MiB by default), moves a
// forked child into it, and drives the child's usage up and down across
// the monitor's band edges (moderate 80%, critical 92%, hysteresis 5% of
// the limit: monitor_options' defaults, set explicitly here) with varied
// step sizes, ramp speeds and plateau lengths. A monitor watches the child
// (monitor_options::reader.pid) on its own thread.
//
// The oracle is the kernel: after each step the soak reads the cgroup's
// usage (v1 memory.usage_in_bytes, v2 memory.current) and inactive file
// (memory.stat) itself, applies the band rule of detail/level.hpp to that
// working set, and so knows which level the monitor must be at and whether
// the band changed (an expected crossing). It then compares with the
// crossings the monitor reported through its callback.
//
// Tolerance: none. Each step moves usage by one or two zones chosen so
// that the band changes at most once on the way, every plateau sits more
// than 5 MiB (default limit) away from any edge (so the kernel's ~512 KiB
// threshold overshoot and per-CPU charge batching cannot make it
// ambiguous), and the driver leaves a plateau only after the monitor has
// reached the kernel's level or after a grace of 2 s, twice the monitor's
// slowest sampling interval (slow_interval, 1 s). So a crossing the
// monitor did not report within the grace is a miss, and a reported
// crossing the kernel's values do not explain is an extra; both fail. A
// crossing reported more than 250 ms after the move is done is late, and
// fails too: the v1 threshold eventfd wakes the monitor at the crossing
// itself (with the sampler, v2, the bound is 1250 ms: slow_interval plus
// the same 250 ms).
//
// Besides: the soak process's descriptors (/proc/self/fd) and resident
// memory (VmRSS) at the start, after the warm-up and at the end; and every
// few seconds the monitor is restarted, in turn: stop() and start() between
// two steps; stop(), a step's move while it is stopped, start() (that
// crossing must be reported all the same); destroyed and created anew (the
// new monitor must report the level it finds). Each stop() is timed
// against a 100 ms bound, with a watchdog for hangs.
//
// Output: progress, then "result soak <field> <value>" lines. Exit 0 when
// everything held, 1 on a failure (a "FAIL: why" line each), 77 with a
// "SKIP: why" line when it cannot run here (not root, no memory cgroup).
#include <headroom/pressure.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../live/live_cgroup.hpp"
#include "../support/sanitized.hpp"

using namespace std::chrono_literals;
using headroom::pressure_level;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr auto stop_bound = 100ms;  // each stop() must return within this
constexpr auto hang_bound = 5s;     // the watchdog's: beyond it, a hang
constexpr auto grace = 2000ms;      // see the tolerance above
// Resident memory may grow this much after the warm-up (allocator caches,
// thread stacks reused). A sanitizer's runtime keeps per-thread state and
// shadow of its own, and each restart starts a thread: more room there.
constexpr long rss_bound_kib = HEADROOM_TEST_SANITIZED ? 32 * 1024 : 2048;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
      .count();
}

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

int count_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    --n;  // the directory's own descriptor
  }
  return n;
}

long rss_kib() {
  const std::string s = headroom_live::read_file("/proc/self/status");
  const auto at = s.find("VmRSS:");
  if (at == std::string::npos) return -1;
  return std::strtol(s.c_str() + at + 6, nullptr, 10);
}

// ------------------------------------------------------------ the child

// What the driver asks: hold this many 1 MiB blocks, taking ramp_us per
// block on the way (0: as fast as it goes).
struct order {
  std::uint32_t blocks;
  std::uint32_t ramp_us;
  std::uint32_t quit;
};
struct answer {
  std::uint32_t blocks;
};

constexpr std::size_t block = MiB;
constexpr std::size_t max_blocks = 4096;

// One byte per page, so each is charged now. Not instrumented: a
// sanitizer's shadow writes would be charged to the cgroup too.
__attribute__((no_sanitize("address", "thread", "undefined"))) void touch(
    char* p, std::size_t n) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (std::size_t i = 0; i < n; i += page)
    static_cast<volatile char*>(p)[i] = 0x5a;
}

// The forked child: no allocation, no library, only pipes and mmap.
[[noreturn]] void child_main(int in, int out) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  static void* held[max_blocks];
  std::uint32_t n = 0;
  for (;;) {
    order o{};
    if (::read(in, &o, sizeof o) != static_cast<ssize_t>(sizeof o) || o.quit)
      ::_exit(0);
    const std::uint32_t want = std::min<std::uint32_t>(o.blocks, max_blocks);
    while (n < want) {
      void* p = ::mmap(nullptr, block, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) break;
      ::madvise(p, block, MADV_NOHUGEPAGE);  // 1 MiB is 1 MiB
      touch(static_cast<char*>(p), block);
      held[n++] = p;
      if (o.ramp_us) ::usleep(o.ramp_us);
    }
    while (n > want) {
      ::munmap(held[--n], block);
      if (o.ramp_us) ::usleep(o.ramp_us);
    }
    answer a{n};
    if (::write(out, &a, sizeof a) != static_cast<ssize_t>(sizeof a))
      ::_exit(1);
  }
}

class driver {
 public:
  bool start() {
    int to_child[2];
    int to_parent[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(to_parent, O_CLOEXEC) != 0)
      return false;
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      ::close(to_child[1]);
      ::close(to_parent[0]);
      child_main(to_child[0], to_parent[1]);
    }
    ::close(to_child[0]);
    ::close(to_parent[1]);
    cmd_ = to_child[1];
    reply_ = to_parent[0];
    return true;
  }
  ~driver() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    if (cmd_ >= 0) ::close(cmd_);
    if (reply_ >= 0) ::close(reply_);
  }
  pid_t pid() const { return pid_; }

  // Moves the child to `blocks`; false when it died.
  bool hold(std::uint32_t blocks, std::uint32_t ramp_us) {
    order o{blocks, ramp_us, 0};
    if (::write(cmd_, &o, sizeof o) != static_cast<ssize_t>(sizeof o))
      return false;
    answer a{};
    std::size_t got = 0;
    while (got < sizeof a) {
      const ssize_t r =
          ::read(reply_, reinterpret_cast<char*>(&a) + got, sizeof a - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    return a.blocks == blocks;
  }

  void quit() {
    order o{0, 0, 1};
    (void)!::write(cmd_, &o, sizeof o);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int cmd_ = -1;
  int reply_ = -1;
};

// ------------------------------------------------------------ the oracle

// The band edges as monitor_core::update_limit computes them.
struct edges {
  std::uint64_t moderate, critical, hysteresis;
  std::uint64_t exit_moderate() const {
    return moderate > hysteresis ? moderate - hysteresis : 0;
  }
  std::uint64_t exit_critical() const {
    return critical > hysteresis ? critical - hysteresis : 0;
  }
};

// The band rule of detail/level.hpp, written out again here so the oracle
// is not the code under test.
pressure_level band_of(pressure_level current, std::uint64_t ws,
                       const edges& e) {
  if (ws >= e.critical) return pressure_level::critical;
  if (current == pressure_level::critical && ws >= e.exit_critical()) {
    return pressure_level::critical;
  }
  if (ws >= e.moderate) return pressure_level::moderate;
  if (current != pressure_level::none && ws >= e.exit_moderate())
    return pressure_level::moderate;
  return pressure_level::none;
}

struct kernel_view {
  bool ok = false;
  std::uint64_t usage = 0;
  std::uint64_t inactive_file = 0;
  std::uint64_t working_set() const {
    return usage > inactive_file ? usage - inactive_file : 0;
  }
};

std::optional<std::uint64_t> key_of(const std::string& text,
                                    const std::string& key) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(
        at, end == std::string::npos ? std::string::npos : end - at);
    if (line.compare(0, key.size() + 1, key + " ") == 0) {
      return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
    }
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return std::nullopt;
}

kernel_view read_kernel(const std::string& dir, bool v2) {
  kernel_view k;
  const std::string usage = headroom_live::read_file(
      dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"));
  const std::string stat = headroom_live::read_file(dir + "/memory.stat");
  if (usage.empty() || stat.empty()) return k;
  k.usage = std::strtoull(usage.c_str(), nullptr, 10);
  const auto inactive =
      key_of(stat, v2 ? "inactive_file" : "total_inactive_file");
  if (!inactive) return k;
  k.inactive_file = *inactive;
  k.ok = true;
  return k;
}

// ------------------------------------------------------------ the watch

// What the callback saw; read by the driver under the mutex.
struct reported {
  std::mutex mu;
  pressure_level level = pressure_level::none;  // as of the latest crossing
  long crossings = 0;       // level changes reported (initial ones apart)
  long step_crossings = 0;  // during the current step
  long initial = 0;         // a new monitor's first report of a level
  bool expect_initial = false;
  long out_of_order = 0;  // an event whose `previous` is not the last level
  long limit_changed = 0;
  long oom_kills = 0;
  long repeats = 0;
  long other = 0;
  std::string last_reason;
};

headroom::monitor_options monitor_options_for(pid_t pid) {
  headroom::monitor_options o;
  o.reader.pid = pid;
  o.reader.use_environment = false;
  o.moderate = headroom::band_edge::percent(80);
  o.critical = headroom::band_edge::percent(92);
  o.hysteresis_percent = 5;
  o.slow_interval = 1000ms;
  o.fast_interval = 2ms;
  o.repeat_interval = std::chrono::hours(1);  // repeats are not crossings
  // Only the usage bands may move the level: signals (PSI, which is
  // host-wide on a hybrid host, memory.pressure_level, memory.events)
  // would raise it for reasons the oracle does not model.
  o.use_psi = false;
  o.use_v1_events = false;
  o.use_memory_events = false;
  o.use_systemd = false;
  return o;
}

struct watch {
  std::optional<headroom::monitor> m;
  headroom::subscription sub;
};

bool open_watch(watch& w, pid_t pid, reported& rep, std::string* err) {
  auto m = headroom::monitor::create(monitor_options_for(pid));
  if (!m) {
    *err = m.error().message();
    return false;
  }
  w.m.emplace(std::move(*m));
  w.sub = w.m->subscribe([&rep](const headroom::memory_event& e) {
    std::lock_guard<std::mutex> lock(rep.mu);
    switch (e.kind) {
      case headroom::event_kind::limit_changed:
        ++rep.limit_changed;
        rep.last_reason = e.reason;
        return;
      case headroom::event_kind::oom_kill:
        ++rep.oom_kills;
        rep.last_reason = e.reason;
        return;
      case headroom::event_kind::pressure:
        break;
    }
    if (e.repeat || e.level == e.previous) {
      ++rep.repeats;
      return;
    }
    if (e.previous != rep.level) ++rep.out_of_order;
    if (rep.expect_initial && e.previous == pressure_level::none) {
      ++rep.initial;
      rep.expect_initial = false;
    } else {
      ++rep.crossings;
      ++rep.step_crossings;
    }
    rep.level = e.level;
    rep.last_reason = e.reason;
  });
  auto started = w.m->start();
  if (!started) {
    *err = started.error().message();
    return false;
  }
  return true;
}

// Ends the process when an armed deadline passes: a stop() or the child
// hung. Nothing else can be trusted then.
class watchdog {
 public:
  explicit watchdog(std::function<void()> last_words)
      : last_words_(std::move(last_words)) {
    thread_ = std::thread([this] {
      while (!done_) {
        std::this_thread::sleep_for(20ms);
        const auto d = deadline_.load();
        if (d != 0 && clock_type::now().time_since_epoch().count() > d) {
          std::printf("FAIL: %s did not return within %lld ms: a hang\n",
                      what_.load(),
                      static_cast<long long>(
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              limit_.load())
                              .count()));
          std::fflush(stdout);
          last_words_();
          ::_exit(1);
        }
      }
    });
  }
  ~watchdog() {
    done_ = true;
    thread_.join();
  }
  void arm(const char* what, clock_type::duration limit) {
    what_ = what;
    limit_ = limit;
    deadline_ = (clock_type::now() + limit).time_since_epoch().count();
  }
  void disarm() { deadline_ = 0; }

 private:
  std::function<void()> last_words_;
  std::atomic<bool> done_{false};
  std::atomic<clock_type::rep> deadline_{0};
  std::atomic<const char*> what_{""};
  std::atomic<clock_type::duration> limit_{clock_type::duration::zero()};
  std::thread thread_;
};

// ------------------------------------------------------------ main

struct args {
  int seconds = 300;
  std::uint64_t limit_mib = 256;
  long restart_every_ms = -1;  // -1: seconds/40 between 500 ms and 5 s
  unsigned seed = 0;
  bool verbose = false;
};

int usage_error(const char* why) {
  std::fprintf(
      stderr,
      "headroom-soak: %s\nusage: headroom-soak [--seconds N] [--limit-mib M] "
      "[--restart-every-ms MS] [--seed S] [--verbose]\n",
      why);
  return 2;
}

int skip(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  std::fflush(stdout);
  return 77;
}

const char* name(pressure_level l) { return headroom::to_string(l); }

}  // namespace

int main(int argc, char** argv) {
  args a;
  a.seed = static_cast<unsigned>(::getpid());
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const bool has_value = i + 1 < argc;
    if (s == "--seconds" && has_value) {
      a.seconds = std::atoi(argv[++i]);
    } else if (s == "--limit-mib" && has_value) {
      a.limit_mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (s == "--restart-every-ms" && has_value) {
      a.restart_every_ms = std::atol(argv[++i]);
    } else if (s == "--seed" && has_value) {
      a.seed = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (s == "--verbose") {
      a.verbose = true;
    } else {
      return usage_error(("unknown argument " + s).c_str());
    }
  }
  if (a.seconds < 1) return usage_error("--seconds must be at least 1");
  if (a.limit_mib < 64 || a.limit_mib > 4000)
    return usage_error("--limit-mib: 64 to 4000");
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  using namespace headroom_live;
  if (::geteuid() != 0)
    return skip("the soak needs root (it creates a memory cgroup)");
  const host_layout host = probe_host();
  if (host.mode == headroom::hierarchy_mode::none) {
    return skip("no memory cgroup is visible to this process");
  }
  std::string err;
  auto made = cgroup_dir::make(
      host, host.own_dir, "headroom-soak-" + std::to_string(::getpid()), &err);
  if (!made) return skip("cannot create a child memory cgroup: " + err);
  cgroup_dir cg(host, *made);
  const std::uint64_t limit = a.limit_mib * MiB;
  if (!cg.set_limit(limit)) {
    std::printf("FAIL: cannot set the limit of %s\n", cg.dir().c_str());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  const auto t_begin = clock_type::now();
  std::optional<driver> child;
  child.emplace();
  if (!child->start()) {
    std::printf("FAIL: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (!cg.move_in(child->pid())) {
    std::printf("FAIL: cannot move the child into %s\n", cg.dir().c_str());
    return 1;
  }
  const pid_t child_pid = child->pid();
  const std::string cg_dir = cg.dir();
  watchdog dog([child_pid, cg_dir] {
    ::kill(child_pid, SIGKILL);
    ::waitpid(child_pid, nullptr, 0);
    ::rmdir(cg_dir.c_str());
  });

  const bool v2 = host.v2();
  // The child's own pages (before any block) set the floor.
  dog.arm("the child's first answer", 30s);
  if (!child->hold(0, 0)) {
    std::printf("FAIL: the child did not answer\n");
    return 1;
  }
  dog.disarm();
  std::this_thread::sleep_for(50ms);
  const kernel_view base = read_kernel(cg.dir(), v2);
  if (!base.ok) {
    std::printf("FAIL: cannot read usage and memory.stat of %s\n",
                cg.dir().c_str());
    return 1;
  }

  // Bands of the effective limit, as update_limit() computes them.
  std::uint64_t host_total = limit;
  {
    auto r = headroom::memory_reader::open();
    if (r) {
      const auto s = r->snapshot();
      if (s.host_total) host_total = *s.host_total;
    }
  }
  const std::uint64_t eff = std::min(limit, host_total);
  const auto pct = [&](double p) {
    return static_cast<std::uint64_t>(static_cast<double>(eff) * p / 100.0);
  };
  const edges e{pct(80), std::max(pct(92), pct(80)), pct(5)};
  // Five zones of working set, and a plateau target in each, away from
  // every edge: [0, exit moderate) none; [exit moderate, moderate) none or
  // moderate by history; [moderate, exit critical) moderate; [exit
  // critical, critical) moderate or critical by history; [critical, limit)
  // critical.
  const std::uint64_t bounds[6] = {base.working_set(), e.exit_moderate(),
                                   e.moderate,         e.exit_critical(),
                                   e.critical,         eff};
  std::uint64_t target[5];
  for (int z = 0; z < 5; ++z) {
    const double at = z == 0 ? 0.6 : z == 4 ? 0.35 : 0.5;
    target[z] =
        bounds[z] + static_cast<std::uint64_t>(
                        static_cast<double>(bounds[z + 1] - bounds[z]) * at);
  }
  const auto blocks_for = [&](std::uint64_t ws) {
    const std::uint64_t over = ws > base.usage ? ws - base.usage : 0;
    return static_cast<std::uint32_t>((over + block / 2) / block);
  };
  const auto margin_of = [&](std::uint64_t ws) {
    std::uint64_t m = UINT64_MAX;
    for (const std::uint64_t edge :
         {e.exit_moderate(), e.moderate, e.exit_critical(), e.critical}) {
      m = std::min(m, ws > edge ? ws - edge : edge - ws);
    }
    return m;
  };

  const long restart_every_ms =
      a.restart_every_ms > 0
          ? a.restart_every_ms
          : std::clamp<long>(a.seconds * 1000L / 40, 500, 5000);
  const auto warmup = std::min<clock_type::duration>(
      30s, std::chrono::milliseconds(a.seconds * 250L));
  std::printf("soak: %d s, mode %s, cgroup %s, limit %" PRIu64
              " MiB, child %d, seed %u\n",
              a.seconds, headroom::to_string(host.mode), cg.dir().c_str(),
              limit / MiB, static_cast<int>(child_pid), a.seed);
  std::printf(
      "soak: edges (working set) moderate %.1f MiB, critical %.1f MiB, exits "
      "%.1f / %.1f MiB;"
      " the child's own usage %.1f MiB\n",
      double(e.moderate) / MiB, double(e.critical) / MiB,
      double(e.exit_moderate()) / MiB, double(e.exit_critical()) / MiB,
      double(base.usage) / MiB);
  std::printf(
      "soak: plateaus at %.1f %.1f %.1f %.1f %.1f MiB; restart every %ld ms; "
      "warm-up %lld s\n",
      double(target[0]) / MiB, double(target[1]) / MiB, double(target[2]) / MiB,
      double(target[3]) / MiB, double(target[4]) / MiB, restart_every_ms,
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::seconds>(warmup).count()));

  const int fds_before = count_fds();
  const long rss_before = rss_kib();

  reported rep;
  auto w = std::make_unique<watch>();
  if (!open_watch(*w, child_pid, rep, &err)) {
    std::printf("FAIL: monitor: %s\n", err.c_str());
    return 1;
  }
  for (const auto& s : w->m->sources()) {
    if (!s.active && s.failure.code == headroom::errc::disabled) continue;
    std::printf(
        "soak: source %s: %s%s\n", headroom::to_string(s.kind),
        s.active ? "active " : ("failed: " + s.failure.message() + " ").c_str(),
        s.detail.c_str());
  }

  // How soon a crossing must be reported once the move is done: with the
  // v1 eventfd thresholds, at once (250 ms is for scheduling); with the
  // sampler, within its slowest interval too.
  bool eventfd_bands = false;
  for (const auto& s : w->m->sources()) {
    if (s.kind == headroom::source_kind::usage_bands && s.active &&
        s.detail.find("eventfd") != std::string::npos) {
      eventfd_bands = true;
    }
  }
  const double late_ms = eventfd_bands ? 250.0 : 1250.0;

  std::mt19937 rng(a.seed);
  const auto uniform = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };

  // State of the run.
  int zone = 0;
  pressure_level kernel_band = pressure_level::none;
  long steps = 0, expected = 0, missed = 0, extra = 0, wrong_level = 0,
       ambiguous = 0;
  long late = 0, initial_missed = 0, stops = 0, recreates = 0,
       stopped_moves = 0;
  unsigned restart_turn = 0;
  double max_stop_ms = 0, max_settle_ms = 0, sum_settle_ms = 0;
  long settled_changes = 0;
  std::uint64_t min_margin = UINT64_MAX;
  int fds_warm = -1;
  long rss_warm = -1;
  auto last_restart = clock_type::now();
  auto next_progress =
      clock_type::now() + std::chrono::seconds(std::max(5, a.seconds / 10));
  std::vector<std::string> failures;
  const auto end_at = clock_type::now() + std::chrono::seconds(a.seconds);

  // Waits until the monitor's reported level is `want`, up to `until`.
  // Returns the time waited, or nothing when it did not come.
  const auto settle =
      [&](pressure_level want, clock_type::time_point from,
          clock_type::time_point until) -> std::optional<double> {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(rep.mu);
        if (rep.level == want) return ms_since(from);
      }
      if (clock_type::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(1ms);
    }
  };

  const auto timed_stop = [&](const char* what, auto&& fn) {
    dog.arm(what, hang_bound);
    const auto t0 = clock_type::now();
    fn();
    const double ms = ms_since(t0);
    dog.disarm();
    ++stops;
    max_stop_ms = std::max(max_stop_ms, ms);
    if (ms > std::chrono::duration<double, std::milli>(stop_bound).count()) {
      failures.push_back(std::string(what) + " took " + std::to_string(ms) +
                         " ms");
    }
  };

  while (clock_type::now() < end_at && !g_interrupted) {
    // The next zone: one or two away, such that the band changes at most
    // once on the way there.
    int next = zone;
    for (int tries = 0; tries < 100; ++tries) {
      const int dz = uniform(1, 2) * (uniform(0, 1) ? 1 : -1);
      const int z = zone + dz;
      if (z < 0 || z > 4) continue;
      int changes = 0;
      pressure_level b = kernel_band;
      for (int k = zone; k != z;) {
        k += dz > 0 ? 1 : -1;
        const pressure_level nb = band_of(b, target[k], e);
        changes += nb != b;
        b = nb;
      }
      if (changes <= 1) {
        next = z;
        break;
      }
    }
    const int speed = uniform(0, 9);
    const std::uint32_t ramp_us = speed < 5 ? 0 : speed < 8 ? 100 : 1000;
    const int kind = uniform(0, 9);
    const int hold_ms = kind < 4   ? uniform(20, 80)
                        : kind < 8 ? uniform(100, 500)
                                   : uniform(800, 2000);

    {
      std::lock_guard<std::mutex> lock(rep.mu);
      rep.step_crossings = 0;
    }
    // Restarts, in turn: stop() and start() between steps; stop(), this
    // step's move while stopped, start() (the crossing must be reported
    // after start()); destroy and create anew after the step.
    enum class restart { none, between, across_move, recreate };
    restart how = restart::none;
    if (ms_since(last_restart) >= static_cast<double>(restart_every_ms)) {
      last_restart = clock_type::now();
      const restart turn[3] = {restart::between, restart::across_move,
                               restart::recreate};
      how = turn[restart_turn++ % 3];
      // A new monitor has no history: recreate only where the level does
      // not depend on it, so that it must arrive at the kernel's level.
      if (how == restart::recreate && next != 0 && next != 2 && next != 4)
        how = restart::between;
    }
    if (how == restart::across_move) {
      timed_stop("stop()", [&] { w->m->stop(); });
      ++stopped_moves;
    }
    dog.arm("the child's move", 60s);
    if (!child->hold(blocks_for(target[next]), ramp_us)) {
      dog.disarm();
      failures.push_back("the child died (OOM-killed?) at step " +
                         std::to_string(steps));
      break;
    }
    dog.disarm();
    if (how == restart::across_move) {
      std::this_thread::sleep_for(std::chrono::milliseconds(uniform(0, 50)));
      auto started = w->m->start();
      if (!started) {
        failures.push_back("start() after stop(): " +
                           started.error().message());
        break;
      }
    }
    const auto moved = clock_type::now();
    zone = next;
    ++steps;

    const kernel_view k = read_kernel(cg.dir(), v2);
    if (!k.ok) {
      failures.push_back("cannot read the cgroup's usage");
      break;
    }
    const std::uint64_t ws = k.working_set();
    const std::uint64_t margin = margin_of(ws);
    min_margin = std::min(min_margin, margin);
    const pressure_level band = band_of(kernel_band, ws, e);
    const bool changed = band != kernel_band;
    // Within 1 MiB of an edge the kernel's own values are too fuzzy to
    // judge by (it never happens with the plateaus above; counted).
    const bool unclear = margin < MiB;
    if (unclear) ++ambiguous;
    if (changed) ++expected;

    // The plateau: note when the monitor first shows the kernel's level;
    // at its end the monitor must show it (waiting up to the grace).
    std::optional<double> first_match;
    const auto hold_end = moved + std::chrono::milliseconds(hold_ms);
    while (clock_type::now() < hold_end) {
      if (!first_match) {
        std::lock_guard<std::mutex> lock(rep.mu);
        if (rep.level == band) first_match = ms_since(moved);
      }
      std::this_thread::sleep_for(1ms);
    }
    const auto waited =
        settle(band, moved, std::max(clock_type::now(), moved + grace));
    long in_step = 0;
    std::string reason;
    {
      std::lock_guard<std::mutex> lock(rep.mu);
      in_step = rep.step_crossings;
      reason = rep.last_reason;
    }
    if (!waited && !unclear) {
      if (changed) {
        ++missed;
      } else {
        ++wrong_level;
      }
      std::printf(
          "soak: step %ld: kernel working set %.1f MiB is %s (was %s), the "
          "monitor says %s"
          " after %.0f ms: %s\n",
          steps, double(ws) / MiB, name(band), name(kernel_band), name([&] {
            std::lock_guard<std::mutex> lock(rep.mu);
            return rep.level;
          }()),
          ms_since(moved), reason.c_str());
    } else if (changed && waited) {
      const double t = first_match ? *first_match : *waited;
      if (t > late_ms) {
        ++late;
        std::printf(
            "soak: step %ld: %s -> %s reported %.0f ms after the move (bound "
            "%.0f ms)\n",
            steps, name(kernel_band), name(band), t, late_ms);
      }
      ++settled_changes;
      max_settle_ms = std::max(max_settle_ms, t);
      sum_settle_ms += t;
    }
    if (in_step > (changed ? 1 : 0) && !unclear) {
      extra += in_step - (changed ? 1 : 0);
      std::printf(
          "soak: step %ld: %ld crossings reported for %s -> %s (working set "
          "%.1f MiB): %s\n",
          steps, in_step, name(kernel_band), name(band), double(ws) / MiB,
          reason.c_str());
    }
    if (a.verbose) {
      std::printf(
          "soak: step %ld zone %d ws %.1f MiB %s%s hold %d ms ramp %u us, %ld "
          "reported\n",
          steps, zone, double(ws) / MiB, name(band),
          changed ? " (crossing)" : "", hold_ms, ramp_us, in_step);
    }
    kernel_band = band;

    if (how == restart::recreate) {
      timed_stop("destroying the monitor", [&] { w.reset(); });
      {
        std::lock_guard<std::mutex> lock(rep.mu);
        rep.level = pressure_level::none;
        rep.expect_initial = kernel_band != pressure_level::none;
      }
      w = std::make_unique<watch>();
      if (!open_watch(*w, child_pid, rep, &err)) {
        failures.push_back("monitor::create again: " + err);
        break;
      }
      ++recreates;
      const auto t0 = clock_type::now();
      if (!settle(kernel_band, t0, t0 + grace)) {
        ++initial_missed;
        std::printf(
            "soak: a new monitor did not report the level %s within %lld ms\n",
            name(kernel_band), static_cast<long long>(grace.count()));
      }
      std::lock_guard<std::mutex> lock(rep.mu);
      rep.expect_initial = false;
    } else if (how == restart::between) {
      timed_stop("stop()", [&] { w->m->stop(); });
      auto started = w->m->start();
      if (!started) {
        failures.push_back("start() after stop(): " +
                           started.error().message());
        break;
      }
    }

    if (fds_warm < 0 && clock_type::now() - t_begin >= warmup) {
      fds_warm = count_fds();
      rss_warm = rss_kib();
      std::printf(
          "soak: warmed up after %ld steps: %d descriptors, VmRSS %ld KiB\n",
          steps, fds_warm, rss_warm);
    }
    if (clock_type::now() >= next_progress) {
      next_progress += std::chrono::seconds(std::max(5, a.seconds / 10));
      std::lock_guard<std::mutex> lock(rep.mu);
      std::printf(
          "soak: %4.0f s: %ld steps, %ld crossings expected, %ld reported, %ld "
          "missed,"
          " %ld stops, %d fds, VmRSS %ld KiB\n",
          ms_since(t_begin) / 1000, steps, expected, rep.crossings, missed,
          stops, count_fds(), rss_kib());
    }
  }
  if (g_interrupted) failures.push_back("interrupted before the end");
  if (fds_warm < 0) {  // a run shorter than its warm-up
    fds_warm = count_fds();
    rss_warm = rss_kib();
  }

  const int fds_end = count_fds();
  const long rss_end = rss_kib();
  timed_stop("destroying the monitor", [&] { w.reset(); });
  const int fds_after = count_fds();
  long reported_crossings, initial, out_of_order, limit_changed, oom_kills;
  {
    std::lock_guard<std::mutex> lock(rep.mu);
    reported_crossings = rep.crossings;
    initial = rep.initial;
    out_of_order = rep.out_of_order;
    limit_changed = rep.limit_changed;
    oom_kills = rep.oom_kills;
  }
  child->quit();
  child.reset();

  if (missed > 0)
    failures.push_back(std::to_string(missed) + " crossing(s) missed");
  if (extra > 0)
    failures.push_back(std::to_string(extra) +
                       " crossing(s) the kernel does not explain");
  if (wrong_level > 0) {
    failures.push_back(std::to_string(wrong_level) +
                       " plateau(s) without a crossing ended at another level");
  }
  if (late > 0) {
    failures.push_back(
        std::to_string(late) + " crossing(s) reported later than " +
        std::to_string(static_cast<int>(late_ms)) + " ms after the move");
  }
  if (initial_missed > 0) {
    failures.push_back(std::to_string(initial_missed) +
                       " new monitor(s) did not report the level");
  }
  if (out_of_order > 0)
    failures.push_back(std::to_string(out_of_order) + " event(s) out of order");
  if (limit_changed > 0)
    failures.push_back("limit_changed reported, the limit never changed");
  if (oom_kills > 0) failures.push_back("an OOM kill in the soak cgroup");
  if (expected == 0)
    failures.push_back("no crossing happened: the driver did not drive");
  if (fds_end != fds_warm) {
    failures.push_back("descriptors " + std::to_string(fds_warm) +
                       " after warm-up, " + std::to_string(fds_end) +
                       " at the end");
  }
  if (fds_after != fds_before) {
    failures.push_back("descriptors " + std::to_string(fds_before) +
                       " before the monitor, " + std::to_string(fds_after) +
                       " after it was destroyed");
  }
  if (rss_end - rss_warm > rss_bound_kib) {
    failures.push_back("VmRSS grew " + std::to_string(rss_end - rss_warm) +
                       " KiB after warm-up (bound " +
                       std::to_string(rss_bound_kib) + " KiB)");
  }

  const auto field = [](const char* f, const std::string& v) {
    std::printf("result soak %s %s\n", f, v.c_str());
  };
  const auto num = [](double v, int decimals = 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return std::string(buf);
  };
  field("seconds", num(ms_since(t_begin) / 1000, 1));
  field("mode", headroom::to_string(host.mode));
  field("limit_mib", std::to_string(limit / MiB));
  field("steps", std::to_string(steps));
  field("expected_crossings", std::to_string(expected));
  field("reported_crossings", std::to_string(reported_crossings));
  field("missed", std::to_string(missed));
  field("extra", std::to_string(extra));
  field("wrong_level", std::to_string(wrong_level));
  field("ambiguous_steps", std::to_string(ambiguous));
  field("min_margin_kib",
        std::to_string(min_margin == UINT64_MAX ? 0 : min_margin / 1024));
  field("initial_reports", std::to_string(initial));
  field("late", std::to_string(late));
  field("max_settle_ms", num(max_settle_ms, 1));
  field("mean_settle_ms",
        num(settled_changes ? sum_settle_ms / double(settled_changes) : 0, 1));
  field("fds_before", std::to_string(fds_before));
  field("fds_warm", std::to_string(fds_warm));
  field("fds_end", std::to_string(fds_end));
  field("fds_after", std::to_string(fds_after));
  field("rss_kib_before", std::to_string(rss_before));
  field("rss_kib_warm", std::to_string(rss_warm));
  field("rss_kib_after", std::to_string(rss_end));
  field("stops", std::to_string(stops));
  field("recreates", std::to_string(recreates));
  field("moves_while_stopped", std::to_string(stopped_moves));
  field("max_stop_ms", num(max_stop_ms, 2));
  for (const auto& f : failures) std::printf("FAIL: %s\n", f.c_str());
  std::printf("soak: %s\n", failures.empty() ? "PASS" : "FAIL");
  return failures.empty() ? 0 : 1;
}
