// headroom-info --format prometheus: the report in the Prometheus text
// exposition format (version 0.0.4): "# HELP", "# TYPE", then samples.
//
// Where a value means what cAdvisor means by one of its metrics, it has
// cAdvisor's name (container_memory_working_set_bytes, ...), so dashboards
// and alerts written for the kubelet work as they are; everything else is
// headroom_*. Prometheus has no null: an absent, unlimited or unreadable
// value has no sample, and a comment line "# NAME omitted: why" says so.
// The names are listed in README.md.
#pragma once

#include <headroom/cpu.hpp>
#include <headroom/memory.hpp>
#include <headroom/version.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cpu_report.hpp"

namespace headroom_info {

class exposition {
 public:
  std::string& out() { return out_; }

  // A metric family: its HELP and TYPE lines.
  void family(std::string_view name, std::string_view type,
              std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    for (const char c : help) {  // escape backslash and newline
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  // One sample; labels as {"name", "value"} pairs.
  void sample(
      std::string_view name, const std::string& value,
      const std::vector<std::pair<std::string, std::string>>& labels = {}) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  void omitted(std::string_view name, const std::string& why) {
    out_ += "# ";
    out_ += name;
    out_ += " omitted: ";
    for (const char c : why) out_ += c == '\n' ? ' ' : c;
    out_ += '\n';
  }

  // A family with one unlabelled sample, or the comment that it has none.
  void one(std::string_view name, std::string_view type, std::string_view help,
           const std::optional<std::string>& value,
           const std::string& why_not) {
    if (!value) {
      omitted(name, why_not);
      return;
    }
    family(name, type, help);
    sample(name, *value);
  }

  static std::string escape_label(const std::string& v) {
    std::string o;
    for (const char c : v) {
      if (c == '\\') {
        o += "\\\\";
      } else if (c == '"') {
        o += "\\\"";
      } else if (c == '\n') {
        o += "\\n";
      } else {
        o += c;
      }
    }
    return o;
  }

 private:
  std::string out_;
};

inline std::string decimal(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

inline std::string to_prometheus(const headroom::memory_reader& reader,
                                 const headroom::memory_report& r,
                                 const cpu_info& cpu) {
  using headroom::result;
  const auto& loc = reader.location();
  const headroom::memory_snapshot& s = r.snapshot;
  const bool has_cgroup = loc.mode != headroom::hierarchy_mode::none;
  const bool host_wide = s.usage_level == headroom::host_level;
  std::size_t errors = 0;
  exposition x;
  x.out() += "# headroom-info " HEADROOM_VERSION_STRING
             ": memory and CPU limits as the process sees them\n";

  // Bytes (or counts) from a result; why there is no sample otherwise.
  std::string why;
  const auto number =
      [&](const result<std::uint64_t>& v) -> std::optional<std::string> {
    if (v) return std::to_string(*v);
    if (v.error().code == headroom::errc::not_supported) {
      why = "not provided in cgroup mode " +
            std::string(headroom::to_string(loc.mode));
    } else {
      why = "unreadable: " + v.error().message();
      ++errors;
    }
    return std::nullopt;
  };
  const auto limit = [&](const result<std::optional<std::uint64_t>>& v,
                         const char* none) -> std::optional<std::string> {
    if (v && v->has_value()) return std::to_string(**v);
    if (v) {
      why = none;
      return std::nullopt;
    }
    return number(v.error());
  };

  // --- memory: cAdvisor's names
  {
    auto v = number(s.usage);
    x.one("container_memory_usage_bytes", "gauge",
          host_wide
              ? "Current memory usage in bytes (host-wide: MemTotal - MemFree)"
              : "Current memory usage in bytes, of the cgroup the limit "
                "applies to",
          v, why);
  }
  {
    auto v = number(s.working_set);
    x.one("container_memory_working_set_bytes", "gauge",
          "Current working set in bytes: usage minus inactive file cache", v,
          why);
  }
  {
    auto v = limit(s.limit, "no limit: nothing on the chain limits memory");
    x.one("container_spec_memory_limit_bytes", "gauge",
          "Memory limit: the tightest on the cgroup chain", v, why);
  }
  if (s.stat) {
    x.one("container_memory_rss", "gauge",
          "Size of RSS in bytes (memory.stat anon, v1 total_rss)",
          std::to_string(s.stat->anon), "");
    x.one("container_memory_cache", "gauge",
          "Page cache memory in bytes (memory.stat file, v1 total_cache)",
          std::to_string(s.stat->file), "");
  } else {
    number(s.stat.error());
    x.omitted("container_memory_rss", why);
    x.omitted("container_memory_cache", why);
  }
  if (has_cgroup && !host_wide) {
    auto peak = number(r.peak.value);
    x.one("container_memory_max_usage_bytes", "gauge",
          "Maximum memory usage recorded in bytes", peak, why);
    auto failcnt = number(r.failcnt.value);
    x.one("container_memory_failcnt", "counter",
          "Number of memory usage hits limits (v1)", failcnt, why);
    auto oom = number(r.oom_kills.value);
    x.one(
        "container_oom_events_total", "counter",
        "Processes killed by the OOM killer in the cgroup the limit applies to",
        oom, why);
    auto low = limit(r.low.value, "no soft limit");
    x.one("container_spec_memory_reservation_limit_bytes", "gauge",
          "Memory reservation: memory.low (v2) or memory.soft_limit_in_bytes "
          "(v1)",
          low, why);
  } else {
    for (const char* n :
         {"container_memory_max_usage_bytes", "container_memory_failcnt",
          "container_oom_events_total",
          "container_spec_memory_reservation_limit_bytes"}) {
      x.omitted(n, "no cgroup to read it from");
    }
  }
  {
    auto v = number(s.host_total);
    x.one("machine_memory_bytes", "gauge",
          "Amount of memory installed on the machine (MemTotal)", v, why);
  }

  // --- memory: headroom's own
  {
    auto v = number(s.effective_limit);
    x.one("headroom_effective_limit_bytes", "gauge",
          "min(limit, host total); the host total when nothing limits", v, why);
  }
  {
    auto v = number(s.headroom);
    x.one("headroom_headroom_bytes", "gauge",
          "Effective limit minus working set, floored at 0", v, why);
  }
  {
    auto v = limit(r.high.value, "no memory.high on the chain");
    x.one("headroom_memory_high_bytes", "gauge",
          "Tightest memory.high on the chain: the throttling threshold (v2)", v,
          why);
  }
  {
    auto v = limit(r.swap_limit.value, "swap is not limited");
    x.one("headroom_swap_limit_bytes", "gauge",
          "Swap the cgroup may use, in bytes", v, why);
  }

  // --- pressure
  const std::string scope = headroom::to_string(r.pressure_from);
  if (r.pressure.value) {
    const auto& p = *r.pressure.value;
    const auto psi = [&](const char* kind, const headroom::psi_line& l) {
      const std::string base =
          std::string("headroom_psi_memory_") + kind + "_avg";
      const std::pair<const char*, double> windows[] = {
          {"10", l.avg10}, {"60", l.avg60}, {"300", l.avg300}};
      for (const auto& [w, value] : windows) {
        const std::string name = base + w;
        x.family(name, "gauge",
                 std::string("Percent of time ") +
                     (std::string(kind) == "some" ? "some tasks"
                                                  : "all non-idle tasks") +
                     " stalled on memory, over " + w + " s (PSI)");
        x.sample(name, decimal(value, "%.2f"), {{"scope", scope}});
      }
    };
    psi("some", p.some);
    if (p.full) {
      psi("full", *p.full);
    } else {
      x.omitted("headroom_psi_memory_full_avg10",
                "no full line in " + r.pressure.path);
    }
    if (r.pressure_from == headroom::pressure_scope::cgroup) {
      x.one("container_pressure_memory_waiting_seconds_total", "counter",
            "Total time in seconds that processes have waited for memory (PSI "
            "some total)",
            decimal(static_cast<double>(p.some.total_us) / 1e6, "%.6f"), "");
      if (p.full) {
        x.one("container_pressure_memory_stalled_seconds_total", "counter",
              "Total time in seconds no process could make progress due to "
              "memory "
              "congestion (PSI full total)",
              decimal(static_cast<double>(p.full->total_us) / 1e6, "%.6f"), "");
      }
    } else {
      x.omitted("container_pressure_memory_waiting_seconds_total",
                "the pressure read is not the cgroup's (scope " + scope + ")");
      x.omitted("container_pressure_memory_stalled_seconds_total",
                "the pressure read is not the cgroup's (scope " + scope + ")");
    }
  } else {
    number(r.pressure.value.error());
    x.omitted("headroom_psi_memory_some_avg10", why);
  }

  // --- cpu
  if (!cpu.reader) {
    ++errors;
    x.omitted("container_spec_cpu_quota",
              "unreadable: " + cpu.reader.error().message());
  } else {
    const auto& c = cpu.snapshot;
    if (!c.affinity) {
      number(c.affinity.error());
      x.omitted("headroom_cpu_affinity_count", why);
    } else {
      x.one("headroom_cpu_affinity_count", "gauge",
            "CPUs in the affinity mask of the process",
            std::to_string(*c.affinity), "");
    }
    if (!c.quota) {
      number(c.quota.error());
      x.omitted("container_spec_cpu_quota", why);
    } else if (!c.quota->has_value()) {
      for (const char* n :
           {"container_spec_cpu_quota", "container_spec_cpu_period",
            "headroom_cpu_quota_cpus"}) {
        x.omitted(n, "no quota: nothing on the cpu cgroup chain sets one");
      }
    } else {
      const auto& q = **c.quota;
      x.one("container_spec_cpu_quota", "gauge",
            "CPU quota in microseconds per period, of the tightest cgroup on "
            "the chain",
            std::to_string(q.quota_us), "");
      x.one("container_spec_cpu_period", "gauge",
            "CPU period in microseconds of that quota",
            std::to_string(q.period_us), "");
      x.one("headroom_cpu_quota_cpus", "gauge",
            "CPU quota as a number of CPUs: quota / period",
            decimal(q.cpus(), "%.6g"), "");
    }
    if (!c.cpuset) {
      number(c.cpuset.error());
      x.omitted("headroom_cpuset_cpus", why);
    } else if (!c.cpuset->has_value()) {
      x.omitted("headroom_cpuset_cpus", "no cpuset controller");
    } else {
      x.one("headroom_cpuset_cpus", "gauge", "CPUs the cpuset grants",
            std::to_string(**c.cpuset), "");
    }
    const auto up = c.effective(headroom::cpu_rounding::up);
    const auto down = c.effective(headroom::cpu_rounding::down);
    if (up && down) {
      x.family("headroom_cpu_effective_count", "gauge",
               "min(affinity, quota, cpuset) in whole CPUs, at least 1");
      x.sample("headroom_cpu_effective_count", std::to_string(*up),
               {{"rounding", "up"}});
      x.sample("headroom_cpu_effective_count", std::to_string(*down),
               {{"rounding", "down"}});
    } else {
      x.omitted("headroom_cpu_effective_count",
                "unknown: " + (up ? down.error() : up.error()).message());
    }
  }

  // --- what was read, and how much could not be
  const headroom::cgroup_location* cl =
      cpu.reader ? &cpu.reader->cpu_location() : nullptr;
  x.family("headroom_info", "gauge",
           "Where the values come from (value always 1)");
  x.sample(
      "headroom_info", "1",
      {{"version", HEADROOM_VERSION_STRING},
       {"cgroup_version", headroom::to_string(loc.mode)},
       {"memory_dir", loc.dir},
       {"limit_cgroup", s.limit && s.limit->has_value() &&
                                s.source == headroom::limit_source::chain
                            ? loc.chain[s.limit_level]
                            : std::string()},
       {"pressure_scope", scope},
       {"cpu_controller", cl ? headroom::to_string(cl->mode) : "none"},
       {"cpu_quota_cgroup",
        cpu.reader ? cpu.reader->quota_cgroup(cpu.snapshot) : std::string()}});
  x.family("headroom_read_errors", "gauge",
           "Values that could not be read (see the comments)");
  x.sample("headroom_read_errors", std::to_string(errors));
  return std::move(x.out());
}

}  // namespace headroom_info
