// SPDX-License-Identifier: MIT
// headroom: the kill and event counters of the limit cgroup, and the v2
// memory.events source built on them.
//  - event_counters reads memory.events (v2: high, max, oom, oom_kill) or
//    memory.oom_control (v1: oom_kill) and reports what grew since the last
//    read. The loop reads it on every re-check too, so a kill is counted
//    even when every event source is off.
//  - open_memory_events (v2): memory.events is a "file modified" file:
//    POLLPRI when a counter changes, then pread from 0 re-arms it.
//    high/max -> moderate, oom -> critical, oom_kill -> an oom_kill event.
// `oom` counts in the cgroup whose limit was hit, so the file watched is
// the limit cgroup's (KERNEL-NOTES "Event sources").
#pragma once

#include <array>     // std::array
#include <optional>  // std::optional
#include <string>    // std::string, std::to_string

#include "../../parse.hpp"        // key_slot, parse_keyed
#include "../pressure_rules.hpp"  // event_counts, counter_growth
#include "source.hpp"             // source_outcome, source_env, source_sink

namespace headroom::detail {

class event_counters {
 public:
  // What read() reports from the change since the last read.
  enum class report {
    baseline,    // nothing: remember the counts
    kills,       // oom_kill only (the periodic re-check, v1 oom_control)
    everything,  // also max -> moderate, high and oom -> critical signals
  };

  // The counters file of the limit cgroup (or the memory cgroup), real path;
  // empty: no cgroup to count in.
  void reset(std::string path, source_kind kind) {
    path_ = std::move(path);
    kind_ = kind;
    last_.reset();
  }

  const std::string& path() const noexcept { return path_; }
  std::uint64_t kills() const noexcept { return last_ ? last_->oom_kill : 0; }

  // Reads the counters and adds to `out` what grew. False when the file
  // could not be read or parsed. `watched`: the descriptor polled for
  // POLLPRI, read through so that the kernel sees it re-armed; otherwise
  // the file is opened for this read.
  bool read(report what, source_outcome& out, int watched = -1) {
    if (path_.empty()) return true;
    unique_fd opened;
    if (watched < 0) {
      auto f = open_read(path_);
      if (!f) return false;
      opened = std::move(*f);
    }
    // memory.events: 6 keys of at most 14 characters and a 20-digit counter
    // each; memory.oom_control 3 lines. 1 KiB leaves room for new keys.
    char buf[1024];
    auto text =
        pread_all(watched < 0 ? opened.get() : watched, buf, sizeof buf, path_);
    if (!text) return false;
    std::array<key_slot, 4> keys{
        {{"high", {}}, {"max", {}}, {"oom", {}}, {"oom_kill", {}}}};
    if (!parse_keyed(*text, keys)) return false;
    const event_counts now{keys[0].value.value_or(0), keys[1].value.value_or(0),
                           keys[2].value.value_or(0),
                           keys[3].value.value_or(0)};
    if (what != report::baseline && last_) {
      const event_counts grew = counter_growth(*last_, now);
      if (what == report::everything) {
        // high climbs while the kernel throttles the cgroup at memory.high;
        // max while usage presses against the hard limit and is reclaimed.
        if (grew.high) {
          out.signal(pressure_level::critical, source_kind::memory_events,
                     "memory.events high +" + std::to_string(grew.high) +
                         ": the kernel is throttling at memory.high");
        }
        if (grew.max) {
          out.signal(pressure_level::moderate, source_kind::memory_events,
                     "memory.events max +" + std::to_string(grew.max) +
                         ": usage reached the limit and was reclaimed");
        }
        if (grew.oom) {
          out.signal(pressure_level::critical, source_kind::memory_events,
                     "memory.events oom +" + std::to_string(grew.oom));
        }
      }
      if (grew.oom_kill) {
        out.kills.push_back({kind_, now.oom_kill, grew.oom_kill,
                             path_.substr(0, path_.rfind('/'))});
      }
    }
    last_ = now;
    return true;
  }

 private:
  std::string path_;
  source_kind kind_ = source_kind::memory_events;
  std::optional<event_counts> last_;
};

// Where the counters file notifies (v2): memory.events of the limit cgroup,
// watched for POLLPRI.
inline void open_memory_events(const source_env& env, source_sink& sink) {
  if (!env.has_memcg() || !env.table() || !env.table()->events_notify) return;
  constexpr source_kind k = source_kind::memory_events;
  if (!env.opt.use_memory_events)
    return sink.push_back(status_only(source_failed(k, disabled_error())));
  const std::string path = env.counters.path();
  auto f = open_read(path);
  if (!f) return sink.push_back(status_only(source_failed(k, f.error())));
  monitor_source src;
  src.status = source_active(k, path);
  src.fds.push_back({std::move(*f), EPOLLPRI, path});
  event_counters* kills = &env.counters;
  const memory_reader* reader = &env.reader;
  src.on_ready = [kills, reader](monitor_clock::time_point, source_fd& w,
                                 std::uint32_t) {
    source_outcome out;
    if (!kills->read(event_counters::report::everything, out, w.fd.get())) {
      out.resolve = !cgroup_alive(*reader);
    }
    out.sample = true;
    return out;
  };
  sink.push_back(std::move(src));
}

}  // namespace headroom::detail
