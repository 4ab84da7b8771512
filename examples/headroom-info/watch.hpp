// SPDX-License-Identifier: MIT
// headroom-info --watch: runs a pressure monitor and prints every event as a
// line (or a JSON object per line with --json) until SIGINT or SIGTERM,
// or with --pid N until process N ends (exit code 3, exit_process_gone).
// The first line lists the sources and says which are active.
#pragma once

#include <headroom/export.hpp>
#include <headroom/format.hpp>
#include <headroom/pressure.hpp>
#include <headroom/recorder.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace headroom_info {

// --watch --pid N: process N has ended (its cgroup is no longer its).
constexpr int exit_process_gone = 3;

// The process --watch --pid follows. On the live system a pidfd, readable
// once the process has ended (zombie included) and immune to its number
// being reused; in a captured tree, or where pidfd_open is missing,
// ROOT/proc/N is looked for at every re-check interval.
class watched_process {
 public:
  explicit watched_process(const headroom::options& opt) : pid_(opt.pid) {
    if (!pid_) return;
    const bool live = opt.root.empty() || opt.root == "/";
    proc_ = (live ? std::string() : opt.root) + "/proc/" + std::to_string(pid_);
#ifdef SYS_pidfd_open
    if (live) {
      fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
      if (fd_ < 0 && errno == ESRCH) ended_ = true;
    }
#endif
  }
  ~watched_process() {
    if (fd_ >= 0) ::close(fd_);
  }
  watched_process(const watched_process&) = delete;
  watched_process& operator=(const watched_process&) = delete;

  int pid() const noexcept { return pid_; }
  int fd() const noexcept { return fd_; }  // -1: checked by polling
  bool polled() const noexcept { return pid_ && fd_ < 0; }

  // readable: the pidfd said so.
  bool ended(bool readable) {
    if (!pid_) return false;
    if (ended_ || readable) return ended_ = true;
    if (fd_ >= 0) return false;
    struct stat st {};
    ended_ = ::stat(proc_.c_str(), &st) != 0 && errno == ENOENT;
    return ended_;
  }

 private:
  int pid_ = 0;
  int fd_ = -1;
  bool ended_ = false;
  std::string proc_;
};

inline std::string optional_bytes(const std::optional<std::uint64_t>& v) {
  return v ? headroom::format_bytes(*v) : std::string("?");
}

inline std::string event_line(const headroom::memory_event& e, double ms) {
  char head[64];
  std::snprintf(head, sizeof head, "%10.3f ", ms / 1000);
  std::string line = head;
  line += headroom::to_string(e.kind);
  line += " ";
  line += headroom::to_string(e.level);
  if (e.repeat) line += " (again)";
  line += " [" + std::string(headroom::to_string(e.source)) + "] " +
          headroom::printable(e.reason);
  line += " | usage " + optional_bytes(e.usage) + ", working set " +
          optional_bytes(e.working_set) + " of " +
          optional_bytes(e.effective_limit);
  if (e.psi_some_avg10) {
    char psi[32];
    std::snprintf(psi, sizeof psi, ", psi some avg10 %.2f%%",
                  *e.psi_some_avg10);
    line += psi;
  }
  return line + "\n";
}

inline std::string event_json(const headroom::memory_event& e, double ms) {
  headroom::json_writer w;
  w.begin_object();
  w.real("time_s", ms / 1000, 3);
  w.string("kind", headroom::to_string(e.kind));
  w.string("level", headroom::to_string(e.level));
  w.string("previous", headroom::to_string(e.previous));
  w.boolean("repeat", e.repeat);
  w.string("source", headroom::to_string(e.source));
  w.string("reason", e.reason);
  w.optional_number("usage_bytes", e.usage);
  w.optional_number("working_set_bytes", e.working_set);
  w.optional_number("effective_limit_bytes", e.effective_limit);
  if (e.psi_some_avg10) {
    w.real("psi_some_avg10", *e.psi_some_avg10);
  } else {
    w.null("psi_some_avg10");
  }
  if (e.kind == headroom::event_kind::oom_kill) {
    w.number("oom_kills", e.oom_kills).number("new_oom_kills", e.new_oom_kills);
  }
  if (e.kind == headroom::event_kind::limit_changed) {
    w.optional_number("old_limit_bytes", e.old_limit)
        .optional_number("new_limit_bytes", e.new_limit);
    w.string("old_cgroup", e.old_cgroup)
        .string("new_cgroup", e.new_cgroup)
        .boolean("moved", e.moved);
  }
  w.end_object();
  return std::move(w.out()) + "\n";
}

inline std::string sources_text(const headroom::monitor& m, bool json) {
  if (json) {
    headroom::json_writer w;
    w.begin_object().string("kind", "sources").begin_array("sources");
    for (const auto& s : m.sources()) {
      w.begin_object()
          .string("source", headroom::to_string(s.kind))
          .boolean("active", s.active)
          .string("state", s.active                           ? "active"
                           : headroom::is_disabled(s.failure) ? "disabled"
                                                              : "failed");
      if (s.active) {
        w.null("error");
      } else {
        w.string("error", s.failure.message());
      }
      w.string("detail", s.detail).end_object();
    }
    w.end_array().string("level", headroom::to_string(m.level())).end_object();
    return std::move(w.out()) + "\n";
  }
  std::string out = "watching (Ctrl-C to stop); level " +
                    std::string(headroom::to_string(m.level())) + "\n";
  for (const auto& s : m.sources()) {
    out += "  " + std::string(headroom::to_string(s.kind)) + ": " +
           headroom::printable(
               (s.active ? "active" : "off: " + s.failure.message()) +
               (s.detail.empty() ? "" : " (" + s.detail + ")")) +
           "\n";
  }
  return out;
}

// Why there is no report, in words: a --pid whose /proc/N is gone is "no
// such process", not the first file that could not be opened. In a tree
// (--root) that holds no proc/N, the capture kept its process as
// /proc/self: that is said, with what to do.
inline std::string why_not(const headroom::error& e,
                           const headroom::options& opt) {
  const std::string proc = "/proc/" + std::to_string(opt.pid);
  if (opt.pid && headroom::is_gone(e)) {
    const bool live = opt.root.empty() || opt.root == "/";
    const std::string dir = (live ? std::string() : opt.root) + proc;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 && errno == ENOENT) {
      if (live) return proc + ": no such process";
      return dir +
             ": no such process in the tree (a capture keeps the process it "
             "was made of as /proc/self: leave out --pid)";
    }
  }
  return e.message();
}

// Runs until SIGINT/SIGTERM, or until process --pid N ends. Returns the
// exit code. With `record_dir`, a recorder keeps the recent samples and
// writes them there on critical and on oom_kill (each record's path, or why
// it failed, goes to stderr).
inline int watch(const headroom::options& opt, bool json,
                 std::chrono::milliseconds interval,
                 const std::string& record_dir = {}) {
  // Opened before the monitor reads anything of N's: what it watches is
  // that process, not whichever is given its number later.
  watched_process target(opt);
  // The signals arrive as readable data on a signalfd, next to the monitor.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &stop, nullptr) != 0) return 1;
  const int sfd = ::signalfd(-1, &stop, SFD_CLOEXEC);
  if (sfd < 0) {
    std::fprintf(stderr, "headroom-info: signalfd failed\n");
    return 1;
  }
  // Times are counted from before the monitor exists: its first events (the
  // level it finds at start) are never before t0, so no time is negative.
  const auto t0 = std::chrono::steady_clock::now();
  headroom::monitor_options mo;
  mo.reader = opt;
  mo.slow_interval = interval;
  auto m = headroom::monitor::create(mo);
  if (!m) {
    std::fprintf(stderr, "headroom-info: cannot watch: %s\n",
                 headroom::printable(why_not(m.error(), opt)).c_str());
    ::close(sfd);
    return 1;
  }
  std::optional<headroom::recorder> rec;
  headroom::subscription rec_sub;
  if (!record_dir.empty()) {
    headroom::recorder_options ro;
    ro.dir = record_dir;
    ro.reader = opt;
    ro.on_record = [](const headroom::result<std::string>& r) {
      if (r) {
        std::fprintf(stderr, "headroom-info: record %s\n",
                     headroom::printable(*r).c_str());
      } else {
        std::fprintf(stderr, "headroom-info: record not written: %s\n",
                     headroom::printable(r.error().message()).c_str());
      }
    };
    auto made = headroom::recorder::create(std::move(ro));
    if (!made) {
      std::fprintf(stderr, "headroom-info: cannot record: %s\n",
                   headroom::printable(made.error().message()).c_str());
      ::close(sfd);
      return 1;
    }
    rec.emplace(std::move(*made));
    rec_sub = rec->attach(*m);
  }
  auto sub = m->subscribe([&](const headroom::memory_event& e) {
    const double ms = std::max(
        0.0, std::chrono::duration<double, std::milli>(e.time - t0).count());
    std::fputs((json ? event_json(e, ms) : event_line(e, ms)).c_str(), stdout);
    std::fflush(stdout);
  });
  std::fputs(sources_text(*m, json).c_str(), stdout);
  std::fflush(stdout);
  int code = 0;
  for (;;) {
    pollfd fds[3] = {
        {m->fd(), POLLIN, 0}, {sfd, POLLIN, 0}, {target.fd(), POLLIN, 0}};
    const int timeout =
        target.polled() ? static_cast<int>(interval.count()) : -1;
    if (::poll(fds, 3, timeout) < 0) continue;  // EINTR
    if (fds[1].revents) break;
    if (fds[0].revents) m->dispatch();
    if (target.ended(fds[2].revents != 0)) {
      std::fprintf(stderr,
                   "headroom-info: process %d has ended; stopped watching\n",
                   target.pid());
      code = exit_process_gone;
      break;
    }
  }
  ::close(sfd);
  return code;
}

}  // namespace headroom_info
