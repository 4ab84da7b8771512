// SPDX-License-Identifier: MIT
// headroom: v1 usage thresholds. An eventfd per band edge (rising and
// falling), registered on memory.usage_in_bytes of the usage cgroup through
// cgroup.event_control: the kernel wakes the monitor when usage crosses
// one, in either direction (the loop then reads usage to learn which).
// When they cannot be registered (v2, a captured tree, a read-only
// cgroupfs, turned off) the usage bands are sampled (sampler.hpp).
#pragma once

#include <algorithm>  // std::sort, std::unique
#include <string>     // std::string, std::to_string
#include <vector>     // std::vector

#include "../event_fds.hpp"  // v1_register_event, drain_eventfd
#include "../format.hpp"     // human_bytes
#include "sampler.hpp"       // open_sampler
#include "source.hpp"        // monitor_source, source_env, source_active

namespace headroom::detail {

inline monitor_source open_usage_thresholds(const source_env& env) {
  const memory_snapshot& s = env.snapshot;
  if (!env.has_memcg() || !env.table() || !env.table()->usage_thresholds ||
      !env.opt.use_v1_thresholds || !env.live || !s.effective_limit ||
      !s.usage_at) {
    return open_sampler(env);
  }
  const std::string dir =
      env.reader.files().real_path(env.reader.dir_at(*s.usage_at));
  std::vector<std::uint64_t> at = {env.edges.moderate, env.edges.critical,
                                   env.edges.exit_of(pressure_level::moderate),
                                   env.edges.exit_of(pressure_level::critical)};
  std::sort(at.begin(), at.end());
  at.erase(std::unique(at.begin(), at.end()), at.end());
  monitor_source src;
  std::string detail = dir + "/memory.usage_in_bytes thresholds at";
  for (const std::uint64_t bytes : at) {
    auto efd =
        v1_register_event(dir, "memory.usage_in_bytes", std::to_string(bytes));
    if (!efd) {
      // The ones that did register close with `src`: sample instead.
      monitor_source sampler = open_sampler(env);
      sampler.status.failure = efd.error();
      sampler.status.detail += " (thresholds failed)";
      return sampler;
    }
    src.fds.push_back({std::move(*efd), EPOLLIN, dir});
    detail += " " + human_bytes(bytes);
  }
  src.watches_usage_below = at.front();
  src.status = source_active(source_kind::usage_bands, detail + " (eventfd)");
  src.on_ready = [](monitor_clock::time_point, source_fd& w, std::uint32_t) {
    drain_eventfd(w.fd.get());
    source_outcome out;
    out.sample = true;
    return out;
  };
  return src;
}

inline void open_usage_bands(const source_env& env, source_sink& out) {
  out.push_back(open_usage_thresholds(env));
}

}  // namespace headroom::detail
