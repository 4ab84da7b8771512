// SPDX-License-Identifier: MIT
// Every container_* and machine_* series headroom writes, against the one
// cAdvisor writes under the same name: its type, its help text, and where
// the two differ, what differs. cAdvisor's names, types and help texts are
// those of google/cadvisor lib/metrics/prometheus.go and
// lib/metrics/prometheus_machine.go (commit 6a0c4f2, July 2026; the same
// texts are in its lib/metrics/testdata/prometheus_metrics).
//
// The rule: headroom's help begins with cAdvisor's (without its final
// period), then may say where the value comes from. A series whose value is
// not exactly cAdvisor's says how in `differs`; that column is the record
// of the differences, and an empty one is a claim that the test holds.
#include <headroom/export.hpp>
#include "../support/doctest.hpp"

#include <set>
#include <string>
#include <string_view>

namespace {

struct cadvisor_series {
  std::string_view name;
  std::string_view type;  // "gauge" or "counter"
  std::string_view help;  // exactly as cAdvisor writes it
  std::string_view differs;
};

// Series headroom leaves out where cAdvisor writes 0 for a value it has
// no source for.
constexpr std::string_view no_key_on_v1 =
    "omitted on v1, where cAdvisor writes 0: v1 has no such key";
constexpr std::string_view no_events_on_v1 =
    "omitted on v1, where cAdvisor writes 0: v1 has no memory.events";
constexpr std::string_view not_own_pressure =
    "omitted where the pressure read is not the cgroup's own (v1, or its PSI "
    "turned off), where cAdvisor writes 0";

// clang-format off
constexpr cadvisor_series cadvisor[] = {
    {"machine_memory_bytes", "gauge",
     "Amount of memory installed on the machine.", ""},
    {"container_spec_memory_limit_bytes", "gauge",
     "Memory limit for the container.", ""},
    {"container_spec_memory_reservation_limit_bytes", "gauge",
     "Memory reservation limit for the container.", ""},
    {"container_spec_memory_swap_limit_bytes", "gauge",
     "Memory swap limit for the container.", ""},
    {"container_memory_usage_bytes", "gauge",
     "Current memory usage in bytes, including all memory regardless of when "
     "it was accessed", ""},
    {"container_memory_working_set_bytes", "gauge",
     "Current working set in bytes.", ""},
    {"container_memory_rss", "gauge", "Size of RSS in bytes.", ""},
    {"container_memory_cache", "gauge",
     "Number of bytes of page cache memory.", ""},
    {"container_memory_mapped_file", "gauge",
     "Size of memory mapped files in bytes.", ""},
    {"container_memory_swap", "gauge", "Container swap usage in bytes.", ""},
    {"container_memory_kernel_usage", "gauge",
     "Size of kernel memory allocated in bytes.",
     "omitted on v2, where cAdvisor writes 0 (no kmem file)"},
    {"container_memory_total_active_file_bytes", "gauge",
     "Current total active file in bytes.", ""},
    {"container_memory_total_inactive_file_bytes", "gauge",
     "Current total inactive file in bytes.", ""},
    {"container_memory_max_usage_bytes", "gauge",
     "Maximum memory usage recorded in bytes", ""},
    {"container_memory_file_dirty_bytes", "gauge",
     "Number of bytes of file cache that has been modified but not yet "
     "written back to disk.",
     no_key_on_v1},
    {"container_memory_file_writeback_bytes", "gauge",
     "Number of bytes of file cache that is currently being written back to "
     "disk.",
     no_key_on_v1},
    {"container_memory_pgscan_total", "counter",
     "Cumulative number of pages scanned by the page reclaim algorithm.",
     no_key_on_v1},
    {"container_memory_pgsteal_total", "counter",
     "Cumulative number of pages reclaimed by the page reclaim algorithm.",
     no_key_on_v1},
    {"container_memory_workingset_refault_file_total", "counter",
     "Cumulative number of refaults of previously evicted file pages.", ""},
    {"container_memory_workingset_refault_anon_total", "counter",
     "Cumulative number of refaults of previously evicted anonymous pages.",
     ""},
    {"container_memory_events_high_total", "counter",
     "Cumulative count of memory.high throttle events for the container",
     no_events_on_v1},
    {"container_memory_events_max_total", "counter",
     "Cumulative count of memory.max limit hit events for the container",
     no_events_on_v1},
    {"container_oom_events_total", "counter",
     "Count of out of memory events observed for the container",
     "the kernel's oom_kill counter of the cgroup, where cAdvisor counts the "
     "OOM kills it saw in the kernel log while it ran: headroom's includes "
     "kills from before it started"},
    {"container_pressure_memory_waiting_seconds_total", "counter",
     "Total time duration tasks in the container have waited due to memory "
     "congestion.",
     not_own_pressure},
    {"container_pressure_memory_stalled_seconds_total", "counter",
     "Total time duration no tasks in the container could make progress due "
     "to memory congestion.",
     not_own_pressure},
    {"container_pressure_cpu_waiting_seconds_total", "counter",
     "Total time duration tasks in the container have waited due to CPU "
     "congestion.",
     not_own_pressure},
    {"container_pressure_cpu_stalled_seconds_total", "counter",
     "Total time duration no tasks in the container could make progress due "
     "to CPU congestion.",
     not_own_pressure},
    {"container_pressure_io_waiting_seconds_total", "counter",
     "Total time duration tasks in the container have waited due to IO "
     "congestion.",
     not_own_pressure},
    {"container_pressure_io_stalled_seconds_total", "counter",
     "Total time duration no tasks in the container could make progress due "
     "to IO congestion.",
     not_own_pressure},
    {"container_spec_cpu_quota", "gauge", "CPU quota of the container.", ""},
    {"container_spec_cpu_period", "gauge", "CPU period of the container.",
     ""},
    {"container_cpu_cfs_periods_total", "counter",
     "Number of elapsed enforcement period intervals.", ""},
    {"container_cpu_cfs_throttled_periods_total", "counter",
     "Number of throttled period intervals.", ""},
    {"container_cpu_cfs_throttled_seconds_total", "counter",
     "Total time duration the container has been throttled.", ""},
};
// clang-format on

const cadvisor_series* find(std::string_view name) {
  for (const auto& c : cadvisor) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool cadvisor_name(std::string_view m) {
  return m.rfind("container_", 0) == 0 || m.rfind("machine_", 0) == 0;
}

std::string_view without_period(std::string_view help) {
  if (!help.empty() && help.back() == '.') help.remove_suffix(1);
  return help;
}

}  // namespace

TEST_CASE(
    "cAdvisor parity: every container_* series has cAdvisor's type and "
    "help") {
  std::set<std::string_view> seen;
  for (const auto& sec : headroom::report_fields()) {
    for (const headroom::field* f = sec.begin; f != sec.end; ++f) {
      if (!cadvisor_name(f->metric)) continue;
      CAPTURE(f->metric);
      const cadvisor_series* c = find(f->metric);
      REQUIRE_MESSAGE(c != nullptr,
                      "a cAdvisor-named series not in cAdvisor's table here: "
                      "add cAdvisor's type and help, or give it a headroom_ "
                      "name");
      CHECK(seen.insert(f->metric).second);  // one field per series
      const bool counter = f->type == headroom::field_type::counter ||
                           f->type == headroom::field_type::micros;
      CHECK(std::string_view(counter ? "counter" : "gauge") == c->type);
      // A counter's name ends in _total, as Prometheus and cAdvisor have it.
      if (counter) {
        CHECK(f->metric.size() > 6);
        CHECK(f->metric.substr(f->metric.size() - 6) == "_total");
      }
      const std::string_view want = without_period(c->help);
      CAPTURE(f->help);
      CHECK_MESSAGE(f->help.substr(0, want.size()) == want,
                    "the help does not begin with cAdvisor's: " << c->help);
    }
  }
  // Every row is a series headroom writes: the table has no stale rows.
  for (const auto& c : cadvisor) {
    CAPTURE(c.name);
    CHECK(seen.count(c.name) == 1);
  }
}

TEST_CASE("cAdvisor parity: the recorded differences") {
  std::size_t differ = 0;
  for (const auto& c : cadvisor) {
    if (c.differs.empty()) continue;
    ++differ;
    MESSAGE(std::string(c.name) << ": " << std::string(c.differs));
  }
  // Kernel usage on v2, the OOM counter's source, and twelve series that
  // have no sample where cAdvisor writes 0 (v1's missing memory.stat keys
  // and memory.events, pressure that is not the cgroup's). A change here
  // is a change in what headroom claims: update README's Prometheus table
  // too.
  CHECK(differ == 14);
}
