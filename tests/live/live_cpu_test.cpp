// SPDX-License-Identifier: MIT
// Live CPU tests on a real kernel: child cgroups under this process's own
// cpu (and cpuset) cgroup, real CFS quotas and cpusets, a forked child moved
// in that reads them with cpu_reader. Runs on this host's cgroup v1 and in
// the test VM on cgroup v2 and hybrid (cpu,cpuacct co-mounted). Part of the
// live test programs, whose main() checks for root first.
#include <headroom/cpu.hpp>
#include "../support/doctest.hpp"
#include "../support/skip.hpp"

#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "live_cgroup.hpp"

namespace {

using headroom::hierarchy_mode;
using headroom_live::cgroup_dir;
using headroom_live::read_file;
using headroom_live::write_file;

// What the child read, in a fixed-size record sent over a pipe.
struct cpu_child_report {
  int open_ok = 0;
  char open_error[256] = {};
  int version = 0;
  char cpu_dir[512] = {};
  int affinity_ok = 0;
  std::uint32_t affinity = 0;
  int quota_ok = 0;
  int quota_set = 0;
  std::uint64_t quota_us = 0;
  std::uint64_t period_us = 0;
  char quota_dir[512] = {};
  int cpuset_ok = 0;
  int cpuset_set = 0;
  std::uint32_t cpuset = 0;
  int up_ok = 0;
  std::uint32_t up = 0;
  int down_ok = 0;
  std::uint32_t down = 0;
};

// A forked child that, for each byte it is sent, takes a cpu_reader
// snapshot (opening the reader the first time) and answers; 'q' ends it.
// It never touches doctest.
class cpu_child {
 public:
  cpu_child() {
    int to_child[2];
    int to_parent[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(to_parent, O_CLOEXEC) != 0)
      return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(to_child[1]);
      ::close(to_parent[0]);
      serve(to_child[0], to_parent[1]);
      ::_exit(0);
    }
    ::close(to_child[0]);
    ::close(to_parent[1]);
    cmd_ = to_child[1];
    report_ = to_parent[0];
  }
  ~cpu_child() {
    if (pid_ > 0) {
      const char q = 'q';
      if (::write(cmd_, &q, 1) != 1) ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (cmd_ >= 0) ::close(cmd_);
    if (report_ >= 0) ::close(report_);
  }
  cpu_child(const cpu_child&) = delete;
  cpu_child& operator=(const cpu_child&) = delete;

  pid_t pid() const { return pid_; }

  std::optional<cpu_child_report> ask() {
    const char c = 's';
    if (::write(cmd_, &c, 1) != 1) return {};
    cpu_child_report r;
    std::size_t got = 0;
    while (got < sizeof r) {
      const ssize_t n =
          ::read(report_, reinterpret_cast<char*>(&r) + got, sizeof r - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return {};
      got += static_cast<std::size_t>(n);
    }
    return r;
  }

 private:
  static void copy(char* dst, std::size_t cap, const std::string& s) {
    std::snprintf(dst, cap, "%s", s.c_str());
  }

  static void serve(int in, int out) {
    std::optional<headroom::cpu_reader> reader;
    for (;;) {
      char c = 0;
      if (::read(in, &c, 1) != 1 || c == 'q') return;
      cpu_child_report r;
      if (!reader) {
        auto opened = headroom::cpu_reader::open();
        if (opened) {
          reader.emplace(std::move(*opened));
        } else {
          copy(r.open_error, sizeof r.open_error, opened.error().message());
        }
      }
      if (reader) {
        r.open_ok = 1;
        r.version = static_cast<int>(reader->cpu_location().mode);
        copy(r.cpu_dir, sizeof r.cpu_dir, reader->cpu_location().dir);
        const auto s = reader->snapshot();
        r.affinity_ok = s.affinity.has_value();
        r.affinity = s.affinity.value_or(0);
        r.quota_ok = s.quota.has_value();
        if (s.quota && s.quota->has_value()) {
          r.quota_set = 1;
          r.quota_us = (*s.quota)->quota_us;
          r.period_us = (*s.quota)->period_us;
          copy(r.quota_dir, sizeof r.quota_dir, reader->quota_cgroup(s));
        }
        r.cpuset_ok = s.cpuset.has_value();
        if (s.cpuset && s.cpuset->has_value()) {
          r.cpuset_set = 1;
          r.cpuset = **s.cpuset;
        }
        const auto up = s.effective(headroom::cpu_rounding::up);
        const auto down = s.effective(headroom::cpu_rounding::down);
        r.up_ok = up.has_value();
        r.up = up.value_or(0);
        r.down_ok = down.has_value();
        r.down = down.value_or(0);
      }
      if (::write(out, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) return;
    }
  }

  pid_t pid_ = -1;
  int cmd_ = -1;
  int report_ = -1;
};

cpu_child_report must(const std::optional<cpu_child_report>& r) {
  REQUIRE_MESSAGE(r.has_value(), "the child died before it answered");
  REQUIRE_MESSAGE(r->open_ok == 1, r->open_error);
  return *r;
}

int g_cpu_serial = 0;

// This process's cgroup of `controller`, as the library locates it, checked
// against the kernel's files.
struct own_cgroup {
  hierarchy_mode version = hierarchy_mode::none;
  std::string dir;
  bool v2() const { return version == hierarchy_mode::v2; }
};

own_cgroup locate_own(const char* controller) {
  own_cgroup o;
  auto r = headroom::cpu_reader::open();
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  const auto& loc = std::string(controller) == "cpu" ? r->cpu_location()
                                                     : r->cpuset_location();
  o.version = loc.mode;
  o.dir = loc.dir;
  return o;
}

// A fresh directory under `parent` of the given hierarchy, removed when the
// test ends (after the child that was in it: declare the child later).
cgroup_dir& make_dir(std::vector<std::unique_ptr<cgroup_dir>>& keep,
                     const own_cgroup& own, const std::string& parent,
                     const std::string& name) {
  headroom_live::host_layout h;
  h.mode =
      own.v2() ? headroom::hierarchy_mode::v2 : headroom::hierarchy_mode::v1;
  const std::string dir = parent + "/" + name;
  REQUIRE_MESSAGE(::mkdir(dir.c_str(), 0755) == 0,
                  dir << ": " << std::strerror(errno));
  keep.push_back(std::make_unique<cgroup_dir>(h, dir));
  return *keep.back();
}

// Removes the directories deepest first when a test ends.
struct remove_all {
  std::vector<std::unique_ptr<cgroup_dir>>& keep;
  ~remove_all() {
    while (!keep.empty()) keep.pop_back();
  }
};

std::string base_name() {
  return "headroom-live-cpu-" + std::to_string(::getpid()) + "-" +
         std::to_string(++g_cpu_serial);
}

// Sets a quota: v2 cpu.max "QUOTA PERIOD" (or "max PERIOD"), v1
// cpu.cfs_period_us then cpu.cfs_quota_us (-1 for none).
void set_quota(const own_cgroup& own, const std::string& dir,
               const std::string& quota, std::uint64_t period) {
  std::string err;
  if (own.v2()) {
    REQUIRE_MESSAGE(write_file(dir + "/cpu.max",
                               quota + " " + std::to_string(period), &err),
                    err);
  } else {
    REQUIRE_MESSAGE(
        write_file(dir + "/cpu.cfs_period_us", std::to_string(period), &err),
        err);
    REQUIRE_MESSAGE(write_file(dir + "/cpu.cfs_quota_us",
                               quota == "max" ? "-1" : quota, &err),
                    err);
  }
}

// On cgroup2, lets `dir`'s children have `controller`.
void enable_for_children(const own_cgroup& own, const std::string& dir,
                         const char* controller) {
  if (!own.v2()) return;
  std::string err;
  REQUIRE_MESSAGE(write_file(dir + "/cgroup.subtree_control",
                             std::string("+") + controller, &err),
                  err);
}

std::uint32_t affinity_of_this_process() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(::sched_getaffinity(0, sizeof set, &set) == 0);
  return static_cast<std::uint32_t>(CPU_COUNT(&set));
}

}  // namespace

TEST_CASE("live cpu: a quota of 1.5 CPUs, rounded up to 2 and down to 1") {
  const own_cgroup own = locate_own("cpu");
  REQUIRE_MESSAGE(own.version != hierarchy_mode::none,
                  "no cpu controller visible to this process");
  MESSAGE("cpu controller " << std::string(headroom::to_string(own.version))
                            << ", own cpu cgroup " << own.dir);
  std::vector<std::unique_ptr<cgroup_dir>> dirs;
  remove_all cleanup{dirs};
  auto& leaf = make_dir(dirs, own, own.dir, base_name());
  set_quota(own, leaf.dir(), "150000", 100000);
  const std::uint32_t affinity = affinity_of_this_process();

  cpu_child child;
  REQUIRE(leaf.move_in(child.pid()));
  const auto r = must(child.ask());
  CHECK(r.version == static_cast<int>(own.version));
  CHECK(std::string(r.cpu_dir) == leaf.dir());
  REQUIRE(r.quota_ok == 1);
  REQUIRE(r.quota_set == 1);
  CHECK(r.quota_us == 150000);
  CHECK(r.period_us == 100000);
  CHECK(std::string(r.quota_dir) == leaf.dir());
  REQUIRE(r.affinity_ok == 1);
  CHECK(r.affinity == affinity);
  REQUIRE(r.up_ok == 1);
  REQUIRE(r.down_ok == 1);
  CHECK(r.up == std::min<std::uint32_t>(2, affinity));
  CHECK(r.down == 1);
  MESSAGE("quota " << r.quota_us << "/" << r.period_us << " us, affinity "
                   << r.affinity << ": " << r.up << " rounded up, " << r.down
                   << " rounded down");
}

TEST_CASE(
    "live cpu: the tightest quota up the chain, and a change seen by the same "
    "reader") {
  const own_cgroup own = locate_own("cpu");
  REQUIRE(own.version != hierarchy_mode::none);
  std::vector<std::unique_ptr<cgroup_dir>> dirs;
  remove_all cleanup{dirs};
  auto& parent = make_dir(dirs, own, own.dir, base_name());
  // 300000 us per 200000 us: 1.5 CPUs, with a period other than the default.
  set_quota(own, parent.dir(), "300000", 200000);
  enable_for_children(own, parent.dir(), "cpu");
  auto& leaf = make_dir(dirs, own, parent.dir(), "leaf");

  cpu_child child;
  REQUIRE(leaf.move_in(child.pid()));
  auto r = must(child.ask());
  CHECK(std::string(r.cpu_dir) == leaf.dir());
  REQUIRE(r.quota_set == 1);
  CHECK(r.quota_us == 300000);
  CHECK(r.period_us == 200000);
  CHECK(std::string(r.quota_dir) == parent.dir());
  CHECK(r.down == 1);

  // Half a CPU on the leaf (allowed on v1 too: not more than the parent's).
  set_quota(own, leaf.dir(), "50000", 100000);
  r = must(child.ask());
  CHECK(r.quota_us == 50000);
  CHECK(r.period_us == 100000);
  CHECK(std::string(r.quota_dir) == leaf.dir());
  CHECK(r.up == 1);
  CHECK(r.down == 1);

  // Both lifted: no quota at all.
  set_quota(own, leaf.dir(), "max", 100000);
  set_quota(own, parent.dir(), "max", 100000);
  r = must(child.ask());
  REQUIRE(r.quota_ok == 1);
  CHECK(r.quota_set == 0);
  CHECK(r.up == std::min(r.affinity, r.cpuset_set ? r.cpuset : r.affinity));
}

TEST_CASE("live cpu: a cpuset of one CPU narrows the affinity and the count") {
  const own_cgroup own = locate_own("cpuset");
  if (own.version == hierarchy_mode::none)
    HEADROOM_SKIP_CASE("no cpuset controller is available to this process");
  std::vector<std::unique_ptr<cgroup_dir>> dirs;
  remove_all cleanup{dirs};
  auto& one = make_dir(dirs, own, own.dir, base_name());
  std::string err;
  if (own.v2()) {
    REQUIRE_MESSAGE(write_file(one.dir() + "/cpuset.cpus", "0", &err), err);
  } else {
    // v1 wants memory nodes before tasks: the parent's.
    std::string mems = read_file(own.dir + "/cpuset.mems");
    while (!mems.empty() && mems.back() == '\n') mems.pop_back();
    REQUIRE_MESSAGE(write_file(one.dir() + "/cpuset.mems", mems, &err), err);
    REQUIRE_MESSAGE(write_file(one.dir() + "/cpuset.cpus", "0", &err), err);
  }

  cpu_child child;
  REQUIRE(one.move_in(child.pid()));
  const auto r = must(child.ask());
  REQUIRE(r.cpuset_ok == 1);
  REQUIRE(r.cpuset_set == 1);
  CHECK(r.cpuset == 1);
  CHECK(r.affinity == 1);  // the kernel narrowed the task's mask too
  CHECK(r.up == 1);
  CHECK(r.down == 1);
  MESSAGE("cpuset " << std::string(headroom::to_string(own.version)) << " "
                    << one.dir() << ": " << r.cpuset
                    << " CPU, this process has " << affinity_of_this_process());
}
