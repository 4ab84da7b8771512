// SPDX-License-Identifier: MIT
// The pressure monitor on a real kernel: a forked child allocates step by
// step in a limited cgroup while a monitor watches it (options::pid). On v1
// the bands are eventfd thresholds; on v2 (in the VM) the sampler.
#include <headroom/pressure.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../support/skip.hpp"
#include "live_support.hpp"

using namespace headroom_live;
using headroom::event_kind;
using headroom::memory_event;
using headroom::pressure_level;
using headroom::source_kind;
using namespace std::chrono_literals;

namespace {

struct watcher {
  headroom::monitor m;
  std::vector<memory_event> events;
  headroom::subscription sub;

  explicit watcher(headroom::monitor mon) : m(std::move(mon)) {
    sub = m.subscribe([this](const memory_event& e) {
      const std::string line = std::string(headroom::to_string(e.kind)) + " " +
                               headroom::to_string(e.level) + " [" +
                               headroom::to_string(e.source) + "] " + e.reason;
      MESSAGE(line);
      events.push_back(e);
    });
  }

  // Dispatches for `d`.
  void pump(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{m.fd(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
      m.dispatch();
    }
    m.dispatch();
  }

  template <class Pred>
  bool pump_until(Pred pred, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      pump(10ms);
    }
    return true;
  }

  // Index of the first event matching, or -1.
  int find(event_kind k, pressure_level l = pressure_level::none,
           std::size_t from = 0) const {
    for (std::size_t i = from; i < events.size(); ++i) {
      if (events[i].kind == k &&
          (k != event_kind::pressure || events[i].level == l)) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
};

watcher watch(pid_t pid, headroom::monitor_options o = {}) {
  o.reader.pid = pid;
  auto m = headroom::monitor::create(o);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  for (const auto& s : m->sources()) {
    const std::string line =
        "source " + std::string(headroom::to_string(s.kind)) + ": " +
        (s.active ? "active " : "failed: " + s.failure.message() + " ") +
        s.detail;
    MESSAGE(line);
  }
  return watcher(std::move(*m));
}

// How many pages of the first `size` bytes of fd are in the page cache.
std::size_t resident_pages(int fd, std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return size;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((size + page - 1) / page);
  std::size_t n = in.size();
  if (::mincore(p, size, in.data()) == 0) {
    n = 0;
    for (const unsigned char c : in) n += c & 1u;
  }
  ::munmap(p, size);
  return n;
}

}  // namespace

TEST_CASE(
    "live monitor: moderate, then critical, before the kill; then oom_kill") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));

  auto w = watch(child.pid());
  w.pump(50ms);
  CHECK(w.m.level() == pressure_level::none);

  // 4 MiB steps, then 1 MiB ones past 40 MiB, until the kernel kills it.
  bool killed = false;
  std::size_t events_before_kill = 0;
  for (int step = 0; step < 200 && !killed; ++step) {
    const std::uint64_t size = step < 10 ? 4 * MiB : 1 * MiB;
    killed = !child.ask(command::allocate, size);
    if (!killed) {
      w.pump(20ms);
      events_before_kill = w.events.size();
    }
  }
  REQUIRE(killed);
  child.wait_exit();
  const int moderate = w.find(event_kind::pressure, pressure_level::moderate);
  const int critical = w.find(event_kind::pressure, pressure_level::critical);
  REQUIRE(moderate >= 0);
  REQUIRE(critical >= 0);
  CHECK(moderate < critical);
  CHECK(static_cast<std::size_t>(critical) < events_before_kill);
  CHECK(w.events[static_cast<std::size_t>(moderate)].working_set >= 51 * MiB);

  REQUIRE(
      w.pump_until([&] { return w.find(event_kind::oom_kill) >= 0; }, 5000ms));
  const auto& kill =
      w.events[static_cast<std::size_t>(w.find(event_kind::oom_kill))];
  CHECK(kill.new_oom_kills >= 1);
  CHECK(kill.oom_kills >= 1);
  // After the kill the level falls straight to what the bands say (the
  // memory is free), not through a moderate held over from before it.
  const std::size_t killed_at =
      static_cast<std::size_t>(w.find(event_kind::oom_kill));
  REQUIRE(w.pump_until([&] { return w.m.level() == pressure_level::none; },
                       5000ms));
  for (std::size_t i = killed_at; i < w.events.size(); ++i) {
    const auto& e = w.events[i];
    if (e.kind != event_kind::pressure) continue;
    CAPTURE(e.reason);
    CHECK(e.level == pressure_level::none);
    CHECK(e.source == source_kind::usage_bands);
    break;
  }
}

TEST_CASE(
    "live monitor: a raised limit gives limit_changed; freeing memory gives "
    "none") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));
  auto w = watch(child.pid());

  must(child.ask(command::allocate, 54 * MiB));  // about 85%: moderate
  REQUIRE(w.pump_until([&] { return w.m.level() == pressure_level::moderate; },
                       3000ms));

  REQUIRE(leaf.set_limit(256 * MiB));
  REQUIRE(w.pump_until([&] { return w.find(event_kind::limit_changed) >= 0; },
                       3000ms));
  const auto& changed =
      w.events[static_cast<std::size_t>(w.find(event_kind::limit_changed))];
  CHECK(changed.old_limit == 64 * MiB);
  CHECK(changed.new_limit == 256 * MiB);
  CHECK(changed.new_cgroup == leaf.dir());
  CHECK_FALSE(changed.moved);
  REQUIRE(w.pump_until([&] { return w.m.level() == pressure_level::none; },
                       8000ms));

  REQUIRE(leaf.set_limit(64 * MiB));  // back down: pressure again
  REQUIRE(w.pump_until([&] { return w.m.level() != pressure_level::none; },
                       3000ms));
  const std::size_t mark = w.events.size();
  must(child.ask(command::free_all));
  REQUIRE(w.pump_until([&] { return w.m.level() == pressure_level::none; },
                       8000ms));
  CHECK(w.find(event_kind::pressure, pressure_level::none, mark) >= 0);
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE("live monitor: a PSI trigger fires under load") {
  cgroup_list dirs;
  cleanup c{dirs};
  // The thrashed file (v1) goes however the case ends.
  struct unlink_thrash_file {
    ~unlink_thrash_file() {
      if (!thrash_file.empty()) ::unlink(thrash_file.c_str());
      thrash_file.clear();
    }
  } unlink_at_end;
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  headroom::monitor_options o;
  // A low bar so that a few seconds of load are enough on any machine:
  // 20 ms of stall within 2 s.
  o.psi_moderate.stall = std::chrono::microseconds(20000);
  // Only PSI may raise the level here: the other sources would reach
  // moderate first and a PSI signal at the same level adds no event. The
  // usage bands too: a thrashed file's pages turn active and lift the
  // working set past 80% of the 16 MiB limit now and then, and on v2 the
  // critical edge follows memory.high down. Edges at ten times the limit
  // are never reached.
  o.use_v1_events = false;
  o.use_memory_events = false;
  o.moderate = headroom::band_edge::percent(1000);
  o.critical = headroom::band_edge::percent(1000);
  o.high_margin_percent = -1;

  if (g_host.v2()) {
    // memory.high throttling sleeps the allocating task: memory stall.
    REQUIRE(leaf.set_limit(256 * MiB));
    REQUIRE(leaf.set_high(std::to_string(32 * MiB)));
  } else {
    // Reading a file through a 16 MiB cgroup: direct reclaim, memory stall
    // (PSI comes from the cgroup2 hierarchy, here its root: host-wide).
    // That needs a file system with a page cache to reclaim.
    const std::string tmp =
        std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    struct statfs fs {};
    REQUIRE(::statfs(tmp.c_str(), &fs) == 0);
    if (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC) {
      // Its own ctest entry (live_psi), which reports the skip; in a run
      // of the whole binary (the qemu guest) the other cases go on.
      HEADROOM_SKIP_CASE(tmp +
                         " is in memory (tmpfs/ramfs): nothing to reclaim, so "
                         "no stall to cause on v1");
    }
    REQUIRE(leaf.set_limit(16 * MiB));
    o.use_host_psi = true;  // the cgroup2 root's pressure is host-wide
    const std::string file =
        tmp + "/headroom-thrash-" + std::to_string(::getpid());
    thrash_file = file;
    {
      const int fd =
          ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      REQUIRE(fd >= 0);
      std::vector<char> chunk(1 << 20, 'x');
      for (int i = 0; i < 96; ++i)
        REQUIRE(::write(fd, chunk.data(), chunk.size()) > 0);
      // Out of the page cache, so that the child's reads are charged to its
      // cgroup: pages left cached here (charged to this process's cgroup)
      // are read without a charge, a reclaim or a stall. mincore() checks.
      REQUIRE(::fdatasync(fd) == 0);
      std::size_t cached = 0;
      for (int tries = 0; tries < 20; ++tries) {
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        cached = resident_pages(fd, 96 * MiB);
        if (cached == 0) break;
        ::usleep(50000);
      }
      ::close(fd);
      REQUIRE_MESSAGE(cached == 0, cached << " pages of the file stay cached");
    }
  }
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));
  auto w = watch(child.pid(), o);
  std::string psi_file;  // the pressure file the trigger is on
  for (const auto& s : w.m.sources()) {
    if (s.kind == source_kind::psi && s.active)
      psi_file = s.detail.substr(0, s.detail.find(' '));
  }
  REQUIRE_MESSAGE(!psi_file.empty(),
                  "no PSI trigger could be set on this kernel");

  // The kernel's own count is the judge of whether the load stalled: the
  // largest growth of the "some" total over any 2 s seen while pumping.
  // A load the kernel counts no stall for (a fast disk, reclaim that finds
  // clean pages at once) says nothing about the trigger: it is tried again,
  // up to three times, and only then is the case skipped, with the figure.
  struct total_at {
    std::chrono::steady_clock::time_point t;
    std::uint64_t some_us;
  };
  std::vector<total_at> totals;
  std::uint64_t most_per_window = 0;
  const auto sample_total = [&] {
    const auto text = read_file(psi_file);
    const auto at = text.find("total=");
    if (at == std::string::npos) return;
    const auto now = std::chrono::steady_clock::now();
    const std::uint64_t us = std::strtoull(text.c_str() + at + 6, nullptr, 10);
    totals.push_back({now, us});
    for (const auto& b : totals) {
      if (now - b.t <= std::chrono::microseconds(o.psi_moderate.window))
        most_per_window = std::max(most_per_window, us - b.some_us);
    }
  };
  const auto psi_event = [&] {
    for (const auto& e : w.events) {
      if (e.source == source_kind::psi) return true;
    }
    return false;
  };
  const auto stall_us =
      static_cast<std::uint64_t>(o.psi_moderate.stall.count());
  bool fired = false;
  int loads = 0;
  while (loads < 3 && !fired) {
    ++loads;
    if (g_host.v2()) {
      REQUIRE(child.post(command::allocate, 40 * MiB));
    } else {
      REQUIRE(child.post(command::thrash, 5000));
    }
    fired = w.pump_until(
        [&] {
          sample_total();
          return psi_event();
        },
        8000ms);
    // Stall the kernel counted past the threshold, and nothing fired yet:
    // give the trigger (at most one event a window) one more window.
    if (!fired && most_per_window >= 2 * stall_us)
      fired = w.pump_until(psi_event, 3000ms);
    // On v2 the allocation over memory.high is throttled for as long as it
    // runs (nothing to reclaim without swap): one load, and its report may
    // come late. The thrash on v1 ends after its 5 s.
    const auto report = child.receive(20000);
    if (g_host.v2()) break;
    REQUIRE(report);
    if (fired || most_per_window >= 2 * stall_us) break;
  }
  const std::string seen =
      "most stall the kernel counted in " +
      std::to_string(o.psi_moderate.window.count() / 1000) +
      " ms: " + std::to_string(most_per_window / 1000) + " ms (threshold " +
      std::to_string(stall_us / 1000) + " ms) in " + std::to_string(loads) +
      " load(s); " + psi_file + " now: " + read_file(psi_file);
  MESSAGE(seen);
  if (!fired && most_per_window < 2 * stall_us) {
    child.ask(command::quit);
    child.wait_exit();
    HEADROOM_SKIP_CASE(
        "the load did not stall this machine enough to judge "
        "the trigger: " +
        seen);
  }
  CHECK_MESSAGE(fired, seen);
  if (!fired) {
    for (const auto& e : w.events) {
      MESSAGE("event " << headroom::to_string(e.kind) << " "
                       << headroom::to_string(e.level) << " from "
                       << headroom::to_string(e.source) << ": " << e.reason);
    }
    for (const auto& st : w.m.sources()) {
      const std::string line =
          "source now " + std::string(headroom::to_string(st.kind)) + ": " +
          (st.active ? "active " : "failed: " + st.failure.message() + " ") +
          st.detail;
      MESSAGE(line);
    }
  }
  child.ask(command::quit);
  child.wait_exit();
}
