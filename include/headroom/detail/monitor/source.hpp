// SPDX-License-Identifier: MIT
// headroom: what an event source of the monitor is. Included by
// pressure.hpp after the public types (source_kind, source_status,
// monitor_options); not meant to be included on its own.
//
// A source is a value, not a class hierarchy: its status (what sources()
// shows), the descriptors it wants watched, and what to do when one is
// ready (or on every pass of the loop). Each source lives in its own header
// with one `open_*` function; the loop (loop.hpp) opens the ones listed in
// `source_list` (sources.hpp) and applies what they report: a source never
// touches the loop, the level or the subscribers itself.
#pragma once

#include <chrono>      // std::chrono
#include <cstdint>     // std::uint64_t, std::uint32_t
#include <functional>  // std::function
#include <optional>    // std::optional
#include <string>      // std::string
#include <vector>      // std::vector

#include "../../memory.hpp"  // memory_reader, counters
#include "../fd.hpp"         // unique_fd
#include "../level.hpp"      // pressure_level, band_edges

#include <sys/epoll.h>  // EPOLLIN, EPOLLPRI: what a source_fd waits for

namespace headroom::detail {

using monitor_clock = std::chrono::steady_clock;

struct monitor_source;
// Where an opener puts the sources it opened (none, one or several).
using source_sink = std::vector<monitor_source>;

// A signal a source raised: the level it asks for, and why.
struct raised_signal {
  pressure_level level = pressure_level::moderate;
  source_kind kind = source_kind::usage_bands;
  std::string reason;
};

// Processes OOM-killed since the last read of a kill counter.
struct kill_report {
  source_kind kind = source_kind::v1_oom_control;
  std::uint64_t total = 0;
  std::uint64_t added = 0;
  std::string where;  // the cgroup directory
};

// What a source asks of the loop after it woke.
struct source_outcome {
  std::vector<raised_signal> signals;
  std::vector<kill_report> kills;
  bool sample = false;         // read usage now
  bool resolve = false;        // the cgroup went away: open everything again
  bool recheck = false;        // the limit or the membership may have changed
  bool read_kills = false;     // read the kill counters now
  bool stop_watching = false;  // take this source's descriptors out of epoll
  std::optional<source_status> status;  // the source's new status

  void signal(pressure_level l, source_kind k, std::string why) {
    signals.push_back({l, k, std::move(why)});
  }
};

// A descriptor a source wants watched, and for what (EPOLLIN, EPOLLPRI).
// (Declared before monitor_source, whose on_ready is given one.)
struct source_fd {
  unique_fd fd;
  std::uint32_t events = 0;
  std::string path;
  std::size_t row = 0;  // which of its source's registrations this is
};

struct monitor_source {
  source_status status;
  std::vector<source_fd> fds;
  // One of `fds` is ready with the epoll `events`.
  std::function<source_outcome(monitor_clock::time_point, source_fd&,
                               std::uint32_t)>
      on_ready;
  // Every pass of the loop, whatever woke it.
  std::function<source_outcome(monitor_clock::time_point)> on_pass;
  // Usage below this is watched by the kernel (v1 thresholds): the loop
  // need not sample it. 0: nothing is.
  std::uint64_t watches_usage_below = 0;
  // The kernel reports changes to the limit and the cgroup (changes.hpp):
  // the loop re-checks them only every recheck_interval.
  bool watches_changes = false;
};

class event_counters;

// What a source is opened with: the reader of the process's cgroup as it
// was just resolved, its first snapshot and the band edges built on it.
struct source_env {
  const monitor_options& opt;
  const memory_reader& reader;
  const memory_snapshot& snapshot;
  const band_edges& edges;
  event_counters& counters;  // the kill counters, owned by the loop
  // No root prefix: a kernel is behind the files, registrations can be
  // written. Under a root prefix (a captured tree, a fixture) nothing is
  // ever written into the tree.
  bool live = true;

  bool has_memcg() const noexcept { return reader.memory_at().has_value(); }
  // The memory files of the version (nullptr: no cgroup, mode none).
  const memory_layout* table() const noexcept {
    return reader.layout() ? &reader.layout()->memory : nullptr;
  }
  error no_kernel() const {
    return make_error(
        make_error_code(errc::not_supported),
        "root prefix " + opt.reader.root + ": no kernel to register with");
  }
};

inline source_status source_failed(source_kind k, error e,
                                   std::string detail = {}) {
  source_status s;
  s.kind = k;
  s.failure = std::move(e);
  s.detail = std::move(detail);
  return s;
}

inline source_status source_active(source_kind k, std::string detail) {
  source_status s;
  s.kind = k;
  s.active = true;
  s.detail = std::move(detail);
  return s;
}

inline error disabled_error() {
  return make_error(make_error_code(errc::disabled));
}

// A source that only reports a status (failed, disabled, not here).
inline monitor_source status_only(source_status s) {
  monitor_source src;
  src.status = std::move(s);
  return src;
}

// The cgroup is still there (its usage reads, or fails for another reason).
inline bool cgroup_alive(const memory_reader& r) {
  auto u = r.usage();
  return u || !is_gone(u.error());
}

}  // namespace headroom::detail
