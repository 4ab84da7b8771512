// headroom: the v1 cgroup events of the memory cgroup, registered through
// cgroup.event_control (KERNEL-NOTES "Event sources"):
//  - memory.pressure_level in local mode: medium -> moderate, critical ->
//    critical (kernels before 4.10 know no mode: default mode then);
//  - memory.oom_control: critical, and the kill counter is read.
// The eventfd is also signalled when the cgroup is removed: each wakeup
// checks that the cgroup is still there before trusting it.
#pragma once

#include <string>

#include "../event_fds.hpp"
#include "source.hpp"

namespace headroom::detail {

// One registration: the watched file, its arguments (and the arguments for
// kernels that refuse them), and the level its wakeup means.
struct v1_event_row {
  const char* file;
  const char* args;
  const char* fallback_args;  // nullptr: none
  pressure_level level;
  const char* reason;
};

inline constexpr v1_event_row v1_pressure_rows[] = {
    {"memory.pressure_level", "medium,local", "medium", pressure_level::moderate,
     "memory.pressure_level: medium"},
    {"memory.pressure_level", "critical,local", "critical", pressure_level::critical,
     "memory.pressure_level: critical"},
};
inline constexpr v1_event_row v1_oom_rows[] = {
    {"memory.oom_control", "", nullptr, pressure_level::critical,
     "memory.oom_control: out of memory in the cgroup"},
};

// Registers `rows` on the memory cgroup as source `k`.
template <std::size_t N>
std::optional<monitor_source> open_v1_rows(const source_env& env, source_kind k,
                                           const v1_event_row (&rows)[N], const char* detail) {
  if (!env.v1() || !env.has_memcg()) return std::nullopt;
  if (!env.opt.use_v1_events) return status_only(source_failed(k, disabled_error()));
  if (!env.live) return status_only(source_failed(k, env.no_kernel()));
  const std::string dir =
      env.reader.files().real_path(env.reader.location().chain[env.reader.memory_level()]);
  monitor_source src;
  for (std::size_t i = 0; i < N; ++i) {
    const v1_event_row& row = rows[i];
    auto efd = v1_register_event(dir, row.file, row.args);
    if (!efd && row.fallback_args && efd.error().code == std::errc::invalid_argument) {
      efd = v1_register_event(dir, row.file, row.fallback_args);
    }
    if (!efd) return status_only(source_failed(k, efd.error()));
    src.fds.push_back({std::move(*efd), EPOLLIN, dir + "/" + row.file, i});
  }
  src.status = source_active(k, dir + "/" + rows[0].file + detail);
  const memory_reader* reader = &env.reader;
  src.on_ready = [reader, k, &rows](monitor_clock::time_point, source_fd& w, std::uint32_t) {
    drain_eventfd(w.fd.get());
    source_outcome out;
    if (!cgroup_alive(*reader)) {
      out.resolve = true;
      return out;
    }
    out.signal(rows[w.row].level, k, rows[w.row].reason);
    out.read_kills = k == source_kind::v1_oom_control;
    out.sample = true;
    return out;
  };
  return src;
}

inline std::optional<monitor_source> open_v1_pressure_level(const source_env& env) {
  return open_v1_rows(env, source_kind::v1_pressure_level, v1_pressure_rows,
                      " (medium, critical; local)");
}

inline std::optional<monitor_source> open_v1_oom_control(const source_env& env) {
  return open_v1_rows(env, source_kind::v1_oom_control, v1_oom_rows, "");
}

}  // namespace headroom::detail
