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

#include <memory>
#include <string>

#include "../event_fds.hpp"
#include "../fs.hpp"
#include "../../parse.hpp"
#include "../pressure_rules.hpp"
#include "source.hpp"

namespace headroom::detail {

// The PSI file of the process (logical path, under the root prefix).
inline std::string psi_path_for(const memory_reader& r) {
  const auto& loc = r.location();
  return loc.unified_dir.empty() ? std::string("/proc/pressure/memory")
                                 : join_path(loc.unified_dir, "/memory.pressure");
}

inline std::string describe(const psi_threshold& t) {
  return std::string(t.full ? "full " : "some ") + std::to_string(t.stall.count() / 1000) +
         " ms/" + std::to_string(t.window.count() / 1000) + " ms";
}

// What the PSI source keeps between wakeups.
struct psi_state {
  kept_file totals;  // the pressure file, read on every pass
  psi_stall_rule rule;
  psi_threshold moderate, critical;
  std::string path;  // logical, for reasons
};

// A trigger is ready: a signal at its level; POLLERR: the cgroup is gone.
inline source_outcome psi_on_ready(const psi_state& st, const source_fd& w, std::uint32_t events) {
  source_outcome out;
  if (events & EPOLLERR) {
    // A gone trigger reports POLLERR for ever: out of the epoll set with it,
    // or the loop spins while the cgroup cannot be resolved again (the
    // watched process has exited).
    out.stop_watching = true;
    out.status = source_failed(source_kind::psi,
                               make_error(std::make_error_code(std::errc::no_such_device), w.path));
    out.resolve = true;
    return out;
  }
  const psi_threshold& t = w.row == 1 ? st.critical : st.moderate;
  out.signal(w.row == 1 ? pressure_level::critical : pressure_level::moderate, source_kind::psi,
             "PSI trigger " + describe(t) + " on " + st.path);
  out.sample = true;
  return out;
}

// Every pass: the totals, and the triggers' rule applied to them.
inline source_outcome psi_check_totals(psi_state& st, monitor_clock::time_point now) {
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
                     std::to_string(static_cast<long long>(*per / 1000)) + " ms stalled per window");
    }
  };
  check(st.moderate, pressure_level::moderate);
  check(st.critical, pressure_level::critical);
  return out;
}

inline std::optional<monitor_source> open_psi(const source_env& env) {
  constexpr source_kind k = source_kind::psi;
  if (!env.opt.use_psi) return status_only(source_failed(k, disabled_error()));
  if (!env.live) return status_only(source_failed(k, env.no_kernel()));
  const std::string logical = psi_path_for(env.reader);
  const std::string real = env.reader.files().real_path(logical);
  const psi_threshold levels[] = {env.opt.psi_moderate, env.opt.psi_critical};
  monitor_source src;
  for (std::size_t i = 0; i < 2; ++i) {
    auto t = open_psi_trigger(real, levels[i].full, levels[i].stall, levels[i].window);
    if (!t) return status_only(source_failed(k, t.error(), real));
    src.fds.push_back({std::move(*t), EPOLLPRI, real, i});
  }
  src.status = source_active(k, real + " (" + describe(env.opt.psi_moderate) + " -> moderate, " +
                                    describe(env.opt.psi_critical) + " -> critical)");
  auto st = std::make_shared<psi_state>(psi_state{env.reader.files().keep(logical), {},
                                                   env.opt.psi_moderate, env.opt.psi_critical, logical});
  src.on_ready = [st](monitor_clock::time_point, source_fd& w, std::uint32_t events) {
    return psi_on_ready(*st, w, events);
  };
  src.on_pass = [st](monitor_clock::time_point now) { return psi_check_totals(*st, now); };
  return src;
}

}  // namespace headroom::detail
