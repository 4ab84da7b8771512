// SPDX-License-Identifier: MIT
// headroom: the pressure monitor. It tells a process, within milliseconds,
// that its memory is getting tight, and costs next to nothing otherwise.
//
//   auto m = headroom::monitor::create();            // sources chosen by mode
//   auto sub = m->subscribe([](const headroom::memory_event& e) { ... });
//   m->start();                                      // an owned thread, or:
//   poll(m->fd()) ... m->dispatch();                 // your event loop
//
// Levels are none, moderate and critical (detail/level.hpp: bands of the
// effective limit with hysteresis, and signals held for a while). Sources,
// chosen automatically and each reported active or failed with its errno:
//  - usage bands: on v1, memory.usage_in_bytes thresholds at the band edges
//    through cgroup.event_control (an eventfd wakes us when usage crosses
//    one); elsewhere an adaptive sampler of memory.current (or
//    /proc/meminfo without a cgroup) whose interval shrinks as the working
//    set nears an edge: slow_interval far away, fast_interval next to it;
//  - PSI triggers on the process's own memory.pressure (v2; the unified
//    mount on hybrid hosts; /proc/pressure/memory without a cgroup);
//  - v2 memory.events of the limit cgroup (POLLPRI): high/max -> moderate,
//    oom -> critical, oom_kill -> an oom_kill event;
//  - v1 memory.pressure_level (medium, critical; local mode) and
//    memory.oom_control;
//  - systemd's $MEMORY_PRESSURE_WATCH / $MEMORY_PRESSURE_WRITE when set.
// The limit and the process's cgroup: inotify on the chain's directories
// (and v2 cgroup.events) reports a written limit, a move in and a removal at
// once; every recheck_interval (slow_interval without inotify) they are
// re-checked for what no event covers. A changed limit, a move to another
// cgroup or a removed cgroup re-resolves everything and emits
// limit_changed.
//
// This header holds the types, subscription and the monitor facade. The
// loop is detail/monitor/loop.hpp, each source its own header beside it
// (the list in detail/monitor/sources.hpp), the pure rules
// detail/level.hpp and detail/pressure_rules.hpp. Off Linux the monitor
// exists but create() returns errc::not_supported.
//
// Callbacks run on the thread that calls dispatch() (or the monitor's own
// thread after start()), never under an internal lock: they may subscribe,
// unsubscribe themselves or others, and call any const member.
#pragma once

#include <chrono>      // event times, intervals
#include <cstdint>     // byte counts
#include <functional>  // callbacks
#include <memory>      // the loop behind the facade
#include <optional>    // absent values
#include <string>      // reasons, paths
#include <utility>     // std::move, std::exchange
#include <vector>      // sources()

#include "detail/level.hpp"                // pressure_level
#include "detail/monitor/subscribers.hpp"  // subscriber_registry
#include "error.hpp"                       // result, error
#include "memory.hpp"                      // options, memory_snapshot

namespace headroom {

// What a memory_event reports.
enum class event_kind {
  pressure,       // the level changed, or a sustained level is notified again
  oom_kill,       // a process in the limit cgroup was killed by the OOM killer
  limit_changed,  // the binding limit changed, or the process moved cgroup
};

// Which source raised an event or a level (source_status::kind).
enum class source_kind {
  usage_bands,        // v1 eventfd thresholds, or the sampler
  psi,                // PSI triggers on memory.pressure
  memory_events,      // v2 memory.events
  v1_pressure_level,  // v1 memory.pressure_level
  v1_oom_control,     // v1 memory.oom_control
  systemd,            // $MEMORY_PRESSURE_WATCH
  cgroup,             // limit and membership: inotify, re-checks
  thrashing,          // memory.stat refaults against the file cache
};

// The kind's name: "pressure", "oom_kill" or "limit_changed".
constexpr const char* to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::oom_kill:
      return "oom_kill";
    case event_kind::limit_changed:
      return "limit_changed";
    case event_kind::pressure:
      break;
  }
  return "pressure";
}

// The source's name: "usage_bands", "psi", "memory_events",
// "v1_pressure_level", "v1_oom_control", "systemd", "cgroup" or
// "thrashing".
constexpr const char* to_string(source_kind k) noexcept {
  switch (k) {
    case source_kind::psi:
      return "psi";
    case source_kind::memory_events:
      return "memory_events";
    case source_kind::v1_pressure_level:
      return "v1_pressure_level";
    case source_kind::v1_oom_control:
      return "v1_oom_control";
    case source_kind::systemd:
      return "systemd";
    case source_kind::cgroup:
      return "cgroup";
    case source_kind::thrashing:
      return "thrashing";
    case source_kind::usage_bands:
      break;
  }
  return "usage_bands";
}

// What subscribers receive.
struct memory_event {
  // What happened.
  event_kind kind = event_kind::pressure;
  pressure_level level = pressure_level::none;     // the level now
  pressure_level previous = pressure_level::none;  // before this event
  bool repeat = false;  // a sustained level notified again
  // The source that raised it.
  source_kind source = source_kind::usage_bands;
  std::string reason;  // for people: what happened, with numbers
  std::chrono::steady_clock::time_point time;  // monotonic
  // The latest snapshot (nullopt where it could not be read).
  std::optional<std::uint64_t> usage;
  // Bytes: usage less the inactive file cache.
  std::optional<std::uint64_t> working_set;
  // Bytes: min(limit, host total).
  std::optional<std::uint64_t> effective_limit;
  // Percent of wall time some task stalled on memory, last 10 s.
  std::optional<double> psi_some_avg10;
  // pressure: the bytes the working set must lose for the level to leave
  // moderate (0: it is below already), and the time until it reaches the
  // effective limit at the recent growth rate (nullopt: not growing).
  std::optional<std::uint64_t> bytes_to_free;
  // The time until the working set reaches the effective limit at the
  // recent growth rate; nullopt: not growing.
  std::optional<std::chrono::steady_clock::duration> time_to_limit;
  // Whose pressure psi_some_avg10 is: the process's cgroup, or host-wide
  // (the real cgroup2 root, /proc/pressure/memory). nullopt: no PSI.
  std::optional<pressure_scope> psi_scope;
  // oom_kill: the counter now, and how many kills this event reports.
  std::uint64_t oom_kills = 0;
  // How many kills this event reports.
  std::uint64_t new_oom_kills = 0;
  // limit_changed: the limit before and after (nullopt: no limit), and the
  // limit cgroup (or, when moved, the memory cgroup) before and after.
  std::optional<std::uint64_t> old_limit;
  // The limit after.
  std::optional<std::uint64_t> new_limit;
  // The cgroup before.
  std::string old_cgroup;
  // The cgroup after.
  std::string new_cgroup;
  bool moved = false;  // the process is in another cgroup (or it was removed)
};

// Whether a source runs, and why not.
struct source_status {
  // Which source.
  source_kind kind = source_kind::usage_bands;
  // Whether it runs.
  bool active = false;
  // Why it is not active (errc::disabled: turned off); for an active
  // source, why its preferred way failed (a v1 threshold or a PSI trigger
  // that could not be written: it runs on a fallback, named in detail).
  error failure;
  std::string detail;  // what it watches
  // PSI: whose pressure it watches (host-wide PSI raises levels only with
  // monitor_options::use_host_psi).
  std::optional<pressure_scope> scope;
};

// A band edge: a percentage of the effective limit, or the point where only
// so many bytes of headroom remain.
struct band_edge {
  // An edge at p percent of the effective limit.
  static constexpr band_edge percent(double p) { return {p, 0, false}; }
  // An edge where only `bytes` of headroom remain below the effective
  // limit.
  static constexpr band_edge headroom_left(std::uint64_t bytes) {
    return {0, bytes, true};
  }

  // The edge in bytes for an effective limit of `limit` (0 when the bytes
  // left exceed it).
  constexpr std::uint64_t at(std::uint64_t limit) const {
    if (by_bytes) return limit > bytes ? limit - bytes : 0;
    return static_cast<std::uint64_t>(static_cast<double>(limit) * pct / 100.0);
  }

  // The percentage, when not by_bytes.
  double pct = 80;
  // The bytes of headroom left, when by_bytes.
  std::uint64_t bytes = 0;
  // Which of the two the edge is.
  bool by_bytes = false;
};

// A PSI trigger: `stall` of stall time within any `window` ("some": at
// least one task stalled; "full": all non-idle tasks stalled).
struct psi_threshold {
  // "full" (all non-idle tasks stalled) rather than "some".
  bool full = false;
  // The stall time that triggers.
  std::chrono::microseconds stall{200000};
  // Within this window.
  std::chrono::microseconds window{2000000};
};

// How a monitor watches: its band edges, sampling, and which sources
// run. A plain value, copied into the monitor at create().
struct monitor_options {
  options reader;  // which process, root prefix, environment
  // The edge of the moderate band.
  band_edge moderate = band_edge::percent(80);
  // The edge of the critical band.
  band_edge critical = band_edge::percent(92);
  double hysteresis_percent = 5;  // of the effective limit
  // A sustained moderate/critical level is notified again at most this often.
  std::chrono::milliseconds repeat_interval{10000};
  // A signal (PSI, memory.events, pressure_level) holds its level this long.
  std::chrono::milliseconds signal_hold{3000};
  // Far from the edges: how often usage is sampled where no event says it
  // changed (at most sample_bound), and how often the limit and the cgroup
  // are re-checked where the kernel cannot report their changes (a captured
  // tree, no inotify).
  std::chrono::milliseconds slow_interval{1000};
  // Where it can (inotify on the chain's directories, cgroup.events on v2),
  // the kernel reports a new limit, a move into the cgroup and its removal
  // at once; what it cannot (a move out while other processes stay, a
  // change of MemTotal) is re-checked this often.
  std::chrono::milliseconds recheck_interval{60000};
  // Next to an edge: the shortest sampling interval.
  std::chrono::milliseconds fast_interval{2};
  // Where nothing tells the monitor that usage changed (v2, read-only
  // cgroupfs, no cgroup), usage is read at least this often, however far
  // from the edges: a jump of any size is seen within it.
  std::chrono::milliseconds sample_bound{250};
  // There, too, the growth to plan for, in bytes per second: the interval
  // is at most half the time growth at this rate (or at the fastest growth
  // seen lately, if faster) needs to reach the effective limit, so such
  // growth is seen at moderate with at least 10% of the limit left, and at
  // critical with at least 4%, before the kernel's limit. The cost: 1000 /
  // sample_bound wakeups a second (4) while the headroom is at least
  // 2 x planned_growth x sample_bound (256 MiB), 2 x planned_growth /
  // headroom below that (8 a second with 128 MiB left); one pread each. 0:
  // plan only for the growth seen.
  std::uint64_t planned_growth = 512ull << 20;
  // With a memory.high on the chain (v2), the critical edge is at most this
  // percent of the effective limit below high, so that the callback comes
  // before the kernel throttles. Negative: high is not used.
  double high_margin_percent = 2;
  bool use_v1_thresholds = true;  // else v1 is sampled like v2
  // Watch memory.pressure with PSI triggers (v2, or hybrid's cgroup2).
  bool use_psi = true;
  // Host-wide PSI (the process sits in the real cgroup2 root, or only
  // /proc/pressure/memory is there) is another tenant's pressure as much as
  // ours: it raises levels only when this is set. The events carry the
  // scope either way.
  bool use_host_psi = false;
  // Windows are multiples of 2 s, so unprivileged processes may set them.
  psi_threshold psi_moderate{false, std::chrono::microseconds(200000),
                             std::chrono::microseconds(2000000)};
  // The PSI trigger for critical.
  psi_threshold psi_critical{true, std::chrono::microseconds(200000),
                             std::chrono::microseconds(2000000)};
  // Watch v2 memory.events: oom_kill events, and high, max and oom as
  // signals.
  bool use_memory_events = true;
  bool use_v1_events = true;  // memory.pressure_level and memory.oom_control
  bool use_systemd = true;    // honour $MEMORY_PRESSURE_WATCH
  // Thrashing (off when unset): moderate when, over thrashing_window, the
  // file cache is read back from disk (memory.stat workingset_refault_file)
  // at this percent of its size per second, and at least
  // thrashing_min_rate bytes a second. 10 is a cache read back whole every
  // 10 s.
  std::optional<double> thrashing_percent;
  // The window the refault rate is taken over.
  std::chrono::milliseconds thrashing_window{2000};
  // The least refault rate (bytes a second) that counts as thrashing.
  std::uint64_t thrashing_min_rate = 1024 * 1024;
};

// An RAII subscription: unsubscribes when destroyed or reset. Move-only; a
// moved-from subscription is empty. It may outlive its monitor (reset()
// then does nothing). One subscription object is not to be used by two
// threads at once; it may be reset on any thread, inside a callback too.
class subscription {
 public:
  subscription() = default;
  // Made by monitor::subscribe().
  subscription(std::weak_ptr<detail::subscriber_registry> r, std::uint64_t id)
      : registry_(std::move(r)), id_(id) {}
  // Takes o's subscription; o is left empty.
  subscription(subscription&& o) noexcept
      : registry_(std::move(o.registry_)), id_(std::exchange(o.id_, 0)) {}
  // Unsubscribes this one (reset()), then takes o's; o is left empty.
  subscription& operator=(subscription&& o) noexcept {
    if (this != &o) {
      reset();
      registry_ = std::move(o.registry_);
      id_ = std::exchange(o.id_, 0);
    }
    return *this;
  }
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;
  ~subscription() { reset(); }

  // Unsubscribes. After it returns the callback is not running (unless this
  // is called from inside it) and will not be called again.
  void reset() {
    if (id_ == 0) return;
    if (auto r = registry_.lock()) r->remove(id_);
    id_ = 0;
    registry_.reset();
  }
  // False for an empty subscription (default-constructed, moved-from,
  // reset, or from a moved-from monitor).
  explicit operator bool() const noexcept { return id_ != 0; }

 private:
  std::weak_ptr<detail::subscriber_registry> registry_;
  std::uint64_t id_ = 0;
};

// What monitor::try_dispatch() did: whether the loop ran, and how many
// callback calls it made. A plain value.
struct dispatch_result {
  // Callback calls made (0 when it did not run).
  std::size_t callbacks = 0;
  // False when dispatching was refused: start()'s thread runs the loop,
  // another dispatch() is under way (or further up this thread's stack),
  // or the monitor is moved-from or forgotten after fork.
  bool ran = false;
};

#if HEADROOM_HAVE_LINUX
}  // namespace headroom
#include "detail/monitor/loop.hpp"  // needs the types above
namespace headroom {
namespace detail {
using monitor_core = monitor_loop;
}  // namespace detail
#else
namespace detail {
// Off Linux: nothing to watch. Never made (create() fails first); the
// facade's calls are spelled once for both.
class monitor_core {
 public:
  int fd() const noexcept { return -1; }
  dispatch_result try_dispatch() { return {}; }
  result<void> start() { return result<void>(errc::not_supported); }
  void stop() {}
  void forget_after_fork() noexcept {}
  subscription subscribe(subscriber_registry::callback) { return {}; }
  pressure_level level() const noexcept { return pressure_level::none; }
  std::vector<source_status> sources() const { return {}; }
  memory_snapshot last_snapshot() const { return {}; }
};
}  // namespace detail
#endif  // HEADROOM_HAVE_LINUX

// The monitor: owns the sources, the level and the subscribers. A
// moved-from monitor is empty: fd() is -1, dispatch() returns 0, start()
// fails, subscribe() gives an empty subscription, sources() is empty.
//
// Thread-safety: fd(), level(), sources(), last_snapshot(), subscribe(),
// dispatch(), start() and stop() may be called from any thread (one loop
// runs at a time: see dispatch()); callbacks run on the thread that
// dispatches, with no lock of the monitor held. Moving or destroying a
// monitor while another thread uses it is a race. Lifetime: a monitor must
// not be destroyed (or assigned to) inside one of its own callbacks;
// destruction stops the thread and closes every descriptor. Subscriptions
// may outlive it (resetting them then does nothing).
class monitor {
 public:
  // A subscriber: called with each event, on the thread that dispatches.
  using callback = std::function<void(const memory_event&)>;

  // Opens the reader and every source for the process's cgroup. Fails only
  // when the reader cannot open (see memory_reader::open) or the kernel
  // gives no epoll/eventfd/timerfd; a source that cannot run is reported in
  // sources(), and the others carry on. Off Linux: errc::not_supported.
  static result<monitor> create(monitor_options opt = {}) {
#if HEADROOM_HAVE_LINUX
    auto core = std::make_unique<detail::monitor_core>(std::move(opt));
    auto ok = core->init();
    if (!ok) return ok.error();
    return monitor(std::move(core));
#else
    (void)opt;
    return result<monitor>(errc::not_supported, "pressure monitor: Linux only");
#endif
  }

  // Takes the monitor over; the moved-from one is empty (see above).
  monitor(monitor&&) noexcept = default;
  // Destroys this monitor's state, then takes o's; o is left empty.
  monitor& operator=(monitor&&) noexcept = default;
  ~monitor() = default;  // stops the thread, closes every fd

  // For event loops: readable when something is due; then call dispatch().
  int fd() const noexcept { return core_ ? core_->fd() : -1; }

  // Handles what is ready and runs due callbacks on this thread. Returns
  // the number of callback calls. Does nothing (returns 0) while start()
  // runs or while another dispatch() is under way; start() waits for a
  // dispatch() on another thread and fails when called from inside one.
  // 0 is also "nothing was due": try_dispatch() tells the two apart.
  std::size_t dispatch() { return try_dispatch().callbacks; }

  // dispatch(), saying whether it ran: ran is false when it was refused
  // (see dispatch_result), true when it handled what was ready, even if
  // nothing was due.
  dispatch_result try_dispatch() {
    return core_ ? core_->try_dispatch() : dispatch_result{};
  }

  // Runs the monitor on its own thread (named "headroom") until stop() or
  // destruction. After a stop() from a callback, it first waits for that
  // thread to end; from a callback of the monitor's own thread it fails.
  result<void> start() { return core_ ? core_->start() : moved_from(); }
  // Stops the thread start() started: returns once it has ended, or, from
  // inside a callback, only asks the loop to end after that callback.
  // Nothing to do when it does not run.
  void stop() {
    if (core_) core_->stop();
  }

  // Calls fn with every event from now on, until the subscription is
  // reset or destroyed. From any thread, from inside a callback too.
  [[nodiscard]] subscription subscribe(callback fn) {
    return core_ ? core_->subscribe(std::move(fn)) : subscription();
  }

  // After fork(), in the child only, before anything else touches this
  // monitor: the child inherits its descriptors (the parent's epoll set
  // among them) but not its thread. This closes the child's copies (taking
  // nothing out of the shared epoll set) and lets go of the thread without
  // joining it; the monitor is then inert, and its
  // subscriptions may be dropped. Create a new monitor in the child if it
  // needs one. A child that calls exec needs nothing: every descriptor is
  // close-on-exec.
  void forget_after_fork() noexcept {
    if (core_) core_->forget_after_fork();
  }

  // The current level (an atomic read).
  pressure_level level() const noexcept {
    return core_ ? core_->level() : pressure_level::none;
  }
  // Each source: whether it runs, and why not.
  std::vector<source_status> sources() const {
    return core_ ? core_->sources() : std::vector<source_status>();
  }
  // The latest snapshot the monitor read (usage may be newer than the rest).
  memory_snapshot last_snapshot() const {
    return core_ ? core_->last_snapshot() : memory_snapshot();
  }

 private:
  explicit monitor(std::unique_ptr<detail::monitor_core> core)
      : core_(std::move(core)) {}
  static result<void> moved_from() {
    return result<void>(
        make_error(std::make_error_code(std::errc::invalid_argument),
                   "monitor: moved from"));
  }
  std::unique_ptr<detail::monitor_core> core_;
};

}  // namespace headroom
