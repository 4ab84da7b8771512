// SPDX-License-Identifier: MIT
// headroom: steer the allocator that serves malloc under memory pressure.
//
// allocator_policy turns pressure into allocator calls, on a thread of its
// own so that a monitor callback returns at once:
//  - at release_at (moderate by default) and above, release_free_memory(),
//    at most once per min_release_interval;
//  - on critical, jemalloc's decay set to 0 (every arena's dirty and muzzy
//    pages purged at once, and freed pages purged as they come), and the
//    previous decay times put back when the level falls below critical;
//  - when asked, a heap limit pushed into gperftools' tcmalloc (the
//    `tcmalloc.heap_limit_mb` property): fixed, or a share of the limit that
//    follows limit_changed events;
//  - at start, when asked, glibc's arena count set from the effective CPU
//    count (mallopt M_ARENA_MAX).
// Every action says what it did in an allocator_action: the allocator, the
// call, ok / unsupported / failed with the reason, and the bytes before and
// after. read_allocator_slack() says how much memory the allocator holds
// free, from its own statistics:
//
//   glibc       mallinfo2(): fordblks (free chunks, fast bins and the top
//               chunk of every arena); allocated uordblks + hblkhd
//   jemalloc    mallctl "epoch" (refresh), then stats.resident -
//               stats.allocated (dirty and muzzy pages, metadata, partly
//               used pages); stats.retained is unmapped
//   gperftools  MallocExtension_GetNumericProperty: tcmalloc.pageheap_free_
//               bytes + the central, transfer and thread cache free bytes;
//               tcmalloc.pageheap_unmapped_bytes is unmapped
//
// Like release_free_memory() (release.hpp), nothing is linked: each entry
// point is looked up at run time in the object that defines malloc.
// google/tcmalloc, mimalloc and the sanitizer allocators get releases only;
// their other actions report unsupported.
//
//   headroom::allocator_policy policy;             // its thread starts
//   auto sub = policy.attach(*m);                  // m: a headroom::monitor
//   ...                                            // drop sub before policy
#pragma once

#include <cerrno>              // EFAULT from mallctl
#include <chrono>              // intervals, the clock
#include <condition_variable>  // waking the policy's thread
#include <cstdint>             // byte counts
#include <cstdio>              // snprintf for mallctl names
#include <cstring>             // strerror
#include <deque>               // the recent actions
#include <functional>          // the action callback, the clock
#include <mutex>               // pending levels, the decay state
#include <optional>            // absent values
#include <string>              // calls, reasons
#include <thread>              // the policy's thread
#include <utility>             // std::move
#include <vector>              // saved decay times

#include "cpu.hpp"            // cpu_reader, cpu_snapshot
#include "detail/narrow.hpp"  // the heap limit as mallctl's size_t
#include "discover.hpp"       // discovery
#include "pressure.hpp"       // monitor, memory_event, pressure_level
#include "release.hpp"        // release_free_memory, allocator_kind

#if HEADROOM_HAVE_LINUX
#include <pthread.h>    // naming the policy's thread
#include <sys/types.h>  // ssize_t, jemalloc's decay times
#endif

namespace headroom {

// How an allocator action ended.
enum class action_status {
  ok,           // the call ran and the allocator accepted it
  unsupported,  // this allocator has no such call (reason says which)
  failed,       // the call ran and failed (reason says how)
};

// The status's name: "ok", "unsupported" or "failed".
constexpr const char* to_string(action_status s) noexcept {
  switch (s) {
    case action_status::unsupported:
      return "unsupported";
    case action_status::failed:
      return "failed";
    case action_status::ok:
      break;
  }
  return "ok";
}

// What one allocator action did.
struct allocator_action {
  // The allocator it was meant for.
  allocator_kind allocator = allocator_kind::unknown;
  std::string what;  // "release", "tighten decay", "restore decay",
                     // "heap limit", "arena max"
  // Whether it ran and was accepted.
  action_status status = action_status::unsupported;
  std::string call;    // what ran, with its arguments; empty: nothing
  std::string reason;  // unsupported or failed: why
  // What before and after count (e.g. "resident bytes (/proc/self/statm)",
  // "jemalloc stats.resident", "tcmalloc.heap_limit_mb in bytes"), and the
  // figures around the call, where they could be read.
  std::string measure;
  // The measure before the call.
  std::optional<std::uint64_t> before;
  // The measure after the call.
  std::optional<std::uint64_t> after;

  // status == action_status::ok.
  bool ok() const noexcept { return status == action_status::ok; }
  // before - after, floored at 0; nullopt when either is unknown.
  std::optional<std::uint64_t> decrease() const {
    if (!before || !after) return std::nullopt;
    return *before > *after ? *before - *after : 0;
  }
};

// What the allocator holds: handed out, held free (slack), given back.
struct allocator_slack {
  // The allocator that serves malloc.
  allocator_kind allocator = allocator_kind::unknown;
  std::string source;                   // where the figures come from
  std::optional<std::uint64_t> in_use;  // bytes handed out to the program
  std::optional<std::uint64_t> free;    // held free by the allocator
  // Given back to the kernel but still reserved (jemalloc stats.retained,
  // gperftools tcmalloc.pageheap_unmapped_bytes); nullopt: not counted.
  std::optional<std::uint64_t> unmapped;
};

namespace detail {

#if HEADROOM_HAVE_LINUX
// The allocator that serves malloc, as release_free_memory() tells them
// apart (its order of preference).
inline allocator_kind serving_allocator(const malloc_home& home) {
  if (home.serving("__sanitizer_purge_allocator")) {
    return allocator_kind::sanitizer;
  }
  if (home.serving("mallctl")) return allocator_kind::jemalloc;
  if (home.serving("MallocExtension_Internal_ReleaseMemoryToSystem")) {
    return allocator_kind::tcmalloc;
  }
  if (home.serving("MallocExtension_ReleaseFreeMemory")) {
    return allocator_kind::gperftools;
  }
  if (home.serving("mi_collect")) return allocator_kind::mimalloc;
  if (home.serving("malloc_trim")) return allocator_kind::glibc;
#if defined(__GLIBC__)
  if (!home.found()) return allocator_kind::glibc;  // linked statically
#endif
  return allocator_kind::unknown;
}
#endif

inline allocator_action unsupported_action(allocator_kind k, std::string what,
                                           std::string reason) {
  allocator_action a;
  a.allocator = k;
  a.what = std::move(what);
  a.reason = std::string(to_string(k)) + ": " + std::move(reason);
  return a;
}

inline constexpr std::uint64_t allocator_mib = 1024 * 1024;

#if HEADROOM_HAVE_LINUX
// glibc's struct mallinfo2 (malloc.h, glibc 2.33 and later), spelled here
// so that the header builds against older glibc and other C libraries.
struct glibc_mallinfo2 {
  std::size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks,
      fordblks, keepcost;
};
using mallinfo2_fn = glibc_mallinfo2 (*)();
using mallopt_fn = int (*)(int, int);
using set_numeric_property_fn = int (*)(const char*, std::size_t);

// mallopt's parameter for the arena count (malloc.h: M_ARENA_MAX).
inline constexpr int glibc_m_arena_max = -8;

inline std::optional<std::uint64_t> gperftools_property(numeric_property_fn get,
                                                        const char* name) {
  std::size_t v = 0;
  if (get == nullptr || get(name, &v) == 0) return std::nullopt;
  return v;
}

// One jemalloc decay time (ssize_t ms; -1: never): read the old value and,
// when `set` is given, write it in the same call.
inline int jemalloc_decay(mallctl_fn mallctl, const char* name,
                          ssize_t* old_value, const ssize_t* set) {
  std::size_t len = sizeof *old_value;
  return mallctl(name, old_value, &len,
                 set != nullptr ? const_cast<ssize_t*>(set) : nullptr,
                 set != nullptr ? sizeof *set : 0);
}
#endif

// The rate limit of releases, on a clock passed in (a pure rule).
class release_gate {
 public:
  using clock = std::chrono::steady_clock;

  explicit release_gate(std::chrono::milliseconds min_interval)
      : min_interval_(min_interval) {}

  // Whether a release may run now; if so, now is the last release.
  bool admit(clock::time_point now) {
    if (last_ && now - *last_ < min_interval_) return false;
    last_ = now;
    return true;
  }

 private:
  std::chrono::milliseconds min_interval_;
  std::optional<clock::time_point> last_;
};

}  // namespace detail

// How much memory the allocator that serves malloc holds free. Fails with
// errc::not_supported (naming the allocator) where it has no statistics
// headroom reads, and off Linux.
inline result<allocator_slack> read_allocator_slack() {
#if HEADROOM_HAVE_LINUX
  const detail::malloc_home home;
  allocator_slack s;
  s.allocator = detail::serving_allocator(home);
  switch (s.allocator) {
    case allocator_kind::glibc: {
      void* fn = home.serving("mallinfo2");
      if (fn == nullptr) break;  // before glibc 2.33, or linked statically
      const auto mi = detail::as_function<detail::mallinfo2_fn>(fn)();
      s.source = "mallinfo2()";
      s.in_use = std::uint64_t{mi.uordblks} + mi.hblkhd;
      s.free = mi.fordblks;
      return s;
    }
    case allocator_kind::jemalloc: {
      const auto mallctl =
          detail::as_function<detail::mallctl_fn>(home.serving("mallctl"));
      std::uint64_t epoch = 1;
      std::size_t len = sizeof epoch;
      if (mallctl("epoch", &epoch, &len, &epoch, sizeof epoch) != 0) break;
      const auto stat = [&](const char* name) -> std::optional<std::uint64_t> {
        std::size_t v = 0;
        std::size_t n = sizeof v;
        if (mallctl(name, &v, &n, nullptr, 0) != 0) return std::nullopt;
        return v;
      };
      const auto allocated = stat("stats.allocated");
      const auto resident = stat("stats.resident");
      if (!allocated || !resident) {
        return result<allocator_slack>(
            errc::not_supported,
            "jemalloc: no stats.allocated/stats.resident (built without "
            "--enable-stats?)");
      }
      s.source = "mallctl stats.resident - stats.allocated";
      s.in_use = *allocated;
      s.free = *resident > *allocated ? *resident - *allocated : 0;
      s.unmapped = stat("stats.retained");
      return s;
    }
    case allocator_kind::gperftools: {
      const auto get = detail::as_function<detail::numeric_property_fn>(
          home.serving("MallocExtension_GetNumericProperty"));
      if (get == nullptr) break;
      const auto page_free =
          detail::gperftools_property(get, "tcmalloc.pageheap_free_bytes");
      if (!page_free) break;
      std::uint64_t free = *page_free;
      for (const char* cache : {"tcmalloc.central_cache_free_bytes",
                                "tcmalloc.transfer_cache_free_bytes",
                                "tcmalloc.thread_cache_free_bytes"}) {
        free += detail::gperftools_property(get, cache).value_or(0);
      }
      s.source =
          "MallocExtension_GetNumericProperty tcmalloc.pageheap_free_bytes + "
          "cache free bytes";
      s.in_use =
          detail::gperftools_property(get, "generic.current_allocated_bytes");
      s.free = free;
      s.unmapped =
          detail::gperftools_property(get, "tcmalloc.pageheap_unmapped_bytes");
      return s;
    }
    default:
      break;
  }
  return result<allocator_slack>(
      errc::not_supported,
      std::string(to_string(s.allocator)) + ": no free-memory statistics");
#else
  return result<allocator_slack>(errc::not_supported);
#endif
}

namespace detail {

// gperftools' tcmalloc.heap_limit_mb set to `mib` (0: no limit).
inline allocator_action push_heap_limit_mib(std::uint64_t mib) {
#if HEADROOM_HAVE_LINUX
  const malloc_home home;
  const allocator_kind k = serving_allocator(home);
  if (k != allocator_kind::gperftools) {
    return unsupported_action(
        k, "heap limit",
        k == allocator_kind::tcmalloc
            ? "google/tcmalloc's SetMemoryLimit has no stable C entry point"
            : "no heap limit call");
  }
  allocator_action a;
  a.allocator = k;
  a.what = "heap limit";
  a.measure = "tcmalloc.heap_limit_mb in bytes (0: none)";
  const auto get = as_function<numeric_property_fn>(
      home.serving("MallocExtension_GetNumericProperty"));
  const auto set = as_function<set_numeric_property_fn>(
      home.serving("MallocExtension_SetNumericProperty"));
  a.call = "MallocExtension_SetNumericProperty(\"tcmalloc.heap_limit_mb\", " +
           std::to_string(mib) + ")";
  if (set == nullptr || get == nullptr) {
    a.reason = "gperftools: no MallocExtension_SetNumericProperty";
    return a;
  }
  const auto old = gperftools_property(get, "tcmalloc.heap_limit_mb");
  if (!old) {
    a.reason = "gperftools: this release has no tcmalloc.heap_limit_mb";
    return a;
  }
  a.before = *old * allocator_mib;
  if (set("tcmalloc.heap_limit_mb", detail::narrow<std::size_t>(mib)) == 0) {
    a.status = action_status::failed;
    a.reason = "gperftools refused tcmalloc.heap_limit_mb";
    return a;
  }
  if (const auto now = gperftools_property(get, "tcmalloc.heap_limit_mb")) {
    a.after = *now * allocator_mib;
  }
  a.status = action_status::ok;
  return a;
#else
  (void)mib;
  return unsupported_action(allocator_kind::unknown, "heap limit", "not Linux");
#endif
}

}  // namespace detail

// Pushes a heap limit into the allocator: gperftools' tcmalloc property
// tcmalloc.heap_limit_mb (whole MiB, rounded down; near it tcmalloc returns
// memory to the kernel harder, past it allocations fail). Others report
// unsupported. `bytes` under 1 MiB fails: 0 would mean no limit.
inline allocator_action set_heap_limit(std::uint64_t bytes) {
  const std::uint64_t mib = bytes / detail::allocator_mib;
  if (mib > 0) return detail::push_heap_limit_mib(mib);
  allocator_action a;
  a.what = "heap limit";
  a.status = action_status::failed;
  a.reason = "a limit under 1 MiB (" + std::to_string(bytes) +
             " bytes) would read as no limit";
  return a;
}

// Removes the heap limit (gperftools: tcmalloc.heap_limit_mb 0).
inline allocator_action clear_heap_limit() {
  return detail::push_heap_limit_mib(0);
}

// glibc: mallopt(M_ARENA_MAX, arenas). Others report unsupported (jemalloc
// reads its arena count at start from MALLOC_CONF, gperftools has no
// arenas). Call it before threads allocate: arenas made already stay.
inline allocator_action set_arena_max(std::uint32_t arenas) {
#if HEADROOM_HAVE_LINUX
  const detail::malloc_home home;
  const allocator_kind k = detail::serving_allocator(home);
  void* fn = k == allocator_kind::glibc ? home.serving("mallopt") : nullptr;
  if (fn == nullptr) {
    return detail::unsupported_action(k, "arena max",
                                      k == allocator_kind::glibc
                                          ? "mallopt cannot be looked up"
                                          : "M_ARENA_MAX is glibc's");
  }
  allocator_action a;
  a.allocator = k;
  a.what = "arena max";
  a.call = "mallopt(M_ARENA_MAX, " + std::to_string(arenas) + ")";
  if (arenas == 0) {
    a.status = action_status::failed;
    a.reason = "0 arenas would mean glibc's default";
    return a;
  }
  const int n = arenas > 0x7fffffffU ? 0x7fffffff : static_cast<int>(arenas);
  if (detail::as_function<detail::mallopt_fn>(fn)(detail::glibc_m_arena_max,
                                                  n) != 1) {
    a.status = action_status::failed;
    a.reason = "mallopt returned an error";
    return a;
  }
  a.status = action_status::ok;
  return a;
#else
  (void)arenas;
  return detail::unsupported_action(allocator_kind::unknown, "arena max",
                                    "not Linux");
#endif
}

// glibc's rule applied to the CPUs the quota or cpuset allows: 8 arenas per
// effective CPU, rounded up (as runtime_settings() computes
// MALLOC_ARENA_MAX). Fails (status failed) when the count is unknown.
inline allocator_action set_arena_max(const cpu_snapshot& c) {
  const auto n = c.effective(cpu_rounding::up);
  if (!n) {
    allocator_action a;
    a.what = "arena max";
    a.status = action_status::failed;
    a.reason = "effective CPU count: " + n.error().message();
    return a;
  }
  return set_arena_max(8 * *n);
}

// What an allocator_policy does on pressure, and what it sets at start.
// A plain value, copied into the policy.
struct allocator_policy_options {
  // The lowest level that releases free memory.
  pressure_level release_at = pressure_level::moderate;
  // At most one release per interval; pressure within it is counted in
  // allocator_policy::rate_limited() and otherwise ignored.
  std::chrono::milliseconds min_release_interval{5000};
  // jemalloc: decay times to 0 on critical, restored below it.
  bool tighten_decay_on_critical = true;
  // Pushed into the allocator at start (set_heap_limit), e.g. a budget.
  std::optional<std::uint64_t> heap_limit;
  // Instead, a share of the effective limit (e.g. 90): pushed at start when
  // there is a limit (reader opens the memory_reader), and again on every
  // limit_changed event the policy is told of; cleared when the limit goes.
  std::optional<double> heap_limit_percent;
  // glibc: M_ARENA_MAX from the effective CPU count at start (reader opens
  // the cpu_reader).
  bool set_arena_max = false;
  // Which process and root the memory_reader and cpu_reader are opened
  // with (heap_limit_percent, set_arena_max).
  options reader;
  // Called after each action, on the thread that ran it, outside the
  // policy's locks.
  std::function<void(const allocator_action&)> on_action;
  // The time, for the rate limit (tests pass a fake).
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// Steers the allocator that serves malloc on pressure, from a thread of its
// own (named "headroom-alloc"). Every member may be called from any thread.
// Not copyable or movable: subscriptions hold its address. Destroying it
// stops the thread and restores jemalloc's decay times if they are
// tightened; drop subscriptions to it first.
class allocator_policy {
 public:
  // Applies what the options set at start (arena max, heap limit) on the
  // calling thread, then starts the policy's thread.
  explicit allocator_policy(allocator_policy_options opt = {})
      : opt_(std::move(opt)), gate_(opt_.min_release_interval) {
    if (!opt_.clock)
      opt_.clock = [] { return std::chrono::steady_clock::now(); };
    // Both readers, when both are needed, from one read of mountinfo.
    std::optional<discovery> found;
    if (opt_.set_arena_max || opt_.heap_limit_percent)
      found = discovery::read(opt_.reader);
    if (opt_.set_arena_max) {
      auto cpus = cpu_reader::open(*found);
      if (cpus) {
        report(headroom::set_arena_max(cpus->snapshot()));
      } else {
        allocator_action a;
        a.what = "arena max";
        a.status = action_status::failed;
        a.reason = "cpu reader: " + cpus.error().message();
        report(std::move(a));
      }
    }
    if (opt_.heap_limit) report(headroom::set_heap_limit(*opt_.heap_limit));
    if (opt_.heap_limit_percent) push_initial_share(*found);
    thread_ = std::thread([this] { run(); });
  }

  allocator_policy(const allocator_policy&) = delete;
  allocator_policy& operator=(const allocator_policy&) = delete;

  ~allocator_policy() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(act_mu_);
    if (!saved_decay_.empty()) restore_decay_locked();
  }

  // Tells the policy the level; returns at once (the work is done on the
  // policy's thread). Levels noted before the thread gets to them are
  // merged: the highest decides the release, the last one the decay.
  void notify(pressure_level level) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pending_max_ || level > *pending_max_) pending_max_ = level;
      pending_last_ = level;
      ++queued_;
    }
    wake_.notify_all();
  }

  // A monitor event: pressure events pass their level on; limit_changed
  // moves the heap limit when heap_limit_percent is set.
  void notify(const memory_event& e) {
    if (e.kind == event_kind::pressure) notify(e.level);
    if (e.kind != event_kind::limit_changed || !opt_.heap_limit_percent) return;
    std::optional<std::uint64_t> target;
    if (e.new_limit) target = share(e.effective_limit.value_or(*e.new_limit));
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_limit_ = target;
      ++queued_;
    }
    wake_.notify_all();
  }

  // Subscribes notify() to `m`. Drop the subscription before the policy.
  [[nodiscard]] subscription attach(monitor& m) {
    return m.subscribe([this](const memory_event& e) { notify(e); });
  }

  // Blocks until every level notified so far has been handled.
  void wait_idle() {
    std::unique_lock<std::mutex> lock(mu_);
    const std::uint64_t target = queued_;
    idle_.wait(lock, [&] { return handled_ >= target || stop_; });
  }

  // Synchronous actions, on the calling thread (serialised with the
  // policy's thread). release() is not rate-limited.
  allocator_action release() {
    return report(locked(&allocator_policy::release_locked));
  }
  // jemalloc: sets the decay times to 0, saving them for restore_decay().
  allocator_action tighten_decay() {
    return report(locked(&allocator_policy::tighten_decay_locked));
  }
  // jemalloc: restores the decay times tighten_decay() saved.
  allocator_action restore_decay() {
    return report(locked(&allocator_policy::restore_decay_locked));
  }

  // The last actions (at most 64), oldest first.
  std::vector<allocator_action> actions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {recent_.begin(), recent_.end()};
  }
  // How many releases the rate limit turned away.
  std::uint64_t rate_limited() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rate_limited_;
  }
  // Whether jemalloc's decay times are tightened now.
  bool decay_tightened() const {
    std::lock_guard<std::mutex> lock(act_mu_);
    return !saved_decay_.empty();
  }

 private:
  static constexpr std::size_t recent_limit = 64;

  // A jemalloc decay time as it was before tightening: its mallctl name.
  struct saved_decay {
    std::string name;
    long long ms = 0;
  };

  allocator_action locked(allocator_action (allocator_policy::*fn)()) {
    std::lock_guard<std::mutex> lock(act_mu_);
    return (this->*fn)();
  }

  allocator_action report(allocator_action a) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      recent_.push_back(a);
      if (recent_.size() > recent_limit) recent_.pop_front();
    }
    if (opt_.on_action) opt_.on_action(a);
    return a;
  }

  std::uint64_t share(std::uint64_t limit) const {
    return static_cast<std::uint64_t>(static_cast<double>(limit) *
                                      *opt_.heap_limit_percent / 100.0);
  }

  void push_initial_share(const discovery& found) {
    auto reader = memory_reader::open(found);
    if (!reader) {
      allocator_action a;
      a.what = "heap limit";
      a.status = action_status::failed;
      a.reason = "memory reader: " + reader.error().message();
      report(std::move(a));
      return;
    }
    const auto snap = reader->snapshot();
    if (!snap.limit || !snap.effective_limit) {
      allocator_action a;
      a.what = "heap limit";
      a.status = action_status::failed;
      a.reason = "the limit: " + (!snap.limit
                                      ? snap.limit.error().message()
                                      : snap.effective_limit.error().message());
      report(std::move(a));
      return;
    }
    // No limit: nothing to share, the allocator's default stays.
    if (snap.limit->has_value()) {
      report(headroom::set_heap_limit(share(*snap.effective_limit)));
    }
  }

  void run() {
#if HEADROOM_HAVE_LINUX
    // Named for ps, top and debuggers (15 characters at most).
    pthread_setname_np(pthread_self(), "headroom-alloc");
#endif
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] {
        return stop_ || pending_last_.has_value() || pending_limit_.has_value();
      });
      if (stop_) break;
      const std::optional<pressure_level> top = pending_max_;
      const std::optional<pressure_level> last = pending_last_;
      const std::optional<std::optional<std::uint64_t>> limit = pending_limit_;
      const std::uint64_t batch = queued_;
      pending_max_.reset();
      pending_last_.reset();
      pending_limit_.reset();
      const bool pressed =
          top && *top >= opt_.release_at && *top != pressure_level::none;
      const bool release = pressed && gate_.admit(opt_.clock());
      if (pressed && !release) ++rate_limited_;
      lock.unlock();
      if (last) handle(release, *top, *last);
      if (limit) {
        report(*limit ? headroom::set_heap_limit(**limit)
                      : headroom::clear_heap_limit());
      }
      lock.lock();
      handled_ = batch;
      idle_.notify_all();
    }
    handled_ = queued_;
    idle_.notify_all();
  }

  void handle(bool release, pressure_level top, pressure_level last) {
    if (release) this->release();
    if (!opt_.tighten_decay_on_critical) return;
    const bool tight = decay_tightened();
    if (top == pressure_level::critical && !tight) {
      auto a = locked(&allocator_policy::tighten_decay_locked);
      // Other allocators have no decay: said once, not on every critical.
      if (a.ok() || !unsupported_said_) report(std::move(a));
      unsupported_said_ = true;
    }
    if (last != pressure_level::critical && decay_tightened()) {
      restore_decay();
    }
  }

  allocator_action release_locked() {
    allocator_action a;
    a.what = "release";
    a.measure = "resident bytes (/proc/self/statm)";
    auto r = release_free_memory();
    if (!r) {
      a.status = is_unsupported(r.error()) ? action_status::unsupported
                                           : action_status::failed;
      a.reason = r.error().message();
      return a;
    }
    a.allocator = r->allocator;
    a.call = r->call;
    if (r->rss_before) a.before = *r->rss_before;
    if (r->rss_after) a.after = *r->rss_after;
    if (a.call.empty()) {
      a.reason = "no release call known for " +
                 (r->malloc_from.empty() ? std::string("this malloc")
                                         : r->malloc_from);
      return a;
    }
    a.status = action_status::ok;
    return a;
  }

  allocator_action tighten_decay_locked() {
#if HEADROOM_HAVE_LINUX
    const detail::malloc_home home;
    const allocator_kind k = detail::serving_allocator(home);
    if (k != allocator_kind::jemalloc) {
      return detail::unsupported_action(k, "tighten decay",
                                        "decay times are jemalloc's");
    }
    allocator_action a;
    a.allocator = k;
    a.what = "tighten decay";
    a.measure = "jemalloc stats.resident";
    if (!saved_decay_.empty()) {
      a.status = action_status::ok;
      a.reason = "tightened already";
      return a;
    }
    const auto mallctl =
        detail::as_function<detail::mallctl_fn>(home.serving("mallctl"));
    a.before = detail::jemalloc_resident(mallctl);
    unsigned narenas = 0;
    std::size_t len = sizeof narenas;
    if (const int rc = mallctl("arenas.narenas", &narenas, &len, nullptr, 0)) {
      a.status = action_status::failed;
      a.reason = "mallctl arenas.narenas: " + std::string(std::strerror(rc));
      return a;
    }
    // The defaults for arenas made later, then every arena there is (an
    // index not yet initialised answers EFAULT, and is skipped).
    std::vector<std::string> names{"arenas.dirty_decay_ms",
                                   "arenas.muzzy_decay_ms"};
    for (unsigned i = 0; i < narenas; ++i) {
      for (const char* kind : {"dirty", "muzzy"}) {
        char name[64];
        std::snprintf(name, sizeof name, "arena.%u.%s_decay_ms", i, kind);
        names.emplace_back(name);
      }
    }
    const ssize_t zero = 0;
    unsigned arenas = 0;
    for (const auto& name : names) {
      ssize_t old = 0;
      const int rc = detail::jemalloc_decay(mallctl, name.c_str(), &old, &zero);
      if (rc == EFAULT) continue;
      if (rc != 0) {
        a.status = action_status::failed;
        a.reason = "mallctl " + name + ": " + std::strerror(rc);
        restore_decay_locked();
        return a;
      }
      saved_decay_.push_back({name, static_cast<long long>(old)});
      if (name.compare(0, 6, "arena.") == 0) ++arenas;
    }
    a.after = detail::jemalloc_resident(mallctl);
    a.call = "mallctl {arenas,arena.<i>}.{dirty,muzzy}_decay_ms = 0 (" +
             std::to_string(arenas / 2) + " arenas; dirty was " +
             std::to_string(saved_decay_.front().ms) + " ms)";
    a.status = action_status::ok;
    return a;
#else
    return detail::unsupported_action(allocator_kind::unknown, "tighten decay",
                                      "not Linux");
#endif
  }

  allocator_action restore_decay_locked() {
#if HEADROOM_HAVE_LINUX
    const detail::malloc_home home;
    const allocator_kind k = detail::serving_allocator(home);
    allocator_action a;
    a.allocator = k;
    a.what = "restore decay";
    if (saved_decay_.empty()) {
      a.status = action_status::ok;
      a.reason = "not tightened";
      return a;
    }
    const auto mallctl =
        detail::as_function<detail::mallctl_fn>(home.serving("mallctl"));
    if (k != allocator_kind::jemalloc || mallctl == nullptr) {
      a.status = action_status::failed;
      a.reason = "jemalloc no longer serves malloc";
      saved_decay_.clear();
      return a;
    }
    std::string failures;
    for (const auto& s : saved_decay_) {
      ssize_t old = 0;
      const auto ms = static_cast<ssize_t>(s.ms);
      const int rc = detail::jemalloc_decay(mallctl, s.name.c_str(), &old, &ms);
      if (rc != 0) failures += " " + s.name + ": " + std::strerror(rc);
    }
    a.call =
        "mallctl {arenas,arena.<i>}.{dirty,muzzy}_decay_ms restored "
        "(dirty " +
        std::to_string(saved_decay_.front().ms) + " ms)";
    saved_decay_.clear();
    if (!failures.empty()) {
      a.status = action_status::failed;
      a.reason = "mallctl" + failures;
      return a;
    }
    a.status = action_status::ok;
    return a;
#else
    return detail::unsupported_action(allocator_kind::unknown, "restore decay",
                                      "not Linux");
#endif
  }

  allocator_policy_options opt_;
  detail::release_gate gate_;  // the policy's thread only

  mutable std::mutex mu_;  // the fields below, to the next comment
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::optional<pressure_level> pending_max_;
  std::optional<pressure_level> pending_last_;
  // A heap limit to push: bytes, or std::nullopt to clear it.
  std::optional<std::optional<std::uint64_t>> pending_limit_;
  std::uint64_t queued_ = 0;
  std::uint64_t handled_ = 0;
  std::uint64_t rate_limited_ = 0;
  std::deque<allocator_action> recent_;
  bool stop_ = false;

  mutable std::mutex act_mu_;  // allocator calls and saved_decay_
  std::vector<saved_decay> saved_decay_;

  bool unsupported_said_ = false;  // the policy's thread only
  std::thread thread_;
};

}  // namespace headroom
