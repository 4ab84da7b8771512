// SPDX-License-Identifier: MIT
// headroom: the report as JSON, as Prometheus text, and for people.
//
//   auto ex = headroom::exporter::open();           // memory and cpu readers
//   if (!ex) return fail(ex.error().message());
//   headroom::export_report r = ex->read();         // one report of everything
//   std::string body = headroom::to_prometheus(r);  // for GET /metrics
//
// The three outputs are rendered from one list of fields, report_fields():
// each field has a name for people, a JSON key, a Prometheus metric name
// (either may be empty), a type, a help text and the function that gets its
// value from an export_report. The JSON object and the metric names are the
// contract documented in README.md ("The JSON contract", "Prometheus").
//
// Any bytes are safe: JSON strings and label values are valid UTF-8 (a byte
// that is not part of a valid sequence becomes U+FFFD), and to_text()
// escapes control bytes (\xNN), so a hostile cgroup name cannot break a
// parser or drive a terminal.
//
// Thread-safety and lifetime: an exporter is safe to read() from many
// threads; an export_report refers to its exporter and must not outlive it.
#pragma once

#include <cstdint>      // std::uint64_t
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::pair, std::move
#include <vector>       // std::vector

#include "cpu.hpp"                 // cpu_snapshot, cpu_reader
#include "detail/escape.hpp"       // terminal_escape, for printable()
#include "detail/json_writer.hpp"  // json_writer, also for users' own JSON
#include "discover.hpp"            // discovery
#include "error.hpp"               // error, result
#include "kubernetes.hpp"          // kubernetes_context, read_kubernetes
#include "memory.hpp"              // memory_reader, memory_report

namespace headroom {

// A JSON writer that escapes any bytes (see the top of this file); the
// exporter writes with it, and it is public so that event streams and
// services can write their own JSON the same way.
using json_writer = detail::json_writer;

class exporter;

// One report of everything the fields show: the memory report, a cpu
// snapshot and the Kubernetes context, taken together.
struct export_report {
  // The exporter that read it (for its readers' paths); valid while that
  // exporter lives and is not moved.
  const exporter* from = nullptr;
  // memory_reader::report().
  memory_report memory;
  // cpu_reader::snapshot() (empty when the cpu reader failed to open).
  cpu_snapshot cpu;
  // read_kubernetes(): what the cgroup path and oom_score_adj say of a
  // Kubernetes pod.
  kubernetes_context kubernetes;
};

// How a field's value is written.
enum class field_type {
  bytes,    // an integer count of bytes
  count,    // an integer that can go up and down
  counter,  // an integer that only goes up (Prometheus counter)
  micros,   // microseconds, a counter; Prometheus writes seconds
  percent,  // a percentage, two decimals
  cpus,     // a fractional number of CPUs
  integer,  // a signed integer (oom_score_adj), held in `real`
  text,     // a string (JSON only; Prometheus has it as labels)
  flag,     // true or false
  info,     // Prometheus only: the value 1, with labels saying where from
  group,    // an object of named values (items), or null
  list,     // an array of groups (items)
};

// What a field holds in one report.
struct field_value {
  // Whether a value is there, and why not.
  enum class state {
    value,        // it holds a value
    absent,       // nothing there: no limit, no such file for this case
    unsupported,  // the library does not provide it here (cgroup mode)
    error,        // it could not be read: `failure` says why
  };
  // Which state it is in.
  state st = state::absent;
  field_type type = field_type::count;  // of an item (a field's type wins)
  // bytes, count, counter, micros: the value.
  std::uint64_t number = 0;
  // percent, cpus: the value.
  double real = 0;
  // flag: the value.
  bool flag = false;
  // text: the value.
  std::string text;
  std::vector<field_value> items;  // group, list
  std::string key;                 // an item's JSON key (and its label)
  std::string source;              // for people: the file or rule it comes from
  std::string why;     // absent, unsupported: why (a metric's comment);
                       // error: what to do about it, if known
  std::string human;   // for people: replaces the written value
  bool quiet = false;  // not shown to people
  error failure;       // error
  std::vector<std::pair<std::string, std::string>> labels;  // Prometheus

  // st == state::value.
  bool has_value() const noexcept { return st == state::value; }
};

// One field. Empty `json`, `metric` or `label`: not in that output.
struct field {
  std::string_view label;   // for people ("limit")
  std::string_view json;    // key inside its section ("limit_bytes",
                            // "some.avg10" nests under the group "some")
  std::string_view metric;  // Prometheus metric name
  // What it holds, and how each output writes it.
  field_type type;
  std::string_view help;  // Prometheus HELP
  // Reads the field's value from a report.
  field_value (*get)(const export_report&);
};

// Fields come in sections: a JSON object each ("cgroup", "memory", ...; ""
// is the top level) and a heading for people.
struct field_section {
  // The section's JSON key ("": the top level).
  std::string_view json;
  // Its heading for people.
  std::string_view title;
  // Its first field.
  const field* begin;
  // Past its last field.
  const field* end;
  bool own_errors;  // the section has its own "errors" array (cpu)
};

// The sections of every report, in output order.
struct field_sections {
  // The first section.
  const field_section* begin_;
  // Past the last section.
  const field_section* end_;
  // begin_, for range-for.
  const field_section* begin() const noexcept { return begin_; }
  // end_, for range-for.
  const field_section* end() const noexcept { return end_; }
};
// The sections of every report, in output order (a static table).
inline field_sections report_fields() noexcept;

// The memory and cpu readers behind a report, opened once. Move-only, like
// the readers; a moved-from exporter may only be assigned to or destroyed,
// and the reports it read point to it (export_report::from).
class exporter {
 public:
  // Fails only when the memory reader cannot be opened (no mountinfo, a
  // root that is not a tree); a cpu reader that fails is reported in the
  // cpu fields.
  static result<exporter> open(const options& opt = {}) {
    const auto found = discovery::read(opt);  // mountinfo read once for both
    auto m = memory_reader::open(found);
    if (!m) return std::move(m).error();
    return exporter(opt, std::move(*m), cpu_reader::open(found));
  }

  // Reads everything once (memory_reader::report(), cpu_reader::snapshot(),
  // read_kubernetes()).
  export_report read() const {
    export_report r;
    r.from = this;
    r.memory = memory_.report();
    if (cpu_) r.cpu = cpu_->snapshot();
    r.kubernetes = read_kubernetes(memory_);
    return r;
  }

  // The options the readers were opened with.
  const options& opts() const noexcept { return opt_; }
  // The memory reader.
  const memory_reader& memory() const noexcept { return memory_; }
  // The cpu reader, or the error it failed to open with.
  const result<cpu_reader>& cpu() const noexcept { return cpu_; }

 private:
  exporter(const options& opt, memory_reader m, result<cpu_reader> c)
      : opt_(opt), memory_(std::move(m)), cpu_(std::move(c)) {}

  options opt_;
  memory_reader memory_;
  result<cpu_reader> cpu_;
};

// `s` for a terminal or a log: control bytes (ESC, C1 controls), invalid
// UTF-8 and backslashes as \xNN and \\, the rest as it is. Lossless.
inline std::string printable(std::string_view s) {
  return detail::terminal_escape(s);
}

// The report as one JSON object and a newline.
inline std::string to_json(const export_report& r);
// The report in the Prometheus text exposition format 0.0.4.
inline std::string to_prometheus(const export_report& r);
// The report for people: a row per value and the file it came from.
inline std::string to_text(const export_report& r);

}  // namespace headroom

#include "detail/export_fields.hpp"   // the getters and report_fields()
#include "detail/export_writers.hpp"  // to_json, to_prometheus, to_text
