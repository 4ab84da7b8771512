// SPDX-License-Identifier: MIT
// headroom: the usage sampler, where nothing tells the monitor when usage
// changes (cgroup v2, no cgroup, v1 without thresholds). It reads
// memory.current (or /proc/meminfo) at an interval that follows the
// distance to the next band edge and the recent growth
// (next_sample_interval in level.hpp): sample_bound far away, down to
// fast_interval next to an edge or when usage grows fast, and never longer
// than half the time growth at planned_growth (or the fastest growth seen)
// needs to reach the limit.
#pragma once

#include <algorithm>  // std::max, std::min
#include <string>     // std::string, std::to_string

#include "../format.hpp"          // human_bytes
#include "../pressure_rules.hpp"  // growth_rate
#include "source.hpp"             // monitor_clock, monitor_source, source_env

namespace headroom::detail {

// When to read usage next, from what the last reads showed.
class usage_sampler {
 public:
  void reset() noexcept { rate_.reset(); }

  // Records `value` (usage, or the working set when it was read) at `now`.
  void add(monitor_clock::time_point now, std::uint64_t value) noexcept {
    rate_.add(now, value);
  }
  double rate() const noexcept { return rate_.per_second(); }

  monitor_clock::time_point next(monitor_clock::time_point now,
                                 std::uint64_t value, std::uint64_t effective,
                                 const band_edges& edges, pressure_level band,
                                 const monitor_options& opt) const {
    const auto slow = std::max(opt.fast_interval,
                               std::min(opt.slow_interval, opt.sample_bound));
    const double planned =
        std::max(static_cast<double>(opt.planned_growth), rate_.peak());
    return now + next_sample_interval(value, effective, edges, band,
                                      rate_.per_second(), opt.fast_interval,
                                      slow, planned);
  }

 private:
  growth_rate rate_;
};

// The status of the usage bands when they are sampled.
inline monitor_source open_sampler(const source_env& env) {
  const std::string what =
      env.has_memcg() ? env.reader.usage_path(env.snapshot) : "/proc/meminfo";
  return status_only(source_active(
      source_kind::usage_bands,
      "sampler of " + what + ", " +
          std::to_string(env.opt.fast_interval.count()) + " ms to " +
          std::to_string(
              std::min(env.opt.slow_interval, env.opt.sample_bound).count()) +
          " ms, planned for growth of " + human_bytes(env.opt.planned_growth) +
          "/s"));
}

}  // namespace headroom::detail
