// SPDX-License-Identifier: MIT
// Faults injected under the library through its system call seam
// (HEADROOM_SYSCALL, see fake_syscalls.hpp): opens that fail, interrupted
// and short reads, full buffers, descriptors running out, files of a
// removed cgroup, event sources that report an error. Each must give a
// clear error (the errno or headroom::errc, and the file it concerns)
// while the rest of the snapshot, report or monitor keeps working.
//
// The fixture-tree cases run anywhere. The live cases (PSI triggers, the
// v1 event sources, $MEMORY_PRESSURE_WATCH, what is written where) need
// root and a memory cgroup; without them they say why and return.
#include "fake_syscalls.hpp"

#include <headroom/export.hpp>
#include <headroom/pressure.hpp>
#include <headroom/recorder.hpp>

#include <dirent.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../live/live_support.hpp"
#include "../support/doctest.hpp"
#include "../support/layouts.hpp"
#include "../support/skip.hpp"

using namespace headroom;
using namespace headroom_test;
using namespace std::chrono_literals;
using fake_sys::call;
using fake_sys::fault;

namespace {

std::error_code sys(int e) {
  return std::error_code(e, std::system_category());
}

bool ends_with(const std::string& s, const std::string& end) {
  return s.size() >= end.size() &&
         s.compare(s.size() - end.size(), end.size(), end) == 0;
}

template <class T>
void check_error(const result<T>& r, std::error_code code,
                 const std::string& path_end) {
  CHECK_FALSE(r.has_value());
  if (r) return;
  CHECK(r.error().code == code);
  CHECK_MESSAGE(ends_with(r.error().path, path_end),
                "path: " << r.error().path);
}

template <class T>
void check_value(const result<T>& r, const T& expected) {
  CHECK_MESSAGE(r.has_value(), r.error().message());
  if (r) CHECK(*r == expected);
}

void check_limit(const result<std::optional<std::uint64_t>>& r,
                 std::uint64_t expected) {
  CHECK_MESSAGE(r.has_value(), r.error().message());
  if (r) CHECK(*r == std::optional<std::uint64_t>(expected));
}

void check_stat(const result<memory_stat>& r, const memory_stat& e) {
  CHECK_MESSAGE(r.has_value(), r.error().message());
  if (!r) return;
  CHECK(r->anon == e.anon);
  CHECK(r->file == e.file);
  CHECK(r->inactive_file == e.inactive_file);
}

// "value" or "error: code (path)", for the messages of sweeps.
template <class T>
std::string outcome(const result<T>& r) {
  if (r) return "value";
  return "error: " + r.error().message();
}

int count_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

memory_reader open_reader(const fixture_tree& t) {
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return std::move(*r);
}

// Docker on v1 (layouts.hpp): 256 MiB limit, usage 100 MiB, memory.stat
// total_rss 60 MiB, total_cache 40 MiB, total_inactive_file 20 MiB.
const std::string docker_dir = "/sys/fs/cgroup/memory";
const memory_stat docker_stat{60 * MiB, 40 * MiB, 20 * MiB};

void check_docker_snapshot(const memory_snapshot& s) {
  check_limit(s.limit, 256 * MiB);
  check_value(s.usage, 100 * MiB);
  check_stat(s.stat, docker_stat);
  check_value(s.working_set, 80 * MiB);
  check_value(s.host_total, 16 * GiB);
  check_value(s.effective_limit, 256 * MiB);
  check_value(s.headroom, 176 * MiB);
}

// Kubernetes on v2 (layouts.hpp): chain container, pod (1 GiB, the limit),
// burstable, kubepods (15 GiB), root. Usage and inactive_file per level.
const std::string k8s_pod_dir = std::string("/sys/fs/cgroup") + k8s_pod;
const std::uint64_t k8s_usage[] = {600 * MiB, 700 * MiB, 2 * GiB, 3 * GiB};
const std::uint64_t k8s_inactive[] = {20 * MiB, 100 * MiB, 20 * MiB, 20 * MiB};

// No memory cgroup: host-wide values from /proc/meminfo (16 GiB, 8 GiB
// free, 12 GiB available).
void layout_host_wide(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup", "0::/\n");
  t.file("proc/self/mountinfo", mi_base);
}

// A v2 container with a 1000 MiB limit; 100 MiB used, no inactive file.
void layout_app(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/cgroup", "0::/app.slice\n");
  t.file("proc/self/mountinfo", std::string(mi_base) + mi_v2_host);
  write_v2_root(t, "sys/fs/cgroup");
  v2_dir d;
  d.max = std::to_string(1000 * MiB);
  d.inactive_file = 0;
  write_v2(t, "sys/fs/cgroup/app.slice", d);
}

// Usage and working set of the app.slice cgroup.
void set_usage(fixture_tree& t, std::uint64_t bytes) {
  t.file("sys/fs/cgroup/app.slice/memory.current", n(bytes));
  t.file("sys/fs/cgroup/app.slice/memory.stat", v2_stat(bytes, 0, 0));
}

monitor_options fixture_monitor(const fixture_tree& t) {
  monitor_options o;
  o.reader.root = t.root();
  o.fast_interval = 1ms;
  o.slow_interval = 40ms;
  o.repeat_interval = 100000ms;
  return o;
}

// Events from a monitor, on whichever thread delivers them.
struct event_log {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<memory_event> events;
  subscription sub;

  explicit event_log(monitor& m) {
    sub = m.subscribe([this](const memory_event& e) {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(e);
      cv.notify_all();
    });
  }

  // The first event from index `from` on that satisfies pred, waiting up
  // to `limit` (the monitor runs on its own thread).
  template <class Pred>
  std::optional<memory_event> wait_for(Pred pred,
                                       std::chrono::milliseconds limit,
                                       std::size_t from = 0) {
    std::unique_lock<std::mutex> lock(mu);
    std::optional<memory_event> found;
    cv.wait_for(lock, limit, [&] {
      for (std::size_t i = from; i < events.size(); ++i) {
        if (pred(events[i])) {
          found = events[i];
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return events.size();
  }
};

// Dispatches on this thread until pred() holds or `limit` passes.
template <class Pred>
bool pump_until(monitor& m, Pred pred,
                std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    pollfd p{m.fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    m.dispatch();
  }
  return true;
}

std::optional<source_status> source_of(const monitor& m, source_kind k) {
  for (const auto& s : m.sources()) {
    if (s.kind == k) return s;
  }
  return std::nullopt;
}

std::vector<source_kind> active_sources(const monitor& m) {
  std::vector<source_kind> out;
  for (const auto& s : m.sources()) {
    if (s.active) out.push_back(s.kind);
  }
  return out;
}

std::string describe(const std::vector<source_status>& sources) {
  std::string out;
  for (const auto& s : sources) {
    out += std::string(to_string(s.kind)) + ": " +
           (s.active ? "active" : "failed (" + s.failure.message() + ")") +
           "; ";
  }
  return out;
}

}  // namespace

// ===================================================== opens that fail

TEST_CASE("faults: EACCES and ENOENT on open of each file the reader keeps") {
  struct file_case {
    const char* name;  // the file's name in the cgroup directory, or meminfo
    int err;
  };
  const file_case cases[] = {
      {"memory.limit_in_bytes", EACCES},
      {"memory.limit_in_bytes", ENOENT},
      {"memory.usage_in_bytes", EACCES},
      {"memory.usage_in_bytes", ENOENT},
      {"memory.stat", EACCES},
      {"memory.stat", ENOENT},
      {"meminfo", EACCES},
      {"meminfo", ENOENT},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.err);
    fixture_tree t;
    layout_docker_v1(t);
    const bool meminfo = std::string(c.name) == "meminfo";
    const std::string path =
        meminfo ? "/proc/meminfo" : docker_dir + "/" + c.name;
    fake_sys::armed a(fault{call::open, path, false, {}, c.err});
    auto r = open_reader(t);
    CHECK(a.hits() >= 1);
    const memory_snapshot s = r.snapshot();
    const memory_report rep = r.report();
    CHECK(s.mode == hierarchy_mode::v1);

    if (std::string(c.name) == "memory.limit_in_bytes") {
      // The limit is unknown: an error, never the hierarchical witness
      // or "no limit" in its place.
      check_error(s.limit, sys(c.err), path);
      check_error(s.effective_limit, sys(c.err), path);
      check_error(s.headroom, sys(c.err), path);
      check_value(s.usage, 100 * MiB);
      check_stat(s.stat, docker_stat);
      check_value(s.working_set, 80 * MiB);
      check_value(s.host_total, 16 * GiB);
    } else if (std::string(c.name) == "memory.usage_in_bytes") {
      check_error(s.usage, sys(c.err), path);
      check_error(r.usage(), sys(c.err), path);
      check_error(s.working_set, sys(c.err), path);
      check_error(s.headroom, sys(c.err), path);
      check_limit(s.limit, 256 * MiB);
      check_stat(s.stat, docker_stat);
      check_value(s.effective_limit, 256 * MiB);
    } else if (std::string(c.name) == "memory.stat") {
      check_error(s.stat, sys(c.err), path);
      check_error(s.working_set, sys(c.err), path);
      check_error(s.headroom, sys(c.err), path);
      check_limit(s.limit, 256 * MiB);
      check_value(s.usage, 100 * MiB);
      check_value(r.usage(), 100 * MiB);
      check_value(s.effective_limit, 256 * MiB);
    } else {
      // Without MemTotal the limit is still a bound.
      check_error(s.host_total, sys(c.err), path);
      check_error(rep.snapshot.host_total, sys(c.err), path);
      check_limit(s.limit, 256 * MiB);
      check_value(s.usage, 100 * MiB);
      check_value(s.working_set, 80 * MiB);
      check_value(s.effective_limit, 256 * MiB);
      check_value(s.headroom, 176 * MiB);
    }
    // The rest of the report does not depend on the file.
    check_value(rep.peak.value, 110 * MiB);
    check_value(rep.failcnt.value, std::uint64_t{0});
    check_value(rep.oom_kills.value, std::uint64_t{0});
  }
}

TEST_CASE("faults: EACCES and ENOENT on open of the v2 limit cgroup's files") {
  for (const int err : {EACCES, ENOENT}) {
    CAPTURE(err);
    {
      // The pod's memory.max: the limit is unknown, not the node's 15 GiB.
      fixture_tree t;
      layout_kubernetes_v2(t);
      const std::string path = k8s_pod_dir + "/memory.max";
      fake_sys::armed a(fault{call::open, path, false, {}, err});
      auto r = open_reader(t);
      const memory_snapshot s = r.snapshot();
      check_error(s.limit, sys(err), path);
      check_error(s.effective_limit, sys(err), path);
      // Usage is then the memory cgroup's own (the container).
      CHECK(s.usage_at == chain_position{0});
      check_value(s.usage, k8s_usage[0]);
      check_value(s.working_set, k8s_usage[0] - k8s_inactive[0]);
      check_value(s.host_total, 16 * GiB);
    }
    {
      fixture_tree t;
      layout_kubernetes_v2(t);
      const std::string path = k8s_pod_dir + "/memory.current";
      fake_sys::armed a(fault{call::open, path, false, {}, err});
      auto r = open_reader(t);
      const memory_snapshot s = r.snapshot();
      check_limit(s.limit, 1 * GiB);
      CHECK(s.usage_at == chain_position{1});
      check_error(s.usage, sys(err), path);
      check_error(r.usage(), sys(err), path);
      check_error(s.working_set, sys(err), path);
      check_value(s.effective_limit, 1 * GiB);
    }
  }
}

TEST_CASE(
    "faults: EACCES and ENOENT on /proc/meminfo without a memory cgroup") {
  for (const int err : {EACCES, ENOENT}) {
    CAPTURE(err);
    fixture_tree t;
    layout_host_wide(t);
    fake_sys::armed a(fault{call::open, "/proc/meminfo", false, {}, err});
    auto r = open_reader(t);
    CHECK(r.mode() == hierarchy_mode::none);
    const memory_snapshot s = r.snapshot();
    check_error(s.usage, sys(err), "/proc/meminfo");
    check_error(s.working_set, sys(err), "/proc/meminfo");
    check_error(s.host_total, sys(err), "/proc/meminfo");
    check_error(s.effective_limit, sys(err), "/proc/meminfo");
    check_error(r.usage(), sys(err), "/proc/meminfo");
    CHECK(s.limit.has_value());  // nothing limits: no file needed for that
    if (s.limit) CHECK_FALSE(s.limit->has_value());
  }
}

// ================================================ interrupted system calls

TEST_CASE(
    "faults: EINTR on open, read and pread is retried and the values are "
    "right") {
  fixture_tree t;
  layout_docker_v1(t);
  {
    // Three interruptions of every kind, on every file.
    fake_sys::armed o(fault{call::open, "", false, {}, EINTR, 0, 0, 0, 3});
    fake_sys::armed rd(fault{call::read, "", false, {}, EINTR, 0, 0, 0, 3});
    auto r = open_reader(t);
    CHECK(o.hits() == 3);
    CHECK(rd.hits() == 3);
    fake_sys::armed p(fault{call::pread, "", false, {}, EINTR, 0, 0, 0, 3});
    check_docker_snapshot(r.snapshot());
    CHECK(p.hits() == 3);
  }
  {
    // Every pread of the usage file interrupted twice in a row.
    auto r = open_reader(t);
    const std::string usage = docker_dir + "/memory.usage_in_bytes";
    for (int i = 0; i < 5; ++i) {
      fake_sys::armed p(
          fault{call::pread, usage, false, {}, EINTR, 0, 0, 0, 2});
      check_value(r.usage(), 100 * MiB);
      CHECK(p.hits() == 2);
    }
  }
}

TEST_CASE("faults: EAGAIN on pread is an error, not a retry loop") {
  fixture_tree t;
  layout_docker_v1(t);
  auto r = open_reader(t);
  const std::string usage = docker_dir + "/memory.usage_in_bytes";
  fake_sys::armed a(fault{call::pread, usage, false, {}, EAGAIN});
  const long before = fake_sys::calls(call::pread);
  check_error(r.usage(), sys(EAGAIN), usage);
  CHECK(fake_sys::calls(call::pread) - before == 1);
  CHECK(a.hits() == 1);
  const memory_snapshot s = r.snapshot();
  check_error(s.usage, sys(EAGAIN), usage);
  check_limit(s.limit, 256 * MiB);
  check_stat(s.stat, docker_stat);
  CHECK(a.hits() == 2);
}

// =========================================================== short reads

TEST_CASE("faults: reads of at most 1 and at most 7 bytes") {
  for (const std::size_t cap : {std::size_t{1}, std::size_t{7}}) {
    CAPTURE(cap);
    {
      fixture_tree t;
      layout_docker_v1(t);
      // Discovery reads whole files with read(), kept files with pread.
      fake_sys::armed rd(fault{call::read, "", false, {}, 0, cap});
      fake_sys::armed p(fault{call::pread, "", false, {}, 0, cap});
      auto r = open_reader(t);
      CHECK(r.mode() == hierarchy_mode::v1);
      const memory_snapshot s = r.snapshot();
      // One-line files: a read that does not end at a newline goes on.
      check_limit(s.limit, 256 * MiB);
      check_value(s.usage, 100 * MiB);
      check_value(r.usage(), 100 * MiB);
      // memory.stat and meminfo: a read cut right after a line end is
      // taken as the whole file, so lines can be lost. The reader then
      // says malformed for that file; it never gives another number.
      MESSAGE("reads of at most " << cap << " bytes: memory.stat "
                                  << outcome(s.stat) << "; meminfo "
                                  << outcome(s.host_total));
      if (s.stat) {
        check_stat(s.stat, docker_stat);
        check_value(s.working_set, 80 * MiB);
      } else {
        check_error(s.stat, make_error_code(errc::malformed),
                    docker_dir + "/memory.stat");
        check_error(s.working_set, make_error_code(errc::malformed),
                    docker_dir + "/memory.stat");
      }
      if (s.host_total) {
        check_value(s.host_total, 16 * GiB);
      } else {
        check_error(s.host_total, make_error_code(errc::malformed),
                    "/proc/meminfo");
      }
      check_value(s.effective_limit, 256 * MiB);
    }
    {
      fixture_tree t;
      layout_kubernetes_v2(t);
      fake_sys::armed rd(fault{call::read, "", false, {}, 0, cap});
      fake_sys::armed p(fault{call::pread, "", false, {}, 0, cap});
      auto r = open_reader(t);
      CHECK(r.mode() == hierarchy_mode::v2);
      const memory_snapshot s = r.snapshot();
      check_limit(s.limit, 1 * GiB);
      CHECK(s.usage_at == chain_position{1});
      check_value(s.usage, k8s_usage[1]);
      if (s.stat) {
        check_value(s.working_set, k8s_usage[1] - k8s_inactive[1]);
      } else {
        check_error(s.stat, make_error_code(errc::malformed),
                    k8s_pod_dir + "/memory.stat");
      }
    }
  }
}

TEST_CASE(
    "faults: a read cut at any byte of memory.stat or meminfo never gives a "
    "wrong number") {
  fixture_tree t;
  layout_docker_v1(t);
  auto r = open_reader(t);
  const std::string stat_path = docker_dir + "/memory.stat";
  const std::string stat = *headroom::detail::read_whole(t.root() + stat_path);
  int whole = 0;
  int lost_lines = 0;
  for (std::size_t k = 1; k < stat.size(); ++k) {
    CAPTURE(k);
    // The first pread of memory.stat returns k bytes; the rest come whole.
    fake_sys::armed a(fault{call::pread, stat_path, false, {}, 0, k, 0, 0, 1});
    const memory_snapshot s = r.snapshot();
    REQUIRE(a.hits() == 1);
    check_limit(s.limit, 256 * MiB);
    if (stat[k - 1] != '\n') {
      // Not at a line end: the read goes on and nothing is lost.
      check_stat(s.stat, docker_stat);
      check_value(s.working_set, 80 * MiB);
    } else if (s.stat) {
      ++whole;  // only lines the reader does not need were lost
      check_stat(s.stat, docker_stat);
      check_value(s.working_set, 80 * MiB);
    } else {
      ++lost_lines;
      check_error(s.stat, make_error_code(errc::malformed), stat_path);
      check_error(s.working_set, make_error_code(errc::malformed), stat_path);
    }
  }
  MESSAGE("memory.stat cut at each of "
          << stat.size() - 1 << " bytes: " << lost_lines
          << " cuts at a line end lost needed lines (malformed), " << whole
          << " lost only unneeded ones");
  CHECK(lost_lines > 0);

  // meminfo: with a cgroup, report() re-reads it for MemTotal; host-wide,
  // snapshot() reads it for the usage and the working set too.
  const std::string meminfo = meminfo_16g;
  for (const bool host_wide : {false, true}) {
    fixture_tree h;
    if (host_wide) {
      layout_host_wide(h);
    } else {
      layout_docker_v1(h);
    }
    auto hr = open_reader(h);
    for (std::size_t k = 1; k < meminfo.size(); ++k) {
      CAPTURE(host_wide);
      CAPTURE(k);
      fake_sys::armed a(
          fault{call::pread, "/proc/meminfo", false, {}, 0, k, 0, 0, 1});
      const memory_snapshot s =
          host_wide ? hr.snapshot() : hr.report().snapshot;
      REQUIRE(a.hits() == 1);
      const bool at_line_end = meminfo[k - 1] == '\n';
      if (!at_line_end || s.host_total) {
        check_value(s.host_total, 16 * GiB);
      } else {
        check_error(s.host_total, make_error_code(errc::malformed),
                    "/proc/meminfo");
      }
      if (!host_wide) continue;
      if (!at_line_end || s.usage) {
        check_value(s.usage, 8 * GiB);
      } else {
        check_error(s.usage, make_error_code(errc::malformed), "/proc/meminfo");
      }
      if (!at_line_end || s.working_set) {
        check_value(s.working_set, 4 * GiB);
      } else if (s.usage) {
        // MemTotal and MemFree came, MemAvailable was cut off.
        check_error(s.working_set, make_error_code(errc::not_supported),
                    "/proc/meminfo");
      } else {
        check_error(s.working_set, make_error_code(errc::malformed),
                    "/proc/meminfo");
      }
    }
  }
  // Host-wide, snapshot() reads meminfo itself: a cut right after MemFree
  // loses MemAvailable, and the working set is then not available rather
  // than a number made up without it.
  {
    fixture_tree h;
    layout_host_wide(h);
    auto hr = open_reader(h);
    const std::size_t after_free = meminfo.find("MemAvailable");
    fake_sys::armed a(
        fault{call::pread, "/proc/meminfo", false, {}, 0, after_free, 0, 0, 1});
    const memory_snapshot s = hr.snapshot();
    check_value(s.usage, 8 * GiB);
    check_error(s.working_set, make_error_code(errc::not_supported),
                "/proc/meminfo");
    MESSAGE("host-wide, meminfo cut after MemFree: working set "
            << outcome(s.working_set));
  }
}

// ============================================================ full buffers

namespace {
// A valid memory.stat of exactly `size` bytes: docker's, then lines of keys
// the reader does not look at.
std::string stat_of_size(std::size_t size) {
  std::string s =
      v1_stat(std::to_string(256 * MiB), 60 * MiB, 40 * MiB, 20 * MiB);
  int i = 0;
  while (size - s.size() > 40)
    s += "padding_key_" + std::to_string(i++) + " 0\n";
  const std::size_t left = size - s.size();  // > 3: "k...k 0\n"
  s += std::string(left - 3, 'k') + " 0\n";
  REQUIRE(s.size() == size);
  return s;
}
}  // namespace

TEST_CASE("faults: a file that fills its fixed buffer is malformed") {
  const std::string stat_path = docker_dir + "/memory.stat";
  const std::size_t cap = headroom::detail::stat_buffer;
  // Whole reads, and reads of about a page, so that the buffer also fills
  // over several preads. Their size is chosen so that none ends right
  // after a newline (which would end the read early, see the cuts above).
  const std::string full = stat_of_size(4 * cap);
  const std::string fits = stat_of_size(cap - 1);
  // meminfo of 16 KiB (its buffer's size) or more.
  std::string big_meminfo = meminfo_16g;
  for (int i = 0; big_meminfo.size() < headroom::detail::meminfo_buffer; ++i) {
    big_meminfo += "Padding" + std::to_string(i) + ":  0 kB\n";
  }
  std::size_t chunk = 4096;
  const auto ends_a_line = [&](std::size_t c) {
    for (const std::string* text : std::initializer_list<const std::string*>{
             &full, &fits, &big_meminfo}) {
      for (std::size_t at = c; at < text->size(); at += c) {
        if ((*text)[at - 1] == '\n') return true;
      }
    }
    return false;
  };
  while (ends_a_line(chunk)) --chunk;
  for (const std::size_t cap_read : {std::size_t{0}, chunk}) {
    CAPTURE(cap_read);
    std::optional<fake_sys::armed> short_reads;
    if (cap_read)
      short_reads.emplace(fault{call::pread, "", false, {}, 0, cap_read});
    {
      fixture_tree t;
      layout_docker_v1(t);
      t.file("sys/fs/cgroup/memory/memory.stat", stat_of_size(cap - 1));
      auto r = open_reader(t);
      const memory_snapshot s = r.snapshot();
      check_stat(s.stat, docker_stat);  // one byte less: it fits
      check_value(s.working_set, 80 * MiB);
    }
    for (const std::size_t size : {cap, cap + 1, 4 * cap}) {
      CAPTURE(size);
      fixture_tree t;
      layout_docker_v1(t);
      t.file("sys/fs/cgroup/memory/memory.stat", stat_of_size(size));
      auto r = open_reader(t);
      const memory_snapshot s = r.snapshot();
      check_error(s.stat, make_error_code(errc::malformed), stat_path);
      check_error(s.working_set, make_error_code(errc::malformed), stat_path);
      check_limit(s.limit, 256 * MiB);
      check_value(s.usage, 100 * MiB);
      check_value(s.effective_limit, 256 * MiB);
    }
    {
      // A number file of 64 bytes (its buffer's size).
      fixture_tree t;
      layout_docker_v1(t);
      const std::string usage_path = docker_dir + "/memory.usage_in_bytes";
      const std::string digits = std::to_string(100 * MiB);
      t.file("sys/fs/cgroup/memory/memory.usage_in_bytes",
             std::string(headroom::detail::number_buffer - 1 - digits.size(),
                         '0') +
                 digits + "\n");
      auto r = open_reader(t);
      check_error(r.usage(), make_error_code(errc::malformed), usage_path);
      const memory_snapshot s = r.snapshot();
      check_error(s.usage, make_error_code(errc::malformed), usage_path);
      check_limit(s.limit, 256 * MiB);
      check_stat(s.stat, docker_stat);
    }
    {
      fixture_tree t;
      layout_docker_v1(t);
      t.file("proc/meminfo", big_meminfo);
      auto r = open_reader(t);
      const memory_snapshot s = r.snapshot();
      check_error(s.host_total, make_error_code(errc::malformed),
                  "/proc/meminfo");
      check_value(s.effective_limit, 256 * MiB);
      check_value(s.headroom, 176 * MiB);
    }
  }
}

// ================================================== running out of fds

namespace {

// Every value of the snapshot is right for the level it was read at, or
// an error with `code` and a path; returns false (with a message) if not.
void check_right_or(const memory_snapshot& s, bool k8s, std::error_code code) {
  const auto ok_or = [&](const auto& r, const char* what) {
    if (r) return;
    CHECK_MESSAGE(r.error().code == code, what << ": " << r.error().message());
    CHECK_MESSAGE(!r.error().path.empty(), what << " has no path");
  };
  CHECK(s.mode == (k8s ? hierarchy_mode::v2 : hierarchy_mode::v1));
  ok_or(s.limit, "limit");
  ok_or(s.usage, "usage");
  ok_or(s.stat, "stat");
  ok_or(s.working_set, "working set");
  ok_or(s.host_total, "host total");
  ok_or(s.effective_limit, "effective limit");
  ok_or(s.headroom, "headroom");
  if (s.limit)
    CHECK(*s.limit == std::optional<std::uint64_t>(k8s ? 1 * GiB : 256 * MiB));
  if (s.host_total) CHECK(*s.host_total == 16 * GiB);
  REQUIRE(s.usage_at);
  const std::size_t at = s.usage_at->index;
  REQUIRE(at < 4);
  if (!k8s) REQUIRE(at == 0);
  if (s.usage) CHECK(*s.usage == (k8s ? k8s_usage[at] : 100 * MiB));
  if (s.working_set) {
    CHECK(*s.working_set ==
          (k8s ? k8s_usage[at] - k8s_inactive[at] : 80 * MiB));
  }
  if (s.effective_limit)
    CHECK(*s.effective_limit == (k8s ? 1 * GiB : 256 * MiB));
}

}  // namespace

TEST_CASE("faults: memory_reader::open under EMFILE, at every open") {
  for (const bool k8s : {false, true}) {
    CAPTURE(k8s);
    fixture_tree t;
    if (k8s) {
      layout_kubernetes_v2(t);
    } else {
      layout_docker_v1(t);
    }
    const long before = fake_sys::calls(call::open);
    { auto clean = open_reader(t); }
    const long opens = fake_sys::calls(call::open) - before;
    REQUIRE(opens > 3);
    const int fds = count_fds();
    int failed_open = 0;
    int emfile_values = 0;
    for (long k = 0; k <= opens; ++k) {
      for (const int times :
           {1, -1}) {  // that open only, or it and every later one
        CAPTURE(k);
        CAPTURE(times);
        fake_sys::armed a(fault{call::open,
                                "",
                                false,
                                {},
                                EMFILE,
                                0,
                                0,
                                static_cast<int>(k),
                                times});
        options o;
        o.root = t.root();
        auto r = memory_reader::open(o);
        if (!r) {
          ++failed_open;
          CHECK(r.error().code == sys(EMFILE));
          CHECK_FALSE(r.error().path.empty());
          continue;
        }
        const memory_snapshot s = r->snapshot();
        if (!s.limit || !s.usage || !s.stat || !s.host_total) ++emfile_values;
        check_right_or(s, k8s, sys(EMFILE));
        const auto u = r->usage();
        if (!u) CHECK(u.error().code == sys(EMFILE));
      }
    }
    CHECK(count_fds() == fds);
    MESSAGE((k8s ? "v2" : "v1")
            << ": EMFILE at each of " << opens << " opens: open() failed "
            << failed_open << " times, gave EMFILE values " << emfile_values
            << " times");
  }
}

// One discovery for both readers: EMFILE at each open of the discovery and
// the two readers. An error of the discovery's read is the error of both
// readers (never a reader in mode none), a reader that opens gives right
// values or EMFILE ones, and nothing is left open.
TEST_CASE(
    "faults: one discovery for both readers under EMFILE, at every open") {
  for (const bool k8s : {false, true}) {
    CAPTURE(k8s);
    fixture_tree t;
    if (k8s) {
      layout_kubernetes_v2(t);
    } else {
      layout_docker_v1(t);
    }
    options o;
    o.root = t.root();
    const long before = fake_sys::calls(call::open);
    {
      const auto d = discovery::read(o);
      auto m = memory_reader::open(d);
      auto c = cpu_reader::open(d);
      REQUIRE(m.has_value());
      REQUIRE(c.has_value());
    }
    const long opens = fake_sys::calls(call::open) - before;
    REQUIRE(opens > 3);
    const int fds = count_fds();
    for (long k = 0; k <= opens; ++k) {
      CAPTURE(k);
      fake_sys::armed a(fault{
          call::open, "", false, {}, EMFILE, 0, 0, static_cast<int>(k), 1});
      const auto d = discovery::read(o);
      auto m = memory_reader::open(d);
      auto c = cpu_reader::open(d);
      if (!d.texts()) {
        CHECK(d.texts().error().code == sys(EMFILE));
        REQUIRE_FALSE(m.has_value());
        REQUIRE_FALSE(c.has_value());
        CHECK(m.error().code == sys(EMFILE));
        CHECK(c.error().code == sys(EMFILE));
        CHECK(m.error().path == c.error().path);
        continue;
      }
      if (m) check_right_or(m->snapshot(), k8s, sys(EMFILE));
      if (!m) CHECK(m.error().code == sys(EMFILE));
      if (!c) CHECK(c.error().code == sys(EMFILE));
    }
    CHECK(count_fds() == fds);
  }
}

TEST_CASE("faults: monitor::create under EMFILE") {
  fixture_tree t;
  layout_app(t);
  const int fds = count_fds();
  // The monitor's own descriptors: a clear error naming the call.
  const struct {
    call what;
    const char* path;
  } own[] = {{call::epoll_create1, "epoll_create1"},
             {call::timerfd_create, "timerfd"},
             {call::eventfd, "eventfd"}};
  for (const auto& c : own) {
    CAPTURE(c.path);
    fake_sys::armed a(fault{c.what, "", false, {}, EMFILE});
    auto m = monitor::create(fixture_monitor(t));
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error().code == sys(EMFILE));
    CHECK(m.error().path == c.path);
    CHECK(a.hits() == 1);
  }
  CHECK(count_fds() == fds);

  // Any open: an error, or a monitor whose snapshot says EMFILE; it runs.
  const long before = fake_sys::calls(call::open);
  {
    auto clean = monitor::create(fixture_monitor(t));
    REQUIRE(clean.has_value());
  }
  const long opens = fake_sys::calls(call::open) - before;
  int created = 0;
  int following = 0;
  int blind = 0;
  for (long k = 0; k <= opens; ++k) {
    for (const int times : {1, -1}) {
      CAPTURE(k);
      CAPTURE(times);
      std::optional<fake_sys::armed> a;
      a.emplace(fault{
          call::open, "", false, {}, EMFILE, 0, 0, static_cast<int>(k), times});
      auto m = monitor::create(fixture_monitor(t));
      if (!m) {
        CHECK(m.error().code == sys(EMFILE));
        CHECK_FALSE(m.error().path.empty());
        continue;
      }
      ++created;
      const memory_snapshot s = m->last_snapshot();
      if (!s.usage) CHECK(s.usage.error().code == sys(EMFILE));
      for (int i = 0; i < 3; ++i) m->dispatch();
      a.reset();
      // Descriptors are back. A kept file that could not be opened stays
      // unopened until the monitor next re-resolves; meanwhile the monitor
      // says so (EMFILE in its snapshot) instead of a level made up.
      set_usage(t, 990 * MiB);
      if (pump_until(
              *m, [&] { return m->level() == pressure_level::critical; },
              2000ms)) {
        ++following;
        set_usage(t, 100 * MiB);
        CHECK(pump_until(
            *m, [&] { return m->level() == pressure_level::none; }, 3000ms));
      } else {
        ++blind;
        const memory_snapshot now = m->last_snapshot();
        const auto emfile = [](const auto& r) {
          return !r && r.error().code == sys(EMFILE);
        };
        CHECK_MESSAGE((emfile(now.working_set) || emfile(now.effective_limit)),
                      "working set: " << outcome(now.working_set)
                                      << "; effective limit: "
                                      << outcome(now.effective_limit));
        CHECK(m->level() == pressure_level::none);
      }
      set_usage(t, 100 * MiB);
    }
  }
  MESSAGE("monitor::create with EMFILE at each of "
          << opens << " opens: " << created << " monitors made; then "
          << following << " followed the usage, " << blind
          << " said EMFILE for a file they keep");
  CHECK(created > 0);
  CHECK(count_fds() == fds);
}

// ============================================ a cgroup removed under us

TEST_CASE(
    "faults: ENODEV on the kept files of a removed cgroup; the monitor "
    "re-resolves") {
  // On cgroupfs, the files of a removed cgroup that are still open fail
  // with ENODEV (the live case below checks that on this kernel). Here the
  // descriptors open now fail that way; files opened again work.
  fixture_tree t;
  layout_app(t);
  auto reader = open_reader(t);
  auto m = monitor::create(fixture_monitor(t));
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  event_log rec(*m);
  REQUIRE(m->start());
  const std::string dir = "/sys/fs/cgroup/app.slice";
  std::set<int> kept = fake_sys::fds_from(dir + "/memory.current");
  for (const int fd : fake_sys::fds_from(dir + "/memory.max")) kept.insert(fd);
  REQUIRE(kept.size() >= 4);  // the reader's and the monitor's
  fake_sys::armed gone(fault{call::pread, "", false, kept, ENODEV});

  const memory_snapshot s = reader.snapshot();
  check_error(s.limit, sys(ENODEV), dir + "/memory.max");
  check_error(s.usage, sys(ENODEV), dir + "/memory.current");
  check_error(reader.usage(), sys(ENODEV), dir + "/memory.current");
  check_error(s.working_set, sys(ENODEV), dir + "/memory.current");
  check_stat(s.stat,
             memory_stat{60 * MiB, 40 * MiB, 0});  // its descriptor still works
  check_value(s.host_total, 16 * GiB);

  const auto moved = rec.wait_for(
      [](const memory_event& e) {
        return e.kind == event_kind::limit_changed && e.moved;
      },
      5000ms);
  REQUIRE(moved.has_value());
  CHECK(gone.hits() > 0);
  CHECK(moved->old_cgroup == dir);
  CHECK(moved->new_cgroup == dir);  // the same path, opened again
  CHECK(moved->old_limit == 1000 * MiB);
  CHECK(moved->new_limit == 1000 * MiB);
  MESSAGE("after ENODEV: " << moved->reason);

  // It keeps running on the new descriptors.
  const std::size_t mark = rec.size();
  set_usage(t, 850 * MiB);
  CHECK(rec.wait_for(
      [](const memory_event& e) {
        return e.kind == event_kind::pressure &&
               e.level == pressure_level::moderate;
      },
      5000ms, mark));
  const auto cg = source_of(*m, source_kind::cgroup);
  CHECK((cg && cg->active));
  m->stop();
}

// ============================================================ live cases

using headroom_live::add;
using headroom_live::cgroup_list;
using headroom_live::child_process;
using headroom_live::cleanup;
using headroom_live::command;
using headroom_live::g_host;
using headroom_live::must;
using headroom_live::new_base;
using headroom_live::write_file;

namespace {

// Root and a memory cgroup where child cgroups can be made; else why not.
bool live_ready() {
  static const std::string why = [] {
    if (::geteuid() != 0)
      return std::string("live fault cases need root (they create cgroups)");
    headroom_live::g_host = headroom_live::probe_host();
    if (headroom_live::g_host.mode == hierarchy_mode::none) {
      return std::string("no memory cgroup is visible to this process");
    }
    std::string err;
    auto probe = headroom_live::cgroup_dir::make(
        headroom_live::g_host, headroom_live::g_host.own_dir,
        "headroom-faults-probe-" + std::to_string(::getpid()), &err);
    if (!probe) return "cannot create a child memory cgroup: " + err;
    ::rmdir(probe->c_str());
    return std::string();
  }();
  // Each case that asks and cannot run is counted as skipped.
  if (!why.empty()) {
    headroom_test::note_skip(why);
    MESSAGE("not run: " << why);
  }
  return why.empty();
}

// A monitor watching a child in a fresh 64 MiB cgroup, dispatching on its
// own thread or on the caller's.
monitor_options child_options(pid_t pid) {
  monitor_options o;
  o.reader.pid = pid;
  o.slow_interval = 200ms;
  o.signal_hold = 300ms;
  // On a hybrid host the child's cgroup2 directory is the root, whose PSI
  // is host-wide: the PSI cases need its triggers all the same.
  o.use_host_psi = true;
  return o;
}

bool psi_active(const monitor& m, std::string* why) {
  const auto psi = source_of(m, source_kind::psi);
  if (psi && psi->active) return true;
  *why = psi ? psi->failure.message() : std::string("no psi source");
  return false;
}

// Waits until pred(m) holds, up to `limit`, while another thread dispatches.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// epoll_wait calls the monitor's thread makes in `d`: a few when it
// waits, tens of thousands when it spins.
long epoll_waits_during(std::chrono::milliseconds d) {
  const long before = fake_sys::calls(call::epoll_wait);
  std::this_thread::sleep_for(d);
  return fake_sys::calls(call::epoll_wait) - before;
}

bool is_pressure(const memory_event& e, pressure_level l) {
  return e.kind == event_kind::pressure && e.level == l;
}

// A forked child in a fresh 64 MiB cgroup and a monitor watching it; the
// child is killed and the cgroup removed when it goes.
struct watched_child {
  cgroup_list dirs;
  cleanup c{dirs};
  child_process child;
  std::optional<monitor> m;

  watched_child() {
    auto& leaf = add(dirs, new_base(dirs), "leaf");
    REQUIRE(leaf.set_limit(64 * MiB));
    REQUIRE(leaf.move_in(child.pid()));
    must(child.ask(command::snapshot));
    auto made = monitor::create(child_options(child.pid()));
    REQUIRE_MESSAGE(made.has_value(), made.error().message());
    m.emplace(std::move(*made));
  }
};

// Whether the monitor has PSI triggers; if not, says why the case is not run.
bool psi_or_skip(const monitor& m, std::string* why) {
  if (psi_active(m, why)) return true;
  headroom_test::note_skip("no PSI trigger on this kernel: " + *why);
  MESSAGE("not run: no PSI trigger on this kernel: " << *why);
  return false;
}

}  // namespace

TEST_CASE(
    "faults: an epoll_wait fault armed while the caller already waits ends "
    "the wait") {
  // What the kernel does for POLLERR on a removed cgroup's file: the wait
  // ends when the event comes, however long its timeout. An idle monitor
  // waits for its re-check interval (a minute), so a fault armed after
  // start() must not depend on the thread not having entered its wait.
  const int ep = fake_sys::epoll_create1(EPOLL_CLOEXEC);
  REQUIRE(ep >= 0);
  const int ev = fake_sys::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(ev >= 0);
  epoll_event add{};
  add.events = EPOLLIN;
  add.data.u64 = 42;
  REQUIRE(fake_sys::epoll_ctl(ep, EPOLL_CTL_ADD, ev, &add) == 0);
  // Nothing armed: a bounded wait still lasts its timeout, and counts once.
  const long calls = fake_sys::calls(call::epoll_wait);
  epoll_event got[4];
  auto t0 = std::chrono::steady_clock::now();
  CHECK(fake_sys::epoll_wait(ep, got, 4, 55) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 >= 55ms);
  CHECK(fake_sys::calls(call::epoll_wait) == calls + 1);
  // An endless wait, and the fault armed once it has begun.
  std::atomic<int> n{-2};
  std::uint32_t events = 0;
  std::uint64_t key = 0;
  t0 = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    epoll_event e[4];
    const int r = fake_sys::epoll_wait(ep, e, 4, -1);
    if (r > 0) {
      events = e[0].events;
      key = e[0].data.u64;
    }
    n.store(r);
  });
  std::this_thread::sleep_for(100ms);
  CHECK(n.load() == -2);  // still waiting
  {
    fake_sys::armed err(
        fault{call::epoll_wait, "eventfd", false, {ev}, 0, 0, EPOLLERR});
    const bool ended = wait_until([&] { return n.load() != -2; }, 2000ms);
    if (!ended) {
      std::uint64_t one = 1;  // let the thread go before failing
      (void)!::write(ev, &one, sizeof one);
    }
    waiter.join();
    REQUIRE(ended);
    CHECK(err.hits() == 1);
  }
  CHECK(n.load() == 1);
  CHECK(key == 42);
  CHECK((events & EPOLLERR) != 0);
  CHECK(fake_sys::calls(call::epoll_wait) == calls + 2);
  (void)fake_sys::epoll_ctl(ep, EPOLL_CTL_DEL, ev, nullptr);
  fake_sys::close(ev);
  fake_sys::close(ep);
}

TEST_CASE(
    "faults (live): a removed cgroup's kept files fail with ENODEV on this "
    "kernel") {
  if (!live_ready()) return;
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));
  options o;
  o.pid = child.pid();
  auto r = memory_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  REQUIRE(r->location().dir == leaf.dir());
  const std::string dir = leaf.dir();
  // Out of the cgroup, then the cgroup removed: the reader's descriptors
  // still refer to its files.
  REQUIRE(write_file(base + "/cgroup.procs", std::to_string(child.pid())));
  leaf.remove();
  REQUIRE(::access(dir.c_str(), F_OK) != 0);
  const memory_snapshot s = r->snapshot();
  const std::string v1_or_v2_limit =
      g_host.v2() ? "/memory.max" : "/memory.limit_in_bytes";
  const std::string v1_or_v2_usage =
      g_host.v2() ? "/memory.current" : "/memory.usage_in_bytes";
  check_error(s.limit, sys(ENODEV), dir + v1_or_v2_limit);
  check_error(s.usage, sys(ENODEV), dir + v1_or_v2_usage);
  check_error(r->usage(), sys(ENODEV), dir + v1_or_v2_usage);
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "faults (live): POLLERR on the PSI triggers, the cgroup2 directory gone") {
  if (!live_ready()) return;
  watched_child w;
  auto& child = w.child;
  auto& m = w.m;
  std::string why;
  if (!psi_or_skip(*m, &why)) return;
  const auto was_active = active_sources(*m);
  event_log rec(*m);
  REQUIRE(m->start());
  {
    // The triggers report POLLERR for ever (what a removed cgroup's do),
    // and memory.pressure can no longer be opened there.
    fake_sys::armed err(fault{call::epoll_wait,
                              "/memory.pressure",
                              true,
                              {},
                              0,
                              0,
                              EPOLLERR | EPOLLPRI});
    fake_sys::armed gone(
        fault{call::open, "/memory.pressure", true, {}, ENOENT});
    const auto moved = rec.wait_for(
        [](const memory_event& e) {
          return e.kind == event_kind::limit_changed && e.moved;
        },
        5000ms);
    REQUIRE(moved.has_value());
    CHECK(err.hits() > 0);
    CHECK(gone.hits() >= 1);
    MESSAGE("after POLLERR: " << moved->reason);
    REQUIRE(wait_until([&] { return !psi_active(*m, &why); }, 3000ms));
    const auto psi = source_of(*m, source_kind::psi);
    REQUIRE(psi.has_value());
    CHECK(psi->failure.code == sys(ENOENT));
    CHECK_MESSAGE(ends_with(psi->failure.path, "/memory.pressure"),
                  psi->failure.path);
    for (const source_kind k : was_active) {
      if (k == source_kind::psi) continue;
      CAPTURE(to_string(k));
      const auto st = source_of(*m, k);
      CHECK((st && st->active));
    }
    const long waits = epoll_waits_during(1000ms);
    MESSAGE("epoll_wait calls in 1 s with the PSI source gone: " << waits);
    CHECK(waits < 100);
    // Events still flow: 54 of 64 MiB is moderate.
    const std::size_t mark = rec.size();
    must(child.ask(command::allocate, 54 * MiB));
    CHECK(rec.wait_for(
        [](const memory_event& e) {
          return is_pressure(e, pressure_level::moderate);
        },
        5000ms, mark));
  }
  m->stop();
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "faults (live): one POLLERR on a PSI trigger: re-resolved, the triggers "
    "set again") {
  if (!live_ready()) return;
  watched_child w;
  auto& child = w.child;
  auto& m = w.m;
  std::string why;
  if (!psi_or_skip(*m, &why)) return;
  const std::set<int> old_triggers = fake_sys::fds_from("/memory.pressure");
  event_log rec(*m);
  REQUIRE(m->start());
  {
    fake_sys::armed err(fault{call::epoll_wait,
                              "/memory.pressure",
                              true,
                              {},
                              0,
                              0,
                              EPOLLERR | EPOLLPRI,
                              0,
                              1});
    const auto moved = rec.wait_for(
        [](const memory_event& e) {
          return e.kind == event_kind::limit_changed && e.moved;
        },
        5000ms);
    REQUIRE(moved.has_value());
    CHECK(err.hits() == 1);
  }
  CHECK(wait_until([&] { return psi_active(*m, &why); }, 3000ms));
  CHECK(epoll_waits_during(500ms) < 100);
  const std::size_t mark = rec.size();
  must(child.ask(command::allocate, 54 * MiB));
  CHECK(rec.wait_for(
      [](const memory_event& e) {
        return is_pressure(e, pressure_level::moderate);
      },
      5000ms, mark));
  m->stop();
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "faults (live): POLLERR on the PSI triggers of a process that cannot be "
    "resolved again") {
  // The watched process has exited and its cgroup2 directory was removed:
  // the triggers report POLLERR for ever and re-resolving fails (its
  // /proc/<pid> files are gone). The monitor must wait, not spin.
  if (!live_ready()) return;
  watched_child w;
  auto& child = w.child;
  auto& m = w.m;
  std::string why;
  if (!psi_or_skip(*m, &why)) return;
  REQUIRE(m->start());
  {
    fake_sys::armed err(fault{call::epoll_wait,
                              "/memory.pressure",
                              true,
                              {},
                              0,
                              0,
                              EPOLLERR | EPOLLPRI});
    fake_sys::armed no_pid(
        fault{call::open,
              "/" + std::to_string(child.pid()) + "/mountinfo",
              false,
              {},
              ENOENT});
    REQUIRE(wait_until([&] { return !psi_active(*m, &why); }, 3000ms));
    CHECK(wait_until([&] { return no_pid.hits() > 0; }, 3000ms));
    const auto psi = source_of(*m, source_kind::psi);
    REQUIRE(psi.has_value());
    CHECK(psi->failure.code == std::errc::no_such_device);
    CHECK_MESSAGE(ends_with(psi->failure.path, "/memory.pressure"),
                  psi->failure.path);
    const auto cg = source_of(*m, source_kind::cgroup);
    REQUIRE(cg.has_value());
    CHECK_FALSE(cg->active);
    CHECK(cg->failure.code == sys(ENOENT));
    const long waits = epoll_waits_during(1000ms);
    MESSAGE(
        "epoll_wait calls in 1 s, triggers in POLLERR, process not resolvable: "
        << waits);
    CHECK(waits < 100);
  }
  m->stop();
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE(
    "faults (live): EMFILE on the v1 eventfds: those sources say so, the "
    "sampler takes over") {
  if (!live_ready()) return;
  if (g_host.v2()) HEADROOM_SKIP_CASE("no v1 event sources on cgroup v2");
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));
  std::optional<monitor> m;
  {
    // The monitor's own eventfd (its first) is made; every later one fails.
    fake_sys::armed a(fault{call::eventfd, "", false, {}, EMFILE, 0, 0, 1});
    auto made = monitor::create(child_options(child.pid()));
    REQUIRE_MESSAGE(made.has_value(), made.error().message());
    m.emplace(std::move(*made));
    CHECK(a.hits() >= 3);
  }
  MESSAGE(describe(m->sources()));
  for (const source_kind k :
       {source_kind::v1_pressure_level, source_kind::v1_oom_control}) {
    CAPTURE(to_string(k));
    const auto st = source_of(*m, k);
    REQUIRE(st.has_value());
    CHECK_FALSE(st->active);
    CHECK(st->failure.code == sys(EMFILE));
    CHECK(st->failure.path == "eventfd");
  }
  const auto bands = source_of(*m, source_kind::usage_bands);
  REQUIRE(bands.has_value());
  CHECK(bands->active);
  CHECK(bands->detail.find("sampler") != std::string::npos);
  event_log rec(*m);
  REQUIRE(m->start());
  must(child.ask(command::allocate, 54 * MiB));
  CHECK(rec.wait_for(
      [](const memory_event& e) {
        return is_pressure(e, pressure_level::moderate);
      },
      5000ms));
  m->stop();
  child.ask(command::quit);
  child.wait_exit();
}

TEST_CASE("faults (live): the $MEMORY_PRESSURE_WATCH socket's peer goes away") {
  if (!live_ready()) return;
  const char* tmp_env = std::getenv("TMPDIR");
  const std::string sock_path =
      std::string(tmp_env && *tmp_env ? tmp_env : "/tmp") +
      "/headroom-faults-watch-" + std::to_string(::getpid());
  ::unlink(sock_path.c_str());
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(sock_path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr),
                 sizeof addr) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  // libsystemd's default trigger, base64, with its NUL.
  const std::string payload("some 200000 2000000\0", 20);
  ::setenv("MEMORY_PRESSURE_WATCH", sock_path.c_str(), 1);
  ::setenv("MEMORY_PRESSURE_WRITE", "c29tZSAyMDAwMDAgMjAwMDAwMAA=", 1);

  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));
  {
    auto m = monitor::create(child_options(child.pid()));
    REQUIRE_MESSAGE(m.has_value(), m.error().message());
    const auto sd = source_of(*m, source_kind::systemd);
    REQUIRE(sd.has_value());
    CHECK(sd->active);
    CHECK(sd->detail == sock_path);
    const auto was_active = active_sources(*m);

    pollfd lp{listener, POLLIN, 0};
    REQUIRE(::poll(&lp, 1, 2000) == 1);
    const int peer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(peer >= 0);
    std::string got(64, '\0');
    const ssize_t n = ::read(peer, got.data(), got.size());
    REQUIRE(n >= 0);
    got.resize(static_cast<std::size_t>(n));
    CHECK(got == payload);

    event_log rec(*m);
    REQUIRE(::write(peer, "x", 1) == 1);
    REQUIRE(pump_until(*m, [&] {
      for (const auto& e : rec.events) {
        if (e.source == source_kind::systemd &&
            is_pressure(e, pressure_level::moderate))
          return true;
      }
      return false;
    }));
    REQUIRE(pump_until(*m, [&] { return m->level() == pressure_level::none; }));

    ::close(peer);
    REQUIRE(pump_until(*m, [&] {
      const auto s = source_of(*m, source_kind::systemd);
      return s && !s->active;
    }));
    const auto gone = source_of(*m, source_kind::systemd);
    CHECK(gone->failure.code == std::errc::connection_reset);
    CHECK(gone->failure.path == sock_path);
    for (const source_kind k : was_active) {
      if (k == source_kind::systemd) continue;
      CAPTURE(to_string(k));
      const auto st = source_of(*m, k);
      CHECK((st && st->active));
    }
    // It carries on.
    const std::size_t mark = rec.events.size();
    must(child.ask(command::allocate, 54 * MiB));
    CHECK(pump_until(*m, [&] {
      for (std::size_t i = mark; i < rec.events.size(); ++i) {
        if (is_pressure(rec.events[i], pressure_level::moderate)) return true;
      }
      return false;
    }));
  }
  ::unsetenv("MEMORY_PRESSURE_WATCH");
  ::unsetenv("MEMORY_PRESSURE_WRITE");
  ::close(listener);
  ::unlink(sock_path.c_str());
  child.ask(command::quit);
  child.wait_exit();
}

// ======================================================= what is written

namespace {

// Where a monitor on a live kernel may write: v1 registrations, PSI
// triggers, and its own eventfd (stop() wakes its thread with it).
bool allowed_write(const std::string& entry) {
  std::string what;
  bool open = false;
  if (entry.rfind("open-for-write ", 0) == 0) {
    what = entry.substr(15);
    open = true;
  } else if (entry.rfind("write ", 0) == 0) {
    what = entry.substr(6);
  } else {
    return false;
  }
  if (ends_with(what, "/cgroup.event_control") ||
      ends_with(what, "/memory.pressure") || what == "/proc/pressure/memory") {
    return true;
  }
  return !open && (what == "eventfd" || what == "timerfd");
}

std::string list(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += "\n  " + s;
  return out.empty() ? " (nothing)" : out;
}

}  // namespace

TEST_CASE("faults: headroom writes only where it must") {
  SUBCASE("a captured tree: nothing is opened for writing") {
    fixture_tree t;
    layout_app(t);
    fake_sys::start_recording();
    {
      auto r = open_reader(t);
      (void)r.report();
      auto m = monitor::create(fixture_monitor(t));
      REQUIRE(m.has_value());
      set_usage(t, 990 * MiB);
      CHECK(pump_until(*m,
                       [&] { return m->level() == pressure_level::critical; }));
      REQUIRE(m->start());
      std::this_thread::sleep_for(50ms);
      m->stop();
    }
    const auto writes = fake_sys::stop_recording();
    MESSAGE("captured tree, written:" << list(writes));
    for (const auto& w : writes) {
      CAPTURE(w);
      CHECK(w == "write eventfd");  // stop() waking the monitor's thread
    }
  }
  SUBCASE(
      "the live system: the reader writes nothing; the monitor registers and "
      "nothing else") {
    if (!live_ready()) return;
    fake_sys::start_recording();
    {
      auto r = memory_reader::open();
      REQUIRE_MESSAGE(r.has_value(), r.error().message());
      (void)r->report();
    }
    const auto reader_writes = fake_sys::stop_recording();
    CHECK_MESSAGE(reader_writes.empty(),
                  "memory_reader wrote:" << list(reader_writes));

    fake_sys::start_recording();
    std::vector<source_status> sources;
    {
      auto m = monitor::create();
      REQUIRE_MESSAGE(m.has_value(), m.error().message());
      sources = m->sources();
      const auto end = std::chrono::steady_clock::now() + 3s;
      pump_until(
          *m, [&] { return std::chrono::steady_clock::now() > end; }, 4000ms);
      REQUIRE(m->start());
      std::this_thread::sleep_for(100ms);
      m->stop();
    }
    const auto writes = fake_sys::stop_recording();
    MESSAGE("monitor::create and 3 s of dispatch, written:"
            << list(writes) << "\nsources: " << describe(sources));
    const char* watch = std::getenv("MEMORY_PRESSURE_WATCH");
    for (const auto& w : writes) {
      CAPTURE(w);
      CHECK((allowed_write(w) ||
             (watch && ends_with(w, std::string(" ") + watch))));
    }
    // It did register where it should have (so the check above saw the
    // writes it is about).
    const auto wrote = [&](const std::string& end) {
      for (const auto& w : writes) {
        if (ends_with(w, end)) return true;
      }
      return false;
    };
    const auto active = [&](source_kind k) {
      for (const auto& s : sources) {
        if (s.kind == k) return s.active;
      }
      return false;
    };
    if (active(source_kind::v1_pressure_level) ||
        active(source_kind::v1_oom_control)) {
      CHECK(wrote("/cgroup.event_control"));
    }
    if (active(source_kind::psi))
      CHECK((wrote("/memory.pressure") || wrote("/proc/pressure/memory")));
    CHECK(wrote("write eventfd"));
  }
}

// ============================================ the monitor's descriptors

TEST_CASE(
    "faults: every descriptor leaves the monitor's epoll set before it is "
    "closed") {
  // A forked child holding copies of the set and of the descriptors would
  // keep whatever is still registered when they close.
  SUBCASE("a captured tree: create, dispatch, start, stop, destroy") {
    fixture_tree t;
    layout_app(t);
    (void)fake_sys::take_closed_while_watched();
    {
      auto m = monitor::create(fixture_monitor(t));
      REQUIRE(m.has_value());
      set_usage(t, 990 * MiB);
      CHECK(pump_until(*m,
                       [&] { return m->level() == pressure_level::critical; }));
      REQUIRE(m->start());
      m->stop();
    }
    const auto closed = fake_sys::take_closed_while_watched();
    CHECK_MESSAGE(closed.empty(), "closed while watched:" << list(closed));
  }
  SUBCASE("the live system: every source the kernel offers here") {
    auto m = monitor::create();
    if (!m) {
      MESSAGE(
          "not run: no monitor on the live system: " << m.error().message());
      return;
    }
    (void)fake_sys::take_closed_while_watched();
    const auto sources = m->sources();
    pump_until(
        *m, [] { return false; }, 200ms);
    REQUIRE(m->start());
    m->stop();
    m = result<monitor>(errc::disabled, "destroyed");  // closes everything
    const auto closed = fake_sys::take_closed_while_watched();
    CHECK_MESSAGE(closed.empty(), "closed while watched:" << list(closed)
                                                          << "\nsources: "
                                                          << describe(sources));
  }
}

TEST_CASE(
    "faults (live): $MEMORY_PRESSURE_WATCH naming a regular file elsewhere is "
    "refused and never written") {
  fixture_tree t;
  const std::string passwd_text = "root:x:0:0::/root:/bin/sh\n";
  t.file("passwd", passwd_text);  // stands for /etc/passwd
  const std::string target = t.path("passwd");
  ::setenv("MEMORY_PRESSURE_WATCH", target.c_str(), 1);
  ::setenv("MEMORY_PRESSURE_WRITE", "c29tZSAyMDAwMDAgMjAwMDAwMAA=", 1);
  fake_sys::start_recording();
  std::optional<source_status> systemd;
  {
    auto m = monitor::create();
    if (m) systemd = source_of(*m, source_kind::systemd);
  }
  const auto writes = fake_sys::stop_recording();
  ::unsetenv("MEMORY_PRESSURE_WATCH");
  ::unsetenv("MEMORY_PRESSURE_WRITE");
  if (!systemd) {
    MESSAGE("not run: no monitor on the live system here");
    return;
  }
  CHECK_FALSE(systemd->active);
  CHECK(systemd->failure.code == errc::not_supported);
  CAPTURE(systemd->failure.message());
  CHECK(systemd->failure.message().find(target) != std::string::npos);
  CHECK(systemd->failure.message().find("not a PSI file") != std::string::npos);
  for (const auto& w : writes) {
    CAPTURE(w);
    CHECK(w.find(target) == std::string::npos);
  }
  auto content = detail::read_whole(target);
  REQUIRE(content);
  CHECK(*content == passwd_text);
}

// ---------------------------------------------------------------------------
// Special files and symlinks in a tree read through a root prefix. A hang
// would stop the suite: each case runs under an alarm that kills the
// program (a failure, never a silent wait).

namespace {

// Kills the program with SIGALRM if the scope lasts longer than `seconds`.
struct hang_guard {
  explicit hang_guard(unsigned seconds) { ::alarm(seconds); }
  ~hang_guard() { ::alarm(0); }
  hang_guard(const hang_guard&) = delete;
  hang_guard& operator=(const hang_guard&) = delete;
};

// Replaces root/rel with a FIFO or a symlink (a socket: fixture_tree::socket).
void make_fifo(fixture_tree& t, const std::string& rel) {
  t.remove(rel);
  REQUIRE(::mkfifo(t.path(rel).c_str(), 0600) == 0);
}

void make_link(fixture_tree& t, const std::string& rel,
               const std::string& target) {
  t.remove(rel);
  REQUIRE(::symlink(target.c_str(), t.path(rel).c_str()) == 0);
}

const std::error_code not_regular = make_error_code(errc::not_regular_file);

}  // namespace

TEST_CASE(
    "faults: a FIFO, socket or device in a tree is refused without blocking") {
  for (const bool no_openat2 : {false, true}) {
    CAPTURE(no_openat2);
    const int id =
        no_openat2 ? fake_sys::arm(fault{call::openat2, "", false, {}, ENOSYS})
                   : 0;
    {
      INFO("a FIFO as memory.limit_in_bytes");
      fixture_tree t;
      layout_docker_v1(t);
      make_fifo(t, "sys/fs/cgroup/memory/memory.limit_in_bytes");
      const hang_guard guard(20);
      auto r = open_reader(t);
      const auto s = r.snapshot();
      check_error(s.limit, not_regular, "/memory.limit_in_bytes");
      check_value(s.usage, 100 * MiB);  // the rest is still read
    }
    {
      INFO("a FIFO as mountinfo");
      fixture_tree t;
      layout_docker_v1(t);
      make_fifo(t, "proc/self/mountinfo");
      const hang_guard guard(20);
      options o;
      o.root = t.root();
      auto r = memory_reader::open(o);
      check_error(r, not_regular, "/proc/self/mountinfo");
    }
    {
      INFO("a socket as /proc/self/cgroup");
      fixture_tree t;
      layout_docker_v1(t);
      t.socket("proc/self/cgroup");
      const hang_guard guard(20);
      options o;
      o.root = t.root();
      auto r = memory_reader::open(o);
      // open(2) of a socket fails with ENXIO; it is refused as a FIFO is.
      check_error(r, not_regular, "/proc/self/cgroup");
    }
    {
      INFO("a character device as meminfo (/dev/zero, endless)");
      fixture_tree t;
      layout_docker_v1(t);
      t.remove("proc/meminfo");
      if (::mknod(t.path("proc/meminfo").c_str(), S_IFCHR | 0600,
                  ::makedev(1, 5)) != 0) {
        MESSAGE("mknod needs root (CAP_MKNOD); case not run: "
                << std::strerror(errno));
      } else {
        const hang_guard guard(20);
        auto r = open_reader(t);
        const auto s = r.snapshot();
        check_error(s.host_total, not_regular, "/proc/meminfo");
        check_limit(s.limit, 256 * MiB);
      }
    }
    {
      INFO("meminfo as a symlink to /dev/zero");
      fixture_tree t;
      layout_docker_v1(t);
      make_link(t, "proc/meminfo", "/dev/zero");
      const hang_guard guard(20);
      auto r = open_reader(t);
      check_error(r.snapshot().host_total, sys(ELOOP), "/proc/meminfo");
    }
    {
      INFO("the whole-file reader refuses a FIFO on the live path too");
      fixture_tree t;
      make_fifo(t, "fifo");
      const hang_guard guard(20);
      check_error(read_file(t.path("fifo")), not_regular, "/fifo");
    }
    if (id) {
      CHECK(fake_sys::hits(id) > 0);  // the fallback was what ran
      fake_sys::disarm(id);
    }
  }
}

TEST_CASE("faults: a symlink in a tree never leads a read outside it") {
  for (const bool no_openat2 : {false, true}) {
    CAPTURE(no_openat2);
    const int id =
        no_openat2 ? fake_sys::arm(fault{call::openat2, "", false, {}, ENOSYS})
                   : 0;
    {
      INFO("proc/self -> /proc/self: never this process's own files");
      fixture_tree t;
      layout_docker_v1(t);
      t.remove("proc/self");
      make_link(t, "proc/self", "/proc/self");
      options o;
      o.root = t.root();
      auto r = memory_reader::open(o);
      // Within the root, /proc/self is the link itself: a loop, not the
      // live process's mountinfo.
      check_error(r, sys(ELOOP), "/proc/self/mountinfo");
    }
    {
      INFO("a mount point's parent -> a directory outside the tree");
      fixture_tree t;
      fixture_tree outside;
      layout_docker_v1(t);
      // What the link points at, with a limit the tree does not have.
      outside.file("memory/memory.limit_in_bytes", "4096\n");
      outside.file("memory/memory.usage_in_bytes", "1\n");
      make_link(t, "sys/fs/cgroup", outside.root());
      auto r = open_reader(t);
      const auto s = r.snapshot();
      REQUIRE_FALSE(s.limit.has_value());
      CHECK(s.limit.error().path.rfind(t.root(), 0) == 0);
      CHECK_FALSE(s.usage.has_value());
    }
    {
      INFO("relative and absolute links inside the tree resolve in it");
      for (const std::string target :
           {"self.real", "/proc/self.real", "../../../../proc/self.real"}) {
        CAPTURE(target);
        fixture_tree t;
        layout_docker_v1(t);
        REQUIRE(::rename(t.path("proc/self").c_str(),
                         t.path("proc/self.real").c_str()) == 0);
        make_link(t, "proc/self", target);
        auto r = open_reader(t);
        check_docker_snapshot(r.snapshot());
      }
    }
    if (id) {
      CHECK(fake_sys::hits(id) > 0);
      fake_sys::disarm(id);
    }
  }
}

TEST_CASE(
    "faults: metadata in a tree is looked at inside it: fstatat from the "
    "root, never lstat of a joined path") {
  for (const bool no_openat2 : {false, true}) {
    CAPTURE(no_openat2);
    const int id =
        no_openat2 ? fake_sys::arm(fault{call::openat2, "", false, {}, ENOSYS})
                   : 0;
    {
      INFO("sys/fs/cgroup -> a directory outside the tree");
      fixture_tree t;
      fixture_tree outside;
      layout_kubernetes_v2(t);
      // Outside: a directory and a symlink where the tree's chain would be.
      outside.file("kubepods.slice/x/memory.max", "4096\n");
      REQUIRE(::symlink("/", outside.path("kubepods.slice/lnk").c_str()) == 0);
      make_link(t, "sys/fs/cgroup", outside.root());
      detail::file_system fs(t.root(), 0, nullptr);
      // Resolved through the lstat of a joined path, each of these was
      // true: the link was followed to the directory outside.
      CHECK_FALSE(fs.is_directory("/sys/fs/cgroup/kubepods.slice"));
      CHECK_FALSE(fs.is_directory("/sys/fs/cgroup/kubepods.slice/x"));
      CHECK_FALSE(fs.symlink_below("/sys/fs/cgroup",
                                   "/sys/fs/cgroup/kubepods.slice/lnk"));
      CHECK(fs.subdirectories("/sys/fs/cgroup/kubepods.slice").empty());
    }
    {
      INFO("links inside the tree are seen as links, never followed");
      fixture_tree t;
      layout_kubernetes_v2(t);
      const std::string pod = std::string("/sys/fs/cgroup") + k8s_pod;
      REQUIRE(::symlink("/etc", t.path("sys/fs/cgroup/lnk").c_str()) == 0);
      REQUIRE(::symlink(
                  ("/sys/fs/cgroup" + std::string(k8s_pod)).c_str(),
                  t.path("sys/fs/cgroup/kubepods.slice/pod-lnk").c_str()) == 0);
      detail::file_system fs(t.root(), 0, nullptr);
      CHECK(fs.is_directory(pod));
      CHECK(fs.is_directory("/sys/fs/cgroup"));
      CHECK(fs.is_directory("/"));
      CHECK_FALSE(fs.is_directory("/sys/fs/cgroup/lnk"));
      CHECK_FALSE(fs.is_directory("/sys/fs/cgroup/kubepods.slice/pod-lnk"));
      CHECK_FALSE(fs.is_directory("/sys/fs/cgroup/memory.max/x"));
      CHECK_FALSE(fs.symlink_below("/sys/fs/cgroup", pod));
      CHECK(fs.symlink_below("/sys/fs/cgroup", "/sys/fs/cgroup/lnk"));
      CHECK(fs.symlink_below("/sys/fs/cgroup", "/sys/fs/cgroup/lnk/passwd"));
      CHECK(fs.symlink_below("/sys/fs/cgroup",
                             "/sys/fs/cgroup/kubepods.slice/pod-lnk/x"));
      const auto subs = fs.subdirectories("/sys/fs/cgroup/kubepods.slice");
      CHECK(std::find(subs.begin(), subs.end(), "pod-lnk") == subs.end());
      CHECK_FALSE(subs.empty());
    }
    {
      INFO("a reader on a tree makes no path-based lstat");
      fixture_tree t;
      layout_kubernetes_v2(t);
      const long lstats = fake_sys::calls(call::lstat);
      const long fstatats = fake_sys::calls(call::fstatat);
      options o;
      o.root = t.root();
      auto r = memory_reader::open(o);
      REQUIRE_MESSAGE(r.has_value(), r.error().message());
      CHECK(r->snapshot().limit.has_value());
      CHECK(fake_sys::calls(call::lstat) == lstats);
      CHECK(fake_sys::calls(call::fstatat) > fstatats);
    }
    if (id) {
      CHECK(fake_sys::hits(id) > 0);
      fake_sys::disarm(id);
    }
  }
}

TEST_CASE("faults: a file read whole holds at most max_file_bytes") {
  fixture_tree t;
  layout_docker_v1(t);
  // One line more than the bound: refused as malformed, not read on.
  std::string big(detail::max_file_bytes + 1, 'x');
  big.back() = '\n';
  t.file("proc/self/mountinfo", big);
  options o;
  o.root = t.root();
  auto r = memory_reader::open(o);
  check_error(r, make_error_code(errc::malformed), "/proc/self/mountinfo");
  // At the bound, a file is read (and here parsed as what it is).
  detail::file_system fs(t.root(), 0);
  t.file("proc/self/status", std::string(detail::max_file_bytes, '\n'));
  auto status = fs.read_proc("status");
  REQUIRE_MESSAGE(status.has_value(), status.error().message());
  CHECK(status->size() == detail::max_file_bytes);
}

// ---------------------------------------------------------------------------
// Values that contradict each other: an error or the documented clamp,
// never a difference that wrapped around.

TEST_CASE("faults: meminfo with MemFree or MemAvailable above MemTotal") {
  CHECK(parse_meminfo("MemTotal: 1000 kB\nMemFree: 1001 kB\n").error().code ==
        errc::malformed);
  CHECK(parse_meminfo("MemTotal: 1000 kB\nMemFree: 10 kB\n"
                      "MemAvailable: 1001 kB\n")
            .error()
            .code == errc::malformed);
  // All free is consistent.
  CHECK(parse_meminfo("MemTotal: 1000 kB\nMemFree: 1000 kB\n").has_value());

  for (const bool host_wide : {true, false}) {
    CAPTURE(host_wide);
    fixture_tree t;
    if (host_wide) {
      write_host(t);
      t.file("proc/self/mountinfo", mi_base);  // no cgroup: mode none
    } else {
      layout_docker_v1(t);
    }
    t.file("proc/meminfo",
           "MemTotal: 1000 kB\nMemFree: 5000 kB\nMemAvailable: 900 kB\n");
    auto r = open_reader(t);
    const auto s = r.snapshot();
    check_error(s.host_total, make_error_code(errc::malformed),
                "/proc/meminfo");
    if (host_wide) {
      check_error(s.effective_limit, make_error_code(errc::malformed),
                  "/proc/meminfo");
      CHECK_FALSE(s.headroom.has_value());
      check_error(s.usage, make_error_code(errc::malformed), "/proc/meminfo");
      check_error(r.usage(), make_error_code(errc::malformed), "/proc/meminfo");
      CHECK_FALSE(s.working_set.has_value());
    } else {
      // The cgroup's own values; without MemTotal the limit still bounds.
      check_value(s.usage, 100 * MiB);
      check_value(s.effective_limit, 256 * MiB);
    }
  }
}

TEST_CASE("faults: host-wide working set is at most the usage") {
  // MemAvailable below MemFree (free pages held in reserve, little cache):
  // MemTotal - MemAvailable would exceed MemTotal - MemFree.
  fixture_tree t;
  write_host(t);
  t.file("proc/self/mountinfo", mi_base);
  t.file("proc/meminfo",
         "MemTotal: 10000 kB\nMemFree: 5000 kB\nMemAvailable: 3000 kB\n");
  auto r = open_reader(t);
  const auto s = r.snapshot();
  CHECK(s.scope == usage_scope::host);
  check_value(s.usage, std::uint64_t{5000} * 1024);
  check_value(s.working_set, std::uint64_t{5000} * 1024);  // clamped
  check_value(s.headroom, std::uint64_t{5000} * 1024);
  // And the usual case is not clamped.
  t.file("proc/meminfo",
         "MemTotal: 10000 kB\nMemFree: 3000 kB\nMemAvailable: 5000 kB\n");
  const auto u = r.snapshot();
  check_value(u.usage, std::uint64_t{7000} * 1024);
  check_value(u.working_set, std::uint64_t{5000} * 1024);
}

TEST_CASE(
    "faults: psi=0 on a kernel that still shows the files (EOPNOTSUPP): not "
    "available, or the host's") {
  const std::string ctr = k8s_pod_dir + k8s_container;
  const auto field_text = [](const export_report& rep, std::string_view sec,
                             std::string_view key) {
    for (const auto& s : report_fields()) {
      if (s.json != sec) continue;
      for (const field* f = s.begin; f != s.end; ++f) {
        if (f->json == key) return f->get(rep);
      }
    }
    FAIL("no field " << sec << "." << key);
    return field_value{};
  };
  SUBCASE("the cgroup's refuses reads and /proc/pressure is gone") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    t.remove("proc/pressure/cpu");
    fake_sys::armed a(
        fault{call::pread, "/cpu.pressure", false, {}, EOPNOTSUPP});
    options o;
    o.root = t.root();
    auto ex = exporter::open(o);
    REQUIRE(ex);
    const export_report rep = ex->read();
    CHECK(a.hits() >= 1);
    REQUIRE_FALSE(rep.memory.cpu_pressure.value);
    CHECK(rep.memory.cpu_pressure.value.error().code ==
          std::errc::operation_not_supported);
    const field_value why = field_text(rep, "pressure_cpu", "reason");
    REQUIRE(why.has_value());
    CHECK(why.text == "not available: " + ctr +
                          "/cpu.pressure refuses reads (EOPNOTSUPP): PSI is "
                          "disabled (psi=0 on the kernel command line)");
    const field_value scope = field_text(rep, "pressure_cpu", "scope");
    CHECK(scope.st == field_value::state::absent);
    CHECK(scope.human == why.text);
    // Not an error: nothing in the JSON's error list.
    CHECK(to_json(rep).find("\"pressure_cpu.") == std::string::npos);
    // The others are read as they are.
    CHECK(rep.memory.io_pressure.value);
    CHECK(rep.memory.pressure.value);
  }
  SUBCASE("the cgroup's refuses reads, the host's is there: the host's") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    fake_sys::armed a(
        fault{call::pread, "/io.pressure", false, {}, EOPNOTSUPP});
    const auto rep = open_reader(t).report();
    CHECK(a.hits() >= 1);
    REQUIRE(rep.io_pressure.value);
    CHECK(rep.io_pressure_from == pressure_scope::host);
    CHECK(rep.io_pressure.path == "/proc/pressure/io");
    CHECK(rep.io_pressure.value->some.total_us == 2000);
  }
}
// ============================================ the cost of memory_reader::open

namespace {

// Every system call the library has made so far, of each kind the seam
// counts.
long all_calls() {
  long n = 0;
  for (int c = 0; c < static_cast<int>(call::count_); ++c)
    n += fake_sys::calls(static_cast<call>(c));
  return n;
}

struct open_cost {
  long calls = 0;
  int fds = 0;  // descriptors the reader keeps
  std::size_t chain = 0;
};

// The system calls memory_reader::open() makes for process `pid` (0: this
// one) on the live system, and the descriptors it keeps.
open_cost cost_of_open(pid_t pid) {
  options o;
  o.pid = pid;
  o.use_environment = false;
  const int fds = count_fds();
  const long before = all_calls();
  auto r = memory_reader::open(o);
  open_cost out;
  out.calls = all_calls() - before;
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  out.fds = count_fds() - fds;
  out.chain = r->chain_size();
  return out;
}

}  // namespace

TEST_CASE(
    "faults (live): memory.use_hierarchy is read only on kernels before "
    "5.16") {
  if (!live_ready()) return;
  if (g_host.v2()) {
    std::printf("SKIP: memory.use_hierarchy is a cgroup v1 file\n");
    return;
  }
  options o;
  o.use_environment = false;
  struct kernel_case {
    const char* release;
    int uname_error;
    bool reads;
  };
  const kernel_case cases[] = {
      {"5.15.0-91-generic", 0, true}, {"4.19.0", 0, true},
      {"5.16.0", 0, false},           {"6.18.44-fc", 0, false},
      {"garbage", 0, true},           {"", EPERM, true}};
  std::optional<std::uint64_t> first_limit;
  for (const auto& c : cases) {
    CAPTURE(c.release);
    fake_sys::armed u(fault{call::uname, c.release, false, {}, c.uname_error});
    // Error 0: counted, not failed.
    fake_sys::armed uh(
        fault{call::open, "/memory.use_hierarchy", false, {}, 0});
    auto r = memory_reader::open(o);
    REQUIRE_MESSAGE(r.has_value(), r.error().message());
    CHECK(u.hits() == 1);
    if (c.reads) {
      // Every directory above the memory cgroup, up to the first with 0.
      CHECK(uh.hits() >= 1);
      CHECK(static_cast<std::size_t>(uh.hits()) >= r->chain_size() - 1);
    } else {
      CHECK(uh.hits() == 0);
    }
    const memory_snapshot s = r->snapshot();
    REQUIRE_MESSAGE(s.limit.has_value(), s.limit.error().message());
    if (!first_limit) first_limit = s.limit_bytes().value_or(0);
    CHECK(s.limit_bytes().value_or(0) == *first_limit);
  }
}

TEST_CASE(
    "faults (live): memory_reader::open() system calls and descriptors, at "
    "chain depth 3 and 64") {
  if (!live_ready()) return;
  const open_cost own = cost_of_open(0);
  cgroup_list dirs;
  cleanup c{dirs};
  std::string dir = new_base(dirs);
  // The own chain, the base, then directories down to depth 64.
  for (std::size_t depth = own.chain + 1; depth < 64; ++depth)
    dir = add(dirs, dir, "d").dir();
  child_process child;
  REQUIRE(dirs.back()->move_in(child.pid()));
  const open_cost deep = cost_of_open(child.pid());
  CHECK(deep.chain == 64);
  MESSAGE("open() at chain depth "
          << own.chain << ": " << own.calls << " system calls, " << own.fds
          << " descriptors kept; at depth " << deep.chain << ": " << deep.calls
          << " system calls, " << deep.fds << " descriptors kept");
  // Discovery (mountinfo and the cgroup file: open, two reads, close
  // each), meminfo (open, pread), uname, the memory cgroup's usage and
  // memory.stat; another process adds two stat calls (is its mount
  // namespace ours?).
  if (!g_host.v2()) {
    // v1: and its limit file; no other directory's (hierarchical_memory_
    // limit says where the limit is). The same at any depth.
    CHECK(own.calls <= 14);
    CHECK(deep.calls <= 16);
    CHECK(deep.calls <= 20);
    CHECK(own.fds <= 4);
    CHECK(deep.fds <= 4);
  } else {
    // v2: and one limit file a level, kept.
    CHECK(own.calls <= 13 + static_cast<long>(own.chain));
    CHECK(deep.calls <= 15 + static_cast<long>(deep.chain));
    CHECK(own.fds <= 3 + static_cast<int>(own.chain));
    CHECK(deep.fds <= 3 + static_cast<int>(deep.chain));
  }
}

TEST_CASE(
    "faults (live): v1 snapshot() re-locates the limit when the kernel's "
    "minimum says it moved, and reads no limit file otherwise") {
  if (!live_ready()) return;
  if (g_host.v2()) {
    std::printf("SKIP: hierarchical_memory_limit is a cgroup v1 entry\n");
    return;
  }
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& a = add(dirs, base, "a");
  auto& b = add(dirs, a.dir(), "b");
  auto& leaf = add(dirs, b.dir(), "leaf");
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  options o;
  o.pid = child.pid();
  o.use_environment = false;
  auto r = memory_reader::open(o);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  // What a reader opened now says: every limit file read afresh.
  const auto fresh = [&] {
    auto f = memory_reader::open(o);
    REQUIRE_MESSAGE(f.has_value(), f.error().message());
    return f->snapshot();
  };
  struct step {
    headroom_live::cgroup_dir* dir;
    std::uint64_t limit;  // 0: unlimited
    const char* what;
  };
  const step steps[] = {
      {&a, 512 * MiB, "a ancestor limits"},
      {&leaf, 256 * MiB, "the leaf, tighter"},
      {&leaf, 1024 * MiB, "the leaf raised above a"},
      {&b, 128 * MiB, "b, between them, tightest"},
      {&b, 0, "b unlimited again: a binds"},
      {&leaf, 512 * MiB, "the leaf at a's value: a still binds (the tie)"},
      {&a, 0, "a unlimited: the same value, now at the leaf"},
      {&leaf, 0, "nothing limits"},
  };
  for (const auto& st : steps) {
    CAPTURE(st.what);
    REQUIRE(st.dir->set_limit(st.limit ? std::to_string(st.limit)
                                       : std::string("max")));
    const memory_snapshot s = r->snapshot();
    const memory_snapshot f = fresh();
    REQUIRE_MESSAGE(s.limit.has_value(), s.limit.error().message());
    REQUIRE_MESSAGE(f.limit.has_value(), f.limit.error().message());
    CHECK(s.limit_bytes() == f.limit_bytes());
    CHECK(s.source == f.source);
    CHECK(s.limit_at == f.limit_at);
    CHECK(s.usage_at == f.usage_at);
    // Nothing changed since: no open, and at most four preads (the
    // witness, the limit where it is, usage and memory.stat there).
    const long opens = fake_sys::calls(call::open);
    const long preads = fake_sys::calls(call::pread);
    const memory_snapshot again = r->snapshot();
    CHECK(fake_sys::calls(call::open) == opens);
    CHECK(fake_sys::calls(call::pread) - preads <= 4);
    CHECK(again.limit_bytes() == s.limit_bytes());
    CHECK(again.limit_at == s.limit_at);
  }
}

TEST_CASE(
    "faults: a record the disk refuses (ENOSPC) is an error naming the file, "
    "and leaves no half record behind") {
  char tmpl[] = "/tmp/headroom-faults-record.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  recorder_options o;
  o.dir = dir;
  o.allow_tmpfs = true;  // /tmp may be tmpfs here
  o.interval = 50ms;
  auto rec = recorder::create(o);
  REQUIRE(rec);
  {
    fake_sys::armed a(fault{call::write, ".jsonl", true, {}, ENOSPC});
    rec->record_now("full_disk");
    REQUIRE(rec->wait_records(1, 5000ms));
    CHECK(a.hits() >= 1);
  }
  const auto err = rec->last_error();
  REQUIRE(err.has_value());
  CHECK(err->code == std::errc::no_space_on_device);
  CHECK(err->path.rfind(dir + "/headroom-", 0) == 0);
  CHECK(err->path.find("full_disk") != std::string::npos);
  CHECK(rec->records().empty());
  // Nothing was left in the directory: the half-written file is gone.
  std::vector<std::string> left;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") left.push_back(n);
    }
    ::closedir(d);
  }
  CHECK(left.empty());
  // And the next record, with the disk back, is written whole.
  rec->record_now("after");
  REQUIRE(rec->wait_records(2, 5000ms));
  CHECK(rec->records().size() == 1);
  for (const auto& p : rec->records()) ::unlink(p.c_str());
  ::rmdir(dir.c_str());
}
