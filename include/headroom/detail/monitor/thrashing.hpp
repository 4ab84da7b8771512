// SPDX-License-Identifier: MIT
// headroom: the thrashing source. A file cache that is read back from disk
// as fast as it is evicted is pressure even below the bands: the kernel
// counts each page read back soon after its eviction in memory.stat's
// workingset_refault_file (v1: total_workingset_refault_file), in pages.
// Every thrashing_window the source reads memory.stat of the memory
// cgroup and compares the refaults since the last read with the file
// cache now: at thrashing_percent of the file cache refaulted per second
// (and at least thrashing_min_rate bytes a second, so that a small cache
// read once does not count), it raises moderate. Off unless
// monitor_options::thrashing_percent is set.
#pragma once

#include <memory>    // std::make_shared
#include <optional>  // std::optional
#include <string>    // std::string, std::to_string

#include "../pressure_rules.hpp"  // refault_sample, refaults_between
#include "source.hpp"             // monitor_clock, source_outcome, source_env

#include <unistd.h>  // sysconf, _SC_PAGESIZE

namespace headroom::detail {

struct thrashing_state {
  kept_file stat;
  table_rows<stat_key_row> keys;
  std::uint64_t page_size = 4096;
  double percent = 0;
  std::uint64_t min_rate = 0;
  monitor_clock::duration window{};
  std::string path;  // logical, for reasons
  std::optional<refault_sample> last;
};

inline result<refault_sample> read_refaults(const thrashing_state& st,
                                            monitor_clock::time_point now) {
  auto a = read_accounting(st.stat, st.keys);
  if (!a) return std::move(a).error();
  const auto refaults = (*a)[stat_key::workingset_refault_file];
  const auto file = (*a)[stat_key::file];
  if (!refaults || !file)
    return error(errc::not_supported,
                 st.path + ": no workingset_refault_file (Linux 5.9+)");
  return refault_sample{now, *refaults, *file};
}

inline source_outcome thrashing_check(thrashing_state& st,
                                      monitor_clock::time_point now) {
  source_outcome out;
  if (st.last && now - st.last->at < st.window) return out;
  auto s = read_refaults(st, now);
  if (!s) return out;  // a removed cgroup is seen by the re-check
  if (st.last) {
    const auto r =
        refaults_between(*st.last, *s, st.page_size, st.percent, st.min_rate);
    if (r && r->thrashing) {
      char why[160];
      std::snprintf(why, sizeof why,
                    "thrashing: %.1f MiB/s of the file cache read back "
                    "(%.1f%% of its %.1f MiB per second)",
                    r->bytes_per_second / 1048576, r->percent_per_second,
                    static_cast<double>(s->file_bytes) / 1048576);
      out.signal(pressure_level::moderate, source_kind::thrashing, why);
    }
  }
  st.last = *s;
  return out;
}

inline void open_thrashing(const source_env& env, source_sink& sink) {
  if (!env.has_memcg() || !env.table()) return;
  constexpr source_kind k = source_kind::thrashing;
  const monitor_options& o = env.opt;
  if (!o.thrashing_percent)
    return sink.push_back(status_only(source_failed(k, disabled_error())));
  const memory_layout& m = *env.table();
  const std::string logical =
      env.reader.path_at(*env.reader.memory_at(), m.stat);
  auto st = std::make_shared<thrashing_state>();
  st->stat = env.reader.files().keep(logical);
  st->keys = m.stat_keys;
  const long page = HEADROOM_SYSCALL(sysconf)(_SC_PAGESIZE);
  st->page_size = page > 0 ? static_cast<std::uint64_t>(page) : 4096;
  st->percent = *o.thrashing_percent;
  st->min_rate = o.thrashing_min_rate;
  st->window = o.thrashing_window;
  st->path = logical;
  auto first = read_refaults(*st, monitor_clock::now());
  if (!first)
    return sink.push_back(status_only(source_failed(k, first.error())));
  st->last = *first;
  monitor_source src;
  char rule[96];
  std::snprintf(rule, sizeof rule, ", moderate at %.1f%% of the file cache/s",
                *o.thrashing_percent);
  src.status = source_active(k, logical + " every " +
                                    std::to_string(o.thrashing_window.count()) +
                                    " ms" + rule);
  src.on_pass = [st](monitor_clock::time_point now) {
    return thrashing_check(*st, now);
  };
  sink.push_back(std::move(src));
}

}  // namespace headroom::detail
