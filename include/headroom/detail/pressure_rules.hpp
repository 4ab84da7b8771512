// SPDX-License-Identifier: MIT
// headroom: the monitor's pure rules, beside the level logic of level.hpp:
// no I/O and no clock of their own (time is passed in), so each is tested
// with a fake clock (tests/unit/pressure_rules_test.cpp).
//  - band edges: the bytes of working set where moderate and critical start
//    for one effective limit;
//  - the PSI stall rule: stall time grown over at least one window, as a
//    rate per window, against the trigger's stall (what the kernel's own
//    trigger checks, applied to the totals we read);
//  - counter deltas: how much each memory.events / memory.oom_control
//    counter grew since the last read (a counter that went down, because
//    the cgroup was made again, grew by nothing);
//  - the growth rate of usage: smoothed, but a sudden rise counts at once.
#pragma once

#include <algorithm>  // std::max, std::min
#include <chrono>     // std::chrono
#include <cmath>      // std::exp2
#include <cstdint>    // std::uint64_t
#include <optional>   // std::optional, std::nullopt
#include <vector>     // std::vector

#include "level.hpp"  // band_edges, pressure_level, steady

namespace headroom::detail {

// Band edges for `limit` (the effective limit) from the edges' byte values
// at that limit; critical is never below moderate.
inline band_edges make_band_edges(std::uint64_t limit,
                                  std::uint64_t moderate_at,
                                  std::uint64_t critical_at,
                                  double hysteresis_percent) noexcept {
  band_edges e;
  e.moderate = moderate_at;
  e.critical = std::max(critical_at, moderate_at);
  e.hysteresis = static_cast<std::uint64_t>(static_cast<double>(limit) *
                                            hysteresis_percent / 100.0);
  return e;
}

// Bytes the working set must lose for the level to leave moderate (fall
// below the moderate edge less the hysteresis); 0 when it is already below.
inline std::uint64_t bytes_to_free(std::uint64_t working_set,
                                   const band_edges& e) noexcept {
  const std::uint64_t below = e.exit_of(pressure_level::moderate);
  return working_set >= below ? working_set - below + 1 : 0;
}

// How long the working set takes to reach `limit` at `rate` bytes per
// second; nullopt when it is not growing (or already there).
inline std::optional<steady::duration> time_to_reach(std::uint64_t working_set,
                                                     std::uint64_t limit,
                                                     double rate) {
  if (rate <= 0 || working_set >= limit) return std::nullopt;
  const double seconds =
      std::min(static_cast<double>(limit - working_set) / rate, 1e9);
  return std::chrono::duration_cast<steady::duration>(
      std::chrono::duration<double>(seconds));
}

// The critical edge with a memory.high on the chain: at most `margin`
// bytes below high, so that the callback comes before the kernel
// throttles (Kubernetes MemoryQoS puts high at request + 0.9 x (limit -
// request): 90% of the limit without a request, under the default 92%).
constexpr std::uint64_t critical_edge_with_high(std::uint64_t critical,
                                                std::uint64_t high,
                                                std::uint64_t margin) noexcept {
  const std::uint64_t before_high = high > margin ? high - margin : 0;
  return std::min(critical, before_high);
}

// PSI totals (`some` and `full` stall, µs) read at each wakeup, and the
// trigger's rule applied to them.
class psi_stall_rule {
 public:
  // Records the totals read at `now`; keeps one sample at least `longest`
  // (the longest window any check asks about) old as the baseline.
  void add(steady::time_point now, std::uint64_t some_us, std::uint64_t full_us,
           steady::duration longest) {
    history_.push_back({now, some_us, full_us});
    while (history_.size() > 2 && history_[1].time <= now - longest) {
      history_.erase(history_.begin());
    }
  }

  // Stall time per `window` over the recorded history, when at least one
  // window of it is covered; nullopt otherwise.
  std::optional<double> per_window(steady::time_point now, bool full,
                                   steady::duration window) const {
    const sample* base = nullptr;
    for (const auto& h : history_) {
      if (h.time <= now - window) base = &h;
    }
    if (!base || history_.empty()) return std::nullopt;
    const sample& last = history_.back();
    const double covered =
        std::chrono::duration<double, std::micro>(now - base->time).count();
    if (covered <= 0) return std::nullopt;
    const std::uint64_t was = full ? base->full : base->some;
    const std::uint64_t is = full ? last.full : last.some;
    const double grown = is > was ? static_cast<double>(is - was) : 0.0;
    const double window_us =
        std::chrono::duration<double, std::micro>(window).count();
    return grown * window_us / covered;
  }

  // Whether `stall` per `window` was reached.
  bool fires(steady::time_point now, bool full, steady::duration stall,
             steady::duration window) const {
    const auto w = per_window(now, full, window);
    return w && *w >= std::chrono::duration<double, std::micro>(stall).count();
  }

  void clear() noexcept { history_.clear(); }

 private:
  struct sample {
    steady::time_point time;
    std::uint64_t some;
    std::uint64_t full;
  };
  std::vector<sample> history_;
};

// The counters the monitor follows in memory.events (v2) or
// memory.oom_control (v1; only oom_kill exists there).
struct event_counts {
  std::uint64_t high = 0;
  std::uint64_t max = 0;
  std::uint64_t oom = 0;
  std::uint64_t oom_kill = 0;
};

// How much each counter grew from `was` to `now`.
constexpr event_counts counter_growth(const event_counts& was,
                                      const event_counts& now) noexcept {
  const auto grew = [](std::uint64_t a, std::uint64_t b) {
    return b > a ? b - a : 0;
  };
  return {grew(was.high, now.high), grew(was.max, now.max),
          grew(was.oom, now.oom), grew(was.oom_kill, now.oom_kill)};
}

// Growth of a value (usage, working set) in bytes per second: smoothed over
// samples, but a sudden rise counts at once; falling gives a negative rate.
// Beside it the fastest growth seen, which halves every peak_half_life
// without a faster one: what the sampler plans for.
class growth_rate {
 public:
  static constexpr std::chrono::seconds peak_half_life{60};

  void add(steady::time_point now, std::uint64_t value) noexcept {
    if (have_) {
      const double dt = std::chrono::duration<double>(now - time_).count();
      if (dt > 0) {
        const double inst =
            (static_cast<double>(value) - static_cast<double>(value_)) / dt;
        rate_ = std::max(inst, 0.5 * rate_ + 0.5 * inst);
        const double half =
            std::chrono::duration<double>(peak_half_life).count();
        peak_ = std::max(inst, peak_ * std::exp2(-dt / half));
      }
    }
    value_ = value;
    time_ = now;
    have_ = true;
  }
  double per_second() const noexcept { return rate_; }
  // The fastest growth seen, decayed (0 when nothing grew).
  double peak() const noexcept { return peak_; }
  void reset() noexcept { *this = growth_rate(); }

 private:
  double rate_ = 0;
  double peak_ = 0;
  std::uint64_t value_ = 0;
  steady::time_point time_{};
  bool have_ = false;
};

// The refault rate against the file cache, between two reads of
// memory.stat: what the thrashing source judges and the recorder reports.
// One read of the counters.
struct refault_sample {
  std::chrono::steady_clock::time_point at;
  std::uint64_t refaults = 0;    // pages
  std::uint64_t file_bytes = 0;  // the file cache
};

struct refault_rate {
  double bytes_per_second = 0;
  double percent_per_second = 0;  // of the file cache now
  bool thrashing = false;
};

// The rate between two reads; std::nullopt when no time passed or the
// counter went back (a new cgroup: there is no rate yet).
inline std::optional<refault_rate> refaults_between(
    const refault_sample& a, const refault_sample& b, std::uint64_t page_size,
    double percent, std::uint64_t min_bytes_per_second) {
  const double seconds = std::chrono::duration<double>(b.at - a.at).count();
  if (seconds <= 0 || b.refaults < a.refaults) return std::nullopt;
  refault_rate r;
  r.bytes_per_second = static_cast<double>(b.refaults - a.refaults) *
                       static_cast<double>(page_size) / seconds;
  const double file =
      static_cast<double>(std::max<std::uint64_t>(b.file_bytes, page_size));
  r.percent_per_second = 100 * r.bytes_per_second / file;
  r.thrashing =
      r.bytes_per_second >= static_cast<double>(min_bytes_per_second) &&
      r.percent_per_second >= percent;
  return r;
}

}  // namespace headroom::detail
