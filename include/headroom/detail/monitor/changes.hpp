// SPDX-License-Identifier: MIT
// headroom: changes to the limit and to the process's cgroup, as the kernel
// reports them (KERNEL-NOTES "Change notifications"), so that an idle
// monitor need not re-read them on a timer:
//  - one inotify descriptor with a watch on each directory of the chain: a
//    write to a limit file (memory.max, memory.limit_in_bytes, memory.high,
//    the swap limit), even of the same value, is IN_MODIFY there; so is a
//    move into the own cgroup (its cgroup.procs); the removal of the own
//    cgroup is IN_DELETE in its parent's watch (IN_DELETE_SELF, IN_IGNORED
//    in its own);
//  - v2: cgroup.events of the own cgroup (POLLPRI; POLLERR when removed).
// A wakeup asks the loop to re-check the limit and the cgroup at once. What
// no event covers (a move out of the cgroup while other processes stay, a
// change of MemTotal) is re-checked every recheck_interval. Where inotify
// cannot be had (no kernel behind a root prefix, EMFILE, a watch refused)
// the re-check runs every slow_interval instead, and says why.
#pragma once

#include <cerrno>       // errno, EINTR
#include <cstring>      // std::memcpy, strnlen
#include <memory>       // std::make_shared
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "../../discover.hpp"  // join_path
#include "../fd.hpp"   // unique_fd, open_read, pread_all, HEADROOM_SYSCALL
#include "source.hpp"  // monitor_source, source_env, source_active

#include <sys/inotify.h>  // inotify_init1, inotify_add_watch, inotify_event

namespace headroom::detail {

// What the watch needs to sort the events it reads.
struct change_watch {
  std::vector<int> wds;  // watch descriptor of each chain directory
  std::vector<std::string> limit_names;
  std::string own_name;  // the own cgroup's name in its parent
};

inline std::string_view base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The events read from the inotify descriptor: re-check, or re-resolve.
inline source_outcome read_changes(const change_watch& w, int fd) {
  source_outcome out;
  // Events of at most NAME_MAX bytes of name each: 4 KiB holds several; the
  // loop reads until the descriptor is empty.
  alignas(inotify_event) char buf[4096];
  for (;;) {
    const ssize_t n = HEADROOM_SYSCALL(read)(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (std::size_t off = 0;
         off + sizeof(inotify_event) <= static_cast<std::size_t>(n);) {
      inotify_event ev;
      std::memcpy(&ev, buf + off, sizeof ev);
      const std::string_view name(
          ev.len ? buf + off + sizeof ev : "",
          ev.len ? ::strnlen(buf + off + sizeof ev, ev.len) : 0);
      off += sizeof ev + ev.len;
      std::size_t at = w.wds.size();
      for (std::size_t i = 0; i < w.wds.size(); ++i) {
        if (w.wds[i] == ev.wd) at = i;
      }
      if (ev.mask & IN_Q_OVERFLOW) {
        out.recheck = true;
      } else if (ev.mask & (IN_DELETE_SELF | IN_IGNORED)) {
        out.resolve = true;  // a directory of the chain went
      } else if ((ev.mask & IN_DELETE) && at == 1 && name == w.own_name) {
        out.resolve = true;
      } else if (ev.mask & IN_MODIFY) {
        bool limit = false;
        for (const auto& l : w.limit_names) limit |= name == l;
        if (limit ||
            (at == 0 && (name == "cgroup.procs" || name == "cgroup.events"))) {
          out.recheck = true;
        }
      }
    }
  }
  return out;
}

inline void open_changes(const source_env& env, source_sink& sink) {
  constexpr source_kind k = source_kind::cgroup;
  // Under a root prefix nothing changes but what a test writes: the
  // re-check on a timer alone (the loop's own status line says so).
  if (!env.has_memcg() || !env.table() || !env.live) return;
  const memory_reader& r = env.reader;
  const memory_layout& m = *env.table();
  const std::string fallback = "; limit and cgroup re-checked every " +
                               std::to_string(env.opt.slow_interval.count()) +
                               " ms instead";
  const auto failed = [&](error e) {
    monitor_source src = status_only(
        source_active(k, "no change notifications" + fallback.substr(1)));
    src.status.failure = std::move(e);
    sink.push_back(std::move(src));
  };
  unique_fd in(HEADROOM_SYSCALL(inotify_init1)(IN_NONBLOCK | IN_CLOEXEC));
  if (!in) return failed(errno_error(errno, "inotify_init1"));
  auto w = std::make_shared<change_watch>();
  w->limit_names.emplace_back(m.limit);
  if (m.high) w->limit_names.emplace_back(*m.high);
  if (!m.swap_file.empty()) w->limit_names.emplace_back(m.swap_file);
  const std::string own = r.files().real_path(r.dir_at(chain_position{0}));
  w->own_name = std::string(base_name(own));
  for (std::size_t i = 0; i < r.chain_size(); ++i) {
    const std::string dir = r.files().real_path(r.dir_at(chain_position{i}));
    const int wd = HEADROOM_SYSCALL(inotify_add_watch)(
        in.get(), dir.c_str(), IN_MODIFY | IN_DELETE | IN_DELETE_SELF);
    if (wd < 0) return failed(errno_error(errno, dir));
    w->wds.push_back(wd);
  }
  monitor_source src;
  src.fds.push_back({std::move(in), EPOLLIN, own, 0});
  std::string detail = "inotify on " + std::to_string(w->wds.size()) +
                       " director" + (w->wds.size() == 1 ? "y" : "ies") +
                       " from " + own;
  if (m.events_notify) {
    // v2: populated and frozen changes; POLLERR once the cgroup is removed.
    const std::string events = join_path(own, "/cgroup.events");
    if (auto f = open_read(events)) {
      char buf[256];
      (void)pread_all(f->get(), buf, sizeof buf, events);  // arms it
      src.fds.push_back({std::move(*f), EPOLLPRI, events, 1});
      detail += ", cgroup.events";
    }
  }
  src.status = source_active(
      k, detail + "; re-checked every " +
             std::to_string(env.opt.recheck_interval.count()) + " ms");
  src.on_ready = [w](monitor_clock::time_point, source_fd& f,
                     std::uint32_t events) {
    if (f.row == 0) return read_changes(*w, f.fd.get());
    source_outcome out;
    if (events & EPOLLERR) {
      out.resolve = true;
      out.stop_watching = true;
      return out;
    }
    char buf[256];
    (void)pread_all(f.fd.get(), buf, sizeof buf, f.path);  // re-arms it
    out.recheck = true;
    return out;
  };
  src.watches_changes = true;
  sink.push_back(std::move(src));
}

}  // namespace headroom::detail
