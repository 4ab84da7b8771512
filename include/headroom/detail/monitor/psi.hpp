// SPDX-License-Identifier: MIT
// headroom: PSI on the process's own cgroup2 directory (memory.pressure;
// the unified mount on hybrid hosts), /proc/pressure/memory without one.
// Two triggers (moderate, critical), each "some|full <stall> <window>".
//
// A trigger's readiness is consumed by whoever polls it first: when a
// caller's event loop polls the monitor's fd(), the kernel's poll of our
// epoll set clears the trigger's event, and our own epoll_wait then sees
// nothing. So a trigger only wakes the loop; on every pass the totals of the
// pressure file are read and the trigger's own rule (psi_stall_rule) is
// applied to them. POLLERR means the cgroup (and its trigger) is gone.
#pragma once

#include <memory>  // std::make_shared
#include <string>  // std::string, std::to_string

#include "../../parse.hpp"        // parse_psi
#include "../event_fds.hpp"       // open_psi_trigger
#include "../fs.hpp"              // file_system, kept_file
#include "../pressure_rules.hpp"  // psi_stall_rule
#include "source.hpp"             // source_outcome, source_fd, source_failed

namespace headroom::detail {

// The PSI file of the process (logical path, under the root prefix).
inline std::string psi_path_for(const memory_reader& r) {
  const auto& loc = r.location();
  return loc.unified_dir.empty()
             ? std::string("/proc/pressure/memory")
             : join_path(loc.unified_dir, "/memory.pressure");
}

inline std::string describe(const psi_threshold& t) {
  return std::string(t.full ? "full " : "some ") +
         std::to_string(t.stall.count() / 1000) + " ms/" +
         std::to_string(t.window.count() / 1000) + " ms";
}

// What the PSI source keeps between wakeups.
struct psi_state {
  kept_file totals;  // the pressure file, read on every pass
  psi_stall_rule rule;
  psi_threshold moderate, critical;
  std::string path;  // logical, for reasons
};

// A trigger is ready: a signal at its level; POLLERR: the cgroup is gone.
inline source_outcome psi_on_ready(const psi_state& st, const source_fd& w,
                                   std::uint32_t events) {
  source_outcome out;
  if (events & EPOLLERR) {
    // A gone trigger reports POLLERR for ever: out of the epoll set with it,
    // or the loop spins while the cgroup cannot be resolved again (the
    // watched process has exited).
    out.stop_watching = true;
    out.status = source_failed(
        source_kind::psi,
        make_error(std::make_error_code(std::errc::no_such_device), w.path));
    out.resolve = true;
    return out;
  }
  const psi_threshold& t = w.row == 1 ? st.critical : st.moderate;
  out.signal(w.row == 1 ? pressure_level::critical : pressure_level::moderate,
             source_kind::psi, "PSI trigger " + describe(t) + " on " + st.path);
  out.sample = true;
  return out;
}

// Every pass: the totals, and the triggers' rule applied to them.
inline source_outcome psi_check_totals(psi_state& st,
                                       monitor_clock::time_point now) {
  source_outcome out;
  // "some avg10=.. avg60=.. avg300=.. total=.." and a "full" line.
  char buf[512];
  auto text = read_kept(st.totals, buf, sizeof buf);
  if (!text) return out;
  auto p = parse_psi(*text);
  if (!p) return out;
  st.rule.add(now, p->some.total_us, p->full ? p->full->total_us : 0,
              std::max(st.moderate.window, st.critical.window));
  const auto check = [&](const psi_threshold& t, pressure_level l) {
    const auto per = st.rule.per_window(now, t.full, t.window);
    if (per && *per >= static_cast<double>(t.stall.count())) {
      out.signal(l, source_kind::psi,
                 "PSI " + describe(t) + " on " + st.path + ": " +
                     std::to_string(static_cast<long long>(*per / 1000)) +
                     " ms stalled per window");
    }
  };
  check(st.moderate, pressure_level::moderate);
  check(st.critical, pressure_level::critical);
  return out;
}

// Whose pressure the PSI file is. The real cgroup2 root has no
// cgroup.type; a container's namespace root, also printed as "/", has one,
// and its pressure is the container's.
inline pressure_scope psi_scope_for(const memory_reader& r) {
  const auto& loc = r.location();
  if (loc.unified_dir.empty()) return pressure_scope::host;
  return r.files().keep(join_path(loc.unified_dir, "/cgroup.type")).missing()
             ? pressure_scope::root_cgroup
             : pressure_scope::cgroup;
}

// A trigger that cannot be armed where the file is still readable: a
// read-only cgroupfs (EROFS), an unprivileged process (EACCES, EPERM), a
// window the kernel refuses (EINVAL), or a file taken (EBUSY).
inline bool trigger_refused(const error& e) {
  return is_denied(e) || is_rejected(e) || is_busy(e);
}

inline monitor_source open_psi_source(const source_env& env) {
  constexpr source_kind k = source_kind::psi;
  if (!env.opt.use_psi) return status_only(source_failed(k, disabled_error()));
  if (!env.live) return status_only(source_failed(k, env.no_kernel()));
  const std::string logical = psi_path_for(env.reader);
  const std::string real = env.reader.files().real_path(logical);
  const pressure_scope scope = psi_scope_for(env.reader);
  if (scope != pressure_scope::cgroup && !env.opt.use_host_psi) {
    monitor_source off = status_only(source_failed(
        k, make_error(make_error_code(errc::disabled), real),
        real + ": host-wide pressure (scope " + to_string(scope) +
            "), not the process's own; use_host_psi lets it raise levels"));
    off.status.scope = scope;
    return off;
  }
  const std::string rules = " (" + describe(env.opt.psi_moderate) +
                            " -> moderate, " + describe(env.opt.psi_critical) +
                            " -> critical)";
  const psi_threshold levels[] = {env.opt.psi_moderate, env.opt.psi_critical};
  monitor_source src;
  error refused;
  for (std::size_t i = 0; i < 2 && !refused.code; ++i) {
    auto t = open_psi_trigger(real, levels[i].full, levels[i].stall,
                              levels[i].window);
    if (t) {
      src.fds.push_back({std::move(*t), EPOLLPRI, real, i});
    } else if (trigger_refused(t.error())) {
      refused = t.error();
    } else {
      return status_only(source_failed(k, t.error(), real));
    }
  }
  auto st =
      std::make_shared<psi_state>(psi_state{env.reader.files().keep(logical),
                                            {},
                                            env.opt.psi_moderate,
                                            env.opt.psi_critical,
                                            logical});
  if (refused.code) {
    // Polled: the same rule on the totals, read on every pass of the loop
    // (at least every slow_interval, faster near an edge).
    src.fds.clear();
    char buf[512];
    auto first = read_kept(st->totals, buf, sizeof buf);
    if (!first) return status_only(source_failed(k, first.error(), real));
    src.status =
        source_active(k, real + " polled" + rules +
                             "; trigger refused: " + refused.message());
    src.status.failure = refused;
  } else {
    src.status = source_active(k, real + rules);
    src.on_ready = [st](monitor_clock::time_point, source_fd& w,
                        std::uint32_t events) {
      return psi_on_ready(*st, w, events);
    };
  }
  src.status.scope = scope;
  src.on_pass = [st](monitor_clock::time_point now) {
    return psi_check_totals(*st, now);
  };
  return src;
}

inline void open_psi(const source_env& env, source_sink& out) {
  out.push_back(open_psi_source(env));
}

}  // namespace headroom::detail
