// SPDX-License-Identifier: MIT
// headroom: the events the version's table registers through
// cgroup.event_control (v1: memory.pressure_level in local mode, medium ->
// moderate and critical -> critical; memory.oom_control -> critical and a
// read of the kill counter; KERNEL-NOTES "Event sources"). Rows with the
// same source name are one source. The eventfd is also signalled when the
// cgroup is removed: each wakeup checks that the cgroup is still there
// before trusting it.
#pragma once

#include <algorithm>    // std::find
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "../event_fds.hpp"  // v1_register_event, drain_eventfd
#include "source.hpp"        // monitor_source, source_env, status_only

namespace headroom::detail {

// The source kind a table row names (its `source`), if it is one.
inline std::optional<source_kind> source_named(std::string_view name) {
  for (const source_kind k :
       {source_kind::v1_pressure_level, source_kind::v1_oom_control}) {
    if (name == to_string(k)) return k;
  }
  return std::nullopt;
}

inline pressure_level level_of(cgroup_event_kind k) noexcept {
  return k == cgroup_event_kind::pressure_moderate ? pressure_level::moderate
                                                   : pressure_level::critical;
}

// Registers the rows of source `k` on the memory cgroup.
inline monitor_source open_event_rows(const source_env& env, source_kind k) {
  if (!env.opt.use_v1_events)
    return status_only(source_failed(k, disabled_error()));
  if (!env.live) return status_only(source_failed(k, env.no_kernel()));
  const std::string dir =
      env.reader.files().real_path(env.reader.dir_at(*env.reader.memory_at()));
  const table_rows<cgroup_event> rows = env.table()->cgroup_events;
  monitor_source src;
  std::string file, args;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const cgroup_event& row = rows.begin()[i];
    if (source_named(row.source) != k) continue;
    auto efd = v1_register_event(dir, row.file, row.argument);
    if (!efd && !row.fallback.empty() && is_rejected(efd.error())) {
      efd = v1_register_event(dir, row.file, row.fallback);
    }
    if (!efd)
      return status_only(
          source_failed(k, efd.error(), dir + "/" + std::string(row.file)));
    src.fds.push_back(
        {std::move(*efd), EPOLLIN, dir + "/" + std::string(row.file), i});
    file = std::string(row.file);
    if (!row.argument.empty())
      args += (args.empty() ? "" : ", ") + std::string(row.argument);
  }
  src.status = source_active(
      k, dir + "/" + file + (args.empty() ? "" : " (" + args + ")"));
  const memory_reader* reader = &env.reader;
  src.on_ready = [reader, k, rows](monitor_clock::time_point, source_fd& w,
                                   std::uint32_t) {
    drain_eventfd(w.fd.get());
    source_outcome out;
    if (!cgroup_alive(*reader)) {
      out.resolve = true;
      return out;
    }
    const cgroup_event& row = rows.begin()[w.row];
    std::string why = std::string(row.file) + ": ";
    why += row.kind == cgroup_event_kind::oom ? "out of memory in the cgroup"
           : row.kind == cgroup_event_kind::pressure_moderate ? "medium"
                                                              : "critical";
    out.signal(level_of(row.kind), k, why);
    out.read_kills = row.kind == cgroup_event_kind::oom;
    out.sample = true;
    return out;
  };
  return src;
}

// One source per source name in the table, in the table's order.
inline void open_cgroup_events(const source_env& env,
                               std::vector<monitor_source>& out) {
  if (!env.has_memcg() || !env.table()) return;
  std::vector<source_kind> seen;
  for (const cgroup_event& row : env.table()->cgroup_events) {
    const auto k = source_named(row.source);
    if (!k || std::find(seen.begin(), seen.end(), *k) != seen.end()) continue;
    seen.push_back(*k);
    out.push_back(open_event_rows(env, *k));
  }
}

}  // namespace headroom::detail
