// headroom-info: the cpu section, in the human report and in --json.
#pragma once

#include <headroom/cpu.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "json.hpp"

namespace headroom_info {

// The cpu reader and one snapshot of it, taken once for a report.
struct cpu_info {
  headroom::result<headroom::cpu_reader> reader{headroom::errc::not_supported};
  headroom::cpu_snapshot snapshot;
};

inline cpu_info read_cpu(const headroom::options& opt) {
  cpu_info c;
  c.reader = headroom::cpu_reader::open(opt);
  if (c.reader) c.snapshot = c.reader->snapshot();
  return c;
}

// Why a controller is not there, in words (the error code says which case).
inline std::string why_no_controller(const headroom::cgroup_location& loc,
                                     const char* name) {
  if (loc.why_none.code == headroom::errc::controller_absent) {
    return std::string("the ") + name +
           " controller is not mounted or not enabled";
  }
  if (loc.why_none.code == headroom::errc::no_cgroup) {
    return std::string("no ") + name + " cgroup for the process";
  }
  if (loc.why_none.code == headroom::errc::disabled) {
    return "not looked for (" + loc.why_none.path + ")";
  }
  return loc.why_none.message();
}

// "1.5" for 150000/100000: the fraction of CPUs, to two decimals.
inline std::string cpus_text(const headroom::cpu_quota& q) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", q.cpus());
  return buf;
}

// The values of the cpu section that could not be read: {field, error}.
inline std::vector<std::pair<std::string, headroom::error>> cpu_errors(
    const cpu_info& c) {
  std::vector<std::pair<std::string, headroom::error>> errs;
  const auto add = [&](const char* field, const headroom::error& e) {
    if (e.code && e.code != headroom::errc::not_supported)
      errs.emplace_back(field, e);
  };
  if (!c.reader) {
    add("cpu", c.reader.error());
    return errs;
  }
  const auto& s = c.snapshot;
  if (!s.affinity) add("cpu.affinity_count", s.affinity.error());
  if (!s.quota) add("cpu.quota_cpus", s.quota.error());
  if (!s.cpuset) add("cpu.cpuset_count", s.cpuset.error());
  return errs;
}

// ---------------------------------------------------------------------------
// Human report

inline void cpu_row(const char* label, const std::string& value,
                    const std::string& source = {}) {
  std::printf("  %-17s %s", label, value.c_str());
  if (!source.empty()) std::printf("   <- %s", source.c_str());
  std::printf("\n");
}

inline void print_cpu_human(const cpu_info& c) {
  std::printf("\ncpu\n");
  if (!c.reader) {
    cpu_row("values", "unavailable: " + c.reader.error().message());
    return;
  }
  const auto& r = *c.reader;
  const auto& s = c.snapshot;
  const auto& loc = r.cpu_location();
  if (loc.mode == headroom::hierarchy_mode::none) {
    cpu_row("controller", "none: " + why_no_controller(loc, "cpu"));
  } else {
    cpu_row("controller",
            std::string(headroom::to_string(loc.mode)) + ": " + loc.dir,
            std::string("mount ") + loc.mount.mount_point + ", " +
                headroom::to_string(loc.mapping));
  }
  const auto unavailable = [](const headroom::error& e) {
    return "unavailable: " + e.message();
  };
  const auto count = [](std::uint32_t n) {
    return std::to_string(n) + (n == 1 ? " CPU" : " CPUs");
  };
  cpu_row("affinity",
          s.affinity ? count(*s.affinity) : unavailable(s.affinity.error()),
          headroom::to_string(s.affinity_from));
  if (!s.quota) {
    cpu_row("quota", unavailable(s.quota.error()));
  } else if (!s.quota->has_value()) {
    cpu_row("quota", "none",
            loc.mode == headroom::hierarchy_mode::none
                ? std::string()
                : "nothing on the chain sets one");
  } else {
    const auto& q = **s.quota;
    cpu_row("quota",
            cpus_text(q) + " CPUs (" + std::to_string(q.quota_us) + " us per " +
                std::to_string(q.period_us) + " us)",
            r.quota_path(s));
  }
  if (!s.cpuset) {
    cpu_row("cpuset", unavailable(s.cpuset.error()));
  } else if (!s.cpuset->has_value()) {
    const auto& cs = r.cpuset_location();
    cpu_row("cpuset", cs.mode == headroom::hierarchy_mode::none
                          ? "none: " + why_no_controller(cs, "cpuset")
                          : std::string("none"));
  } else {
    cpu_row("cpuset", count(**s.cpuset), r.cpuset_path(s));
  }
  const auto up = s.effective(headroom::cpu_rounding::up);
  const auto down = s.effective(headroom::cpu_rounding::down);
  if (up && down) {
    cpu_row("effective",
            std::to_string(*up) + " rounded up (JDK, .NET), " +
                std::to_string(*down) + " rounded down (automaxprocs)",
            "min(affinity, quota, cpuset)");
  } else {
    cpu_row("effective", unavailable(up ? down.error() : up.error()));
  }
}

// ---------------------------------------------------------------------------
// JSON: the "cpu" object (the contract is in README.md)

inline void write_cpu_json(json_writer& w, const cpu_info& c) {
  w.begin_object("cpu");
  const bool ok = static_cast<bool>(c.reader);
  const headroom::cpu_snapshot& s = c.snapshot;
  const headroom::cgroup_location* loc =
      ok ? &c.reader->cpu_location() : nullptr;
  const bool has_cpu =
      loc && loc->mode != headroom::hierarchy_mode::none;
  w.string("controller", has_cpu ? headroom::to_string(loc->mode) : "none");
  w.optional_string("cgroup_dir", has_cpu ? std::optional<std::string>(loc->dir)
                                          : std::nullopt);
  if (!ok) {
    w.string("reason", c.reader.error().message());
  } else if (!has_cpu) {
    w.string("reason", why_no_controller(*loc, "cpu"));
  } else {
    w.null("reason");
  }
  const auto opt_u32 = [&](const char* key,
                           const std::optional<std::uint32_t>& v) {
    w.optional_number(key, v ? std::optional<std::uint64_t>(*v) : std::nullopt);
  };
  opt_u32("affinity_count", ok && s.affinity
                                ? std::optional<std::uint32_t>(*s.affinity)
                                : std::nullopt);
  w.string("affinity_source", headroom::to_string(s.affinity_from));
  const bool limited = ok && s.quota && s.quota->has_value();
  if (limited) {
    const auto& q = **s.quota;
    w.real("quota_cpus", q.cpus(), 6);
    w.number("quota_us", q.quota_us).number("period_us", q.period_us);
    w.string("quota_path", c.reader->quota_path(s));
    w.string("quota_cgroup", c.reader->quota_cgroup(s));
  } else {
    w.null("quota_cpus").null("quota_us").null("period_us").null("quota_path");
    w.null("quota_cgroup");
  }
  const auto* cs = ok ? &c.reader->cpuset_location() : nullptr;
  w.string("cpuset_controller", cs ? headroom::to_string(cs->mode) : "none");
  const bool has_cpuset = ok && s.cpuset && s.cpuset->has_value();
  opt_u32("cpuset_count", has_cpuset ? *s.cpuset : std::nullopt);
  w.optional_string("cpuset_path", has_cpuset ? std::optional<std::string>(
                                                    c.reader->cpuset_path(s))
                                              : std::nullopt);
  const auto effective =
      [&](headroom::cpu_rounding r) -> std::optional<std::uint32_t> {
    if (!ok) return std::nullopt;
    auto n = s.effective(r);
    return n ? std::optional<std::uint32_t>(*n) : std::nullopt;
  };
  opt_u32("effective_count_up", effective(headroom::cpu_rounding::up));
  opt_u32("effective_count_down", effective(headroom::cpu_rounding::down));
  w.begin_array("errors");
  for (const auto& [field, e] : cpu_errors(c)) {
    w.begin_object()
        .string("field", field)
        .string("path", e.path)
        .string("message", e.code.message())
        .end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace headroom_info
