// SPDX-License-Identifier: MIT
// headroom: the pressure level logic of the monitor, with no I/O and no
// clock of its own (time is passed in), so it is tested with a fake clock.
//
// The level is the higher of two inputs:
//  - the band level: where the working set sits against band edges
//    (moderate, critical) of the effective limit, with hysteresis: rising to
//    a level needs working set >= its edge, falling back below it needs
//    working set < edge - hysteresis;
//  - signals: PSI triggers, memory.events counters, v1 pressure_level and
//    the like. They say "pressure now" but not when it ends, so each holds
//    its level for a while (signal_hold) after its latest firing, or until
//    the band falls (usage dropped) or an OOM kill ends what they said.
// A change of level is notified at once, up or down. A sustained level
// (moderate or critical), confirmed by new samples or signals, is notified
// again at most once per repeat_interval.
#pragma once

#include <algorithm>  // std::max, std::min, std::clamp
#include <array>      // std::array
#include <chrono>     // std::chrono
#include <cstdint>    // std::uint64_t
#include <optional>   // std::optional, std::nullopt

namespace headroom {

enum class pressure_level { none = 0, moderate = 1, critical = 2 };

constexpr const char* to_string(pressure_level l) noexcept {
  switch (l) {
    case pressure_level::moderate:
      return "moderate";
    case pressure_level::critical:
      return "critical";
    case pressure_level::none:
      break;
  }
  return "none";
}

}  // namespace headroom

namespace headroom::detail {

using steady = std::chrono::steady_clock;

// Band edges in bytes of working set, for one effective limit.
struct band_edges {
  std::uint64_t moderate = 0;
  std::uint64_t critical = 0;
  std::uint64_t hysteresis = 0;

  // Working set below which the level leaves `l` (for none: never).
  std::uint64_t exit_of(pressure_level l) const noexcept {
    const std::uint64_t edge =
        l == pressure_level::critical ? critical : moderate;
    return edge > hysteresis ? edge - hysteresis : 0;
  }
};

// The band level of `working_set`, starting from `current`.
constexpr pressure_level band_level(pressure_level current,
                                    std::uint64_t working_set,
                                    const band_edges& e) noexcept {
  if (working_set >= e.critical) return pressure_level::critical;
  if (current == pressure_level::critical &&
      working_set >= e.exit_of(pressure_level::critical)) {
    return pressure_level::critical;
  }
  if (working_set >= e.moderate) return pressure_level::moderate;
  if (current != pressure_level::none &&
      working_set >= e.exit_of(pressure_level::moderate)) {
    return pressure_level::moderate;
  }
  return pressure_level::none;
}

class level_tracker {
 public:
  struct config {
    steady::duration signal_hold = std::chrono::seconds(2);
    steady::duration repeat_interval = std::chrono::seconds(10);
  };

  // What to tell subscribers.
  struct notice {
    pressure_level level;
    pressure_level previous;
    bool repeat;  // the same level again, after repeat_interval
  };

  level_tracker() = default;
  explicit level_tracker(config c) : cfg_(c) {}

  pressure_level level() const noexcept { return level_; }
  pressure_level band() const noexcept { return band_; }

  // A new band level from a sample. A band that falls (usage dropped out of
  // it: the process shed, or a kill freed memory) ends every held signal:
  // the level falls straight to the band, until a live signal fires again.
  std::optional<notice> on_band(steady::time_point now, pressure_level band) {
    if (band < band_) hold_until_ = {};
    band_ = band;
    return update(now, band != pressure_level::none && band == level_);
  }

  // A signal at `l` (moderate or critical) fired now.
  std::optional<notice> on_signal(steady::time_point now, pressure_level l) {
    if (l == pressure_level::none) return update(now, false);
    auto& until = hold_until_[static_cast<std::size_t>(l)];
    until = std::max(until, now + cfg_.signal_hold);
    return update(now, l == level_);
  }

  // Time passed: held signals may have expired.
  std::optional<notice> on_tick(steady::time_point now) {
    return update(now, false);
  }

  // What held the signals is over (an OOM kill freed memory): every held
  // signal ends now, and the level falls to what the band says until a
  // live signal fires again.
  std::optional<notice> release_signals(steady::time_point now) {
    hold_until_ = {};
    return update(now, false);
  }

  // Whether a held signal, rather than the band, sets the level now.
  bool held_by_signal(steady::time_point now) const noexcept {
    return held(now) > band_;
  }

  // When a held signal next expires (the caller wakes up then), if any.
  std::optional<steady::time_point> next_expiry(steady::time_point now) const {
    std::optional<steady::time_point> next;
    for (const auto& until : hold_until_) {
      if (until > now && (!next || until < *next)) next = until;
    }
    return next;
  }

 private:
  pressure_level held(steady::time_point now) const {
    if (hold_until_[2] > now) return pressure_level::critical;
    if (hold_until_[1] > now) return pressure_level::moderate;
    return pressure_level::none;
  }

  std::optional<notice> update(steady::time_point now, bool confirms_level) {
    const pressure_level next = std::max(band_, held(now));
    const pressure_level previous = level_;
    if (next != previous) {
      level_ = next;
      last_notice_ = now;
      return notice{next, previous, false};
    }
    if (confirms_level && now - last_notice_ >= cfg_.repeat_interval) {
      last_notice_ = now;
      return notice{next, previous, true};
    }
    return std::nullopt;
  }

  config cfg_;
  pressure_level level_ = pressure_level::none;
  pressure_level band_ = pressure_level::none;
  // Indexed by level: until when a signal at that level holds.
  std::array<steady::time_point, 3> hold_until_{};
  steady::time_point last_notice_{};
};

// How long until the next sample of usage, where nothing tells us when it
// changes (cgroup v2, read-only cgroupfs, no cgroup): the full `slow`
// interval far from the edges, shrinking as the working set nears the next
// edge, down to `fast`. `rate` is the recent growth in bytes per second (0
// or less: not growing); `planned` the growth to plan for (the fastest seen
// lately, at least an assumed worst case; 0: none).
//  - by distance: (distance / (20% of the limit))^2 of the slow interval,
//    so 1 s at 20% away, 250 ms at 10%, 62 ms at 5%, 10 ms at 2%;
//  - by speed: a quarter of the time the current growth needs to reach the
//    edge, so samples close in on it geometrically;
//  - by plan: half the time growth at `planned` needs to reach the limit.
//    Such growth is then read at half the way, three quarters, seven
//    eighths...: with the default edges (80%, 92%), seen at moderate with
//    at least 10% of the limit left and at critical with at least 4%,
//    before the kernel's limit is reached.
inline steady::duration next_sample_interval(
    std::uint64_t working_set, std::uint64_t limit, const band_edges& e,
    pressure_level level, double rate, steady::duration fast,
    steady::duration slow, double planned = 0) {
  if (limit == 0) return fast;
  // The next edge above (the one that raises the level) and the one below
  // (that lowers it): whichever is nearer.
  std::uint64_t up = limit;
  if (level == pressure_level::none) up = e.moderate;
  if (level == pressure_level::moderate) up = e.critical;
  const std::uint64_t down =
      level == pressure_level::none ? 0 : e.exit_of(level);
  std::uint64_t distance = up > working_set ? up - working_set : 0;
  if (level != pressure_level::none) {
    distance = std::min(distance, working_set > down ? working_set - down : 0);
  }
  const double fraction =
      static_cast<double>(distance) / static_cast<double>(limit);
  const double scale = std::min(1.0, (fraction / 0.2) * (fraction / 0.2));
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<steady::duration>(
        std::chrono::duration<double>(std::min(s, 3600.0)));
  };
  auto next = seconds(std::chrono::duration<double>(slow).count() * scale);
  if (rate > 0 && up > working_set) {
    next = std::min(next,
                    seconds(static_cast<double>(up - working_set) / rate / 4));
  }
  if (planned > 0) {
    const std::uint64_t left = limit > working_set ? limit - working_set : 0;
    next = std::min(next, seconds(static_cast<double>(left) / planned / 2));
  }
  return std::clamp(next, fast, slow);
}

}  // namespace headroom::detail
