// SPDX-License-Identifier: MIT
// headroom: the fields of export.hpp, and how each is got from a report.
// A new field is one row in a table below (and its line in README.md).
// Included by export.hpp after the public types.
#pragma once

#include <cctype>            // std::toupper
#include <cstdint>           // std::uint64_t, std::uint32_t
#include <initializer_list>  // std::initializer_list
#include <optional>          // std::optional, std::nullopt
#include <string>            // std::string, std::to_string
#include <utility>           // std::move, std::pair

#include "../format.hpp"   // format_bytes
#include "../version.hpp"  // HEADROOM_VERSION_STRING

namespace headroom::detail::fields {

using state = field_value::state;

// ---------------------------------------------------------------------------
// Building values

inline field_value number(std::uint64_t n, std::string source = {}) {
  field_value v;
  v.st = state::value;
  v.number = n;
  v.source = std::move(source);
  return v;
}

inline field_value real(double d, std::string source = {}) {
  field_value v;
  v.st = state::value;
  v.type = field_type::percent;
  v.real = d;
  v.source = std::move(source);
  return v;
}

inline field_value text(std::string t, std::string source = {}) {
  field_value v;
  v.st = state::value;
  v.type = field_type::text;
  v.text = std::move(t);
  v.source = std::move(source);
  return v;
}

inline field_value flag(bool b) {
  field_value v;
  v.st = state::value;
  v.type = field_type::flag;
  v.flag = b;
  return v;
}

// Nothing there. `human`: what people read instead ("none"); empty hides
// the row from them.
inline field_value absent(std::string why, std::string human = {},
                          std::string source = {}) {
  field_value v;
  v.st = state::absent;
  v.why = std::move(why);
  v.human = std::move(human);
  v.source = std::move(source);
  return v;
}

inline field_value failed(const error& e) {
  field_value v;
  v.st = state::error;
  v.failure = e;
  return v;
}

inline field_value quiet(field_value v) {
  v.quiet = true;
  return v;
}

inline field_value with_human(field_value v, std::string human) {
  v.human = std::move(human);
  return v;
}

inline field_value with_labels(
    field_value v, std::vector<std::pair<std::string, std::string>> labels) {
  v.labels = std::move(labels);
  return v;
}

inline const memory_reader& mem(const export_report& r) {
  return r.from->memory();
}
inline const cgroup_location& loc(const export_report& r) {
  return mem(r).location();
}
inline const memory_snapshot& snap(const export_report& r) {
  return r.memory.snapshot;
}
inline bool host_wide(const export_report& r) { return !snap(r).usage_at; }

// Why the library does not provide a value here (errc::not_supported).
inline std::string not_provided(const export_report& r) {
  if (host_wide(r)) return "no cgroup to read it from";
  return "not provided in cgroup mode " + std::string(to_string(snap(r).mode));
}

// A value, or why not: not_supported is "not provided here", anything else
// an error.
template <class T, class Make>
field_value from(const export_report& r, const result<T>& v, Make make) {
  if (v) return make(*v);
  if (is_unsupported(v.error())) {
    field_value u;
    u.st = state::unsupported;
    // With a path: a file this kernel does not have (an option not built or
    // not enabled); without: nothing to read in this mode.
    u.why = v.error().path.empty() || host_wide(r)
                ? not_provided(r)
                : "not provided here: no " + v.error().path;
    return u;
  }
  return failed(v.error());
}

inline field_value bytes(const export_report& r, const result<std::uint64_t>& v,
                         std::string source = {}) {
  return from(r, v, [&](std::uint64_t n) { return number(n, source); });
}

// A limit-like value: bytes, or absent (`why`, and `human` for people).
inline field_value limit(const export_report& r,
                         const result<std::optional<std::uint64_t>>& v,
                         const char* why, const char* human,
                         std::string source = {}) {
  return from(r, v, [&](const std::optional<std::uint64_t>& n) {
    return n ? number(*n, source) : absent(why, human, source);
  });
}

template <class T>
field_value reading_bytes(const export_report& r, const reading<T>& v) {
  return bytes(r, v.value, v.path);
}

// A string that is absent when empty.
inline field_value text_or_null(const std::string& t) {
  return t.empty() ? absent("") : text(t);
}

// ---------------------------------------------------------------------------
// The limit cgroup: the directory on the chain that holds the binding limit
// (the topmost visible one when an ancestor above the mount point binds);
// none without a limit or when the limit comes from the environment.
inline std::optional<std::string> limit_cgroup(const export_report& r) {
  const auto holder = mem(r).limit_cgroup(snap(r));
  if (!holder) return std::nullopt;
  return holder->dir;
}

// ---------------------------------------------------------------------------
// The top level

inline std::string proc_file(const export_report& r, const char* name) {
  const int pid = r.from->opts().pid;
  return "/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/" +
         name;
}

inline constexpr field top_fields[] = {
    {"", "headroom_version", "", field_type::text, "",
     [](const export_report&) { return text(HEADROOM_VERSION_STRING); }},
    {"", "root", "", field_type::text, "",
     [](const export_report& r) { return text(r.from->opts().root); }},
    {"", "pid", "", field_type::count, "",
     [](const export_report& r) {
       const int pid = r.from->opts().pid;
       return pid ? number(static_cast<std::uint64_t>(pid)) : absent("");
     }},
};

// ---------------------------------------------------------------------------
// cgroup

inline const char* mode_story(const cgroup_location& l) {
  if (is_disabled(l.why_none)) {
    return "cgroup detection turned off: host-wide values";
  }
  switch (l.mode) {  // words for each mode, as to_string() is
    case hierarchy_mode::v1:
      return "memory controller on cgroup v1 (no cgroup2 mount)";
    case hierarchy_mode::hybrid:
      return "memory controller on cgroup v1, cgroup2 mounted too";
    case hierarchy_mode::v2:
      return "memory controller on cgroup v2";
    case hierarchy_mode::none:
      break;
  }
  return "no memory controller visible: host-wide values";
}

inline field_value chain_entries(const export_report& r) {
  field_value v;
  v.st = state::value;
  v.source = "own cgroup first";
  for (const chain_entry& e : r.memory.chain) {
    field_value entry;
    entry.st = state::value;
    field_value dir = text(e.dir);
    dir.key = "dir";
    field_value lim = limit(r, e.limit, "", "unlimited");
    lim.key = "limit_bytes";
    lim.type = field_type::bytes;
    field_value high = limit(r, e.high, "", "unlimited");
    high.key = "high_bytes";
    high.type = field_type::bytes;
    entry.items = {std::move(dir), std::move(lim), std::move(high)};
    v.items.push_back(std::move(entry));
  }
  return v;
}

inline constexpr field cgroup_fields[] = {
    {"version", "version", "", field_type::text, "",
     [](const export_report& r) {
       const auto& l = loc(r);
       const std::string mode = to_string(l.mode);
       return with_human(text(mode), mode + ": " + mode_story(l));
     }},
    {"memory path", "memory_path", "", field_type::text, "",
     [](const export_report& r) {
       const auto& l = loc(r);
       return l.why_none.code ? absent("")
                              : text(l.path, proc_file(r, "cgroup"));
     }},
    {"directory", "memory_dir", "", field_type::text, "",
     [](const export_report& r) {
       const auto& l = loc(r);
       if (l.why_none.code) return absent("");
       const std::string how = "mount " + l.mount.mount_point + " (root " +
                               l.mount.root + "), " + to_string(l.mapping);
       if (l.dir.empty()) return absent("not visible", "not visible", how);
       return text(l.dir, how);
     }},
    {"", "mount_point", "", field_type::text, "",
     [](const export_report& r) {
       return text_or_null(loc(r).mount.mount_point);
     }},
    {"", "mount_root", "", field_type::text, "",
     [](const export_report& r) { return text_or_null(loc(r).mount.root); }},
    {"", "path_mapping", "", field_type::text, "",
     [](const export_report& r) { return text(to_string(loc(r).mapping)); }},
    {"note", "path_fallback", "", field_type::flag, "",
     [](const export_report& r) {
       const auto& l = loc(r);
       if (is_unmapped(l.mapping)) {
         return with_human(flag(true),
                           "the process's cgroup is not visible here: its "
                           "values are errors, never another cgroup's");
       }
       if (is_fallback(l.mapping)) {
         return with_human(
             flag(true),
             "a symlink below the mount: using the mount point, an "
             "ancestor whose limits may be looser");
       }
       if (l.mapping == path_mapping::found_by_pid) {
         return with_human(flag(false),
                           "found by the cgroup.procs that lists the process");
       }
       return quiet(flag(false));
     }},
    {"directories searched", "dirs_searched", "", field_type::count, "",
     [](const export_report& r) {
       const std::size_t n = loc(r).dirs_searched;
       return n ? number(n) : quiet(number(0));
     }},
    {"view", "view", "", field_type::text, "",
     [](const export_report& r) {
       field_value v =
           text(to_string(loc(r).view), "whose mountinfo mapped the path");
       return r.from->opts().pid ? v : quiet(v);
     }},
    {"why", "reason", "", field_type::text, "",
     [](const export_report& r) {
       const auto& l = loc(r);
       if (l.why_none.code) return text(l.why_none.message());
       return is_unmapped(l.mapping) ? text(l.unmapped_reason) : absent("");
     }},
    {"", "unified_path", "", field_type::text, "",
     [](const export_report& r) {
       const auto& l = loc(r);
       return l.unified_dir.empty() ? absent("") : text(l.unified_path);
     }},
    {"cgroup2 dir", "unified_dir", "", field_type::text, "",
     [](const export_report& r) {
       const auto& l = loc(r);
       if (l.unified_dir.empty()) return absent("");
       // Shown to people only where it is not the memory directory itself.
       return l.unified_dir == l.dir ? quiet(text(l.unified_dir))
                                     : text(l.unified_dir);
     }},
    {"chain", "chain", "", field_type::list, "", chain_entries},
};

// ---------------------------------------------------------------------------
// memory

// Why a HEADROOM_MEMORY_LIMIT value is not a size (parse_size takes bytes,
// or a whole number with Ki Mi Gi Ti or k M G T), with the spelling to use.
inline std::string size_hint(std::string_view v) {
  const std::string form =
      "it takes bytes, or a whole number and Ki Mi Gi Ti (1024^n) or k M G T "
      "(1000^n)";
  std::size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
  const std::string_view unit = v.substr(digits);
  const auto is = [&](std::initializer_list<std::string_view> names) {
    for (const std::string_view n : names) {
      if (unit == n) return true;
    }
    return false;
  };
  std::string why;
  if (v.empty()) {
    why = "it is empty";
  } else if (v.find_first_of(" \t\n") != std::string_view::npos) {
    why = "it has spaces";
  } else if (v[0] == '-' || v[0] == '+') {
    why = "a size has no sign";
  } else if (digits == 0) {
    why = "it does not start with a number";
  } else if (!unit.empty() && unit[0] == '.') {
    why = "fractions are not accepted: use a smaller unit (1.5Gi is 1536Mi)";
  } else if (is({"m", "g", "t"})) {
    const std::string n(v.substr(0, digits));
    const char upper = static_cast<char>(unit[0] - 'a' + 'A');
    why =
        "a lowercase unit is ambiguous (Docker's -m 512m is MiB, a Kubernetes "
        "512m is "
        "0.512 bytes): write " +
        n + upper + "i (binary) or " + n + upper + " (decimal)";
  } else if (is({"KB", "kB", "kb", "MB", "mb", "GB", "gb", "TB", "tb"})) {
    why = "no B: write " + std::string(v.substr(0, digits)) +
          static_cast<char>(
              unit[0] == 'k' || unit[0] == 'K' ? 'k' : std::toupper(unit[0])) +
          " (decimal) or " + std::string(v.substr(0, digits)) +
          static_cast<char>(std::toupper(unit[0])) + "i (binary)";
  } else if (is({"KiB", "MiB", "GiB", "TiB"})) {
    why = "no B: write " + std::string(v.substr(0, digits)) +
          std::string(unit.substr(0, 2));
  } else if (unit.empty() ||
             is({"Ki", "Mi", "Gi", "Ti", "k", "K", "M", "G", "T"})) {
    why = "it is more than 2^64 bytes";
  } else {
    why = "unknown unit " + std::string(unit);
  }
  return why + "; " + form;
}

inline field_value limit_bytes(const export_report& r) {
  const memory_snapshot& s = snap(r);
  std::string from = mem(r).limit_path(s);
  if (s.limit && !s.limit->has_value()) from = "nothing on the chain limits";
  if (s.source == limit_source::environment) {
    from += " (environment override; the chain below is what was detected)";
  }
  field_value v = limit(
      r, s.limit, "no limit: nothing on the chain limits memory", "none", from);
  if (v.st == state::error && s.source == limit_source::environment) {
    const std::string& path = v.failure.path;  // HEADROOM_MEMORY_LIMIT=value
    const std::size_t eq = path.find('=');
    if (eq != std::string::npos)
      v.why = size_hint(std::string_view(path).substr(eq + 1));
  }
  return v;
}

inline bool limited(const export_report& r) {
  return snap(r).limit && snap(r).limit->has_value();
}

inline field_value stat_value(const export_report& r,
                              std::uint64_t memory_stat::*member) {
  return from(r, snap(r).stat,
              [&](const memory_stat& st) { return number(st.*member); });
}

inline field_value events(const export_report& r) {
  const auto& ev = r.memory.events;
  return from(r, ev.value, [&](const auto& counters) {
    field_value v;
    v.st = state::value;
    v.source = ev.path;
    for (const auto& kv : counters) {
      field_value c = number(kv.second);
      c.key = kv.first;
      v.items.push_back(std::move(c));
    }
    return v;
  });
}

// memory.stat as far as the kernel has it: the entries of the layout's key
// table that the file holds, by their v2 names.
inline field_value stat_group(const export_report& r,
                              const reading<memory_accounting>& st) {
  return from(r, st.value, [&](const memory_accounting& a) {
    field_value v;
    v.st = state::value;
    v.source = st.path;
    for (std::size_t i = 0; i < stat_key_count; ++i) {
      const auto k = static_cast<stat_key>(i);
      if (!a[k]) continue;
      field_value c = number(*a[k]);
      c.key = to_string(k);
      c.type = is_event_count(k) ? field_type::counter : field_type::bytes;
      v.items.push_back(std::move(c));
    }
    return v;
  });
}

inline field_value accounting(const export_report& r) {
  return stat_group(r, r.memory.stat);
}

// One memory.stat entry as a sample labelled with its name; absent where
// the kernel has no such key.
template <stat_key K>
field_value stat_metric(const export_report& r) {
  const auto& st = r.memory.stat;
  return from(r, st.value, [&](const memory_accounting& a) {
    if (!a[K]) return absent(std::string("no ") + to_string(K) + " here");
    return with_labels(number(*a[K]), {{"key", to_string(K)}});
  });
}

// The rows of the two memory.stat families: one series per key, labelled
// with its name, all with the family's name and help.
template <stat_key K>
constexpr field stat_size() {
  return {"",
          "",
          "headroom_memory_stat_bytes",
          field_type::bytes,
          "memory.stat sizes of the cgroup the limit applies to (v2 names)",
          stat_metric<K>};
}
template <stat_key K>
constexpr field stat_event() {
  return {"",
          "",
          "headroom_memory_stat_events_total",
          field_type::counter,
          "memory.stat event counts (pages) of the cgroup the limit applies to",
          stat_metric<K>};
}

inline constexpr field memory_fields[] = {
    {"limit", "limit_bytes", "headroom_memory_limit_bytes", field_type::bytes,
     "Memory limit: the tightest on the cgroup chain (the container's own is "
     "container_spec_memory_limit_bytes)",
     limit_bytes},
    {"note", "", "", field_type::text, "",
     [](const export_report& r) {
       if (snap(r).source != limit_source::hierarchical)
         return quiet(absent(""));
       return text(
           "an ancestor above the mount point holds this limit; usage is read "
           "at the topmost visible cgroup");
     }},
    {"", "limit_path", "", field_type::text, "",
     [](const export_report& r) {
       return limited(r) ? text(mem(r).limit_path(snap(r))) : absent("");
     }},
    {"", "limit_cgroup", "", field_type::text, "",
     [](const export_report& r) {
       const auto dir = limit_cgroup(r);
       return dir ? text(*dir) : absent("");
     }},
    {"", "limit_source", "", field_type::text, "",
     [](const export_report& r) { return text(to_string(snap(r).source)); }},
    {"high", "high_bytes", "headroom_memory_high_bytes", field_type::bytes,
     "Tightest memory.high on the chain: the throttling threshold (v2)",
     [](const export_report& r) {
       const auto& h = r.memory.high;
       return limit(r, h.value, "no memory.high on the chain", "none", h.path);
     }},
    {"", "high_path", "", field_type::text, "",
     [](const export_report& r) {
       const auto& h = r.memory.high;
       return h.value && h.value->has_value() ? text(h.path) : absent("");
     }},
    {"low (soft limit)", "low_bytes", "headroom_memory_low_bytes",
     field_type::bytes,
     "Best-effort protection: memory.low (v2) or memory.soft_limit_in_bytes "
     "(v1), of the memory cgroup",
     [](const export_report& r) {
       const auto& l = r.memory.low;
       return limit(r, l.value, "no soft limit", "none", l.path);
     }},
    {"swap limit", "swap_limit_bytes", "headroom_swap_limit_bytes",
     field_type::bytes, "Swap the cgroup may use, in bytes",
     [](const export_report& r) {
       const auto& sw = r.memory.swap_limit;
       return limit(r, sw.value, "swap is not limited", "unlimited", sw.path);
     }},
    {"usage", "usage_bytes", "headroom_memory_usage_bytes", field_type::bytes,
     "Current memory usage in bytes, of the cgroup the limit applies to "
     "(host-wide: MemTotal - MemFree)",
     [](const export_report& r) {
       return bytes(r, snap(r).usage, mem(r).usage_path(snap(r)));
     }},
    {"", "usage_path", "", field_type::text, "",
     [](const export_report& r) { return text(mem(r).usage_path(snap(r))); }},
    {"", "usage_host_wide", "", field_type::flag, "",
     [](const export_report& r) { return flag(host_wide(r)); }},
    {"", "usage_cgroup", "", field_type::text, "",
     [](const export_report& r) {
       const auto& chain = loc(r).chain;
       const auto at = snap(r).usage_at;
       return at && at->index < chain.size() ? text(chain[at->index])
                                             : absent("");
     }},
    {"", "usage_scope", "", field_type::text, "",
     [](const export_report& r) { return text(to_string(snap(r).scope)); }},
    {"working set", "working_set_bytes", "headroom_memory_working_set_bytes",
     field_type::bytes,
     "Working set in bytes of the cgroup the limit applies to: usage minus "
     "inactive file cache (kubelet's measure)",
     [](const export_report& r) {
       return bytes(r, snap(r).working_set,
                    host_wide(r) ? "MemTotal - MemAvailable (host-wide)"
                                 : "usage - inactive file");
     }},
    {"anon", "anon_bytes", "", field_type::bytes,
     "Size of RSS in bytes (memory.stat anon, v1 total_rss)",
     [](const export_report& r) { return stat_value(r, &memory_stat::anon); }},
    {"file", "file_bytes", "", field_type::bytes,
     "Page cache memory in bytes (memory.stat file, v1 total_cache)",
     [](const export_report& r) { return stat_value(r, &memory_stat::file); }},
    {"inactive file", "inactive_file_bytes", "", field_type::bytes, "",
     [](const export_report& r) {
       return stat_value(r, &memory_stat::inactive_file);
     }},
    {"peak", "peak_bytes", "headroom_memory_peak_bytes", field_type::bytes,
     "Highest usage recorded, of the cgroup the limit applies to",
     [](const export_report& r) { return reading_bytes(r, r.memory.peak); }},
    {"failcnt", "failcnt", "headroom_memory_failcnt_total", field_type::counter,
     "Times usage hit the limit (v1 memory.failcnt)",
     [](const export_report& r) { return reading_bytes(r, r.memory.failcnt); }},
    {"oom kills", "oom_kill_count", "headroom_memory_oom_kills_total",
     field_type::counter,
     "Processes killed by the OOM killer in the cgroup the limit applies to",
     [](const export_report& r) {
       return reading_bytes(r, r.memory.oom_kills);
     }},
    {"events", "events", "", field_type::group, "", events},
    {"", "events_path", "", field_type::text, "",
     [](const export_report& r) { return text_or_null(r.memory.events.path); }},
    {"host total", "host_total_bytes", "machine_memory_bytes",
     field_type::bytes, "Amount of memory installed on the machine (MemTotal)",
     [](const export_report& r) {
       return bytes(r, snap(r).host_total, "/proc/meminfo MemTotal");
     }},
    {"effective limit", "effective_limit_bytes",
     "headroom_effective_limit_bytes", field_type::bytes,
     "min(limit, host total); the host total when nothing limits",
     [](const export_report& r) {
       return bytes(
           r, snap(r).effective_limit,
           limited(r) ? "min(limit, host total)" : "host total (no limit)");
     }},
    {"headroom", "headroom_bytes", "headroom_headroom_bytes", field_type::bytes,
     "Effective limit minus working set, floored at 0",
     [](const export_report& r) {
       return bytes(r, snap(r).headroom, "effective limit - working set");
     }},
    {"note", "headroom_is_bound", "", field_type::flag, "",
     [](const export_report& r) {
       const memory_snapshot& s = snap(r);
       if (!s.headroom_is_bound()) return quiet(flag(false));
       return with_human(
           flag(true),
           "the headroom is an upper bound: usage is not the limit cgroup's (" +
               std::string(to_string(s.scope)) + ")");
     }},
    {"memory.stat", "stat", "", field_type::group, "", accounting},
    {"", "stat_path", "", field_type::text, "",
     [](const export_report& r) { return text_or_null(r.memory.stat.path); }},
    stat_size<stat_key::anon>(),
    stat_size<stat_key::file>(),
    stat_size<stat_key::kernel>(),
    stat_size<stat_key::kernel_stack>(),
    stat_size<stat_key::pagetables>(),
    stat_size<stat_key::sock>(),
    stat_size<stat_key::shmem>(),
    stat_size<stat_key::slab_reclaimable>(),
    stat_size<stat_key::slab_unreclaimable>(),
    stat_size<stat_key::file_mapped>(),
    stat_size<stat_key::file_dirty>(),
    stat_size<stat_key::file_writeback>(),
    stat_size<stat_key::anon_thp>(),
    stat_size<stat_key::swapcached>(),
    stat_size<stat_key::active_anon>(),
    stat_size<stat_key::inactive_anon>(),
    stat_size<stat_key::active_file>(),
    stat_size<stat_key::inactive_file>(),
    stat_size<stat_key::unevictable>(),
    stat_size<stat_key::zswap>(),
    stat_size<stat_key::zswapped>(),
    stat_size<stat_key::swap>(),
    stat_event<stat_key::workingset_refault_anon>(),
    stat_event<stat_key::workingset_refault_file>(),
    stat_event<stat_key::workingset_activate_anon>(),
    stat_event<stat_key::workingset_activate_file>(),
    stat_event<stat_key::pgscan>(),
    stat_event<stat_key::pgsteal>(),
    stat_event<stat_key::pgfault>(),
    stat_event<stat_key::pgmajfault>(),
    {"swap", "swap_bytes", "headroom_memory_swap_bytes", field_type::bytes,
     "Swap in use by the cgroup the limit applies to: memory.swap.current "
     "(v2), total_swap (v1; memsw usage minus usage without it)",
     [](const export_report& r) {
       return reading_bytes(r, r.memory.swap_usage);
     }},
    {"zswap", "zswap_bytes", "headroom_memory_zswap_bytes", field_type::bytes,
     "Compressed swap held in memory (memory.zswap.current, v2)",
     [](const export_report& r) {
       return reading_bytes(r, r.memory.zswap_usage);
     }},
    {"oom group", "oom_group", "headroom_memory_oom_group", field_type::flag,
     "1 when one OOM kill ends every process of the cgroup (memory.oom.group, "
     "v2)",
     [](const export_report& r) {
       const auto& g = r.memory.oom_group;
       return from(r, g.value, [&](bool b) {
         field_value v = flag(b);
         v.source = g.path;
         if (b) v.human = "yes: one kill ends the whole cgroup";
         return v;
       });
     }},
    {"reclaimable (est.)", "reclaimable_bytes",
     "headroom_memory_reclaimable_bytes", field_type::bytes,
     "Estimate: inactive file cache plus reclaimable slab",
     [](const export_report& r) {
       return bytes(r, r.memory.reclaimable,
                    "estimate: inactive_file + slab_reclaimable");
     }},
    {"available (est.)", "available_bytes", "headroom_memory_available_bytes",
     field_type::bytes,
     "Estimate: effective limit minus what cannot be reclaimed (usage - "
     "reclaimable)",
     [](const export_report& r) {
       return bytes(r, r.memory.available,
                    "estimate: effective limit - (usage - reclaimable)");
     }},
    {"", "estimates", "", field_type::text, "",
     [](const export_report&) {
       return text(
           "reclaimable_bytes and available_bytes are estimates; "
           "working_set_bytes is the kubelet's measure");
     }},
};

// ---------------------------------------------------------------------------
// container: the memory cgroup's own values with cAdvisor's meaning. Each
// metric is the one cAdvisor writes for a container (google/cadvisor
// lib/metrics/prometheus.go), from the same files: the spec from
// lib/container/common/helpers.go (GetSpec), the stats from
// lib/container/libcontainer/handler.go (setMemoryStats).

inline const own_memory& own(const export_report& r) { return r.memory.own; }

// cAdvisor writes a spec value above 2^62 (unlimited) as 0 (prometheus.go,
// specMemoryValue).
inline field_value spec_bytes(const export_report& r,
                              const reading<std::optional<std::uint64_t>>& v) {
  return from(r, v.value, [&](const std::optional<std::uint64_t>& n) {
    field_value f = number(n ? *n : 0, v.path);
    if (!n) f.human = "unlimited (0, as cAdvisor writes it)";
    return f;
  });
}

inline field_value own_entry(const export_report& r, stat_key k,
                             bool cadvisor_name_only = false) {
  const auto& st = own(r).stat;
  const cgroup_layout* l = mem(r).layout();
  if (cadvisor_name_only && l && !l->memory.cadvisor_stat_names) {
    // v1: cAdvisor finds the local count where the kernel prints one.
    const auto& local = own(r).cadvisor_local;
    if (local.value && (*local.value)[k])
      return number(*(*local.value)[k], local.path + " (local)");
    return absent(std::string("cAdvisor reads memory.stat ") + to_string(k) +
                  ", which this memory.stat does not have");
  }
  return from(r, st.value, [&](const memory_accounting& a) {
    if (!a[k])
      return absent("no " + std::string(to_string(k)) + " in " + st.path);
    return number(*a[k], st.path);
  });
}

template <stat_key K>
field_value own_stat(const export_report& r) {
  return own_entry(r, K);
}

template <stat_key K>
field_value own_stat_v2(const export_report& r) {
  return own_entry(r, K, true);
}

// usage - inactive_file, floored at 0 (handler.go, setMemoryStats).
inline field_value own_working_set(const export_report& r) {
  const own_memory& o = own(r);
  if (!o.usage.value) return bytes(r, o.usage.value);
  return from(r, o.stat.value, [&](const memory_accounting& a) {
    const std::uint64_t u = *o.usage.value;
    const std::uint64_t inactive = a[stat_key::inactive_file].value_or(0);
    return number(u > inactive ? u - inactive : 0, "usage - inactive file");
  });
}

// A counter of the own memory.events (v2).
inline field_value own_event(const export_report& r, const char* key) {
  const auto& ev = own(r).events;
  return from(r, ev.value, [&](const counters_list& c) {
    for (const auto& kv : c) {
      if (kv.first == key) return number(kv.second, ev.path);
    }
    return absent(std::string("no ") + key + " in " + ev.path);
  });
}

inline constexpr field container_fields[] = {
    {"cgroup", "dir", "", field_type::text, "",
     [](const export_report& r) { return text_or_null(own(r).dir); }},
    {"limit", "limit_bytes", "container_spec_memory_limit_bytes",
     field_type::bytes,
     "Memory limit for the container: its own limit file, 0 when unlimited "
     "(as cAdvisor)",
     [](const export_report& r) { return spec_bytes(r, own(r).limit); }},
    {"", "reservation_bytes", "container_spec_memory_reservation_limit_bytes",
     field_type::bytes,
     "Memory reservation limit for the container: memory.min (v2), "
     "memory.soft_limit_in_bytes (v1), 0 when unlimited",
     [](const export_report& r) { return spec_bytes(r, own(r).reservation); }},
    {"", "swap_limit_bytes", "container_spec_memory_swap_limit_bytes",
     field_type::bytes,
     "Memory swap limit for the container: memory.swap.max (v2), "
     "memory.memsw.limit_in_bytes (v1: memory and swap), 0 when unlimited",
     [](const export_report& r) { return spec_bytes(r, own(r).swap_limit); }},
    {"usage", "usage_bytes", "container_memory_usage_bytes", field_type::bytes,
     "Current memory usage in bytes, including all memory regardless of "
     "when it was accessed (the container's own cgroup)",
     [](const export_report& r) { return reading_bytes(r, own(r).usage); }},
    {"working set", "working_set_bytes", "container_memory_working_set_bytes",
     field_type::bytes, "Current working set in bytes: usage - inactive_file",
     own_working_set},
    {"", "rss_bytes", "container_memory_rss", field_type::bytes,
     "Size of RSS in bytes: memory.stat anon (v2), total_rss (v1)",
     own_stat<stat_key::anon>},
    {"", "cache_bytes", "container_memory_cache", field_type::bytes,
     "Number of bytes of page cache memory: file (v2), total_cache (v1)",
     own_stat<stat_key::file>},
    {"", "mapped_file_bytes", "container_memory_mapped_file", field_type::bytes,
     "Size of memory mapped files in bytes: file_mapped (v2), "
     "total_mapped_file (v1)",
     own_stat<stat_key::file_mapped>},
    {"", "swap_bytes", "container_memory_swap", field_type::bytes,
     "Container swap usage in bytes: memory.swap.current (v2), total_swap "
     "(v1)",
     [](const export_report& r) { return reading_bytes(r, own(r).swap); }},
    {"", "kernel_bytes", "container_memory_kernel_usage", field_type::bytes,
     "Size of kernel memory allocated in bytes: memory.kmem.usage_in_bytes "
     "(v1)",
     [](const export_report& r) {
       if (!mem(r).layout() || mem(r).layout()->memory.kernel_usage)
         return reading_bytes(r, own(r).kernel);
       // cAdvisor writes 0 on v2: opencontainers/cgroups fs2 fills no
       // KernelUsage. memory.stat kernel is headroom_memory_stat_bytes.
       return absent(
           "cAdvisor writes 0 on v2 (no kmem file); see "
           "headroom_memory_stat_bytes{key=\"kernel\"}");
     }},
    {"", "active_file_bytes", "container_memory_total_active_file_bytes",
     field_type::bytes, "Current total active file in bytes",
     own_stat<stat_key::active_file>},
    {"", "inactive_file_bytes", "container_memory_total_inactive_file_bytes",
     field_type::bytes, "Current total inactive file in bytes",
     own_stat<stat_key::inactive_file>},
    {"", "peak_bytes", "container_memory_max_usage_bytes", field_type::bytes,
     "Maximum memory usage recorded in bytes (memory.peak, v1 "
     "memory.max_usage_in_bytes)",
     [](const export_report& r) { return reading_bytes(r, own(r).peak); }},
    {"", "file_dirty_bytes", "container_memory_file_dirty_bytes",
     field_type::bytes,
     "Number of bytes of file cache that has been modified but not yet "
     "written back to disk (v2)",
     own_stat_v2<stat_key::file_dirty>},
    {"", "file_writeback_bytes", "container_memory_file_writeback_bytes",
     field_type::bytes,
     "Number of bytes of file cache that is currently being written back to "
     "disk (v2)",
     own_stat_v2<stat_key::file_writeback>},
    {"", "pgscan", "container_memory_pgscan_total", field_type::counter,
     "Cumulative number of pages scanned by the page reclaim algorithm (v2)",
     own_stat_v2<stat_key::pgscan>},
    {"", "pgsteal", "container_memory_pgsteal_total", field_type::counter,
     "Cumulative number of pages reclaimed by the page reclaim algorithm (v2)",
     own_stat_v2<stat_key::pgsteal>},
    {"", "workingset_refault_file",
     "container_memory_workingset_refault_file_total", field_type::counter,
     "Cumulative number of refaults of previously evicted file pages (v2; "
     "v1: the cgroup's own, Linux 5.9+)",
     own_stat_v2<stat_key::workingset_refault_file>},
    {"", "workingset_refault_anon",
     "container_memory_workingset_refault_anon_total", field_type::counter,
     "Cumulative number of refaults of previously evicted anonymous pages "
     "(v2; v1: the cgroup's own, Linux 5.9+)",
     own_stat_v2<stat_key::workingset_refault_anon>},
    {"", "events_high", "container_memory_events_high_total",
     field_type::counter,
     "Cumulative count of memory.high throttle events for the container (v2)",
     [](const export_report& r) { return own_event(r, "high"); }},
    {"", "events_max", "container_memory_events_max_total", field_type::counter,
     "Cumulative count of memory.max limit hit events for the container (v2)",
     [](const export_report& r) { return own_event(r, "max"); }},
    {"oom kills", "oom_kill_count", "container_oom_events_total",
     field_type::counter,
     "Count of out of memory events observed for the container: processes "
     "killed by the OOM killer, its oom_kill counter (cAdvisor counts the "
     "kernel log's OOM kills of the container)",
     [](const export_report& r) {
       const auto& ev = own(r).events;
       return from(r, ev.value, [&](const counters_list& c) {
         for (const auto& kv : c) {
           if (kv.first == mem(r).layout()->memory.oom_kill_key)
             return number(kv.second, ev.path);
         }
         return absent("no oom_kill in " + ev.path);
       });
     }},
};

// ---------------------------------------------------------------------------
// pressure: PSI of memory, the CPU and IO (Documentation/accounting/psi.rst),
// each from the own cgroup2 directory or host-wide (memory_report::
// pressure, cpu_pressure, io_pressure). The three sections are one table
// each over the same functions.

enum class psi_resource { memory, cpu, io };

// The resource's name in its files: memory.pressure, /proc/pressure/memory.
template <psi_resource R>
constexpr const char* psi_name() {
  if constexpr (R == psi_resource::cpu) return "cpu";
  if constexpr (R == psi_resource::io) return "io";
  return "memory";
}

template <psi_resource R>
const reading<psi_stats>& pressure_of(const export_report& r) {
  if constexpr (R == psi_resource::cpu) return r.memory.cpu_pressure;
  if constexpr (R == psi_resource::io) return r.memory.io_pressure;
  return r.memory.pressure;
}

template <psi_resource R>
pressure_scope scope_of(const export_report& r) {
  if constexpr (R == psi_resource::cpu) return r.memory.cpu_pressure_from;
  if constexpr (R == psi_resource::io) return r.memory.io_pressure_from;
  return r.memory.pressure_from;
}

template <psi_resource R = psi_resource::memory>
std::string scope(const export_report& r) {
  return to_string(scope_of<R>(r));
}

// Why there is no PSI of R at all, for a kernel without it: the file read
// last is missing (no CONFIG_PSI, psi=0 on the kernel command line, which
// also hides the cgroup files on Linux 6.1+) or refuses reads with
// EOPNOTSUPP (psi=0 on older kernels). nullopt: it was read, or it failed
// some other way (an error, listed in errors).
template <psi_resource R>
std::optional<std::string> psi_not_available(const export_report& r) {
  const auto& p = pressure_of<R>(r);
  if (p.value) return std::nullopt;
  const error& e = p.value.error();
  const std::string host = std::string("/proc/pressure/") + psi_name<R>();
  if (e.code == std::errc::operation_not_supported) {
    return "not available: " + p.path +
           " refuses reads (EOPNOTSUPP): PSI is disabled (psi=0 on the "
           "kernel command line)";
  }
  if (!is_gone(e)) return std::nullopt;
  std::string why = "not available: no " + p.path;
  if (p.path != host) why += " and no " + host;
  return why +
         ": the kernel has no PSI (built without CONFIG_PSI, or booted with "
         "psi=0)";
}

// The psi_line of `some` (or `full`), or why there is none.
template <psi_resource R, class Make>
field_value psi(const export_report& r, bool full, Make make) {
  const auto& p = pressure_of<R>(r);
  if (auto why = psi_not_available<R>(r)) return absent(*why);
  if (!p.value) return failed(p.value.error());
  if (!full) return make(p.value->some);
  if (!p.value->full) return absent("no full line in " + p.path);
  return make(*p.value->full);
}

template <psi_resource R, bool Full>
field_value psi_group(const export_report& r) {
  return psi<R>(r, Full, [](const psi_line&) {
    field_value v;
    v.st = state::value;
    return v;
  });
}

template <psi_resource R, bool Full, double psi_line::*Avg>
field_value psi_avg(const export_report& r) {
  return psi<R>(r, Full, [&](const psi_line& l) {
    return with_labels(real(l.*Avg), {{"scope", scope<R>(r)}});
  });
}

template <psi_resource R, bool Full>
field_value psi_total(const export_report& r) {
  return psi<R>(r, Full, [](const psi_line& l) { return number(l.total_us); });
}

// PSI totals as cAdvisor's counters (its lib/metrics/prometheus.go, from
// runc's cgroup2 PSI read by lib/container/libcontainer/handler.go): only
// when the pressure is the cgroup's own, as cAdvisor reads it from the
// container's cgroup2 directory; host-wide pressure is not the container's.
template <psi_resource R, bool Full>
field_value psi_seconds(const export_report& r) {
  if (auto why = psi_not_available<R>(r)) return absent(*why);
  if (scope_of<R>(r) != pressure_scope::cgroup) {
    return absent("the pressure read is not the cgroup's (scope " +
                  scope<R>(r) + ")");
  }
  return psi_total<R, Full>(r);
}

template <psi_resource R>
field_value psi_scope_field(const export_report& r) {
  if (auto why = psi_not_available<R>(r)) return absent(*why, *why);
  return text(scope<R>(r), pressure_of<R>(r).path);
}

template <psi_resource R>
field_value psi_path_field(const export_report& r) {
  return text_or_null(pressure_of<R>(r).path);
}

template <psi_resource R>
field_value psi_reason_field(const export_report& r) {
  auto why = psi_not_available<R>(r);
  return why ? text(*why) : absent("");
}

inline constexpr field pressure_fields[] = {
    {"scope", "scope", "", field_type::text, "",
     psi_scope_field<psi_resource::memory>},
    {"", "path", "", field_type::text, "",
     psi_path_field<psi_resource::memory>},
    {"", "reason", "", field_type::text, "",
     psi_reason_field<psi_resource::memory>},
    {"some", "some", "", field_type::group, "",
     psi_group<psi_resource::memory, false>},
    {"avg10", "some.avg10", "headroom_psi_memory_some_avg10",
     field_type::percent,
     "Percent of time some tasks stalled on memory, over 10 s (PSI)",
     psi_avg<psi_resource::memory, false, &psi_line::avg10>},
    {"avg60", "some.avg60", "headroom_psi_memory_some_avg60",
     field_type::percent,
     "Percent of time some tasks stalled on memory, over 60 s (PSI)",
     psi_avg<psi_resource::memory, false, &psi_line::avg60>},
    {"avg300", "some.avg300", "headroom_psi_memory_some_avg300",
     field_type::percent,
     "Percent of time some tasks stalled on memory, over 300 s (PSI)",
     psi_avg<psi_resource::memory, false, &psi_line::avg300>},
    {"total", "some.total_us", "", field_type::micros, "",
     psi_total<psi_resource::memory, false>},
    {"full", "full", "", field_type::group, "",
     psi_group<psi_resource::memory, true>},
    {"avg10", "full.avg10", "headroom_psi_memory_full_avg10",
     field_type::percent,
     "Percent of time all non-idle tasks stalled on memory, over 10 s (PSI)",
     psi_avg<psi_resource::memory, true, &psi_line::avg10>},
    {"avg60", "full.avg60", "headroom_psi_memory_full_avg60",
     field_type::percent,
     "Percent of time all non-idle tasks stalled on memory, over 60 s (PSI)",
     psi_avg<psi_resource::memory, true, &psi_line::avg60>},
    {"avg300", "full.avg300", "headroom_psi_memory_full_avg300",
     field_type::percent,
     "Percent of time all non-idle tasks stalled on memory, over 300 s (PSI)",
     psi_avg<psi_resource::memory, true, &psi_line::avg300>},
    {"total", "full.total_us", "", field_type::micros, "",
     psi_total<psi_resource::memory, true>},
    {"", "", "container_pressure_memory_waiting_seconds_total",
     field_type::micros,
     "Total time duration tasks in the container have waited due to memory "
     "congestion (PSI some total of its own memory.pressure)",
     psi_seconds<psi_resource::memory, false>},
    {"", "", "container_pressure_memory_stalled_seconds_total",
     field_type::micros,
     "Total time duration no tasks in the container could make progress due "
     "to memory congestion (PSI full total of its own memory.pressure)",
     psi_seconds<psi_resource::memory, true>},
};

// The CPU's: "some" is time runnable tasks waited for a CPU; "full" (Linux
// 5.13+) is time all non-idle tasks did, always 0 host-wide.
inline constexpr field cpu_pressure_fields[] = {
    {"scope", "scope", "", field_type::text, "",
     psi_scope_field<psi_resource::cpu>},
    {"", "path", "", field_type::text, "", psi_path_field<psi_resource::cpu>},
    {"", "reason", "", field_type::text, "",
     psi_reason_field<psi_resource::cpu>},
    {"some", "some", "", field_type::group, "",
     psi_group<psi_resource::cpu, false>},
    {"avg10", "some.avg10", "headroom_psi_cpu_some_avg10", field_type::percent,
     "Percent of time some runnable tasks waited for a CPU, over 10 s (PSI)",
     psi_avg<psi_resource::cpu, false, &psi_line::avg10>},
    {"avg60", "some.avg60", "headroom_psi_cpu_some_avg60", field_type::percent,
     "Percent of time some runnable tasks waited for a CPU, over 60 s (PSI)",
     psi_avg<psi_resource::cpu, false, &psi_line::avg60>},
    {"avg300", "some.avg300", "headroom_psi_cpu_some_avg300",
     field_type::percent,
     "Percent of time some runnable tasks waited for a CPU, over 300 s (PSI)",
     psi_avg<psi_resource::cpu, false, &psi_line::avg300>},
    {"total", "some.total_us", "", field_type::micros, "",
     psi_total<psi_resource::cpu, false>},
    {"full", "full", "", field_type::group, "",
     psi_group<psi_resource::cpu, true>},
    {"avg10", "full.avg10", "headroom_psi_cpu_full_avg10", field_type::percent,
     "Percent of time all non-idle tasks waited for a CPU, over 10 s (PSI; 0 "
     "host-wide)",
     psi_avg<psi_resource::cpu, true, &psi_line::avg10>},
    {"avg60", "full.avg60", "headroom_psi_cpu_full_avg60", field_type::percent,
     "Percent of time all non-idle tasks waited for a CPU, over 60 s (PSI; 0 "
     "host-wide)",
     psi_avg<psi_resource::cpu, true, &psi_line::avg60>},
    {"avg300", "full.avg300", "headroom_psi_cpu_full_avg300",
     field_type::percent,
     "Percent of time all non-idle tasks waited for a CPU, over 300 s (PSI; "
     "0 host-wide)",
     psi_avg<psi_resource::cpu, true, &psi_line::avg300>},
    {"total", "full.total_us", "", field_type::micros, "",
     psi_total<psi_resource::cpu, true>},
    {"", "", "container_pressure_cpu_waiting_seconds_total", field_type::micros,
     "Total time duration tasks in the container have waited due to CPU "
     "congestion (PSI some total of its own cpu.pressure)",
     psi_seconds<psi_resource::cpu, false>},
    {"", "", "container_pressure_cpu_stalled_seconds_total", field_type::micros,
     "Total time duration no tasks in the container could make progress due "
     "to CPU congestion (PSI full total of its own cpu.pressure)",
     psi_seconds<psi_resource::cpu, true>},
};

// IO's: time some (or all non-idle) tasks waited for block IO.
inline constexpr field io_pressure_fields[] = {
    {"scope", "scope", "", field_type::text, "",
     psi_scope_field<psi_resource::io>},
    {"", "path", "", field_type::text, "", psi_path_field<psi_resource::io>},
    {"", "reason", "", field_type::text, "",
     psi_reason_field<psi_resource::io>},
    {"some", "some", "", field_type::group, "",
     psi_group<psi_resource::io, false>},
    {"avg10", "some.avg10", "headroom_psi_io_some_avg10", field_type::percent,
     "Percent of time some tasks stalled on IO, over 10 s (PSI)",
     psi_avg<psi_resource::io, false, &psi_line::avg10>},
    {"avg60", "some.avg60", "headroom_psi_io_some_avg60", field_type::percent,
     "Percent of time some tasks stalled on IO, over 60 s (PSI)",
     psi_avg<psi_resource::io, false, &psi_line::avg60>},
    {"avg300", "some.avg300", "headroom_psi_io_some_avg300",
     field_type::percent,
     "Percent of time some tasks stalled on IO, over 300 s (PSI)",
     psi_avg<psi_resource::io, false, &psi_line::avg300>},
    {"total", "some.total_us", "", field_type::micros, "",
     psi_total<psi_resource::io, false>},
    {"full", "full", "", field_type::group, "",
     psi_group<psi_resource::io, true>},
    {"avg10", "full.avg10", "headroom_psi_io_full_avg10", field_type::percent,
     "Percent of time all non-idle tasks stalled on IO, over 10 s (PSI)",
     psi_avg<psi_resource::io, true, &psi_line::avg10>},
    {"avg60", "full.avg60", "headroom_psi_io_full_avg60", field_type::percent,
     "Percent of time all non-idle tasks stalled on IO, over 60 s (PSI)",
     psi_avg<psi_resource::io, true, &psi_line::avg60>},
    {"avg300", "full.avg300", "headroom_psi_io_full_avg300",
     field_type::percent,
     "Percent of time all non-idle tasks stalled on IO, over 300 s (PSI)",
     psi_avg<psi_resource::io, true, &psi_line::avg300>},
    {"total", "full.total_us", "", field_type::micros, "",
     psi_total<psi_resource::io, true>},
    {"", "", "container_pressure_io_waiting_seconds_total", field_type::micros,
     "Total time duration tasks in the container have waited due to IO "
     "congestion (PSI some total of its own io.pressure)",
     psi_seconds<psi_resource::io, false>},
    {"", "", "container_pressure_io_stalled_seconds_total", field_type::micros,
     "Total time duration no tasks in the container could make progress due "
     "to IO congestion (PSI full total of its own io.pressure)",
     psi_seconds<psi_resource::io, true>},
};

// ---------------------------------------------------------------------------
// cpu

inline const cpu_reader* cpu(const export_report& r) {
  const auto& c = r.from->cpu();
  return c ? &*c : nullptr;
}

// Why a controller is not there, in words (the error code says which case).
inline std::string why_no_controller(const cgroup_location& l,
                                     const char* name) {
  if (l.why_none.code == errc::controller_absent) {
    return std::string("the ") + name +
           " controller is not mounted or not enabled";
  }
  if (l.why_none.code == errc::no_cgroup) {
    return std::string("no ") + name + " cgroup for the process";
  }
  if (is_disabled(l.why_none))
    return "not looked for (" + l.why_none.path + ")";
  return l.why_none.message();
}

// A cpu value: `get` on the reader, or the reader's error.
template <class Get>
field_value cpu_value(const export_report& r, Get get) {
  const cpu_reader* c = cpu(r);
  if (!c) return failed(r.from->cpu().error());
  return get(*c, r.cpu);
}

inline std::string cpu_count(std::uint32_t n) {
  return std::to_string(n) + (n == 1 ? " CPU" : " CPUs");
}

inline std::string decimals(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// The quota, absent when nothing sets one; its error otherwise.
template <class Make>
field_value quota(const export_report& r, bool listed, Make make) {
  return cpu_value(r, [&](const cpu_reader& c, const cpu_snapshot& s) {
    if (!s.quota) {
      // The quota's error is listed once, under quota_cpus.
      return listed ? failed(s.quota.error())
                    : absent("unreadable: " + s.quota.error().message());
    }
    if (!s.quota->has_value()) {
      return absent("no quota: nothing on the cpu cgroup chain sets one",
                    "none", "nothing on the chain sets one");
    }
    return make(c, s, **s.quota);
  });
}

// The own cpu cgroup's bandwidth setting, or why there is none. Its error
// is listed once, under own_quota_us (`listed`), and not at all when the
// chain's quota failed too: the own cgroup's files are on the chain, and
// that error is listed under quota_cpus.
template <class Make>
field_value own_bandwidth(const export_report& r, bool listed, Make make) {
  return cpu_value(r, [&](const cpu_reader& c, const cpu_snapshot& s) {
    if (!s.own_bandwidth) {
      if (listed && s.quota) return failed(s.own_bandwidth.error());
      return absent("unreadable: " + s.own_bandwidth.error().message());
    }
    if (!s.own_bandwidth->has_value()) {
      return absent("no bandwidth files in the own cpu cgroup");
    }
    return make(c, **s.own_bandwidth);
  });
}

inline field_value effective(const export_report& r, cpu_rounding rounding) {
  return cpu_value(r, [&](const cpu_reader&, const cpu_snapshot& s) {
    const auto n = s.effective(rounding);
    return with_labels(
        n ? number(*n)
          : absent("unknown: " + n.error().message(),
                   "unavailable: " + n.error().message()),
        {{"rounding", rounding == cpu_rounding::up ? "up" : "down"}});
  });
}

// One bandwidth counter of the own cpu cgroup's cpu.stat, or why not.
template <std::uint64_t cpu_throttling::*Member>
field_value throttling(const export_report& r) {
  return cpu_value(r, [&](const cpu_reader& c, const cpu_snapshot& s) {
    if (!s.throttling) return failed(s.throttling.error());
    if (!s.throttling->has_value()) {
      return absent(c.stat_path().empty()
                        ? std::string("no cpu controller")
                        : "no bandwidth counters in " + c.stat_path());
    }
    return number((**s.throttling).*Member, c.stat_path());
  });
}

inline constexpr field cpu_fields[] = {
    {"controller", "controller", "", field_type::text, "",
     [](const export_report& r) {
       const cpu_reader* c = cpu(r);
       if (!c)
         return with_human(text("none"),
                           "unavailable: " + r.from->cpu().error().message());
       const auto& l = c->cpu_location();
       if (l.why_none.code) {
         return with_human(text("none"),
                           "none: " + why_no_controller(l, "cpu"));
       }
       const std::string version = controller_version(l.mode);
       return with_human(
           text(version,
                "mount " + l.mount.mount_point + ", " + to_string(l.mapping)),
           version + ": " + (l.dir.empty() ? "not visible" : l.dir));
     }},
    {"", "cgroup_dir", "", field_type::text, "",
     [](const export_report& r) {
       const cpu_reader* c = cpu(r);
       return c && !c->cpu_location().why_none.code
                  ? text_or_null(c->cpu_location().dir)
                  : absent("");
     }},
    {"", "path_mapping", "", field_type::text, "",
     [](const export_report& r) {
       const cpu_reader* c = cpu(r);
       return text(c ? to_string(c->cpu_location().mapping) : "none");
     }},
    {"", "path_fallback", "", field_type::flag, "",
     [](const export_report& r) {
       const cpu_reader* c = cpu(r);
       return flag(c && is_fallback(c->cpu_location().mapping));
     }},
    {"", "reason", "", field_type::text, "",
     [](const export_report& r) {
       const cpu_reader* c = cpu(r);
       if (!c) return text(r.from->cpu().error().message());
       const auto& l = c->cpu_location();
       if (l.why_none.code) return text(why_no_controller(l, "cpu"));
       return is_unmapped(l.mapping) ? text(l.unmapped_reason) : absent("");
     }},
    {"affinity", "affinity_count", "headroom_cpu_affinity_cpus",
     field_type::count, "CPUs in the affinity mask of the process",
     [](const export_report& r) {
       return cpu_value(r, [&](const cpu_reader&, const cpu_snapshot& s) {
         if (!s.affinity) return failed(s.affinity.error());
         return with_human(number(*s.affinity, to_string(s.affinity_from)),
                           cpu_count(*s.affinity));
       });
     }},
    {"", "affinity_source", "", field_type::text, "",
     [](const export_report& r) {
       return text(to_string(r.cpu.affinity_from));
     }},
    {"quota", "quota_cpus", "headroom_cpu_quota_cpus", field_type::cpus,
     "CPU quota as a number of CPUs: quota / period",
     [](const export_report& r) {
       return quota(
           r, true,
           [](const cpu_reader& c, const cpu_snapshot& s, const cpu_quota& q) {
             return with_human(real(q.cpus(), c.quota_path(s)),
                               decimals(q.cpus(), 2) + " CPUs (" +
                                   std::to_string(q.quota_us) + " us per " +
                                   std::to_string(q.period_us) + " us)");
           });
     }},
    {"", "quota_us", "", field_type::count, "",
     [](const export_report& r) {
       return quota(r, false,
                    [](const cpu_reader&, const cpu_snapshot&,
                       const cpu_quota& q) { return number(q.quota_us); });
     }},
    {"", "period_us", "", field_type::count, "",
     [](const export_report& r) {
       return quota(r, false,
                    [](const cpu_reader&, const cpu_snapshot&,
                       const cpu_quota& q) { return number(q.period_us); });
     }},
    // As cAdvisor writes a container's spec (lib/metrics/prometheus.go,
    // from lib/container/common/helpers.go): the own cgroup's quota, only
    // when it sets one, and its period whether or not it does.
    {"", "own_quota_us", "container_spec_cpu_quota", field_type::count,
     "CPU quota of the container: its own cpu cgroup's, in microseconds per "
     "period",
     [](const export_report& r) {
       return own_bandwidth(
           r, true, [](const cpu_reader& c, const cpu_bandwidth& b) {
             return b.quota_us ? number(*b.quota_us, c.own_quota_path())
                               : absent("no quota on the own cpu cgroup (" +
                                        c.own_quota_path() + ")");
           });
     }},
    {"", "own_period_us", "container_spec_cpu_period", field_type::count,
     "CPU period of the container: its own cpu cgroup's, in microseconds",
     [](const export_report& r) {
       return own_bandwidth(r, false,
                            [](const cpu_reader& c, const cpu_bandwidth& b) {
                              return number(b.period_us, c.own_quota_path());
                            });
     }},
    {"", "quota_path", "", field_type::text, "",
     [](const export_report& r) {
       return quota(r, false,
                    [](const cpu_reader& c, const cpu_snapshot& s,
                       const cpu_quota&) { return text(c.quota_path(s)); });
     }},
    {"", "quota_cgroup", "", field_type::text, "",
     [](const export_report& r) {
       return quota(r, false,
                    [](const cpu_reader& c, const cpu_snapshot& s,
                       const cpu_quota&) { return text(c.quota_cgroup(s)); });
     }},
    {"", "cpuset_controller", "", field_type::text, "",
     [](const export_report& r) {
       const cpu_reader* c = cpu(r);
       return text(c ? controller_version(c->cpuset_location().mode) : "none");
     }},
    {"cpuset", "cpuset_count", "headroom_cpuset_cpus", field_type::count,
     "CPUs the cpuset grants",
     [](const export_report& r) {
       return cpu_value(r, [&](const cpu_reader& c, const cpu_snapshot& s) {
         if (!s.cpuset) return failed(s.cpuset.error());
         if (!s.cpuset->has_value()) {
           const auto& cs = c.cpuset_location();
           return absent("no cpuset controller",
                         cs.why_none.code
                             ? "none: " + why_no_controller(cs, "cpuset")
                             : std::string("none"));
         }
         return with_human(number(**s.cpuset, c.cpuset_path(s)),
                           cpu_count(**s.cpuset));
       });
     }},
    {"", "cpuset_path", "", field_type::text, "",
     [](const export_report& r) {
       return cpu_value(r, [&](const cpu_reader& c, const cpu_snapshot& s) {
         return s.cpuset && s.cpuset->has_value() ? text(c.cpuset_path(s))
                                                  : absent("");
       });
     }},
    {"effective", "effective_count_up", "headroom_cpu_effective_cpus",
     field_type::count,
     "min(affinity, quota, cpuset) in whole CPUs, at least 1",
     [](const export_report& r) {
       field_value up = effective(r, cpu_rounding::up);
       const field_value down = effective(r, cpu_rounding::down);
       if (up.has_value() && down.has_value()) {
         up.human = std::to_string(up.number) + " rounded up (JDK, .NET), " +
                    std::to_string(down.number) +
                    " rounded down (automaxprocs)";
         up.source = "min(affinity, quota, cpuset)";
       }
       return up;
     }},
    {"", "effective_count_down", "headroom_cpu_effective_cpus",
     field_type::count,
     "min(affinity, quota, cpuset) in whole CPUs, at least 1",
     [](const export_report& r) { return effective(r, cpu_rounding::down); }},
    // The three series as cAdvisor writes them for a container (its
    // metrics/prometheus.go, from CFS throttling data read by
    // container/libcontainer/handler.go): cpu.stat of the container's own
    // cgroup, v1 throttled_time in ns and v2 throttled_usec both in seconds.
    {"periods", "nr_periods", "container_cpu_cfs_periods_total",
     field_type::counter,
     "Number of elapsed enforcement period intervals (cpu.stat nr_periods)",
     throttling<&cpu_throttling::periods>},
    {"throttled periods", "nr_throttled",
     "container_cpu_cfs_throttled_periods_total", field_type::counter,
     "Number of throttled period intervals: periods in which the quota ran "
     "out (cpu.stat nr_throttled)",
     throttling<&cpu_throttling::throttled_periods>},
    {"throttled time", "throttled_us",
     "container_cpu_cfs_throttled_seconds_total", field_type::micros,
     "Total time duration the container has been throttled, in seconds "
     "(cpu.stat throttled_usec, v1 throttled_time)",
     throttling<&cpu_throttling::throttled_us>},
    {"", "stat_path", "", field_type::text, "",
     [](const export_report& r) {
       const cpu_reader* c = cpu(r);
       return c ? text_or_null(c->stat_path()) : absent("");
     }},
};

// ---------------------------------------------------------------------------
// kubernetes

inline const kubernetes_context& kube(const export_report& r) {
  return r.kubernetes;
}

// The QoS class and what says it: the cgroup path, else oom_score_adj
// alone (a cgroup namespace shows the path as "/").
struct qos_finding {
  std::optional<qos_class> qos;
  const char* source = nullptr;  // "cgroup_path", "oom_score_adj"
};

inline qos_finding find_qos(const export_report& r) {
  const auto& k = kube(r);
  if (k.pod) return {k.pod->qos, "cgroup_path"};
  if (k.oom_score_adj.value) {
    if (auto q = qos_from_oom_score_adj(*k.oom_score_adj.value))
      return {q, "oom_score_adj"};
  }
  return {};
}

inline std::string not_under_kubelet(const export_report& r) {
  std::string why = "not under kubelet: no kubepods in the cgroup path";
  const auto& adj = kube(r).oom_score_adj.value;
  if (adj)
    why += " and oom_score_adj " + std::to_string(*adj) + " is not kubelet's";
  return why;
}

template <class Get>
field_value pod_text(const export_report& r, Get get) {
  const auto& k = kube(r);
  if (!k.pod)
    return absent(k.oom_score_adj.value &&
                          qos_from_oom_score_adj(*k.oom_score_adj.value)
                      ? "the cgroup path does not name the pod"
                      : "");
  return text_or_null(get(*k.pod));
}

// The container's memory request, exact where the kernel holds it:
// memory.min on v2 when kubelet's MemoryQoS sets it, the container's own
// limit for a Guaranteed pod (its request equals its limit), otherwise an
// estimate from oom_score_adj and MemTotal (request_from_oom_score_adj).
struct request_finding {
  field_value value;
  const char* source = nullptr;
  bool estimate = false;
};

inline request_finding find_request(const export_report& r) {
  const qos_finding q = find_qos(r);
  if (!q.qos) return {absent(not_under_kubelet(r)), nullptr, false};
  if (*q.qos == qos_class::best_effort)
    return {absent("BestEffort: no request"), nullptr, false};
  const auto& min = own(r).reservation;
  if (snap(r).mode == hierarchy_mode::v2 && min.value &&
      min.value->has_value() && **min.value > 0) {
    return {number(**min.value, min.path), "memory.min", false};
  }
  if (*q.qos == qos_class::guaranteed) {
    const auto& lim = own(r).limit;
    if (lim.value && lim.value->has_value()) {
      return {number(**lim.value,
                     lim.path + " (Guaranteed: the request is the limit)"),
              "limit", false};
    }
  }
  const auto& adj = kube(r).oom_score_adj.value;
  const auto& total = snap(r).host_total;
  if (adj && total) {
    if (auto n = request_from_oom_score_adj(*adj, *total)) {
      return {
          with_human(number(*n,
                            "1000 - oom_score_adj, times MemTotal / 1000 "
                            "(kubelet's formula inverted)"),
                     format_bytes(*n) + " (estimate: the request is at most " +
                         format_bytes(*total / 1000) + " more)"),
          "oom_score_adj", true};
    }
  }
  return {absent("neither memory.min nor oom_score_adj tells it"), nullptr,
          false};
}

inline constexpr field kubernetes_fields[] = {
    {"qos class", "qos_class", "", field_type::text, "",
     [](const export_report& r) {
       const qos_finding q = find_qos(r);
       if (!q.qos)
         return absent(not_under_kubelet(r), "none (not under kubelet)");
       return text(to_string(*q.qos),
                   std::string("from the ") +
                       (q.source == std::string_view("cgroup_path")
                            ? "cgroup path " + kube(r).pod_path
                            : std::string("oom_score_adj alone")));
     }},
    {"", "qos_class_source", "", field_type::text, "",
     [](const export_report& r) {
       const qos_finding q = find_qos(r);
       return q.source ? text(q.source) : absent("");
     }},
    {"oom_score_adj", "oom_score_adj", "headroom_oom_score_adj",
     field_type::integer,
     "The process's oom_score_adj (kubelet: Guaranteed -997, BestEffort 1000, "
     "Burstable 3 to 999)",
     [](const export_report& r) {
       const auto& a = kube(r).oom_score_adj;
       // Every kernel has the file; a captured tree may not.
       if (!a.value && is_gone(a.value.error()))
         return absent("no " + a.path + " in this tree");
       if (!a.value) return failed(a.value.error());
       field_value v = real(*a.value, a.path);
       v.type = field_type::integer;
       return v;
     }},
    {"note", "oom_score_adj_agrees", "", field_type::flag, "",
     [](const export_report& r) {
       const auto& k = kube(r);
       if (!k.pod || !k.oom_score_adj.value) return absent("");
       const auto said = qos_from_oom_score_adj(*k.oom_score_adj.value);
       if (said == k.pod->qos) return quiet(flag(true));
       return with_human(
           flag(false),
           "oom_score_adj " + std::to_string(*k.oom_score_adj.value) +
               (said ? std::string(" says ") + to_string(*said)
                     : std::string(" is not a container's")) +
               " (node-critical pods get -997 whatever their class)");
     }},
    {"driver", "cgroup_driver", "", field_type::text, "",
     [](const export_report& r) {
       return pod_text(r, [](const pod_cgroup& p) {
         return std::string(to_string(p.driver));
       });
     }},
    {"pod uid", "pod_uid", "", field_type::text, "",
     [](const export_report& r) {
       return pod_text(r, [](const pod_cgroup& p) { return p.pod_uid; });
     }},
    {"container id", "container_id", "", field_type::text, "",
     [](const export_report& r) {
       return pod_text(r, [](const pod_cgroup& p) { return p.container_id; });
     }},
    {"runtime", "container_runtime", "", field_type::text, "",
     [](const export_report& r) {
       return pod_text(r, [](const pod_cgroup& p) { return p.runtime; });
     }},
    {"memory request", "memory_request_bytes",
     "headroom_kubernetes_memory_request_bytes", field_type::bytes,
     "The container's memory request: memory.min (MemoryQoS), the limit "
     "(Guaranteed), or an estimate from oom_score_adj (source label)",
     [](const export_report& r) {
       request_finding f = find_request(r);
       if (f.source) f.value.labels = {{"source", f.source}};
       return f.value;
     }},
    {"", "memory_request_source", "", field_type::text, "",
     [](const export_report& r) {
       const request_finding f = find_request(r);
       return f.source ? text(f.source) : absent("");
     }},
    {"", "memory_request_estimate", "", field_type::flag, "",
     [](const export_report& r) {
       const request_finding f = find_request(r);
       return f.source ? flag(f.estimate) : absent("");
     }},
    {"", "", "headroom_kubernetes_info", field_type::info,
     "The pod the process runs in, as its cgroup path and oom_score_adj say "
     "(value always 1)",
     [](const export_report& r) {
       const qos_finding q = find_qos(r);
       if (!q.qos) return absent(not_under_kubelet(r));
       const auto& k = kube(r);
       field_value v;
       v.st = state::value;
       v.number = 1;
       v.labels = {
           {"qos_class", to_string(*q.qos)},
           {"qos_class_source", q.source},
           {"cgroup_driver", k.pod ? to_string(k.pod->driver) : ""},
           {"pod_uid", k.pod ? k.pod->pod_uid : std::string()},
           {"container_id", k.pod ? k.pod->container_id : std::string()},
       };
       return v;
     }},
};

// ---------------------------------------------------------------------------
// Where the values come from: Prometheus only (JSON and people have them in
// the sections above).

inline field_value info_labels(const export_report& r) {
  const cpu_reader* c = cpu(r);
  field_value v;
  v.st = state::value;
  v.number = 1;
  v.labels = {
      {"version", HEADROOM_VERSION_STRING},
      {"cgroup_version", to_string(snap(r).mode)},
      {"memory_dir", loc(r).dir},
      {"limit_cgroup", limit_cgroup(r).value_or(std::string())},
      {"pressure_scope", scope(r)},
      {"cpu_controller",
       c ? controller_version(c->cpu_location().mode) : "none"},
      {"cpu_quota_cgroup", c && r.cpu.quota && r.cpu.quota->has_value()
                               ? c->quota_cgroup(r.cpu)
                               : std::string()},
  };
  return v;
}

inline constexpr field source_fields[] = {
    {"", "", "headroom_info", field_type::info,
     "Where the values come from (value always 1)", info_labels},
};

template <std::size_t N>
constexpr field_section section(std::string_view json, std::string_view title,
                                const field (&fs)[N], bool own_errors = false) {
  return field_section{json, title, fs, fs + N, own_errors};
}

inline constexpr field_section sections[] = {
    section("", "", top_fields),
    section("cgroup", "cgroup", cgroup_fields),
    section("memory", "memory", memory_fields),
    section("container", "container (its own cgroup, as cAdvisor reads it)",
            container_fields),
    section("pressure", "memory pressure (PSI)", pressure_fields),
    section("pressure_cpu", "cpu pressure (PSI)", cpu_pressure_fields),
    section("pressure_io", "io pressure (PSI)", io_pressure_fields),
    section("kubernetes", "kubernetes", kubernetes_fields),
    section("cpu", "cpu", cpu_fields, true),
    section("", "", source_fields),
};

}  // namespace headroom::detail::fields

namespace headroom {

inline field_sections report_fields() noexcept {
  return {detail::fields::sections,
          detail::fields::sections + sizeof detail::fields::sections /
                                         sizeof detail::fields::sections[0]};
}

}  // namespace headroom
