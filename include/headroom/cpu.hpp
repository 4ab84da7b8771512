// SPDX-License-Identifier: MIT
// headroom: how many CPUs the process may really use.
//
// The effective CPU count is the minimum of three witnesses:
//   (a) the scheduler affinity of the process (sched_getaffinity; from a
//       captured tree: Cpus_allowed_list of /proc/<pid>/status);
//   (b) the tightest CFS bandwidth quota on the chain of the process's cpu
//       cgroup, as a fraction of CPUs (quota / period), rounded up (what the
//       JDK and .NET do) or down (what Go's automaxprocs does);
//   (c) the CPUs of its cpuset.
// Never below 1. CPU shares and weights are not limits and are not read.
//
// The cpu and cpuset cgroups are found like the memory one (discover.hpp,
// locate() with the controller's name) and the parsers below are pure;
// cpu_reader does the reading, through the same root prefix and pid as
// memory_reader (headroom::options), so fixture trees and captured trees
// replay. cpu_reader keeps the quota and cpuset files open and re-reads them
// with pread on every snapshot(): an in-place resize is seen at once.
#pragma once

#include <algorithm>    // std::min, std::max
#include <array>        // std::array
#include <cerrno>       // errno, EINVAL, ENOMEM
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t, std::uint32_t
#include <optional>     // std::optional, std::nullopt
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::move
#include <vector>       // std::vector

#include "detail/fd.hpp"    // HEADROOM_HAVE_LINUX, HEADROOM_SYSCALL, keep_open
#include "detail/fs.hpp"    // file_system
#include "discover.hpp"     // options, discovery, choose_view, nowhere
#include "error.hpp"        // result, error, errc
#include "layout.hpp"       // cpu_layout, layout_for, cgroup_layout
#include "parse/cpu.hpp"    // cpu_quota, parse_cpu_max, parse_cpu_list
#include "parse/keyed.hpp"  // key_slot, parse_keyed: cpu.stat
#include "snapshot.hpp"     // chain_position

#if HEADROOM_HAVE_LINUX
#include <sched.h>  // sched_getaffinity, cpu_set_t, CPU_ZERO
#endif

namespace headroom {

// ---------------------------------------------------------------------------
// The effective count, from the witnesses (pure)

// How a fractional quota becomes a whole number of CPUs.
enum class cpu_rounding {
  up,    // ceil: 1.5 CPUs -> 2 (JDK CgroupUtil::processor_count, .NET)
  down,  // floor: 1.5 CPUs -> 1 (Go's automaxprocs)
};

// The rounding's name: "up" or "down".
constexpr const char* to_string(cpu_rounding r) noexcept {
  return r == cpu_rounding::up ? "up" : "down";
}

namespace detail {

// a * b as 128 bits (hi, lo), for exact comparisons of quota fractions.
struct wide {
  std::uint64_t hi;
  std::uint64_t lo;
};

constexpr wide multiply_wide(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t mask = 0xffffffffu;
  const std::uint64_t a_lo = a & mask;
  const std::uint64_t a_hi = a >> 32;
  const std::uint64_t b_lo = b & mask;
  const std::uint64_t b_hi = b >> 32;
  const std::uint64_t p0 = a_lo * b_lo;
  const std::uint64_t p1 = a_lo * b_hi;
  const std::uint64_t p2 = a_hi * b_lo;
  const std::uint64_t p3 = a_hi * b_hi;
  const std::uint64_t mid = (p0 >> 32) + (p1 & mask) + (p2 & mask);
  return {p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32),
          (p0 & mask) | (mid << 32)};
}

// True when quota a grants no more CPU than quota b (a.q/a.p <= b.q/b.p).
constexpr bool no_more_cpu(const cpu_quota& a, const cpu_quota& b) noexcept {
  const wide l = multiply_wide(a.quota_us, b.period_us);
  const wide r = multiply_wide(b.quota_us, a.period_us);
  return l.hi < r.hi || (l.hi == r.hi && l.lo <= r.lo);
}

}  // namespace detail

// The whole number of CPUs a quota allows, rounded as asked, at least 1.
constexpr std::uint32_t quota_cpu_count(const cpu_quota& q,
                                        cpu_rounding r) noexcept {
  std::uint64_t n = q.quota_us / q.period_us;
  if (r == cpu_rounding::up && q.quota_us % q.period_us != 0) ++n;
  if (n < 1) n = 1;
  return n > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(n);
}

// min(affinity, quota rounded, cpuset), at least 1. A witness that could not
// be read makes the count unknown (its error is returned): a count that
// ignored a quota it could not read would be a made-up number. An absent
// quota or cpuset (std::nullopt) does not limit.
inline result<std::uint32_t> effective_cpu_count(
    const result<std::uint32_t>& affinity,
    const result<std::optional<cpu_quota>>& quota,
    const result<std::optional<std::uint32_t>>& cpuset, cpu_rounding r) {
  if (!affinity) return affinity.error();
  if (!quota) return quota.error();
  if (!cpuset) return cpuset.error();
  std::uint32_t n = *affinity;
  if (quota->has_value()) n = std::min(n, quota_cpu_count(**quota, r));
  if (cpuset->has_value()) n = std::min(n, **cpuset);
  return std::max<std::uint32_t>(n, 1);
}

// ---------------------------------------------------------------------------
// The reader

// Where the affinity count came from.
enum class affinity_source {
  sched_getaffinity,  // the live process (root "/")
  proc_status,        // Cpus_allowed_list of /proc/PID/status (a tree)
};

// Where the count came from: "sched_getaffinity" or "/proc/self/status".
constexpr const char* to_string(affinity_source s) noexcept {
  return s == affinity_source::proc_status ? "/proc/self/status"
                                           : "sched_getaffinity";
}

// The CFS bandwidth counters of the process's own cpu cgroup (cpu.stat;
// Documentation/scheduler/sched-bwc.rst, "Statistics"), as cAdvisor reads
// a container's: periods elapsed while runnable, periods in which the
// quota ran out, and the time its tasks waited throttled.
struct cpu_throttling {
  std::uint64_t periods = 0;            // nr_periods
  std::uint64_t throttled_periods = 0;  // nr_throttled
  // v2 throttled_usec; v1 throttled_time (ns) / 1000.
  std::uint64_t throttled_us = 0;
};

// cpu.stat's bandwidth counters by the layout's keys; nullopt when the
// file has none (a v2 cgroup whose cpu controller is not enabled prints
// only usage_usec, user_usec and system_usec). Two of the three without
// the third is malformed.
inline result<std::optional<cpu_throttling>> parse_cpu_throttling(
    std::string_view text, const cpu_layout& l) {
  std::array<key_slot, 3> slots{{{l.stat_periods, std::nullopt},
                                 {l.stat_throttled, std::nullopt},
                                 {l.stat_throttled_time, std::nullopt}}};
  auto ok = parse_keyed(text, slots);
  if (!ok) return std::move(ok).error();
  const std::size_t found = (slots[0].value ? 1u : 0u) +
                            (slots[1].value ? 1u : 0u) +
                            (slots[2].value ? 1u : 0u);
  if (found == 0) return std::optional<cpu_throttling>{};
  if (found != 3) return error(errc::malformed);
  const std::uint64_t t = *slots[2].value;
  const std::uint64_t ns = l.throttled_time_ns_per_unit;
  cpu_throttling c;
  c.periods = *slots[0].value;
  c.throttled_periods = *slots[1].value;
  c.throttled_us = ns >= 1000 ? t * (ns / 1000) : t / (1000 / (ns ? ns : 1));
  return std::optional<cpu_throttling>{c};
}

// What cpu_reader::snapshot() reads. Each witness holds a value or says why
// it could not be read.
struct cpu_snapshot {
  // How many CPUs the affinity mask allows.
  result<std::uint32_t> affinity{errc::not_supported};
  // Which of the two the count came from.
  affinity_source affinity_from = affinity_source::sched_getaffinity;
  // The tightest quota on the cpu cgroup's chain; std::nullopt when nothing
  // on it sets one (or there is no cpu controller).
  result<std::optional<cpu_quota>> quota{std::optional<cpu_quota>{}};
  // The cgroup that holds it, on cpu_location().chain (cpu_reader::
  // quota_cgroup gives its directory); std::nullopt without a quota.
  std::optional<chain_position> quota_at;
  // How many CPUs the cpuset grants; std::nullopt without a cpuset
  // controller.
  result<std::optional<std::uint32_t>> cpuset{std::optional<std::uint32_t>{}};
  // Which of the cpuset files was read (cpu_reader::cpuset_path gives it).
  std::optional<std::size_t> cpuset_file;
  // The own cpu cgroup's bandwidth setting as written (its quota, or none,
  // and its period), what cAdvisor reports of a container; std::nullopt
  // without a cpu controller or without the files (a v2 cgroup whose
  // parent does not enable the controller).
  result<std::optional<cpu_bandwidth>> own_bandwidth{
      std::optional<cpu_bandwidth>{}};
  // The own cpu cgroup's bandwidth counters; std::nullopt without a cpu
  // controller or without the counters.
  result<std::optional<cpu_throttling>> throttling{
      std::optional<cpu_throttling>{}};

  // True when the quota was read and something on the chain sets one.
  bool has_quota() const noexcept { return quota && quota->has_value(); }
  // The quota as CPUs (1.5); std::nullopt when none is set or it could not
  // be read (quota.error() says why).
  std::optional<double> quota_cpus() const noexcept {
    if (!has_quota()) return std::nullopt;
    return (*quota)->cpus();
  }

  // min(affinity, quota rounded, cpuset), at least 1.
  result<std::uint32_t> effective(cpu_rounding r) const {
    return effective_cpu_count(affinity, quota, cpuset, r);
  }
};

namespace detail {

// sched_getaffinity(pid) as a count, for machines with any number of CPUs
// (cpu_set_t holds 1024; a larger mask is tried when the kernel's is wider).
inline result<std::uint32_t> affinity_count(int pid) {
#if HEADROOM_HAVE_LINUX
  cpu_set_t set;
  CPU_ZERO(&set);
  if (HEADROOM_SYSCALL(sched_getaffinity)(pid, sizeof set, &set) == 0) {
    return static_cast<std::uint32_t>(CPU_COUNT(&set));
  }
  if (errno != EINVAL) return errno_error(errno, "sched_getaffinity");
  for (std::size_t n = 2048; n <= (std::size_t{1} << 22); n *= 2) {
    cpu_set_t* big = CPU_ALLOC(n);
    if (big == nullptr) return errno_error(ENOMEM, "sched_getaffinity");
    const std::size_t size = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(size, big);
    const int rc = HEADROOM_SYSCALL(sched_getaffinity)(pid, size, big);
    const int err = errno;
    const int count = CPU_COUNT_S(size, big);
    CPU_FREE(big);
    if (rc == 0) return static_cast<std::uint32_t>(count);
    if (err != EINVAL) return errno_error(err, "sched_getaffinity");
  }
  return errno_error(EINVAL, "sched_getaffinity");
#else
  (void)pid;
  return result<std::uint32_t>(errc::not_supported, "sched_getaffinity");
#endif
}

// A CPU list can be long on big machines; /proc/<pid>/status is a page or
// two.
inline constexpr std::size_t cpu_list_buffer = 8 * 1024;
inline constexpr std::size_t status_buffer = 16 * 1024;
// cpu.stat: a dozen keys of at most 24 characters and a 20-digit counter
// each; 1 KiB leaves room for keys added by newer kernels.
inline constexpr std::size_t cpu_stat_buffer = 1024;

}  // namespace detail

// Reads the three witnesses of the effective CPU count. snapshot() is const
// and only preads kept files and calls sched_getaffinity: safe to call from
// many threads at once. Moving or destroying the reader while another
// thread uses it is a race; it keeps its files open until it is destroyed.
class cpu_reader {
 public:
  // Locates the process's cpu and cpuset cgroups (opt.pid under opt.root)
  // and opens their files. Honours HEADROOM_DETECT=off as memory_reader
  // does (unless opt.use_environment is false). Fails only when mountinfo
  // cannot be read or either file is malformed; a process without a cpu
  // controller gets a reader whose quota is std::nullopt.
  static result<cpu_reader> open(const options& opt = {}) {
    return open(discovery::read(opt));
  }

  // The same from a discovery read before, with its options: a program that
  // opens the memory reader too (memory_reader::open(d)) reads mountinfo
  // once.
  static result<cpu_reader> open(const discovery& d) {
    const options& opt = d.opts();
    cpu_reader r;
    r.fs_ = d.fs();
    r.pid_ = opt.pid;
    r.live_affinity_ = r.fs_.root().empty();
    // Live, the affinity comes from the syscall; the status file is noted
    // all the same so that a captured tree replays it.
    if (r.live_affinity_) {
      r.fs_.note_read("/proc/self/status", r.fs_.proc_path("status"));
    } else {
      r.status_ = r.fs_.keep_proc("status");  // within the root
    }

    // HEADROOM_DETECT=off: no cgroups are looked for; the affinity, which
    // is not a cgroup's, is still read.
    if (d.disabled()) {
      r.cpu_ = detail::nowhere(*d.disabled());
      r.cpuset_ = detail::nowhere(*d.disabled());
      return r;
    }
    // One mapping for every controller: the view, the mount choice, the
    // mapping and the search are discovery's (discover.hpp).
    const auto bounds = search_bounds_of(opt);
    auto texts = detail::choose_view(r.fs_, d.texts(), "cpu", bounds);
    if (!texts) {
      const auto& code = texts.error().code;
      if (code != errc::no_cgroup && code != errc::not_supported)
        return std::move(texts).error();
      r.cpu_ = detail::nowhere(texts.error());
      r.cpuset_ = detail::nowhere(std::move(texts).error());
      return r;
    }
    auto cpu = detail::discover_in(r.fs_, *texts, "cpu", bounds);
    if (!cpu) return std::move(cpu).error();
    auto cpuset = detail::discover_in(r.fs_, *texts, "cpuset", bounds);
    if (!cpuset) return std::move(cpuset).error();
    r.cpu_ = std::move(*cpu);
    r.cpuset_ = std::move(*cpuset);
    r.open_quota_files();
    r.open_cpuset_files();
    r.open_stat_file();
    return r;
  }

  // The cpu controller's cgroup (quota) and the cpuset controller's.
  const cgroup_location& cpu_location() const noexcept { return cpu_; }
  // The cpuset controller's cgroup.
  const cgroup_location& cpuset_location() const noexcept { return cpuset_; }

  // Logical path of the file that holds s's quota, and its cgroup directory
  // (empty when nothing sets a quota).
  std::string quota_path(const cpu_snapshot& s) const {
    if (!has_quota(s)) return {};
    return file_at(cpu_.chain[s.quota_at->index],
                   layout_for(cpu_.mode)->cpu.quota);
  }
  // The cgroup directory that sets s's quota (empty when none does).
  std::string quota_cgroup(const cpu_snapshot& s) const {
    return has_quota(s) ? cpu_.chain[s.quota_at->index] : std::string();
  }

  // Logical path of the cpuset file s read (empty when there is none).
  std::string cpuset_path(const cpu_snapshot& s) const {
    if (!s.cpuset || !s.cpuset->has_value() || !s.cpuset_file ||
        *s.cpuset_file >= cpuset_files_.size()) {
      return {};
    }
    return cpuset_logical_[*s.cpuset_file];
  }

  // Affinity, the tightest quota and the cpuset, re-read now.
  cpu_snapshot snapshot() const {
    cpu_snapshot s;
    if (live_affinity_) {
      s.affinity_from = affinity_source::sched_getaffinity;
      s.affinity = detail::affinity_count(pid_);
    } else {
      s.affinity_from = affinity_source::proc_status;
      s.affinity = detail::read_parsed<detail::status_buffer>(
          status_, parse_status_cpus_allowed);
    }
    read_quota(s);
    read_own_bandwidth(s);
    read_cpuset(s);
    read_throttling(s);
    return s;
  }

  // Logical path of the cpu.stat read for the throttling counters (empty
  // when there is none).
  const std::string& stat_path() const noexcept { return stat_logical_; }

  // Logical path of the own cgroup's quota file, cpu.max or
  // cpu.cfs_quota_us (empty without a cpu controller).
  std::string own_quota_path() const {
    const cgroup_layout* layout = layout_for(cpu_.mode);
    if (!layout || cpu_.chain.empty()) return {};
    return file_at(cpu_.chain.front(), layout->cpu.quota);
  }

 private:
  // One directory of the cpu chain: v2 cpu.max in `quota`; v1
  // cpu.cfs_quota_us and cpu.cfs_period_us.
  struct level {
    detail::kept_file quota;
    std::optional<detail::kept_file> period;  // when the layout has one
  };

  cpu_reader() = default;

  static std::string file_at(const std::string& dir, std::string_view name) {
    return detail::join_path(dir, "/" + std::string(name));
  }

  bool has_quota(const cpu_snapshot& s) const {
    return s.quota && s.quota->has_value() && s.quota_at &&
           s.quota_at->index < cpu_.chain.size() && layout_for(cpu_.mode);
  }

  void open_quota_files() {
    const cgroup_layout* layout = layout_for(cpu_.mode);
    if (!layout) return;
    const cpu_layout& c = layout->cpu;
    for (const auto& dir : cpu_.chain) {
      level l;
      l.quota = fs_.keep(file_at(dir, c.quota));
      if (c.period) l.period = fs_.keep(file_at(dir, *c.period));
      // A directory lacks the quota file only where the version allows it
      // (v2 without the controller); a directory that is not there is an
      // error, never "no quota".
      l.quota.required = layout->files_in_every_dir || !fs_.is_directory(dir);
      levels_.push_back(std::move(l));
    }
  }

  // The first cpuset file that exists: in the own cpuset (v1:
  // effective_cpus, cpuset.cpus on old kernels; a v1 child cannot be
  // granted more than its parent), or up the chain to the nearest ancestor
  // that has the controller (v2: a cgroup without it runs on its parent's
  // CPUs).
  void open_cpuset_files() {
    if (is_unmapped(cpuset_.mapping)) return;
    const cgroup_layout* layout = layout_for(cpuset_.mode);
    if (!layout) return;
    const cpu_layout& c = layout->cpu;
    const std::size_t dirs = c.cpuset_from_ancestors ? cpuset_.chain.size() : 1;
    for (std::size_t i = 0; i < dirs && i < cpuset_.chain.size(); ++i) {
      for (const std::string_view name : c.cpuset) {
        if (name.empty()) continue;
        std::string logical = file_at(cpuset_.chain[i], name);
        auto f = fs_.keep(logical);
        const bool missing = f.missing();
        cpuset_files_.push_back(std::move(f));
        cpuset_logical_.push_back(std::move(logical));
        if (!missing) return;
      }
    }
  }

  // One directory's quota: v2 cpu.max holds quota and period; v1 has
  // cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us.
  static result<std::optional<cpu_quota>> read_level_quota(const level& l) {
    if (!l.period) return detail::read_parsed(l.quota, parse_cpu_max);
    auto quota = detail::read_parsed(l.quota, parse_cfs_quota);
    if (!quota) return std::move(quota).error();
    if (!quota->has_value()) return std::optional<cpu_quota>{};
    auto period = detail::read_parsed(*l.period, parse_cfs_period);
    if (!period) return std::move(period).error();
    return std::optional<cpu_quota>{cpu_quota{**quota, *period}};
  }

  // The tightest quota on the chain. A directory without the files (a v2
  // cgroup without the cpu controller, the v2 root) is skipped; any other
  // error makes the quota unknown. Ties go to the higher directory.
  void read_quota(cpu_snapshot& s) const {
    if (is_unmapped(cpu_.mapping)) {
      s.quota = cpu_.why_unmapped;
      return;
    }
    std::optional<cpu_quota> best;
    for (std::size_t i = 0; i < levels_.size(); ++i) {
      const level& l = levels_[i];
      if (l.quota.missing()) continue;
      auto q = read_level_quota(l);
      if (!q) {
        s.quota = std::move(q).error();
        return;
      }
      if (q->has_value() && (!best || detail::no_more_cpu(**q, *best))) {
        best = *q;
        s.quota_at = chain_position{i};
      }
    }
    s.quota = best;
  }

  // The own cgroup's (the first of the chain) quota and period as written,
  // where cAdvisor reads a container's spec (lib/container/common/
  // helpers.go): the period is read whether or not a quota is set.
  void read_own_bandwidth(cpu_snapshot& s) const {
    if (is_unmapped(cpu_.mapping)) {
      s.own_bandwidth = cpu_.why_unmapped;
      return;
    }
    if (levels_.empty() || levels_.front().quota.missing()) {
      s.own_bandwidth = std::optional<cpu_bandwidth>{};
      return;
    }
    const level& l = levels_.front();
    if (!l.period) {
      auto b = detail::read_parsed(l.quota, parse_cpu_max_bandwidth);
      if (!b) {
        s.own_bandwidth = std::move(b).error();
        return;
      }
      s.own_bandwidth = std::optional<cpu_bandwidth>{*b};
      return;
    }
    auto quota = detail::read_parsed(l.quota, parse_cfs_quota);
    if (!quota) {
      s.own_bandwidth = std::move(quota).error();
      return;
    }
    auto period = detail::read_parsed(*l.period, parse_cfs_period);
    if (!period) {
      s.own_bandwidth = std::move(period).error();
      return;
    }
    s.own_bandwidth =
        std::optional<cpu_bandwidth>{cpu_bandwidth{*quota, *period}};
  }

  // cpu.stat of the own cgroup (the first of the chain), where cAdvisor
  // reads a container's throttling.
  void open_stat_file() {
    const cgroup_layout* layout = layout_for(cpu_.mode);
    if (!layout || cpu_.chain.empty()) return;
    stat_logical_ = file_at(cpu_.chain.front(), layout->cpu.stat);
    stat_ = fs_.keep(stat_logical_);
  }

  void read_throttling(cpu_snapshot& s) const {
    if (is_unmapped(cpu_.mapping)) {
      s.throttling = cpu_.why_unmapped;
      return;
    }
    const cgroup_layout* layout = layout_for(cpu_.mode);
    if (!layout || stat_logical_.empty() || stat_.missing()) {
      s.throttling = std::optional<cpu_throttling>{};
      return;
    }
    s.throttling = detail::read_parsed<detail::cpu_stat_buffer>(
        stat_, [&](std::string_view text) {
          return parse_cpu_throttling(text, layout->cpu);
        });
  }

  void read_cpuset(cpu_snapshot& s) const {
    if (is_unmapped(cpuset_.mapping)) {
      s.cpuset = cpuset_.why_unmapped;
      return;
    }
    if (cpuset_files_.empty()) {
      s.cpuset = std::optional<std::uint32_t>{};
      return;
    }
    for (std::size_t i = 0; i < cpuset_files_.size(); ++i) {
      const auto& f = cpuset_files_[i];
      if (f.missing()) continue;
      auto n = detail::read_parsed<detail::cpu_list_buffer>(f, parse_cpu_list);
      if (!n) {
        s.cpuset = std::move(n).error();
        return;
      }
      // A process cannot sit in a cpuset without CPUs.
      if (*n == 0) {
        s.cpuset = error(errc::malformed, f.path);
        return;
      }
      s.cpuset = std::optional<std::uint32_t>{*n};
      s.cpuset_file = i;
      return;
    }
    s.cpuset = std::optional<std::uint32_t>{};  // no directory has the file
  }

  detail::file_system fs_;
  int pid_ = 0;
  bool live_affinity_ = true;
  detail::kept_file status_;
  cgroup_location cpu_;
  cgroup_location cpuset_;
  std::vector<level> levels_;
  std::vector<detail::kept_file> cpuset_files_;
  std::vector<std::string> cpuset_logical_;
  detail::kept_file stat_;
  std::string stat_logical_;
};

}  // namespace headroom
