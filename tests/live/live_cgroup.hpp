// SPDX-License-Identifier: MIT
// Real cgroups for live tests: created under the test process's own memory
// cgroup, limits written, a forked child moved in, everything removed after.
// Works on v1 (this host: memory on v1, hybrid) and v2 (the test VM).
#pragma once

#include <headroom/memory.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace headroom_live {

inline bool write_file(const std::string& path, const std::string& value,
                       std::string* err = nullptr) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = path + ": " + std::strerror(errno);
    return false;
  }
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int saved = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    if (err) *err = path + ": " + std::strerror(saved);
    return false;
  }
  return true;
}

inline std::string read_file(const std::string& path) {
  auto r = headroom::detail::read_whole(path);
  return r ? *r : std::string();
}

// The view inside a container whose runtime mounted the cgroup filesystem
// read-only: a private mount namespace in which every cgroup and cgroup2
// mount is bound read-only over itself, at the same paths. Descriptors
// opened before stay on the writable mounts (that is how a caller still
// changes a limit or removes its cgroups). Must be called while the
// process has one thread (unshare(CLONE_NEWNS) refuses otherwise). Returns
// "" or what failed.
inline std::string enter_read_only_cgroupfs() {
  if (::unshare(CLONE_NEWNS) != 0)
    return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return std::string("make-rprivate: ") + std::strerror(errno);
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE ...
  const std::string info = read_file("/proc/self/mountinfo");
  int done = 0;
  std::size_t at = 0;
  while (at < info.size()) {
    std::size_t end = info.find('\n', at);
    if (end == std::string::npos) end = info.size();
    const std::string line = info.substr(at, end - at);
    at = end + 1;
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const std::string fs =
        line.substr(dash + 3, line.find(' ', dash + 3) - dash - 3);
    if (fs != "cgroup" && fs != "cgroup2") continue;
    std::size_t f = 0;
    for (int i = 0; i < 4 && f != std::string::npos; ++i)
      f = line.find(' ', f) + 1;
    const std::string point = line.substr(f, line.find(' ', f) - f);
    if (::mount(
            nullptr, point.c_str(), nullptr,
            MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            nullptr) != 0)
      return "remount " + point + " read-only: " + std::strerror(errno);
    ++done;
  }
  return done > 0 ? "" : "no cgroup mount in /proc/self/mountinfo";
}

// Where this process's memory cgroup is (its real directory), and whether
// it is v1 or v2.
struct host_layout {
  headroom::hierarchy_mode mode = headroom::hierarchy_mode::none;
  std::string own_dir;
  bool v2() const { return mode == headroom::hierarchy_mode::v2; }
};

inline host_layout probe_host() {
  host_layout h;
  auto loc = headroom::discover();
  if (!loc) return h;
  h.mode = loc->mode;
  h.own_dir = loc->dir;
  return h;
}

// One cgroup directory made by a test; removed (with its children first) by
// the destructor, after any process in it has gone.
class cgroup_dir {
 public:
  cgroup_dir(const host_layout& h, std::string dir)
      : v2_(h.v2()), dir_(std::move(dir)) {}
  cgroup_dir(const cgroup_dir&) = delete;
  cgroup_dir& operator=(const cgroup_dir&) = delete;
  ~cgroup_dir() { remove(); }

  // Creates `parent/name`. On v2, enables the memory controller for the
  // parent's children first unless told not to.
  static std::optional<std::string> make(const host_layout& h,
                                         const std::string& parent,
                                         const std::string& name,
                                         std::string* err,
                                         bool enable_memory = true) {
    if (h.v2() && enable_memory) {
      // Fails with EBUSY when the parent (not the root) has processes: the
      // "no internal processes" rule. The caller reports that.
      if (!write_file(parent + "/cgroup.subtree_control", "+memory", err))
        return {};
    }
    const std::string dir = parent + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      if (err) *err = dir + ": " + std::strerror(errno);
      return {};
    }
    return dir;
  }

  const std::string& dir() const { return dir_; }

  bool set_limit(std::uint64_t bytes) {
    return set_limit(std::to_string(bytes));
  }
  bool set_limit(const std::string& value) {
    return write_file(dir_ + (v2_ ? "/memory.max" : "/memory.limit_in_bytes"),
                      value == "max" && !v2_ ? "-1" : value);
  }
  bool set_high(const std::string& value) {
    return write_file(dir_ + "/memory.high", value);
  }

  bool move_in(pid_t pid) {
    return write_file(dir_ + "/cgroup.procs", std::to_string(pid));
  }

  void remove() {
    if (dir_.empty()) return;
    // Retry briefly: a killed child may still be exiting.
    for (int i = 0; i < 200 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY;
         ++i) {
      ::usleep(10 * 1000);
    }
    dir_.clear();
  }

 private:
  bool v2_;
  std::string dir_;
};

// A forked child that runs commands sent over a pipe and answers with a
// fixed-size report. The child never touches doctest: it only reads and
// writes pipes, so the parent's assertions are the only ones.
struct child_report {
  int open_ok = 0;
  char open_error[256] = {};
  int mode = 0;
  int limit_ok = 0;
  int limit_set = 0;
  std::uint64_t limit = 0;
  int source = 0;
  char limit_dir[512] = {};
  char own_dir[512] = {};
  int usage_ok = 0;
  std::uint64_t usage = 0;
  int working_set_ok = 0;
  std::uint64_t working_set = 0;
  int effective_ok = 0;
  std::uint64_t effective_limit = 0;
  std::uint64_t headroom = 0;
  std::uint64_t allocated = 0;
  // report() extras
  int high_ok = 0;
  int high_set = 0;
  std::uint64_t high = 0;
  int events_ok = 0;
  std::uint64_t events_high = 0;
  std::uint64_t events_max = 0;
  std::uint64_t oom_kills = 0;
  int oom_kills_ok = 0;
  int pressure_ok = 0;
  int pressure_scope = 0;
  double pressure_some_avg10 = 0;
  std::uint64_t pressure_some_total = 0;
  std::uint64_t pressure_full_total = 0;
  char pressure_path[512] = {};
};

enum class command : char {
  snapshot = 'S',  // open the reader if needed, snapshot + report
  allocate = 'A',  // allocate and touch `arg` more bytes, then snapshot
  free_all = 'F',  // free what was allocated, then snapshot
  reopen = 'R',    // open a new reader, then snapshot
  thrash = 'T',    // read thrash_file over and over for `arg` ms
  quit = 'Q',
};

// The file command::thrash reads (set before the child is forked). Read
// through a small cgroup, its pages are reclaimed and read again: real
// memory stall, which PSI counts.
inline std::string thrash_file;

struct wire_command {
  command cmd;
  std::uint64_t arg;
};

inline void copy_str(char* dst, std::size_t cap, const std::string& s) {
  std::snprintf(dst, cap, "%s", s.c_str());
}

class child_process {
 public:
  child_process() {
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
    cmd_fd_ = to_child[1];
    report_fd_ = to_parent[0];
  }
  ~child_process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait_exit();
    }
    if (cmd_fd_ >= 0) ::close(cmd_fd_);
    if (report_fd_ >= 0) ::close(report_fd_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }

  // Sends a command; returns the report, or nothing if the child died.
  std::optional<child_report> ask(command c, std::uint64_t arg = 0) {
    if (!post(c, arg)) return {};
    return receive(-1);
  }

  // Sends a command without waiting for its report.
  bool post(command c, std::uint64_t arg = 0) {
    wire_command w{c, arg};
    return ::write(cmd_fd_, &w, sizeof w) == static_cast<ssize_t>(sizeof w);
  }

  // The next report, waiting up to timeout_ms (-1: for ever). Nothing when
  // it is not there yet (*died false) or the child died (*died true).
  std::optional<child_report> receive(int timeout_ms, bool* died = nullptr) {
    if (died) *died = false;
    pollfd p{report_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return {};
    child_report r;
    std::size_t got = 0;
    while (got < sizeof r) {
      const ssize_t n =
          ::read(report_fd_, reinterpret_cast<char*>(&r) + got, sizeof r - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (died) *died = true;
        return {};
      }
      got += static_cast<std::size_t>(n);
    }
    return r;
  }

  // Waits for the child to end; returns its wait status.
  int wait_exit() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  static constexpr std::size_t block = 1 << 20;

  static void thrash(std::uint64_t ms) {
    const int fd = ::open(thrash_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    std::vector<char> buf(block);
    timespec start{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) ::lseek(fd, 0, SEEK_SET);
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      const auto elapsed = (now.tv_sec - start.tv_sec) * 1000 +
                           (now.tv_nsec - start.tv_nsec) / 1000000;
      if (static_cast<std::uint64_t>(elapsed) >= ms) break;
    }
    ::close(fd);
  }

  // Writes one byte per page so each is charged now. Not instrumented: a
  // sanitizer's shadow writes would be charged to the cgroup too and spoil
  // the sizes the tests check.
  __attribute__((no_sanitize("address", "thread", "undefined"))) static void
  touch_pages(char* p, std::size_t n) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t i = 0; i < n; i += page)
      static_cast<volatile char*>(p)[i] = 0x5a;
  }

  static void serve(int in, int out) {
    std::optional<headroom::memory_reader> reader;
    std::vector<void*> blocks;
    std::uint64_t allocated = 0;
    for (;;) {
      wire_command w{};
      if (::read(in, &w, sizeof w) != static_cast<ssize_t>(sizeof w)) return;
      if (w.cmd == command::quit) return;
      if (w.cmd == command::allocate) {
        // 1 MiB mappings, every page touched so it is charged now; munmap
        // gives them back at once (no allocator caching in between).
        for (std::uint64_t done = 0; done < w.arg; done += block) {
          void* p = ::mmap(nullptr, block, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (p == MAP_FAILED) break;
          touch_pages(static_cast<char*>(p), block);
          blocks.push_back(p);
          allocated += block;
        }
      } else if (w.cmd == command::free_all) {
        for (void* p : blocks) ::munmap(p, block);
        blocks.clear();
        allocated = 0;
      }
      if (w.cmd == command::reopen) reader.reset();
      if (w.cmd == command::thrash) thrash(w.arg);
      child_report r;
      if (!reader) {
        auto opened = headroom::memory_reader::open();
        if (opened) {
          reader.emplace(std::move(*opened));
        } else {
          copy_str(r.open_error, sizeof r.open_error, opened.error().message());
        }
      }
      if (reader) fill(*reader, r);
      r.allocated = allocated;
      if (::write(out, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) return;
    }
  }

  static void fill(const headroom::memory_reader& reader, child_report& r) {
    r.open_ok = 1;
    r.mode = static_cast<int>(reader.mode());
    copy_str(r.own_dir, sizeof r.own_dir, reader.location().dir);
    const auto rep = reader.report();
    const auto& s = rep.snapshot;
    r.limit_ok = s.limit.has_value();
    if (s.limit && s.limit->has_value()) {
      r.limit_set = 1;
      r.limit = **s.limit;
      const auto holder = reader.limit_cgroup(s);
      copy_str(r.limit_dir, sizeof r.limit_dir,
               holder ? holder->dir : std::string());
    }
    r.source = static_cast<int>(s.source);
    r.usage_ok = s.usage.has_value();
    r.usage = s.usage.value_or(0);
    r.working_set_ok = s.working_set.has_value();
    r.working_set = s.working_set.value_or(0);
    r.effective_ok = s.effective_limit.has_value();
    r.effective_limit = s.effective_limit.value_or(0);
    r.headroom = s.headroom.value_or(0);
    r.high_ok = rep.high.value.has_value();
    if (rep.high.value && rep.high.value->has_value()) {
      r.high_set = 1;
      r.high = **rep.high.value;
    }
    r.events_ok = rep.events.value.has_value();
    if (rep.events.value) {
      for (const auto& kv : *rep.events.value) {
        if (kv.first == "high") r.events_high = kv.second;
        if (kv.first == "max") r.events_max = kv.second;
      }
    }
    r.oom_kills_ok = rep.oom_kills.value.has_value();
    r.oom_kills = rep.oom_kills.value.value_or(0);
    r.pressure_ok = rep.pressure.value.has_value();
    r.pressure_scope = static_cast<int>(rep.pressure_from);
    copy_str(r.pressure_path, sizeof r.pressure_path, rep.pressure.path);
    if (rep.pressure.value) {
      r.pressure_some_avg10 = rep.pressure.value->some.avg10;
      r.pressure_some_total = rep.pressure.value->some.total_us;
      if (rep.pressure.value->full)
        r.pressure_full_total = rep.pressure.value->full->total_us;
    }
  }

  pid_t pid_ = -1;
  int cmd_fd_ = -1;
  int report_fd_ = -1;
  bool reaped_ = false;
};

}  // namespace headroom_live
