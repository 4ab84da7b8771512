// SPDX-License-Identifier: MIT
// headroom: the memory reader.
//
// memory_reader::open() discovers the process's memory cgroup and opens the
// files it reads often once, and keeps them: /proc/meminfo, usage and
// memory.stat of the memory cgroup, and the limit files (v2: each
// directory's on the chain; v1 on the live system: the memory cgroup's
// only). usage() and snapshot() re-read those with pread at offset 0 into
// stack buffers: no allocation, safe to call from many threads at once.
// Every snapshot() has the kernel's current limit, so `docker update` and
// autoscalers are seen at once: v2 re-reads each limit file; v1 reads the
// kernel's own minimum (hierarchical_memory_limit, in the memory.stat it
// reads anyway) and the chain's limit files only when that minimum moved
// (witnessed_minimum). Usage and memory.stat of another directory that
// holds the limit are opened the first time a snapshot reads them there.
// report() reads everything else (high, swap, peak, counters, pressure) for
// tools such as headroom-info; it opens what it needs each time.
//
// The words (limit, limit cgroup, usage, working set, effective limit,
// headroom) are defined in the README's semantics table.
#pragma once

#include <algorithm>    // std::min
#include <array>        // std::array
#include <atomic>       // std::memory_order_relaxed, std::atomic
#include <cerrno>       // ENOENT
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t, SIZE_MAX
#include <memory>       // std::unique_ptr, std::make_unique
#include <optional>     // std::optional, std::nullopt
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::pair, std::move
#include <vector>       // std::vector

#include "detail/fd.hpp"          // read_parsed, kept_file
#include "detail/fs.hpp"          // file_system
#include "detail/mutex.hpp"       // mutex, lock_guard (not <mutex>: its cost)
#include "detail/secure_env.hpp"  // secure_env
#include "detail/v2.hpp"          // limit, high, usage
#include "discover.hpp"           // options, discovery, discover_from
#include "error.hpp"              // result, errc, error
#include "layout.hpp"             // memory_layout, table_rows, stat_key_row
#include "parse/keyed.hpp"        // key_slot, parse_keyed: memory.stat
#include "parse/meminfo.hpp"      // meminfo, parse_meminfo
#include "parse/numbers.hpp"      // parse_counter, parse_size
#include "parse/psi.hpp"          // psi_stats, parse_psi
#include "parse/text.hpp"         // trim_trailing_newline
#include "snapshot.hpp"  // chain_position, memory_accounting, memory_snapshot

#if HEADROOM_HAVE_LINUX
#include <sys/utsname.h>  // utsname, uname
#endif

namespace headroom {

// A value read by report(), with the file it came from (logical path).
template <class T>
struct reading {
  // The value, or why it could not be read.
  result<T> value{errc::not_supported};
  // The file it came from (logical path).
  std::string path;
};

// The raw counters of a keyed file (memory.events), in the file's order.
using counters_list = std::vector<std::pair<std::string, std::uint64_t>>;

// Which memory.pressure file report() read.
enum class pressure_scope {
  cgroup,       // the process's own cgroup2 directory
  root_cgroup,  // the process is in the cgroup2 root: that is host-wide
  host,         // /proc/pressure/memory, the fallback: host-wide
};

// The scope's name: "cgroup", "root_cgroup" or "host".
constexpr const char* to_string(pressure_scope s) noexcept {
  switch (s) {
    case pressure_scope::cgroup:
      return "cgroup";
    case pressure_scope::root_cgroup:
      return "root_cgroup";
    case pressure_scope::host:
      break;
  }
  return "host";
}

// One directory on the chain, with what it says.
struct chain_entry {
  std::string dir;  // logical
  // Its limit file (nullopt: unlimited); ENOENT where the file is absent.
  result<std::optional<std::uint64_t>> limit{errc::not_supported};
  // v2 memory.high; not_supported on v1.
  result<std::optional<std::uint64_t>> high{errc::not_supported};
};

// The cgroup that holds a snapshot's limit (memory_reader::limit_cgroup).
struct limit_cgroup_info {
  std::string dir;          // logical
  chain_position position;  // on the reader's chain
  // v1 hierarchical_memory_limit: the cgroup that binds is above the mount
  // point; dir is the topmost visible directory, the closest to it.
  bool above_mount = false;
};

// The memory cgroup's own values (memory_reader::memory_at(), the first
// directory of the chain with memory files), read as cAdvisor reads a
// container (lib/container/common/helpers.go for the spec,
// lib/container/libcontainer/handler.go setMemoryStats for the rest): its own
// files, not the tightest on the chain. The container_* metrics come from
// here.
struct own_memory {
  std::string dir;  // logical; empty when there is none (host-wide)
  // Its own limit file (nullopt: unlimited), not the chain's minimum.
  reading<std::optional<std::uint64_t>> limit;
  // v2 memory.min, v1 memory.soft_limit_in_bytes (nullopt: unlimited).
  reading<std::optional<std::uint64_t>> reservation;
  // Its own v2 memory.swap.max, v1 memory.memsw.limit_in_bytes (memory and
  // swap together: cAdvisor reports that file as it is).
  reading<std::optional<std::uint64_t>> swap_limit;
  // Its own usage (v2 memory.current, v1 memory.usage_in_bytes).
  reading<std::uint64_t> usage;
  // Its own memory.stat.
  reading<memory_accounting> stat;
  // v1: the local entries of the same memory.stat that cAdvisor reads
  // (workingset_refault_anon, _file: this cgroup alone); none on v2.
  reading<memory_accounting> cadvisor_local;
  // Swap in use: v2 memory.swap.current, v1 total_swap of memory.stat.
  reading<std::uint64_t> swap;
  // v1 memory.kmem.usage_in_bytes; not_supported on v2 (see export).
  reading<std::uint64_t> kernel;
  // Its own peak usage (v2 memory.peak, v1 memory.max_usage_in_bytes).
  reading<std::uint64_t> peak;
  reading<std::uint64_t> failcnt;  // v1; not_supported on v2
  // v2 memory.events (high, max: cAdvisor's container_memory_events_*_total)
  // or v1 memory.oom_control, of the own cgroup.
  reading<counters_list> events;
};

// Everything headroom-info shows.
struct memory_report {
  // What snapshot() reads, taken with the rest.
  memory_snapshot snapshot;
  // Each directory on the chain, the own cgroup first.
  std::vector<chain_entry> chain;
  // v2: min of memory.high on the chain (the throttling threshold).
  // not_supported on v1.
  reading<std::optional<std::uint64_t>> high;
  chain_position high_at;  // where it is (0 when nothing sets one)
  // v2 memory.low, v1 memory.soft_limit_in_bytes, of the memory cgroup.
  reading<std::optional<std::uint64_t>> low;
  // v2: min of memory.swap.max on the chain. v1: the memsw limit minus the
  // limit. nullopt: unlimited.
  reading<std::optional<std::uint64_t>> swap_limit;
  // v2 memory.peak, v1 memory.max_usage_in_bytes, of the usage cgroup.
  reading<std::uint64_t> peak;
  // v1 memory.failcnt of the usage cgroup; not_supported on v2.
  reading<std::uint64_t> failcnt;
  // The raw counters of v2 memory.events (low high max oom oom_kill
  // oom_group_kill) or v1 memory.oom_control, of the usage cgroup.
  reading<std::vector<std::pair<std::string, std::uint64_t>>> events;
  // Processes killed by the OOM killer in the usage cgroup (oom_kill).
  reading<std::uint64_t> oom_kills;
  // PSI memory: the own cgroup2 directory, else /proc/pressure/memory.
  reading<psi_stats> pressure;
  // Which memory.pressure file `pressure` came from.
  pressure_scope pressure_from = pressure_scope::host;
  // PSI cpu and io, found as `pressure` is: cpu.pressure and io.pressure of
  // the own cgroup2 directory, else /proc/pressure/cpu and /proc/pressure/io
  // (host-wide). ENOENT or EOPNOTSUPP from both: the kernel has no PSI
  // (CONFIG_PSI off, psi=0) or the cgroup's is off (cgroup.pressure 0).
  reading<psi_stats> cpu_pressure;
  // Which cpu.pressure file `cpu_pressure` came from.
  pressure_scope cpu_pressure_from = pressure_scope::host;
  // PSI io (see cpu_pressure).
  reading<psi_stats> io_pressure;
  // Which io.pressure file `io_pressure` came from.
  pressure_scope io_pressure_from = pressure_scope::host;

  // The full memory.stat of the usage cgroup (hierarchical), as far as the
  // kernel has it.
  reading<memory_accounting> stat;
  // Swap in use by the usage cgroup: v2 memory.swap.current; v1 total_swap
  // of memory.stat, else memory.memsw.usage_in_bytes minus usage (swap
  // accounting only: without it, not_supported).
  reading<std::uint64_t> swap_usage;
  // v2 memory.zswap.current (Linux 5.19+, CONFIG_ZSWAP): compressed swap
  // held in memory, already counted in usage.
  reading<std::uint64_t> zswap_usage;
  // v2 memory.oom.group of the memory cgroup: true when one OOM kill ends
  // every process in it. not_supported on v1.
  reading<bool> oom_group;
  // Estimates, not kernel values (memory_estimate below): what reclaim
  // could free, and what the cgroup could still take before the limit.
  result<std::uint64_t> reclaimable{errc::not_supported};
  // The effective limit minus what cannot be reclaimed
  // (available_estimate).
  result<std::uint64_t> available{errc::not_supported};
  // The memory cgroup's own values, as cAdvisor reads a container.
  own_memory own;

  // The snapshot's limit in bytes; std::nullopt when nothing limits or it
  // could not be read (snapshot.limit.error() says why).
  std::optional<std::uint64_t> limit_bytes() const noexcept {
    return snapshot.limit_bytes();
  }
  // memory.high in bytes; std::nullopt when none is set, on v1, or when it
  // could not be read (high.value.error() says why).
  std::optional<std::uint64_t> high_bytes() const noexcept {
    return high.value ? *high.value : std::nullopt;
  }
  // The swap limit in bytes; std::nullopt when unlimited or unreadable.
  std::optional<std::uint64_t> swap_limit_bytes() const noexcept {
    return swap_limit.value ? *swap_limit.value : std::nullopt;
  }
};

// reclaimable: inactive file cache plus reclaimable slab (v1 has no slab
// entry: inactive file only); an estimate, since dirty or mapped pages
// among them may not be freed and active file may be. available: the
// effective limit minus what cannot be reclaimed (usage - reclaimable),
// floored at 0. Beside them, the kubelet's working set (usage -
// inactive_file) is what eviction and the OOM risk follow.
inline result<std::uint64_t> reclaimable_estimate(const memory_accounting& a) {
  const auto inactive = a[stat_key::inactive_file];
  if (!inactive) return errc::malformed;
  return *inactive + a[stat_key::slab_reclaimable].value_or(0);
}

// effective_limit - (usage - reclaimable), each difference floored at 0.
inline result<std::uint64_t> available_estimate(std::uint64_t effective_limit,
                                                std::uint64_t usage,
                                                std::uint64_t reclaimable) {
  const std::uint64_t pinned = usage > reclaimable ? usage - reclaimable : 0;
  return effective_limit > pinned ? effective_limit - pinned : 0;
}

// Environment variables the reader honours (unless options::use_environment
// is false). They apply to the process that opens the reader.
//   HEADROOM_MEMORY_LIMIT=512Mi  replaces the detected limit (bytes, Ki Mi Gi
//                                Ti, or k M G T; see parse_size). Usage and
//                                working set are still read from the cgroup.
//   HEADROOM_DETECT=off          does not look for cgroups at all (mode none,
//                                host-wide values); see detection_disabled().
inline constexpr const char* env_memory_limit = "HEADROOM_MEMORY_LIMIT";

namespace detail {

// memory.stat: about 40 keys (v2, Linux 6.x) or 36 with their total_ twins
// (v1), each under 30 characters with a 20-digit value: under 4 KiB today.
// Four times that leaves room for keys newer kernels add; a fuller buffer
// is a malformed file, not a reason to grow.
inline constexpr std::size_t stat_buffer = 16 * 1024;
// /proc/meminfo: about 55 lines of at most 40 characters (2.2 KiB), more
// with hugepage and CMA counters; the same 16 KiB margin.
inline constexpr std::size_t meminfo_buffer = 16 * 1024;
// memory.events (v2: 6 keys of at most 14 characters and a 20-digit
// counter each) and memory.oom_control (v1: 3 keys): under 300 bytes; 1 KiB
// leaves room for keys added by newer kernels.
inline constexpr std::size_t events_buffer = 1024;
// memory.pressure: two lines "some|full avg10=100.00 avg60=100.00
// avg300=100.00 total=<20 digits>" of at most 80 characters; 512 bytes
// leaves room for a field added later.
inline constexpr std::size_t psi_buffer = 512;

// The minimum over levels [0, n) of a number-or-unlimited file; file_at(i)
// gives level i's file. A level whose file does not exist is skipped (a v2
// leaf without the memory controller, the v2 root); any other error makes
// the minimum unknown. Ties go to the higher level: an ancestor with the
// same limit binds first, its usage includes the child's.
struct chain_min {
  result<std::optional<std::uint64_t>> value{std::optional<std::uint64_t>{}};
  chain_position at;  // where the minimum is (0 when nothing limits)
};

template <class FileAt, class Parse>
chain_min min_over_chain(std::size_t n, FileAt&& file_at, Parse&& parse) {
  chain_min out;
  std::optional<std::uint64_t> best;
  for (std::size_t i = 0; i < n; ++i) {
    auto&& f = file_at(i);
    if (f.missing()) continue;
    auto v = read_parsed(f, parse);
    if (!v) {
      out.value = std::move(v).error();
      return out;
    }
    if (v->has_value() && (!best || **v <= *best)) {
      best = **v;
      out.at = chain_position{i};
    }
  }
  out.value = best;
  return out;
}

// True when the running kernel's release (uname: "6.18.44-generic") is at
// least major.minor; false when it cannot be told.
inline bool kernel_at_least(unsigned major, unsigned minor) {
#if HEADROOM_HAVE_LINUX
  struct utsname u {};
  if (HEADROOM_SYSCALL(uname)(&u) != 0) return false;
  unsigned v[2] = {0, 0};
  const char* p = u.release;
  for (unsigned& part : v) {
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
      if (part > 100000) return false;
      part = part * 10 + static_cast<unsigned>(*p++ - '0');
    }
    if (&part == &v[0] && *p++ != '.') return false;
  }
  return v[0] > major || (v[0] == major && v[1] >= minor);
#else
  (void)major;
  (void)minor;
  return false;
#endif
}

inline result<meminfo> read_meminfo(const kept_file& f) {
  return read_parsed<meminfo_buffer>(f, parse_meminfo);
}

// memory.stat of the usage cgroup: the three byte counts, and v1's
// hierarchical_memory_limit when the layout has it and it is a limit.
struct stat_values {
  memory_stat stat;
  std::optional<std::uint64_t> hierarchical_limit;
  bool has_hierarchical = false;  // the file has the key
};

inline result<stat_values> parse_memory_stat(std::string_view text,
                                             const memory_layout& m) {
  std::array<key_slot, 4> keys{
      {{m.stat_anon, {}},
       {m.stat_file, {}},
       {m.stat_inactive_file, {}},
       {m.stat_hierarchical_limit.value_or(std::string_view{}), {}}}};
  auto parsed = parse_keyed(text, keys);
  if (!parsed || !keys[0].value || !keys[1].value || !keys[2].value)
    return errc::malformed;
  stat_values out{memory_stat{*keys[0].value, *keys[1].value, *keys[2].value},
                  std::nullopt, false};
  if (m.stat_hierarchical_limit && keys[3].value) {
    out.hierarchical_limit = v1_limit_from_bytes(*keys[3].value);
    out.has_hierarchical = true;
  }
  return out;
}

inline result<stat_values> read_memory_stat(const kept_file& f,
                                            const memory_layout& m) {
  return read_parsed<stat_buffer>(
      f, [&](std::string_view t) { return parse_memory_stat(t, m); });
}

// The raw counters of a keyed file, in the file's order.
using counters = counters_list;

// The full accounting: each row's key looked up in a memory.stat text. A
// row whose key the file lacks stays std::nullopt; a malformed line makes
// the whole file malformed.
inline result<memory_accounting> parse_accounting(
    std::string_view text, table_rows<stat_key_row> rows) {
  memory_accounting out;
  auto parsed =
      for_each_key_value(text, [&](std::string_view k, std::uint64_t v) {
        for (const stat_key_row& row : rows) {
          if (row.name == k) out[row.key] = v;
        }
      });
  if (!parsed) return std::move(parsed).error();
  return out;
}

inline result<memory_accounting> read_accounting(
    const kept_file& f, table_rows<stat_key_row> rows) {
  return read_parsed<stat_buffer>(
      f, [&](std::string_view t) { return parse_accounting(t, rows); });
}

// memory.oom.group: "0" or "1".
inline result<bool> parse_flag(std::string_view text) {
  auto n = parse_counter(text);
  if (!n || *n > 1) return errc::malformed;
  return *n == 1;
}

inline result<counters> parse_counters(std::string_view text) {
  counters out;
  auto parsed =
      for_each_key_value(text, [&](std::string_view k, std::uint64_t v) {
        out.emplace_back(std::string(k), v);
      });
  if (!parsed) return std::move(parsed).error();
  return out;
}

inline result<counters> read_counters(const kept_file& f) {
  return read_parsed<events_buffer>(f, parse_counters);
}

inline result<psi_stats> read_psi(const kept_file& f) {
  return read_parsed<psi_buffer>(f, parse_psi);
}

}  // namespace detail

// Reads the process's memory cgroup (see the top of this file).
// Thread-safety: usage() and snapshot() may be called from many threads at
// once; moving or destroying the reader while another thread uses it is a
// race. Lifetime: move-only; it keeps its files open until it is destroyed,
// and a moved-from reader may only be assigned to or destroyed.
class memory_reader {
 public:
  // Discovers the memory cgroup of opt.pid under opt.root and opens its
  // files. Fails only when the process's mountinfo cannot be read or is
  // malformed; a process without a memory cgroup gets a reader in mode none
  // that reports host-wide values.
  static result<memory_reader> open(const options& opt = {}) {
    return open(discovery::read(opt));
  }

  // The same from a discovery read before, with its options: a program that
  // opens the cpu reader too (cpu_reader::open(d)) reads mountinfo once.
  static result<memory_reader> open(const discovery& d) {
    const options& opt = d.opts();
    memory_reader r;
    r.fs_ = d.fs();
    if (d.disabled()) {
      r.loc_.why_none = *d.disabled();
    } else {
      auto loc = detail::discover_from(r.fs_, d.texts(), "memory",
                                       search_bounds_of(opt));
      if (!loc) return std::move(loc).error();
      r.loc_ = std::move(*loc);
    }
    if (const char* lim = opt.use_environment
                              ? detail::secure_env(env_memory_limit)
                              : nullptr) {
      auto bytes = parse_size(lim);
      r.override_ = bytes ? result<std::uint64_t>(*bytes)
                          : result<std::uint64_t>(
                                errc::malformed,
                                std::string(env_memory_limit) + "=" + lim);
    }
    r.layout_ = layout_for(r.loc_.mode);
    r.meminfo_ = r.fs_.keep_kernel("/proc/meminfo");
    r.host_total_ = total_of(detail::read_meminfo(r.meminfo_));
    if (r.layout_) r.open_levels();
    r.usage_index_.store(index_of(r.memory_at_), std::memory_order_relaxed);
    return r;
  }

  // Takes o's files and state; o may then only be assigned to or destroyed.
  memory_reader(memory_reader&& o) noexcept { *this = std::move(o); }
  // Takes o's files and state (this reader's are closed); o may then only
  // be assigned to or destroyed.
  memory_reader& operator=(memory_reader&& o) noexcept {
    fs_ = std::move(o.fs_);
    loc_ = std::move(o.loc_);
    layout_ = o.layout_;
    levels_ = std::move(o.levels_);
    counters_ = std::move(o.counters_);
    opening_ = std::move(o.opening_);
    witness_ = o.witness_;
    located_mu_ = std::move(o.located_mu_);
    located_ = std::move(o.located_);
    memory_at_ = o.memory_at_;
    meminfo_ = std::move(o.meminfo_);
    host_total_ = std::move(o.host_total_);
    override_ = std::move(o.override_);
    unknown_ = std::move(o.unknown_);
    hidden_ancestors_ = std::move(o.hidden_ancestors_);
    usage_index_.store(o.usage_index_.load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
    return *this;
  }
  memory_reader(const memory_reader&) = delete;
  memory_reader& operator=(const memory_reader&) = delete;
  ~memory_reader() = default;

  // How memory is controlled (location().mode).
  hierarchy_mode mode() const noexcept { return loc_.mode; }
  // Where the memory cgroup is: its directory and chain.
  const cgroup_location& location() const noexcept { return loc_; }

  // How many directories of location().chain have limits that apply: all,
  // except on v1 where a parent with memory.use_hierarchy 0 ends the chain.
  std::size_t chain_size() const noexcept { return levels_.size(); }

  // The memory cgroup's place on the chain: the first directory with
  // memory controller files (a v2 leaf without the controller is charged
  // to an ancestor); std::nullopt when there is none (mode none, or only
  // the cgroup2 root): values are then host-wide.
  std::optional<chain_position> memory_at() const noexcept {
    return memory_at_;
  }

  // The file system view every read goes through (root prefix, pid).
  const detail::file_system& files() const noexcept { return fs_; }

  // Logical path of a directory on the chain, and of `name` in it.
  const std::string& dir_at(chain_position at) const {
    return loc_.chain[at.index];
  }
  // Logical path of `name` in the directory at `at`.
  std::string path_at(chain_position at, std::string_view name) const {
    return detail::join_path(dir_at(at), "/" + std::string(name));
  }

  // The cgroup that holds snapshot s's limit: the one place that answers
  // it, for tools, exporters and the monitor. Its directory (logical) and
  // place on the chain; `above_mount` when the kernel's
  // hierarchical_memory_limit (v1) says an ancestor above the mount point
  // binds, which the process cannot see: the directory is then the topmost
  // visible one, the closest to it. std::nullopt when no cgroup holds the
  // limit: nothing limits, the limit could not be read, or it comes from
  // HEADROOM_MEMORY_LIMIT.
  std::optional<limit_cgroup_info> limit_cgroup(
      const memory_snapshot& s) const {
    if (!s.limit || !s.limit->has_value() || !s.limit_at) return std::nullopt;
    if (s.source != limit_source::chain &&
        s.source != limit_source::hierarchical) {
      return std::nullopt;
    }
    if (s.limit_at->index >= loc_.chain.size())
      return std::nullopt;  // another reader's
    return limit_cgroup_info{dir_at(*s.limit_at), *s.limit_at,
                             s.source == limit_source::hierarchical};
  }

  // Logical path of the usage file that snapshot s read ("/proc/meminfo"
  // when host-wide), and of the limit file that holds s's limit.
  std::string usage_path(const memory_snapshot& s) const {
    if (!s.usage_at || !layout_ || s.usage_at->index >= loc_.chain.size()) {
      return "/proc/meminfo";
    }
    return path_at(*s.usage_at, layout_->memory.usage);
  }
  // Logical path of the file that holds s's limit (v1 hierarchical: memory.stat
  // and its key; environment: $HEADROOM_MEMORY_LIMIT); empty when nothing
  // limits.
  std::string limit_path(const memory_snapshot& s) const {
    switch (s.source) {
      case limit_source::chain:
        if (!s.limit_at || !layout_) return {};
        return path_at(*s.limit_at, layout_->memory.limit);
      case limit_source::hierarchical:
        if (!layout_) return {};
        return path_at(chain_position{0}, layout_->memory.stat) + " (" +
               std::string(
                   layout_->memory.stat_hierarchical_limit.value_or("")) +
               ")";
      case limit_source::environment:
        return std::string("$") + env_memory_limit;
      case limit_source::none:
        break;
    }
    return {};
  }

  // Usage of the cgroup the kernel compares with the limit: the limit cgroup
  // as of the latest snapshot() (or open()), else the memory cgroup; host
  // memory in use (MemTotal - MemFree) when there is none. One pread.
  // The error of the location when the process's cgroup is not visible.
  result<std::uint64_t> usage() const {
    if (unknown_.code) return unknown_;
    const std::size_t at = usage_index_.load(std::memory_order_relaxed);
    if (at == no_cgroup) {
      auto m = detail::read_meminfo(meminfo_);
      if (!m) return std::move(m).error();
      return m->total - m->free;
    }
    return detail::read_parsed(counters_at(at).usage, parse_counter);
  }

  // Limit, usage, memory.stat, working set, effective limit and headroom.
  memory_snapshot snapshot() const {
    memory_snapshot s;
    s.mode = loc_.mode;
    s.host_total = host_total_;
    if (unknown_.code) {
      // The cgroup is not visible, or a directory of its chain is not
      // there: no value of another cgroup, or of the host, stands in.
      s.limit = unknown_;
      s.usage = unknown_;
      s.stat = unknown_;
      s.usage_at = std::nullopt;
      apply_override(s);
      derive(s);
      s.working_set = unknown_;
      s.headroom = unknown_;
      s.scope = usage_scope::below_limit_cgroup;
      return s;
    }
    if (!memory_at_) {
      fill_host_wide(s);
      apply_override(s);
      derive(s);
      return s;
    }
    if (override_) {
      // The limit is given: no need to read the chain's.
      read_usage_and_stat(s, *memory_at_);
      apply_override(s);
      usage_index_.store(index_of(s.usage_at), std::memory_order_relaxed);
      derive(s);
      return s;
    }

    // The limit: the minimum along the chain, re-read every time, or on v1
    // re-located when the kernel's own minimum says it changed.
    std::optional<result<detail::stat_values>> own;
    auto lim = witness_ ? witnessed_minimum(own)
                        : detail::min_over_chain(
                              levels_.size(),
                              [&](std::size_t i) -> const detail::kept_file& {
                                return levels_[i].limit;
                              },
                              layout_->memory.parse_limit);
    s.limit = std::move(lim.value);
    if (s.limit && s.limit->has_value()) {
      s.source = limit_source::chain;
      s.limit_at = lim.at;
    }
    std::optional<std::uint64_t> hierarchical;
    const chain_position usage_at = s.limit_at.value_or(*memory_at_);
    if (own && usage_at == *memory_at_) {
      // The memory cgroup's memory.stat, read as the witness: not twice.
      s.usage_at = usage_at;
      s.usage =
          detail::read_parsed(counters_at(usage_at.index).usage, parse_counter);
      if (*own) {
        s.stat = (*own)->stat;
        hierarchical = (*own)->hierarchical_limit;
      } else {
        s.stat = own->error();
      }
    } else {
      hierarchical = read_usage_and_stat(s, usage_at);
    }

    // v1: the kernel's hierarchical_memory_limit also covers ancestors above
    // the mount point. When it is tighter, an invisible ancestor binds: read
    // usage at the topmost visible directory, the closest we can see.
    if (s.limit && hierarchical &&
        (!s.limit->has_value() || *hierarchical < **s.limit)) {
      s.limit = std::optional<std::uint64_t>{*hierarchical};
      s.source = limit_source::hierarchical;
      s.limit_at = chain_position{levels_.size() - 1};
      if (s.usage_at != s.limit_at) read_usage_and_stat(s, *s.limit_at);
    }
    unseen_if_unlimited(s.limit);
    usage_index_.store(index_of(s.usage_at), std::memory_order_relaxed);
    derive(s);
    return s;
  }

  // snapshot() and everything else: high, low, swap, peak, counters, PSI.
  memory_report report() const {
    memory_report r;
    r.snapshot = snapshot();
    // MemTotal can change (memory hotplug, balloons): report() re-reads it.
    r.snapshot.host_total = total_of(detail::read_meminfo(meminfo_));
    derive(r.snapshot);
    read_pressure(r);
    if (!layout_) return r;
    if (unknown_.code) {
      r.high.value = unknown_;
      r.low.value = unknown_;
      r.swap_limit.value = unknown_;
      r.peak.value = unknown_;
      r.failcnt.value = unknown_;
      r.events.value = unknown_;
      r.oom_kills.value = unknown_;
      r.stat.value = unknown_;
      r.swap_usage.value = unknown_;
      r.reclaimable = unknown_;
      r.available = unknown_;
      r.own.limit.value = unknown_;
      r.own.usage.value = unknown_;
      r.own.stat.value = unknown_;
      for (const auto& dir : loc_.chain)
        r.chain.push_back(chain_entry{dir, unknown_, unknown_});
      return r;
    }

    const memory_layout& m = layout_->memory;
    const std::size_t n = levels_.size();
    const auto file_at = [&](chain_position at, std::string_view name) {
      return fs_.keep(path_at(at, name));
    };
    const auto read_at = [&](chain_position at, std::string_view name,
                             auto parse) {
      using value = typename decltype(parse(std::string_view{}))::value_type;
      return reading<value>{detail::read_parsed(file_at(at, name), parse),
                            path_at(at, name)};
    };
    const auto chain_min_of = [&](std::string_view name, auto parse) {
      return detail::min_over_chain(
          n, [&](std::size_t i) { return file_at(chain_position{i}, name); },
          parse);
    };

    for (std::size_t i = 0; i < loc_.chain.size(); ++i) {
      chain_entry e;
      e.dir = loc_.chain[i];
      // Directories above a v1 parent with memory.use_hierarchy 0 do not
      // apply: listed without values.
      if (i < n) {
        e.limit = read_at(chain_position{i}, m.limit, m.parse_limit).value;
        if (m.high)
          e.high =
              read_at(chain_position{i}, *m.high, parse_number_or_max).value;
      }
      r.chain.push_back(std::move(e));
    }

    if (m.high) {
      auto h = chain_min_of(*m.high, parse_number_or_max);
      r.high.value = std::move(h.value);
      r.high.path = path_at(h.at, *m.high);
      r.high_at = h.at;
      unseen_if_unlimited(r.high.value);
    } else {
      r.high.value = result<std::optional<std::uint64_t>>(errc::not_supported);
    }
    auto sw = chain_min_of(m.swap_file, m.parse_limit);
    r.swap_limit.path = path_at(sw.at, m.swap_file);
    r.swap_limit.value = m.swap == swap_rule::memsw_minus_limit
                             ? memsw_minus_limit(sw.value, r.snapshot.limit)
                             : std::move(sw.value);
    unseen_if_unlimited(r.swap_limit.value);
    // No directory with memory files (only the v2 root): host-wide usage,
    // no per-cgroup counters to read.
    if (!memory_at_ || !r.snapshot.usage_at) return r;
    const chain_position at = *r.snapshot.usage_at;
    r.low = read_at(*memory_at_, m.low, m.parse_limit);
    r.peak = read_at(at, m.peak, parse_counter);
    if (m.failcnt) {
      r.failcnt = read_at(at, *m.failcnt, parse_counter);
    } else {
      r.failcnt.value = result<std::uint64_t>(errc::not_supported);
    }
    read_events(r, at, m.events, m.oom_kill_key);
    read_accounting(r, at, *memory_at_);
    read_own(r.own, *memory_at_);
    return r;
  }

  // The table of what this reader's hierarchy version reads (nullptr in
  // mode none): file names, memory.stat keys, which values exist.
  const cgroup_layout* layout() const noexcept { return layout_; }

 private:
  // One directory on the chain: its limit file, which snapshot() re-reads.
  struct level {
    detail::kept_file limit;
  };
  // Usage and memory.stat of one directory on the chain, read where the
  // limit is (which can be any directory) and kept open once read: open()
  // opens the memory cgroup's; another directory's are opened the first
  // time a snapshot() reads them, under opening_, and published by
  // `ready`. A directory never read there costs no descriptor.
  struct counter_files {
    detail::kept_file usage;
    detail::kept_file stat;
    // Its limit file, when the chain's are not kept (witness_).
    detail::kept_file limit;
    bool usage_tried = false;  // usage opened (or failed to) already
    std::atomic<bool> ready{false};
  };

  memory_reader() = default;

  static result<std::uint64_t> total_of(const result<meminfo>& m) {
    if (!m) return m.error();
    return m->total;
  }

  // Opens the chain's limit files, and usage and memory.stat of the memory
  // cgroup. On the live system: a directory is checked only when its limit
  // file is not there (ENOENT), files are not fstat'ed (keep_kernel), and
  // memory.use_hierarchy is not read where the kernel makes it 1.
  void open_levels() {
    if (is_unmapped(loc_.mapping)) {
      unknown_ = loc_.why_unmapped;
      return;
    }
    const memory_layout& m = layout_->memory;
    const bool live = fs_.root().empty();
    // v1: a parent's limit applies to its children only when its
    // memory.use_hierarchy is 1, which it always is since Linux 5.16 (the
    // file can no longer be set to 0). A captured tree may come from an
    // older kernel: its files are read.
    const bool read_use_hierarchy =
        m.use_hierarchy && !(live && detail::kernel_at_least(5, 16));
    // v1 on the live system: memory.stat's hierarchical_memory_limit is
    // the kernel's own minimum of the chain, read with the memory cgroup's
    // counters, so the chain's limit files are not kept (see
    // witnessed_minimum). A captured tree's memory.stat is only a file.
    witness_ = live && m.stat_hierarchical_limit.has_value();
    counters_ = std::make_unique<counter_files[]>(loc_.chain.size());
    for (std::size_t i = 0; i < loc_.chain.size(); ++i) {
      const chain_position at{i};
      if (read_use_hierarchy && i > 0) {
        auto uh = fs_.read(path_at(at, *m.use_hierarchy));
        if (uh && detail::trim_trailing_newline(*uh) == "0") break;
      }
      level l;
      if (witness_) {
        // A v1 directory always has the files; the memory cgroup's are
        // opened below, which tells whether it is still there.
        l.limit.required = true;
        if (!memory_at_) memory_at_ = at;
        levels_.push_back(std::move(l));
        continue;
      }
      l.limit = fs_.keep_kernel(path_at(at, m.limit));
      // A directory removed meanwhile (or a captured tree's symlink, which
      // lstat does not follow) makes every value unknown. Where the limit
      // file opens, the live directory is there.
      if ((!live || (!l.limit.is_open() && is_missing(l.limit.open_error))) &&
          !fs_.is_directory(loc_.chain[i])) {
        unknown_ = errno_error(ENOENT, fs_.real_path(loc_.chain[i]));
        levels_.clear();
        return;
      }
      // A directory whose usage file opens has the controller, so it has a
      // limit file: one that cannot be opened (even ENOENT: removed
      // meanwhile) makes the limit unknown, never an ancestor's instead.
      // v1 gives every directory of the hierarchy its limit file, v2 every
      // directory with the controller (files_in_every_dir). Usage is
      // opened to tell only when the limit file did not open.
      l.limit.required = layout_->files_in_every_dir;
      if (!l.limit.is_open() && !l.limit.required) {
        counter_files& c = counters_[i];
        c.usage = fs_.keep_kernel(path_at(at, m.usage));
        c.usage_tried = true;
        l.limit.required = c.usage.is_open();
      }
      // The memory cgroup is the first directory with memory controller
      // files: a v2 leaf without the controller is charged to the nearest
      // ancestor that has it. (The v2 root has neither file.)
      if (!memory_at_ &&
          (!l.limit.missing() || !counters_[i].usage.missing())) {
        memory_at_ = at;
      }
      levels_.push_back(std::move(l));
    }
    if (memory_at_) {
      const counter_files& c = counters_[memory_at_->index];
      open_counters(memory_at_->index);
      if (witness_ && !c.usage.is_open() && is_missing(c.usage.open_error) &&
          !fs_.is_directory(loc_.chain[memory_at_->index])) {
        unknown_ =
            errno_error(ENOENT, fs_.real_path(loc_.chain[memory_at_->index]));
        levels_.clear();
        return;
      }
    }
    // The hierarchy's root has no cgroup.type; any other top directory has
    // ancestors this mount does not show.
    if (!m.stat_hierarchical_limit && !loc_.chain.empty() &&
        levels_.size() == loc_.chain.size()) {
      const std::string type =
          detail::join_path(loc_.chain.back(), "/cgroup.type");
      if (!fs_.keep_kernel(type).missing())
        hidden_ancestors_ = error(errc::not_visible, type);
    }
  }

  // Opens what of usage and memory.stat of chain directory i is not open
  // yet, and publishes them. Once only: under opening_, or from open().
  void open_counters(std::size_t i) const {
    counter_files& c = counters_[i];
    const memory_layout& m = layout_->memory;
    if (!c.usage_tried) {
      c.usage = fs_.keep_kernel(path_at(chain_position{i}, m.usage));
      c.usage_tried = true;
    }
    c.stat = fs_.keep_kernel(path_at(chain_position{i}, m.stat));
    if (witness_) {
      c.limit = fs_.keep_kernel(path_at(chain_position{i}, m.limit));
      c.limit.required = true;
    }
    c.ready.store(true, std::memory_order_release);
  }

  // The chain's minimum as last located, and the memory cgroup's
  // hierarchical_memory_limit it was located under (witness_).
  struct located_limit {
    std::optional<std::uint64_t> witness;
    detail::chain_min min;
  };

  // v1 on the live system: the chain's minimum without reading every
  // directory's limit file. The memory cgroup's memory.stat (read into
  // `own`: the snapshot needs it anyway) has hierarchical_memory_limit,
  // the kernel's minimum of every limit from there up, at the moment of
  // the read. While it is the value the minimum was last located under,
  // and the directory that held it still has that limit, the minimum is
  // where it was: a tighter limit anywhere would lower the witness, a
  // raised one at the minimum shows in its file. Otherwise every limit
  // file is read (opened, read, closed) again. The value is always the
  // kernel's current one; what this cannot see is a directory above
  // taking the same value as the one that holds it (a tie, which goes to
  // the higher directory) until the value next changes.
  detail::chain_min witnessed_minimum(
      std::optional<result<detail::stat_values>>& own) const {
    const memory_layout& m = layout_->memory;
    own = detail::read_memory_stat(counters_at(memory_at_->index).stat, m);
    const bool known = *own && (*own)->has_hierarchical;
    if (known) {
      std::optional<located_limit> last;
      {
        const detail::lock_guard lock(*located_mu_);
        last = located_;
      }
      if (last && last->witness == (*own)->hierarchical_limit) {
        // Nothing visible limits: a limit set anywhere would be at most
        // the witness, or change nothing (the witness is above the mount).
        if (!last->min.value->has_value()) return last->min;
        auto v = detail::read_parsed(counters_at(last->min.at.index).limit,
                                     m.parse_limit);
        if (v && *v == *last->min.value) return last->min;
      }
    }
    // The memory cgroup's limit file is kept; the others are opened for
    // this read only.
    std::optional<detail::kept_file> other;
    auto lim = detail::min_over_chain(
        levels_.size(),
        [&](std::size_t i) -> const detail::kept_file& {
          if (i == memory_at_->index) return counters_at(i).limit;
          other = fs_.keep_kernel(path_at(chain_position{i}, m.limit));
          other->required = true;  // every v1 directory has one
          return *other;
        },
        m.parse_limit);
    if (known && lim.value) {
      const detail::lock_guard lock(*located_mu_);
      located_ = located_limit{(*own)->hierarchical_limit, lim};
    }
    return lim;
  }

  // Usage and memory.stat of chain directory i, opened on first use.
  const counter_files& counters_at(std::size_t i) const {
    const counter_files& c = counters_[i];
    if (!c.ready.load(std::memory_order_acquire)) {
      const detail::lock_guard lock(*opening_);
      if (!c.ready.load(std::memory_order_relaxed)) open_counters(i);
    }
    return c;
  }

  // v2 has no witness above the mount: when its top directory is not the
  // hierarchy's root (a cgroup namespace's root, a bound subdirectory), an
  // unseen ancestor may limit, and "no limit" would be a guess. The same
  // holds for every tightest-on-the-chain value: limit, high, swap limit.
  void unseen_if_unlimited(result<std::optional<std::uint64_t>>& v) const {
    if (v && !v->has_value() && hidden_ancestors_.code) v = hidden_ancestors_;
  }

  // Reads usage and memory.stat of the directory at `at` into s, which
  // becomes s's usage cgroup. Returns v1's hierarchical_memory_limit from
  // that memory.stat when it is a limit.
  std::optional<std::uint64_t> read_usage_and_stat(memory_snapshot& s,
                                                   chain_position at) const {
    s.usage_at = at;
    const counter_files& l = counters_at(at.index);
    s.usage = detail::read_parsed(l.usage, parse_counter);
    auto st = detail::read_memory_stat(l.stat, layout_->memory);
    if (!st) {
      s.stat = std::move(st).error();
      return std::nullopt;
    }
    s.stat = st->stat;
    return st->hierarchical_limit;
  }

  // Mode none, or only the cgroup2 root: host-wide values from meminfo.
  void fill_host_wide(memory_snapshot& s) const {
    s.usage_at = std::nullopt;
    s.limit = std::optional<std::uint64_t>{};
    s.source = limit_source::none;
    s.stat = error(errc::not_supported, meminfo_.path);
    auto m = detail::read_meminfo(meminfo_);
    if (!m) {
      s.usage = m.error();
      s.working_set = m.error();
    } else {
      // parse_meminfo refuses MemFree or MemAvailable above MemTotal.
      const std::uint64_t used = m->total - m->free;
      s.usage = used;
      if (m->available) {
        // MemAvailable is below MemFree when the kernel keeps free pages in
        // reserve (watermarks) and there is little cache: the working set
        // is then clamped to the usage, which it never exceeds.
        s.working_set = std::min(m->total - *m->available, used);
      } else {
        s.working_set = error(errc::not_supported, meminfo_.path);
      }
      s.host_total = m->total;
    }
  }

  // HEADROOM_MEMORY_LIMIT, when set, replaces the limit (or is the error).
  void apply_override(memory_snapshot& s) const {
    if (!override_) return;
    if (*override_) {
      s.limit = std::optional<std::uint64_t>{**override_};
    } else {
      s.limit = override_->error();
    }
    s.source = limit_source::environment;
    s.limit_at = std::nullopt;  // no cgroup holds it
  }

  // Working set, effective limit and headroom from what was read.
  static void derive(memory_snapshot& s) {
    if (!s.usage_at) {
      s.scope = usage_scope::host;
    } else if (s.source == limit_source::chain && s.usage_at == s.limit_at) {
      s.scope = usage_scope::limit_cgroup;
    } else {
      s.scope = usage_scope::below_limit_cgroup;
    }
    if (s.usage_at) {
      if (!s.usage) {
        s.working_set = s.usage.error();
      } else if (!s.stat) {
        s.working_set = s.stat.error();
      } else {
        const std::uint64_t inactive = s.stat->inactive_file;
        s.working_set = *s.usage > inactive ? *s.usage - inactive : 0;
      }
    }
    if (!s.limit) {
      s.effective_limit = s.limit.error();
    } else if (s.limit->has_value()) {
      // Without MemTotal a limit is still a bound.
      s.effective_limit =
          s.host_total ? std::min(**s.limit, *s.host_total) : **s.limit;
    } else {
      s.effective_limit = s.host_total;
    }
    if (!s.effective_limit) {
      s.headroom = s.effective_limit.error();
    } else if (!s.working_set) {
      s.headroom = s.working_set.error();
    } else {
      s.headroom = *s.effective_limit > *s.working_set
                       ? *s.effective_limit - *s.working_set
                       : 0;
    }
  }

  // v1 swap limit: the tightest memsw limit minus the limit. The memsw files
  // exist only with swap accounting (swapaccount=1).
  static result<std::optional<std::uint64_t>> memsw_minus_limit(
      const result<std::optional<std::uint64_t>>& memsw,
      const result<std::optional<std::uint64_t>>& limit) {
    if (!memsw) return memsw.error();
    if (!memsw->has_value()) return std::optional<std::uint64_t>{};
    if (!limit) return limit.error();
    const std::uint64_t m = **memsw;
    const std::uint64_t l = limit->has_value() ? **limit : 0;
    return std::optional<std::uint64_t>{m > l ? m - l : 0};
  }

  // A file that exists only with a kernel option (swap accounting, zswap,
  // kmem): not there means not provided here (errc::not_supported, with
  // the file's path), not an error.
  template <class T>
  static void optional_file(reading<T>& r) {
    if (!r.value && is_missing(r.value.error()))
      r.value = error(errc::not_supported, r.value.error().path);
  }

  // The full memory.stat, swap and zswap of the usage cgroup at `at`, the
  // oom.group of the memory cgroup, and the estimates.
  void read_accounting(memory_report& r, chain_position at,
                       chain_position memory_at) const {
    const memory_layout& m = layout_->memory;
    r.stat.path = path_at(at, m.stat);
    r.stat.value = detail::read_accounting(fs_.keep(r.stat.path), m.stat_keys);
    r.swap_usage.path = path_at(at, m.swap_usage);
    auto sw = detail::read_parsed(fs_.keep(r.swap_usage.path), parse_counter);
    if (sw && m.swap == swap_rule::memsw_minus_limit) {
      // v1 counts memory and swap together. memory.stat's total_swap is the
      // swap alone, counted at one moment; memsw usage minus the usage read
      // before it would count as swap whatever was charged in between.
      const std::optional<std::uint64_t> total_swap =
          r.stat.value ? (*r.stat.value)[stat_key::swap] : std::nullopt;
      if (total_swap) {
        sw = *total_swap;
        r.swap_usage.path = r.stat.path + " (total_swap)";
      } else if (!r.snapshot.usage) {
        sw = r.snapshot.usage.error();
      } else {
        sw = *sw > *r.snapshot.usage ? *sw - *r.snapshot.usage : 0;
      }
    }
    r.swap_usage.value = std::move(sw);
    optional_file(r.swap_usage);
    if (m.zswap_usage) {
      r.zswap_usage.path = path_at(at, *m.zswap_usage);
      r.zswap_usage.value =
          detail::read_parsed(fs_.keep(r.zswap_usage.path), parse_counter);
      optional_file(r.zswap_usage);
    }
    if (m.oom_group) {
      r.oom_group.path = path_at(memory_at, *m.oom_group);
      r.oom_group.value =
          detail::read_parsed(fs_.keep(r.oom_group.path), detail::parse_flag);
    }
    if (!r.stat.value) {
      r.reclaimable = r.stat.value.error();
    } else {
      r.reclaimable = reclaimable_estimate(*r.stat.value);
    }
    const memory_snapshot& s = r.snapshot;
    if (!r.reclaimable) {
      r.available = r.reclaimable.error();
    } else if (!s.effective_limit) {
      r.available = s.effective_limit.error();
    } else if (!s.usage) {
      r.available = s.usage.error();
    } else {
      r.available =
          available_estimate(*s.effective_limit, *s.usage, *r.reclaimable);
    }
  }

  // The memory cgroup's own files, as cAdvisor reads a container's.
  void read_own(own_memory& o, chain_position at) const {
    const memory_layout& m = layout_->memory;
    const auto read_at = [&](std::string_view name, auto parse) {
      using value = typename decltype(parse(std::string_view{}))::value_type;
      return reading<value>{
          detail::read_parsed(fs_.keep(path_at(at, name)), parse),
          path_at(at, name)};
    };
    o.dir = dir_at(at);
    o.limit = read_at(m.limit, m.parse_limit);
    o.reservation = read_at(m.reservation, m.parse_limit);
    o.swap_limit = read_at(m.swap_file, m.parse_limit);
    o.usage = read_at(m.usage, parse_counter);
    o.stat.path = path_at(at, m.stat);
    o.cadvisor_local.path = o.stat.path;
    o.cadvisor_local.value = memory_accounting{};
    // One read for both tables: the local keys are in the same file.
    o.stat.value = detail::read_parsed<detail::stat_buffer>(
        fs_.keep(o.stat.path), [&](std::string_view t) {
          if (!m.cadvisor_local_keys.empty())
            o.cadvisor_local.value =
                detail::parse_accounting(t, m.cadvisor_local_keys);
          return detail::parse_accounting(t, m.stat_keys);
        });
    if (!o.stat.value) o.cadvisor_local.value = o.stat.value.error();
    o.peak = read_at(m.peak, parse_counter);
    if (m.failcnt) o.failcnt = read_at(*m.failcnt, parse_counter);
    optional_file(o.swap_limit);
    if (m.kernel_usage) o.kernel = read_at(*m.kernel_usage, parse_counter);
    optional_file(o.kernel);
    o.events.path = path_at(at, m.events);
    o.events.value = detail::read_counters(fs_.keep(o.events.path));
    if (m.swap == swap_rule::chain_min) {
      o.swap = read_at(m.swap_usage, parse_counter);
      optional_file(o.swap);
    } else {
      o.swap.path = o.stat.path + " (total_swap)";
      if (!o.stat.value) {
        o.swap.value = o.stat.value.error();
      } else if (auto v = (*o.stat.value)[stat_key::swap]) {
        o.swap.value = *v;
      } else {
        // total_swap is there only with swap accounting.
        o.swap.value = error(errc::not_supported, o.swap.path);
      }
    }
  }

  // The raw counters of memory.events (v2) or memory.oom_control (v1).
  void read_events(memory_report& r, chain_position at, std::string_view name,
                   std::string_view oom_key) const {
    r.events.path = path_at(at, name);
    r.oom_kills.path = r.events.path;
    const auto f = fs_.keep(r.events.path);
    auto counters = detail::read_counters(f);
    if (!counters) {
      r.events.value = counters.error();
      r.oom_kills.value = counters.error();
      return;
    }
    r.oom_kills.value = error(errc::malformed, f.path);
    for (const auto& kv : *counters) {
      if (kv.first == oom_key) r.oom_kills.value = kv.second;
    }
    r.events.value = std::move(*counters);
  }

  // PSI of the own cgroup2 directory; /proc/pressure/memory (host-wide) when
  // there is none or it cannot be read (PSI off: psi=0, EOPNOTSUPP). The
  // same for the CPU and IO.
  void read_pressure(memory_report& r) const {
    // The real root has no cgroup.type; a container's namespace root, also
    // printed as "/", has one, and its pressure is the container's.
    pressure_scope own = pressure_scope::cgroup;
    if (!loc_.unified_dir.empty() &&
        fs_.keep(detail::join_path(loc_.unified_dir, "/cgroup.type"))
            .missing()) {
      own = pressure_scope::root_cgroup;
    }
    read_psi_of(detail::v2::pressure, "/proc/pressure/memory", own, r.pressure,
                r.pressure_from);
    read_psi_of(detail::v2::cpu_pressure, "/proc/pressure/cpu", own,
                r.cpu_pressure, r.cpu_pressure_from);
    read_psi_of(detail::v2::io_pressure, "/proc/pressure/io", own,
                r.io_pressure, r.io_pressure_from);
  }

  // One resource's PSI: `file` of the own cgroup2 directory (whose scope is
  // `own`), else `host`. When both fail, the cgroup's error stands (it is
  // the one that was meant), unless there is no cgroup2 directory.
  void read_psi_of(std::string_view file, const char* host, pressure_scope own,
                   reading<psi_stats>& out, pressure_scope& scope) const {
    const auto read_psi = [&](const std::string& logical) {
      return reading<psi_stats>{detail::read_psi(fs_.keep(logical)), logical};
    };
    if (!loc_.unified_dir.empty()) {
      out = read_psi(
          detail::join_path(loc_.unified_dir, "/" + std::string(file)));
      scope = own;
      if (out.value) return;
    }
    auto from_host = read_psi(host);
    if (from_host.value || loc_.unified_dir.empty()) {
      out = std::move(from_host);
      scope = pressure_scope::host;
    }
  }

  detail::file_system fs_;
  cgroup_location loc_;
  const cgroup_layout* layout_ = nullptr;  // nullptr: mode none
  std::vector<level> levels_;
  // Usage and memory.stat, one entry per directory of loc_.chain (null in
  // mode none and before open_levels()).
  std::unique_ptr<counter_files[]> counters_;
  std::unique_ptr<detail::mutex> opening_ = std::make_unique<detail::mutex>();
  // v1 on the live system: the chain's limits are located from the
  // kernel's hierarchical_memory_limit (witnessed_minimum), last where
  // located_ says, under located_mu_.
  bool witness_ = false;
  std::unique_ptr<detail::mutex> located_mu_ =
      std::make_unique<detail::mutex>();
  mutable std::optional<located_limit> located_;
  // The memory cgroup (first chain directory with memory files).
  std::optional<chain_position> memory_at_;
  detail::kept_file meminfo_;
  result<std::uint64_t> host_total_{errc::not_supported};
  // Why no value can be read: the cgroup is not visible, or a directory of
  // its chain is not there (code 0 otherwise).
  error unknown_;
  // Set when the limit cannot be "none": the top of the chain is not the
  // hierarchy's root and the version has no witness above it (v2).
  error hidden_ancestors_;
  // HEADROOM_MEMORY_LIMIT when set: its bytes, or why it is malformed.
  std::optional<result<std::uint64_t>> override_;
  // The usage cgroup as of the latest snapshot(): usage() reads it.
  // A chain index, or no_cgroup for host-wide: an atomic needs a plain
  // integer, and this one never leaves the class.
  static constexpr std::size_t no_cgroup = SIZE_MAX;
  static std::size_t index_of(
      const std::optional<chain_position>& at) noexcept {
    return at ? at->index : no_cgroup;
  }
  mutable std::atomic<std::size_t> usage_index_{no_cgroup};
};

}  // namespace headroom
