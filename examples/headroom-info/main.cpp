// headroom-info: what memory this process (or --pid N) may really use, and
// where each number comes from. The library's counterpart of
// `java -XshowSettings:system`.
//
//   headroom-info [--json | --format human|json|prometheus] [--root DIR]
//                 [--pid N] [--capture DIR]
//   headroom-info --watch [--json] [--interval MS] [--root DIR] [--pid N]
//
// Exits 0 whenever it could report ("no limit" included); otherwise prints
// one line on stderr and exits 1 (2 for bad arguments).
#include <headroom/detail/format.hpp>
#include <headroom/headroom.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture.hpp"
#include "cpu_report.hpp"
#include "json.hpp"
#include "prometheus.hpp"
#include "watch.hpp"

namespace {

using headroom::memory_report;
using headroom::memory_snapshot;
using headroom::result;

struct args {
  bool json = false;
  bool prometheus = false;
  bool watch = false;
  int interval_ms = 1000;
  std::string root = "/";
  int pid = 0;
  std::string capture;
};

const char* const usage_text =
    "usage: headroom-info [--json | --format FORMAT] [--root DIR] [--pid N] [--capture DIR]\n"
    "  --json         one JSON object (the contract is in README.md)\n"
    "  --format F     human (default), json, or prometheus (text exposition 0.0.4)\n"
    "  --root DIR     read proc/ and sys/ under DIR instead of /\n"
    "  --pid N        report on process N instead of this one\n"
    "  --capture DIR  copy every file read into DIR; --root DIR replays it\n"
    "  --watch        stream pressure, oom_kill and limit_changed events (one\n"
    "                 per line; JSON lines with --json) until interrupted\n"
    "  --interval MS  with --watch: how often the limit and cgroup are\n"
    "                 re-checked, and usage sampled far from the edges (1000)\n"
    "  --version      print the version\n";

[[noreturn]] void bad_usage(const std::string& why) {
  std::fprintf(stderr, "headroom-info: %s\n%s", why.c_str(), usage_text);
  std::exit(2);
}

args parse_args(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) bad_usage(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--format") {
      const std::string f = value();
      if (f != "human" && f != "json" && f != "prometheus") bad_usage("bad format: " + f);
      a.json = f == "json";
      a.prometheus = f == "prometheus";
    } else if (arg == "--watch") {
      a.watch = true;
    } else if (arg == "--interval") {
      const std::string v = value();
      auto n = headroom::parse_u64(v);
      if (!n || *n == 0 || *n > 3600000) bad_usage("bad interval: " + v);
      a.interval_ms = static_cast<int>(*n);
    } else if (arg == "--root") {
      a.root = value();
    } else if (arg == "--pid") {
      const std::string v = value();
      auto n = headroom::parse_u64(v);
      if (!n || *n == 0 || *n > 0x3fffffff) bad_usage("bad pid: " + v);
      a.pid = static_cast<int>(*n);
    } else if (arg == "--capture") {
      a.capture = value();
    } else if (arg == "--version") {
      std::printf("headroom-info %s\n", HEADROOM_VERSION_STRING);
      std::exit(0);
    } else if (arg == "--help" || arg == "-h") {
      std::printf("%s", usage_text);
      std::exit(0);
    } else {
      bad_usage("unknown argument: " + std::string(arg));
    }
  }
  return a;
}

// ---------------------------------------------------------------------------
// Human-readable report

// "256.0 MiB (268435456)"
std::string bytes_and_exact(std::uint64_t b) {
  return headroom::detail::human_bytes(b) + " (" + std::to_string(b) + ")";
}

bool unsupported(const headroom::error& e) {
  return e.code == headroom::errc::not_supported;
}

// A value that could not be read: why, and from where.
std::string why(const headroom::error& e) {
  return "unavailable: " + e.message();
}

void row(const char* label, const std::string& value,
         const std::string& source = {}) {
  std::printf("  %-17s %s", label, value.c_str());
  if (!source.empty()) std::printf("   <- %s", source.c_str());
  std::printf("\n");
}

// A limit-like value: bytes, or `none_word` for "no limit".
std::string limit_text(const result<std::optional<std::uint64_t>>& v,
                       const char* none_word = "unlimited") {
  if (!v) return why(v.error());
  return v->has_value() ? bytes_and_exact(**v) : none_word;
}

std::string bytes_text(const result<std::uint64_t>& v) {
  return v ? bytes_and_exact(*v) : why(v.error());
}

void print_psi_line(const char* kind, const headroom::psi_line& p) {
  std::printf("  %-17s avg10=%.2f%% avg60=%.2f%% avg300=%.2f%% total=%llu us\n",
              kind, p.avg10, p.avg60, p.avg300,
              static_cast<unsigned long long>(p.total_us));
}

const char* mode_story(headroom::hierarchy_mode m) {
  switch (m) {
    case headroom::hierarchy_mode::v1:
      return "memory controller on cgroup v1 (no cgroup2 mount)";
    case headroom::hierarchy_mode::hybrid:
      return "memory controller on cgroup v1, cgroup2 mounted too";
    case headroom::hierarchy_mode::v2:
      return "memory controller on cgroup v2";
    case headroom::hierarchy_mode::none:
      break;
  }
  return "no memory controller visible: host-wide values";
}

void print_human(const headroom::memory_reader& reader, const memory_report& r,
                 const args& a) {
  const auto& loc = reader.location();
  const memory_snapshot& s = r.snapshot;
  const bool v1 = loc.mode == headroom::hierarchy_mode::v1 ||
                  loc.mode == headroom::hierarchy_mode::hybrid;
  std::printf("headroom-info %s: %s%s%s\n\n", HEADROOM_VERSION_STRING,
              a.pid ? ("pid " + std::to_string(a.pid)).c_str() : "this process",
              a.root == "/" ? "" : ", root ", a.root == "/" ? "" : a.root.c_str());

  std::printf("cgroup\n");
  row("version", std::string(headroom::to_string(loc.mode)) + ": " +
                     (loc.why_none.code == headroom::errc::disabled
                          ? "cgroup detection turned off: host-wide values"
                          : mode_story(loc.mode)));
  if (loc.mode == headroom::hierarchy_mode::none) {
    row("why", loc.why_none.message());
  } else {
    row("memory path", loc.path, "/proc/self/cgroup");
    row("directory", loc.dir,
        std::string("mount ") + loc.mount.mount_point + " (root " +
            loc.mount.root + "), " + headroom::to_string(loc.mapping));
    if (headroom::is_fallback(loc.mapping)) {
      row("note",
          "the path could not be mapped below the mount; using the mount "
          "point, whose numbers may belong to an ancestor");
    }
    std::printf("  chain (own cgroup first; limit%s)\n", v1 ? "" : ", high");
    for (const auto& e : r.chain) {
      std::string line = "    " + e.dir + "  limit ";
      line += limit_text(e.limit);
      if (!v1) line += ", high " + limit_text(e.high);
      std::printf("%s\n", line.c_str());
    }
  }
  if (!loc.unified_dir.empty() && loc.mode != headroom::hierarchy_mode::v2) {
    row("cgroup2 dir", loc.unified_dir);
  }

  std::printf("\nmemory\n");
  std::string limit_from = reader.limit_path(s);
  if (s.limit && !s.limit->has_value()) limit_from = "nothing on the chain limits";
  if (s.source == headroom::limit_source::environment) {
    limit_from += " (environment override; the chain below is what was detected)";
  }
  row("limit", limit_text(s.limit, "none"), limit_from);
  if (s.source == headroom::limit_source::hierarchical) {
    row("note",
        "an ancestor above the mount point holds this limit; usage is read "
        "at the topmost visible cgroup");
  }
  if (!unsupported(r.high.value.error()) || r.high.value) {
    row("high", limit_text(r.high.value, "none"), r.high.value ? r.high.path : "");
  } else if (loc.mode != headroom::hierarchy_mode::none) {
    row("high", "(cgroup v2 only)");
  }
  if (loc.mode != headroom::hierarchy_mode::none) {
    row(v1 ? "soft limit" : "low", limit_text(r.low.value, "none"), r.low.path);
    row("swap limit", limit_text(r.swap_limit.value), r.swap_limit.path);
  }
  row("usage", bytes_text(s.usage), reader.usage_path(s));
  row("working set", bytes_text(s.working_set),
      s.usage_level == headroom::host_level
          ? "MemTotal - MemAvailable (host-wide)"
          : std::string("usage - ") + (v1 ? "total_inactive_file" : "inactive_file"));
  if (s.stat) {
    row(v1 ? "rss" : "anon", bytes_and_exact(s.stat->anon));
    row(v1 ? "cache" : "file", bytes_and_exact(s.stat->file));
    row("inactive file", bytes_and_exact(s.stat->inactive_file));
  }
  if (loc.mode != headroom::hierarchy_mode::none &&
      s.usage_level != headroom::host_level) {
    row("peak", bytes_text(r.peak.value), r.peak.path);
    if (v1) {
      row("failcnt", r.failcnt.value ? std::to_string(*r.failcnt.value)
                                     : why(r.failcnt.value.error()),
          r.failcnt.path);
    }
    row("oom kills", r.oom_kills.value ? std::to_string(*r.oom_kills.value)
                                       : why(r.oom_kills.value.error()),
        r.oom_kills.path);
    if (r.events.value && !v1) {
      std::string ev;
      for (const auto& kv : *r.events.value) {
        ev += (ev.empty() ? "" : " ") + kv.first + "=" + std::to_string(kv.second);
      }
      row("events", ev, r.events.path);
    }
  }
  row("host total", bytes_text(s.host_total), "/proc/meminfo MemTotal");
  row("effective limit", bytes_text(s.effective_limit),
      s.limit && s.limit->has_value() ? "min(limit, host total)"
                                       : "host total (no limit)");
  row("headroom", bytes_text(s.headroom), "effective limit - working set");

  std::printf("\npressure (PSI)\n");
  row("scope", headroom::to_string(r.pressure_from), r.pressure.path);
  if (r.pressure.value) {
    print_psi_line("some", r.pressure.value->some);
    if (r.pressure.value->full) print_psi_line("full", *r.pressure.value->full);
  } else {
    row("values", why(r.pressure.value.error()));
  }
}

// ---------------------------------------------------------------------------
// JSON report (the contract is documented in README.md)

struct json_errors {
  std::vector<std::pair<std::string, headroom::error>> list;
  // Records an error that is not "not supported in this mode".
  void add(const std::string& field, const headroom::error& e) {
    if (e.code && !unsupported(e)) list.emplace_back(field, e);
  }
};

void json_limit(headroom_info::json_writer& w, json_errors& errs,
                const std::string& section, const std::string& key,
                const result<std::optional<std::uint64_t>>& v) {
  if (v) {
    w.optional_number(key, *v);
  } else {
    w.null(key);
    errs.add(section + "." + key, v.error());
  }
}

void json_bytes(headroom_info::json_writer& w, json_errors& errs,
                const std::string& section, const std::string& key,
                const result<std::uint64_t>& v) {
  if (v) {
    w.number(key, *v);
  } else {
    w.null(key);
    errs.add(section + "." + key, v.error());
  }
}

void json_psi(headroom_info::json_writer& w, const std::string& key,
              const std::optional<headroom::psi_line>& p) {
  if (!p) {
    w.null(key);
    return;
  }
  w.begin_object(key)
      .real("avg10", p->avg10)
      .real("avg60", p->avg60)
      .real("avg300", p->avg300)
      .number("total_us", p->total_us)
      .end_object();
}

std::string to_json(const headroom::memory_reader& reader,
                    const memory_report& r, const headroom_info::cpu_info& cpu,
                    const args& a) {
  const auto& loc = reader.location();
  const memory_snapshot& s = r.snapshot;
  const bool has_cgroup = loc.mode != headroom::hierarchy_mode::none;
  json_errors errs;
  headroom_info::json_writer w;
  w.begin_object();
  w.string("headroom_version", HEADROOM_VERSION_STRING);
  w.string("root", a.root);
  if (a.pid) {
    w.number("pid", static_cast<std::uint64_t>(a.pid));
  } else {
    w.null("pid");
  }

  w.begin_object("cgroup");
  w.string("version", headroom::to_string(loc.mode));
  if (has_cgroup) {
    w.string("memory_path", loc.path);
    w.string("memory_dir", loc.dir);
    w.string("mount_point", loc.mount.mount_point);
    w.string("mount_root", loc.mount.root);
    w.string("path_mapping", headroom::to_string(loc.mapping));
    w.boolean("path_fallback", headroom::is_fallback(loc.mapping));
    w.null("reason");
  } else {
    w.null("memory_path").null("memory_dir").null("mount_point").null("mount_root");
    w.string("path_mapping", "none").boolean("path_fallback", false);
    w.string("reason", loc.why_none.message());
  }
  if (loc.unified_dir.empty()) {
    w.null("unified_path").null("unified_dir");
  } else {
    w.string("unified_path", loc.unified_path).string("unified_dir", loc.unified_dir);
  }
  w.begin_array("chain");
  for (const auto& e : r.chain) {
    w.begin_object();
    w.string("dir", e.dir);
    w.optional_number("limit_bytes", e.limit ? *e.limit : std::nullopt);
    w.optional_number("high_bytes", e.high ? *e.high : std::nullopt);
    w.end_object();
  }
  w.end_array();
  w.end_object();

  w.begin_object("memory");
  json_limit(w, errs, "memory", "limit_bytes", s.limit);
  const bool limited = s.limit && s.limit->has_value();
  if (limited) {
    w.string("limit_path", reader.limit_path(s));
    w.string("limit_cgroup", loc.chain[s.limit_level]);
  } else {
    w.null("limit_path").null("limit_cgroup");
  }
  w.string("limit_source", headroom::to_string(s.source));
  json_limit(w, errs, "memory", "high_bytes", r.high.value);
  w.optional_string("high_path", r.high.value && r.high.value->has_value()
                                     ? std::optional<std::string>(r.high.path)
                                     : std::nullopt);
  json_limit(w, errs, "memory", "low_bytes", r.low.value);
  json_limit(w, errs, "memory", "swap_limit_bytes", r.swap_limit.value);
  json_bytes(w, errs, "memory", "usage_bytes", s.usage);
  w.string("usage_path", reader.usage_path(s));
  w.boolean("usage_host_wide", s.usage_level == headroom::host_level);
  json_bytes(w, errs, "memory", "working_set_bytes", s.working_set);
  if (s.stat) {
    w.number("anon_bytes", s.stat->anon)
        .number("file_bytes", s.stat->file)
        .number("inactive_file_bytes", s.stat->inactive_file);
  } else {
    w.null("anon_bytes").null("file_bytes").null("inactive_file_bytes");
    errs.add("memory.anon_bytes", s.stat.error());
  }
  if (has_cgroup && s.usage_level != headroom::host_level) {
    json_bytes(w, errs, "memory", "peak_bytes", r.peak.value);
    json_bytes(w, errs, "memory", "failcnt", r.failcnt.value);
    json_bytes(w, errs, "memory", "oom_kill_count", r.oom_kills.value);
    if (r.events.value) {
      w.begin_object("events");
      for (const auto& kv : *r.events.value) w.number(kv.first, kv.second);
      w.end_object();
    } else {
      w.null("events");
      errs.add("memory.events", r.events.value.error());
    }
    w.string("events_path", r.events.path);
  } else {
    w.null("peak_bytes").null("failcnt").null("oom_kill_count").null("events");
    w.null("events_path");
  }
  json_bytes(w, errs, "memory", "host_total_bytes", s.host_total);
  json_bytes(w, errs, "memory", "effective_limit_bytes", s.effective_limit);
  json_bytes(w, errs, "memory", "headroom_bytes", s.headroom);
  w.end_object();

  w.begin_object("pressure");
  w.string("scope", headroom::to_string(r.pressure_from));
  w.string("path", r.pressure.path);
  if (r.pressure.value) {
    json_psi(w, "some", r.pressure.value->some);
    json_psi(w, "full", r.pressure.value->full);
  } else {
    w.null("some").null("full");
    errs.add("pressure", r.pressure.value.error());
  }
  w.end_object();

  headroom_info::write_cpu_json(w, cpu);

  w.begin_array("errors");
  for (const auto& [field, e] : errs.list) {
    w.begin_object()
        .string("field", field)
        .string("path", e.path)
        .string("message", e.code.message())
        .end_object();
  }
  w.end_array();
  w.end_object();
  return std::move(w.out()) + "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const args a = parse_args(argc, argv);

  headroom::options opt;
  opt.root = a.root;
  opt.pid = a.pid;
  headroom_info::capture_list captured;
  if (!a.capture.empty()) opt.on_read = captured.hook();
  if (a.watch) {
    if (a.prometheus || !a.capture.empty()) bad_usage("--watch takes --json, not --format prometheus or --capture");
    return headroom_info::watch(opt, a.json, std::chrono::milliseconds(a.interval_ms));
  }

  auto reader = headroom::memory_reader::open(opt);
  if (!reader) {
    std::fprintf(stderr, "headroom-info: cannot report: %s\n",
                 reader.error().message().c_str());
    return 1;
  }
  const memory_report r = reader->report();
  const headroom_info::cpu_info cpu = headroom_info::read_cpu(opt);
  if (a.prometheus) {
    std::fputs(headroom_info::to_prometheus(*reader, r, cpu).c_str(), stdout);
  } else if (a.json) {
    std::fputs(to_json(*reader, r, cpu, a).c_str(), stdout);
  } else {
    print_human(*reader, r, a);
    headroom_info::print_cpu_human(cpu);
  }
  if (!a.capture.empty()) {
    auto saved = captured.save(a.capture);
    if (!saved) {
      std::fprintf(stderr, "headroom-info: capture failed: %s\n",
                   saved.error().message().c_str());
      return 1;
    }
    std::fprintf(stderr, "headroom-info: captured %zu files into %s\n",
                 captured.size(), a.capture.c_str());
  }
  return 0;
}
