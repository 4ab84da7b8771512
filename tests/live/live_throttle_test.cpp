// SPDX-License-Identifier: MIT
// CFS throttling, live: a child cgroup under this process's own cpu cgroup
// (v1 cpu controller on this host, v2 where cgroup2 has it) with a quota of
// 1 ms per 10 ms, a forked child burning CPU in it, and then the child's
// own cpu_reader snapshot compared with cpu.stat as the kernel prints it,
// read here directly. Needs root and a cpu controller this process may
// write to; otherwise it says why and exits 77 (skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <headroom/cpu.hpp>
#include "../support/doctest.hpp"
#include "../support/skip.hpp"

#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "live_cgroup.hpp"

namespace {

using headroom::hierarchy_mode;
using headroom_live::read_file;
using headroom_live::write_file;

// Where the test works: the own cpu cgroup and the child made under it.
struct setup {
  hierarchy_mode version = hierarchy_mode::none;
  std::string own;   // the own cpu cgroup directory
  std::string leaf;  // headroom-cpupsi-<pid>, made by main()
  bool v2() const { return version == hierarchy_mode::v2; }
};

setup g_setup;

// cpu.stat as the kernel prints it: "key value" lines, parsed here without
// the library, so that the two readings are independent witnesses.
std::map<std::string, std::uint64_t> kernel_cpu_stat(const std::string& dir) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(read_file(dir + "/cpu.stat"));
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) out[key] = value;
  return out;
}

// The kernel's three counters in headroom's units: v1 throttled_time is in
// ns, v2 throttled_usec in us.
struct counters {
  std::uint64_t periods = 0;
  std::uint64_t throttled = 0;
  std::uint64_t throttled_us = 0;
};

counters kernel_counters(const std::string& dir, bool v2) {
  auto s = kernel_cpu_stat(dir);
  const char* time_key = v2 ? "throttled_usec" : "throttled_time";
  REQUIRE_MESSAGE(s.count("nr_periods") == 1, dir << "/cpu.stat");
  REQUIRE_MESSAGE(s.count("nr_throttled") == 1, dir << "/cpu.stat");
  REQUIRE_MESSAGE(s.count(time_key) == 1, dir << "/cpu.stat");
  counters c;
  c.periods = s["nr_periods"];
  c.throttled = s["nr_throttled"];
  c.throttled_us = v2 ? s[time_key] : s[time_key] / 1000;
  return c;
}

// 1 ms of CPU per 10 ms period ("max" lifts it).
void set_quota(const std::string& quota) {
  std::string err;
  if (g_setup.v2()) {
    REQUIRE_MESSAGE(
        write_file(g_setup.leaf + "/cpu.max", quota + " 10000", &err), err);
  } else {
    REQUIRE_MESSAGE(
        write_file(g_setup.leaf + "/cpu.cfs_period_us", "10000", &err), err);
    REQUIRE_MESSAGE(write_file(g_setup.leaf + "/cpu.cfs_quota_us",
                               quota == "max" ? "-1" : quota, &err),
                    err);
  }
}

// What the child's reader said.
struct child_answer {
  int open_ok = 0;
  char error[256] = {};
  char cpu_dir[512] = {};
  char stat_path[512] = {};
  int throttling_ok = 0;
  int has_counters = 0;
  std::uint64_t periods = 0;
  std::uint64_t throttled = 0;
  std::uint64_t throttled_us = 0;
  std::uint64_t burnt_us = 0;  // its own CPU time after burning
};

double seconds(clockid_t clock) {
  timespec t{};
  ::clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The child: waits to be moved in ('B'), burns 60 ms of CPU (at most 5 s
// of wall time), says it is done, then on 'S' opens a cpu_reader and
// answers with its snapshot. Never touches doctest.
[[noreturn]] void child_main(int in, int out) {
  char c = 0;
  if (::read(in, &c, 1) != 1 || c != 'B') ::_exit(1);
  const double wall0 = seconds(CLOCK_MONOTONIC);
  const double cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  volatile std::uint64_t spin = 0;
  while (seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0 < 0.060 &&
         seconds(CLOCK_MONOTONIC) - wall0 < 5.0) {
    for (int i = 0; i < 10000; ++i) spin = spin + 1;
  }
  child_answer a;
  a.burnt_us = static_cast<std::uint64_t>(
      (seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0) * 1e6);
  if (::write(out, "D", 1) != 1) ::_exit(1);
  if (::read(in, &c, 1) != 1 || c != 'S') ::_exit(1);
  auto r = headroom::cpu_reader::open();
  if (r) {
    a.open_ok = 1;
    std::snprintf(a.cpu_dir, sizeof a.cpu_dir, "%s",
                  r->cpu_location().dir.c_str());
    std::snprintf(a.stat_path, sizeof a.stat_path, "%s",
                  r->stat_path().c_str());
    const auto s = r->snapshot();
    a.throttling_ok = s.throttling.has_value();
    if (!s.throttling) {
      std::snprintf(a.error, sizeof a.error, "%s",
                    s.throttling.error().message().c_str());
    } else if (s.throttling->has_value()) {
      a.has_counters = 1;
      a.periods = (*s.throttling)->periods;
      a.throttled = (*s.throttling)->throttled_periods;
      a.throttled_us = (*s.throttling)->throttled_us;
    }
  } else {
    std::snprintf(a.error, sizeof a.error, "%s", r.error().message().c_str());
  }
  const auto n = ::write(out, &a, sizeof a);
  ::_exit(n == static_cast<ssize_t>(sizeof a) ? 0 : 1);
}

bool read_all(int fd, void* buf, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, static_cast<char*>(buf) + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

TEST_CASE(
    "live throttling: a child held at 1 ms per 10 ms, and headroom's "
    "counters are the kernel's") {
  set_quota("1000");
  int to_child[2];
  int to_parent[2];
  REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(to_parent, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(to_parent[0]);
    child_main(to_child[0], to_parent[1]);
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  struct reap {
    pid_t pid;
    int a, b;
    ~reap() {
      ::close(a);
      ::close(b);
      ::kill(pid, SIGKILL);
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
  } reaper{pid, to_child[1], to_parent[0]};

  std::string err;
  REQUIRE_MESSAGE(
      write_file(g_setup.leaf + "/cgroup.procs", std::to_string(pid), &err),
      err);
  const counters before = kernel_counters(g_setup.leaf, g_setup.v2());
  REQUIRE(::write(to_child[1], "B", 1) == 1);
  char done = 0;
  REQUIRE(::read(to_parent[0], &done, 1) == 1);
  REQUIRE(done == 'D');

  // The child now waits on its pipe. Lift the quota so that its reading
  // runs unthrottled: the counters stay as they are (no new periods run
  // without a quota), and both witnesses see the same file.
  set_quota("max");
  const counters kernel = kernel_counters(g_setup.leaf, g_setup.v2());
  REQUIRE(::write(to_child[1], "S", 1) == 1);
  child_answer a;
  REQUIRE_MESSAGE(read_all(to_parent[0], &a, sizeof a),
                  "the child died before it answered");
  const counters after = kernel_counters(g_setup.leaf, g_setup.v2());

  REQUIRE_MESSAGE(a.open_ok == 1, a.error);
  CHECK(std::string(a.cpu_dir) == g_setup.leaf);
  CHECK(std::string(a.stat_path) == g_setup.leaf + "/cpu.stat");
  REQUIRE_MESSAGE(a.throttling_ok == 1, a.error);
  REQUIRE(a.has_counters == 1);
  MESSAGE("cpu " << (g_setup.v2() ? "v2 " : "v1 ") << g_setup.leaf
                 << ": the child burnt " << a.burnt_us << " us of CPU; kernel "
                 << kernel.periods << " periods, " << kernel.throttled
                 << " throttled, " << kernel.throttled_us << " us; headroom "
                 << a.periods << ", " << a.throttled << ", " << a.throttled_us
                 << " us (before: " << before.periods << ", "
                 << before.throttled << ", " << before.throttled_us << ")");
  // Throttling really happened: 60 ms of CPU at 1 ms per 10 ms period.
  CHECK(kernel.throttled > before.throttled);
  CHECK(kernel.throttled_us > before.throttled_us);
  CHECK(a.throttled > 0);
  CHECK(a.throttled_us > 0);
  // Nothing ran throttled between the two kernel reads...
  CHECK(after.throttled == kernel.throttled);
  CHECK(after.throttled_us == kernel.throttled_us);
  // ...so headroom's reading is the kernel's, exactly.
  CHECK(a.throttled == kernel.throttled);
  CHECK(a.throttled_us == kernel.throttled_us);
  CHECK(a.periods >= kernel.periods);
  CHECK(a.periods <= after.periods);
  CHECK(a.periods >= a.throttled);
}

int main(int argc, char** argv) {
  const auto skip = headroom_test::skip_run;
  if (::geteuid() != 0)
    return skip("the live throttling test needs root (it creates a cgroup)");
  auto r = headroom::cpu_reader::open();
  if (!r) return skip("no cpu cgroup: " + r.error().message());
  const auto& loc = r->cpu_location();
  if (loc.mode == hierarchy_mode::none || loc.dir.empty()) {
    return skip(
        "no cpu controller visible to this process" +
        (loc.why_none.code ? ": " + loc.why_none.message() : std::string()));
  }
  g_setup.version = loc.mode;
  g_setup.own = loc.dir;
  g_setup.leaf = g_setup.own + "/headroom-cpupsi-" + std::to_string(::getpid());
  if (::mkdir(g_setup.leaf.c_str(), 0755) != 0) {
    return skip("cannot create " + g_setup.leaf + ": " + std::strerror(errno));
  }
  struct remove_leaf {
    ~remove_leaf() {
      for (int i = 0;
           i < 200 && ::rmdir(g_setup.leaf.c_str()) != 0 && errno == EBUSY;
           ++i) {
        ::usleep(10 * 1000);
      }
    }
  } cleanup;
  // The bandwidth files: v1 has them in every cpu cgroup; on v2 the parent
  // must give its children the cpu controller, which the kernel refuses
  // when the parent has processes of its own (EBUSY) or is not delegated.
  const std::string quota_file =
      g_setup.leaf + (g_setup.v2() ? "/cpu.max" : "/cpu.cfs_quota_us");
  if (::access(quota_file.c_str(), W_OK) != 0 && g_setup.v2()) {
    std::string err;
    if (!write_file(g_setup.own + "/cgroup.subtree_control", "+cpu", &err))
      return skip("cannot enable the cpu controller for children: " + err);
  }
  if (::access(quota_file.c_str(), W_OK) != 0)
    return skip(quota_file + ": " + std::strerror(errno));
  if (::access((g_setup.leaf + "/cpu.stat").c_str(), R_OK) != 0) {
    return skip(g_setup.leaf + "/cpu.stat: " + std::strerror(errno));
  }
  std::printf("live throttling: cpu %s, own cpu cgroup %s\n",
              headroom::to_string(g_setup.version), g_setup.own.c_str());
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
