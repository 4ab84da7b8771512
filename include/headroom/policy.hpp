// SPDX-License-Identifier: MIT
// headroom: sizing policies. Turns a memory_snapshot into a byte budget for
// a heap, an arena or a cache: a percentage of the effective limit, minus a
// reserve, between a floor and a ceiling, bounded by the process's
// RLIMIT_AS and RLIMIT_DATA, with an optional initial size.
//
// The presets size the way runtimes do with their default flags, each rule
// cited from the runtime's source where it is defined:
//
//   auto s = reader->snapshot();
//   auto heap = headroom::compute_budget(s, headroom::presets::jvm());
//   if (heap && *heap) use((*heap)->max, *(*heap)->initial);
//
// compute_budget never makes up a number: when the snapshot's effective
// limit (or, for a policy that needs it, its limit) could not be read, the
// result is that error, with the file it concerns.
#pragma once

#include <algorithm>     // std::min, std::max
#include <cerrno>        // errno
#include <cmath>         // std::isfinite
#include <cstdint>       // std::uint64_t, UINT64_MAX
#include <optional>      // std::optional
#include <system_error>  // std::errc

#include "detail/fd.hpp"  // HEADROOM_HAVE_LINUX, HEADROOM_SYSCALL
#include "error.hpp"      // result, errno_error, errc
#include "snapshot.hpp"   // memory_snapshot

#if HEADROOM_HAVE_LINUX
#include <sys/resource.h>  // rlimit, getrlimit, RLIMIT_AS
#endif

namespace headroom {

// The soft limits of the process's address space (RLIMIT_AS) and data
// segment (RLIMIT_DATA; since Linux 4.7 it also counts private writable
// mappings, so a malloc'd or mmap'd heap too). std::nullopt: RLIM_INFINITY.
struct address_limits {
  // RLIMIT_AS's soft limit in bytes.
  std::optional<std::uint64_t> address_space;
  // RLIMIT_DATA's soft limit in bytes.
  std::optional<std::uint64_t> data;
};

// getrlimit(RLIMIT_AS) and getrlimit(RLIMIT_DATA) of the calling process.
inline result<address_limits> read_address_limits() {
#if HEADROOM_HAVE_LINUX
  address_limits out;
  struct rlimit rl {};
  if (HEADROOM_SYSCALL(getrlimit)(RLIMIT_AS, &rl) != 0)
    return errno_error(errno, "getrlimit");
  if (rl.rlim_cur != RLIM_INFINITY) out.address_space = rl.rlim_cur;
  if (HEADROOM_SYSCALL(getrlimit)(RLIMIT_DATA, &rl) != 0)
    return errno_error(errno, "getrlimit");
  if (rl.rlim_cur != RLIM_INFINITY) out.data = rl.rlim_cur;
  return out;
#else
  return result<address_limits>(errc::not_supported, "getrlimit");
#endif
}

// What the percentages are taken of.
enum class budget_basis {
  // The snapshot's effective limit: min(limit, host total), the host total
  // when nothing limits. The JVM sizes this way.
  effective_limit,
  // The effective limit when a cgroup limit exists; no budget (std::nullopt)
  // when nothing limits. .NET's default hard heap limit and automemlimit's
  // GOMEMLIMIT exist only under a limit.
  limit_only,
};

// How an rlimit bounds the budget.
enum class rlimit_use {
  ignore,      // not at all
  cap_budget,  // budget <= rlimit / rlimit_divisor (the JVM, RLIMIT_AS)
  cap_basis,   // basis <= rlimit before the percentages (.NET, RLIMIT_AS)
};

// The JVM's small-memory rule: when basis * percent / 100 is below `below`,
// that is the maximum, and floor and percent do not apply.
struct small_memory_rule {
  // The share of the basis, 0 to 100, that is the maximum when the rule
  // applies.
  double percent = 0;
  // The rule applies when basis * percent / 100 is below these bytes.
  std::uint64_t below = 0;
};

// How compute_budget() sizes a heap from a snapshot: a percentage of a
// basis, bounded by a floor, a ceiling and the rlimits. A plain value.
struct budget_policy {
  // What the percentages are taken of.
  budget_basis basis = budget_basis::effective_limit;
  double percent = 100;                  // of the basis, 0 to 100
  std::uint64_t reserve = 0;             // subtracted after the percentage
  std::uint64_t floor = 0;               // the maximum is at least this
  std::optional<std::uint64_t> ceiling;  // and at most this (wins)
  // The JVM's small-memory rule, when set.
  std::optional<small_memory_rule> small_memory;
  // The initial size: basis * initial_percent / 100, at least
  // min(initial_floor, max), at most max. No initial size when unset.
  std::optional<double> initial_percent;
  // The least initial size, bounded by the maximum.
  std::uint64_t initial_floor = 0;
  // Sizes are rounded up to a multiple of this (1: not rounded), except
  // where that would cross an rlimit bound (then down).
  std::uint64_t alignment = 1;
  rlimit_use address_space = rlimit_use::cap_budget;  // RLIMIT_AS
  rlimit_use data = rlimit_use::cap_budget;           // RLIMIT_DATA
  std::uint64_t rlimit_divisor = 1;  // for cap_budget: rlimit / divisor
};

// Which rule set the maximum.
enum class budget_bound {
  percent,        // basis * percent / 100 - reserve
  small_memory,   // the small-memory rule
  floor,          // the policy's floor
  ceiling,        // the policy's ceiling
  address_space,  // RLIMIT_AS
  data,           // RLIMIT_DATA
};

// The bound's name: "percent", "small_memory", "floor", "ceiling",
// "address_space" or "data".
constexpr const char* to_string(budget_bound b) noexcept {
  switch (b) {
    case budget_bound::small_memory:
      return "small_memory";
    case budget_bound::floor:
      return "floor";
    case budget_bound::ceiling:
      return "ceiling";
    case budget_bound::address_space:
      return "address_space";
    case budget_bound::data:
      return "data";
    case budget_bound::percent:
      break;
  }
  return "percent";
}

// What compute_budget() found: the maximum, the rule that set it, and the
// initial size. A plain value.
struct budget {
  std::uint64_t basis = 0;  // the bytes the percentages were taken of
  std::uint64_t max = 0;    // the budget
  // The rule that set max.
  budget_bound max_bound = budget_bound::percent;
  std::optional<std::uint64_t> initial;  // when the policy asks for one
};

namespace detail {

// v * percent / 100 in double, truncated, as HotSpot computes
// (uint64_t)((double)mem * MaxRAMPercentage / 100).
inline std::uint64_t percent_of(std::uint64_t v, double percent) noexcept {
  const double r = static_cast<double>(v) * percent / 100;
  if (!(r > 0)) return 0;
  if (r >= 18446744073709551616.0) return UINT64_MAX;
  return static_cast<std::uint64_t>(r);
}

inline std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept {
  if (a <= 1 || v % a == 0) return v;
  const std::uint64_t up = v - v % a + a;
  return up < v ? v - v % a : up;  // saturate: down when up overflows
}

inline std::uint64_t align_down(std::uint64_t v, std::uint64_t a) noexcept {
  return a <= 1 ? v : v - v % a;
}

inline bool valid_percent(double p) noexcept {
  return std::isfinite(p) && p >= 0 && p <= 100;
}

inline error invalid_policy() {
  return make_error(std::make_error_code(std::errc::invalid_argument));
}

}  // namespace detail

// The budget for snapshot s under policy p, with the process's address
// limits `lim` (pure: read them with read_address_limits(), or pass your
// own). Returns:
//   - the budget;
//   - std::nullopt when p.basis is limit_only and nothing limits (the
//     runtimes that size this way then set no limit at all);
//   - the snapshot's error when the value p needs could not be read: the
//     effective limit, or for limit_only the limit (a garbage memory.max
//     gives errc::malformed with that file's path, never a guess);
//   - std::errc::invalid_argument for a policy out of range (a percentage
//     outside 0..100 or not a number, alignment or divisor 0).
// The rules apply in this order: percentage (or the small-memory rule) minus
// reserve; floor; ceiling (it wins over the floor, as the JVM's
// ErgoHeapSizeLimit does); the rlimit caps; alignment. A floor above the
// basis gives a budget above the limit, as .NET's 20 MiB minimum does.
inline result<std::optional<budget>> compute_budget(const memory_snapshot& s,
                                                    const budget_policy& p,
                                                    const address_limits& lim) {
  if (!detail::valid_percent(p.percent) ||
      (p.small_memory && !detail::valid_percent(p.small_memory->percent)) ||
      (p.initial_percent && !detail::valid_percent(*p.initial_percent)) ||
      p.alignment == 0 || p.rlimit_divisor == 0) {
    return detail::invalid_policy();
  }
  if (p.basis == budget_basis::limit_only) {
    if (!s.limit) return s.limit.error();
    if (!s.limit->has_value()) return std::optional<budget>{};
  }
  if (!s.effective_limit) return s.effective_limit.error();

  budget b;
  b.basis = *s.effective_limit;
  // Caps from the rlimits, on the basis or on the result.
  std::optional<std::uint64_t> cap;
  budget_bound cap_kind = budget_bound::address_space;
  const auto apply_rlimit = [&](const std::optional<std::uint64_t>& rl,
                                rlimit_use use, budget_bound kind) {
    if (!rl) return;
    if (use == rlimit_use::cap_basis) {
      b.basis = std::min(b.basis, *rl);
    } else if (use == rlimit_use::cap_budget) {
      const std::uint64_t c = *rl / p.rlimit_divisor;
      if (!cap || c < *cap) {
        cap = c;
        cap_kind = kind;
      }
    }
  };
  apply_rlimit(lim.address_space, p.address_space, budget_bound::address_space);
  apply_rlimit(lim.data, p.data, budget_bound::data);

  const auto minus_reserve = [&](std::uint64_t v) {
    return v > p.reserve ? v - p.reserve : 0;
  };
  std::uint64_t max = 0;
  const std::uint64_t small =
      p.small_memory ? detail::percent_of(b.basis, p.small_memory->percent) : 0;
  if (p.small_memory && small < p.small_memory->below) {
    max = minus_reserve(small);
    b.max_bound = budget_bound::small_memory;
  } else {
    max = minus_reserve(detail::percent_of(b.basis, p.percent));
    b.max_bound = budget_bound::percent;
    if (max < p.floor) {
      max = p.floor;
      b.max_bound = budget_bound::floor;
    }
  }
  if (p.ceiling && max > *p.ceiling) {
    max = *p.ceiling;
    b.max_bound = budget_bound::ceiling;
  }
  if (cap && max > *cap) {
    max = *cap;
    b.max_bound = cap_kind;
  }
  const auto align = [&](std::uint64_t v) {
    const std::uint64_t up = detail::align_up(v, p.alignment);
    return cap && up > *cap ? detail::align_down(*cap, p.alignment) : up;
  };

  if (p.initial_percent) {
    std::uint64_t initial = detail::percent_of(b.basis, *p.initial_percent);
    if (cap) initial = std::min(initial, *cap);
    std::uint64_t lowest = std::min(p.initial_floor, max);
    if (cap) lowest = std::min(lowest, *cap);
    initial = std::min(std::max(initial, lowest), max);
    b.initial = align(initial);
  }
  b.max = align(max);
  if (b.initial && *b.initial > b.max) b.initial = b.max;
  return std::optional<budget>{b};
}

// The same with the calling process's RLIMIT_AS and RLIMIT_DATA.
inline result<std::optional<budget>> compute_budget(const memory_snapshot& s,
                                                    const budget_policy& p) {
  auto lim = read_address_limits();
  if (!lim) return std::move(lim).error();
  return compute_budget(s, p, *lim);
}

namespace presets {

// HotSpot's default heap sizing (JDK 17 to 25, 64-bit).
//
// GCArguments::set_heap_size(), src/hotspot/share/gc/shared/gcArguments.cpp
// (Arguments::set_heap_size() in src/hotspot/share/runtime/arguments.cpp in
// older releases), with the flag defaults of gc_globals.hpp:
//   reasonable_max = phys * MaxRAMPercentage / 100        (25)
//   reasonable_min = phys * MinRAMPercentage / 100        (50)
//   if (reasonable_min < MaxHeapSize)  // "Small physical memory"
//     reasonable_max = reasonable_min;
//   else
//     reasonable_max = MAX2(reasonable_max, MaxHeapSize);
//   reasonable_max = limit_heap_by_allocatable_memory(reasonable_max);
// MaxHeapSize here is its default, ScaleForWordSize(96*M): 96 MiB * 13 / 10
// rounded down to 8 bytes (globals_shared.hpp), 130862280 bytes. So
// MinRAMPercentage applies when half the memory is under 124.8 MiB, that is
// below 261724560 bytes (249.6 MiB) of memory: the heap is half of it. From
// there to 499.2 MiB the heap stays at 124.8 MiB; above, it is a quarter.
//   initial = MAX3(phys * InitialRAMPercentage / 100,     (1.5625)
//                  MIN2(OldSize + NewSize, MaxHeapSize), MinHeapSize)
//   initial = MIN2(initial, MaxHeapSize)
// OldSize + NewSize = ScaleForWordSize(4*M) + ScaleForWordSize(1*M) =
// 5452592 + 1363144 bytes. limit_heap_by_allocatable_memory bounds both by
// RLIMIT_AS / MaxVirtMemFraction (2) when RLIMIT_AS is finite
// (os::has_allocatable_memory_limit, os_posix.cpp); RLIMIT_DATA is not read.
// Both sizes are then rounded up to the heap alignment
// (GCArguments::initialize_heap_flags_and_sizes): 2 MiB with 4 KiB pages,
// the card table's constraint of 512-byte cards * page size. "phys" is the
// container limit capped at host RAM: the effective limit.
//
// Not modelled: JDK 17 and 21 take at most MaxRAM (128 GiB) as "phys", and
// every release caps the heap at the compressed-oops limit (about 32 GiB);
// set `ceiling` when sizing for hosts that large. G1 with regions above
// 2 MiB (heaps of many GiB) aligns to its region size.
inline budget_policy jvm() {
  budget_policy p;
  p.basis = budget_basis::effective_limit;
  p.percent = 25;                                 // MaxRAMPercentage
  p.small_memory = small_memory_rule{50,          // MinRAMPercentage
                                     130862280};  // MaxHeapSize default
  p.floor = 130862280;                  // MAX2(reasonable_max, MaxHeapSize)
  p.initial_percent = 1.5625;           // InitialRAMPercentage
  p.initial_floor = 5452592 + 1363144;  // OldSize + NewSize
  p.alignment = 2 * 1024 * 1024;
  p.address_space = rlimit_use::cap_budget;
  p.data = rlimit_use::ignore;
  p.rlimit_divisor = 2;  // MaxVirtMemFraction
  return p;
}

// .NET's default GC heap hard limit in a container: with a memory limit and
// no GCHeapHardLimit set, max(20 MB, 75% of the limit)
// (gc_heap::compute_memory_settings, src/coreclr/gc in dotnet/runtime:
// "heap_hard_limit = max(20 * 1024 * 1024, total_physical_mem * 75 / 100)";
// documented as "Heap hard limit" in docs/core/runtime-config/
// garbage-collector.md). The limit there is the cgroup limit capped by
// RLIMIT_AS and physical memory (GetRestrictedPhysicalMemoryLimit,
// src/coreclr/gc/unix/cgroup.cpp). Without a cgroup limit .NET sets no hard
// limit: no budget. 64-bit only.
inline budget_policy dotnet() {
  budget_policy p;
  p.basis = budget_basis::limit_only;
  p.percent = 75;
  p.floor = 20 * 1024 * 1024;
  p.address_space = rlimit_use::cap_basis;
  p.data = rlimit_use::ignore;
  return p;
}

// Go with github.com/KimMachineGun/automemlimit: GOMEMLIMIT = 90% of the
// cgroup memory limit (memlimit/memlimit.go, defaultAUTOMEMLIMIT = 0.9), left
// unset when nothing limits. automemlimit takes the limit as it is, even
// above host RAM; headroom caps it at host RAM (the effective limit).
inline budget_policy go_automemlimit() {
  budget_policy p;
  p.basis = budget_basis::limit_only;
  p.percent = 90;
  p.address_space = rlimit_use::ignore;
  p.data = rlimit_use::ignore;
  return p;
}

// V8's old generation for Node.js (--max-old-space-size), sized so that the
// whole V8 heap stays inside the limit. V8 sizes it from "physical memory"
// (Node passes min(total memory, uv_get_constrained_memory()) to
// ResourceConstraints::ConfigureDefaults) in Heap::HeapSizeFromPhysicalMemory,
// src/heap/heap.cc:
//   old_generation = physical_memory / kPhysicalMemoryToOldGenerationRatio (4)
//                    * kHeapLimitMultiplier (2: 8-byte pointers without
//                      pointer compression, as Node's builds are)
//   old_generation = min(old_generation, MaxOldGenerationSize())  (4 GiB)
//   old_generation = max(old_generation, V8HeapTrait::kMinSize)   (256 MiB)
// and adds the young generation on top (3 semi-spaces of at most 16 MiB:
// 48 MiB). The preset keeps V8's half of the limit and its 4 GiB ceiling but
// not the 256 MiB minimum, which alone puts V8's heap above any limit under
// 512 MiB (Node 20 directly in a 256 MiB cgroup reports a heap_size_limit of
// 259 MiB). Half the limit plus the young generation fits any limit from
// 96 MiB. Only under a limit: without one V8's own rule is right.
inline budget_policy node() {
  budget_policy p;
  p.basis = budget_basis::limit_only;
  p.percent = 50;
  p.ceiling = std::uint64_t{4096} * 1024 * 1024;
  p.address_space = rlimit_use::ignore;
  p.data = rlimit_use::ignore;
  return p;
}

}  // namespace presets

}  // namespace headroom
