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
// Every slow_interval the limit and the process's cgroup are re-checked: a
// changed limit, a move to another cgroup or a removed cgroup re-resolves
// everything and emits limit_changed.
//
// Callbacks run on the thread that calls dispatch() (or the monitor's own
// thread after start()), never under an internal lock: they may subscribe,
// unsubscribe themselves or others, and call any const member.
#pragma once

#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "detail/event_fds.hpp"
#include "detail/format.hpp"
#include "detail/level.hpp"
#include "memory.hpp"

#if HEADROOM_HAVE_LINUX
#include <sys/epoll.h>
#endif

namespace headroom {

enum class event_kind {
  pressure,       // the level changed, or a sustained level is notified again
  oom_kill,       // a process in the limit cgroup was killed by the OOM killer
  limit_changed,  // the binding limit changed, or the process moved cgroup
};

enum class source_kind {
  usage_bands,        // v1 eventfd thresholds, or the sampler
  psi,                // PSI triggers on memory.pressure
  memory_events,      // v2 memory.events
  v1_pressure_level,  // v1 memory.pressure_level
  v1_oom_control,     // v1 memory.oom_control
  systemd,            // $MEMORY_PRESSURE_WATCH
  cgroup,             // limit and membership re-checks (limit_changed)
};

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
    case source_kind::usage_bands:
      break;
  }
  return "usage_bands";
}

// What subscribers receive.
struct memory_event {
  event_kind kind = event_kind::pressure;
  pressure_level level = pressure_level::none;     // the level now
  pressure_level previous = pressure_level::none;  // before this event
  bool repeat = false;  // a sustained level notified again
  source_kind source = source_kind::usage_bands;
  std::string reason;  // for people: what happened, with numbers
  std::chrono::steady_clock::time_point time;  // monotonic
  // The latest snapshot (nullopt where it could not be read).
  std::optional<std::uint64_t> usage;
  std::optional<std::uint64_t> working_set;
  std::optional<std::uint64_t> effective_limit;
  std::optional<double> psi_some_avg10;
  // oom_kill: the counter now, and how many kills this event reports.
  std::uint64_t oom_kills = 0;
  std::uint64_t new_oom_kills = 0;
  // limit_changed: the limit before and after (nullopt: no limit), and the
  // limit cgroup (or, when moved, the memory cgroup) before and after.
  std::optional<std::uint64_t> old_limit;
  std::optional<std::uint64_t> new_limit;
  std::string old_cgroup;
  std::string new_cgroup;
  bool moved = false;  // the process is in another cgroup (or it was removed)
};

// Whether a source runs, and why not.
struct source_status {
  source_kind kind = source_kind::usage_bands;
  bool active = false;
  error failure;       // why it is not active (errc::disabled: turned off)
  std::string detail;  // what it watches
};

// A band edge: a percentage of the effective limit, or the point where only
// so many bytes of headroom remain.
struct band_edge {
  static constexpr band_edge percent(double p) { return {p, 0, false}; }
  static constexpr band_edge headroom_left(std::uint64_t bytes) { return {0, bytes, true}; }

  constexpr std::uint64_t at(std::uint64_t limit) const {
    if (by_bytes) return limit > bytes ? limit - bytes : 0;
    return static_cast<std::uint64_t>(static_cast<double>(limit) * pct / 100.0);
  }

  double pct = 80;
  std::uint64_t bytes = 0;
  bool by_bytes = false;
};

// A PSI trigger: `stall` of stall time within any `window` ("some": at
// least one task stalled; "full": all non-idle tasks stalled).
struct psi_threshold {
  bool full = false;
  std::chrono::microseconds stall{200000};
  std::chrono::microseconds window{2000000};
};

struct monitor_options {
  options reader;  // which process, root prefix, environment
  band_edge moderate = band_edge::percent(80);
  band_edge critical = band_edge::percent(92);
  double hysteresis_percent = 5;  // of the effective limit
  // A sustained moderate/critical level is notified again at most this often.
  std::chrono::milliseconds repeat_interval{10000};
  // A signal (PSI, memory.events, pressure_level) holds its level this long.
  std::chrono::milliseconds signal_hold{3000};
  // Far from the edges: how often usage is sampled where no event says it
  // changed, and how often the limit and the cgroup are re-checked.
  std::chrono::milliseconds slow_interval{1000};
  // Next to an edge: the shortest sampling interval.
  std::chrono::milliseconds fast_interval{2};
  bool use_v1_thresholds = true;  // else v1 is sampled like v2
  bool use_psi = true;
  // Windows are multiples of 2 s, so unprivileged processes may set them.
  psi_threshold psi_moderate{false, std::chrono::microseconds(200000),
                             std::chrono::microseconds(2000000)};
  psi_threshold psi_critical{true, std::chrono::microseconds(200000),
                             std::chrono::microseconds(2000000)};
  bool use_memory_events = true;
  bool use_v1_events = true;  // memory.pressure_level and memory.oom_control
  bool use_systemd = true;    // honour $MEMORY_PRESSURE_WATCH
};

namespace detail {

// Subscribers. Callbacks are called with no lock held; remove() waits for a
// running call of that callback to end, unless it is called from inside it.
class subscriber_registry {
 public:
  using callback = std::function<void(const memory_event&)>;

  std::uint64_t add(callback fn) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint64_t id = next_id_++;
    entries_.emplace(id, std::make_shared<entry>(entry{std::move(fn), true, {}, 0}));
    return id;
  }

  void remove(std::uint64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    const std::shared_ptr<entry> e = it->second;
    entries_.erase(it);
    e->live = false;
    const auto me = std::this_thread::get_id();
    cv_.wait(lock, [&] { return e->in_call == 0 || e->caller == me; });
  }

  std::size_t deliver(const memory_event& ev) {
    std::vector<std::shared_ptr<entry>> list;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& kv : entries_) list.push_back(kv.second);
    }
    std::size_t called = 0;
    for (const auto& e : list) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!e->live) continue;
        ++e->in_call;
        e->caller = std::this_thread::get_id();
      }
      e->fn(ev);
      ++called;
      {
        std::lock_guard<std::mutex> lock(mu_);
        --e->in_call;
      }
      cv_.notify_all();
    }
    return called;
  }

 private:
  struct entry {
    callback fn;
    bool live;
    std::thread::id caller;
    int in_call;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, std::shared_ptr<entry>> entries_;
  std::uint64_t next_id_ = 1;
};

class monitor_core;

}  // namespace detail

// An RAII subscription: unsubscribes when destroyed or reset.
class subscription {
 public:
  subscription() = default;
  subscription(std::weak_ptr<detail::subscriber_registry> r, std::uint64_t id)
      : registry_(std::move(r)), id_(id) {}
  subscription(subscription&& o) noexcept
      : registry_(std::move(o.registry_)), id_(std::exchange(o.id_, 0)) {}
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
  explicit operator bool() const noexcept { return id_ != 0; }

 private:
  std::weak_ptr<detail::subscriber_registry> registry_;
  std::uint64_t id_ = 0;
};

#if HEADROOM_HAVE_LINUX

namespace detail {

class monitor_core {
 public:
  using clock = std::chrono::steady_clock;

  explicit monitor_core(monitor_options o)
      : opt_(std::move(o)),
        tracker_(level_tracker::config{opt_.signal_hold, opt_.repeat_interval}),
        subscribers_(std::make_shared<subscriber_registry>()) {}

  // Destroying the monitor from inside one of its own callbacks is not
  // allowed (the thread would outlive it).
  ~monitor_core() {
    stop();
    if (thread_.joinable()) thread_.detach();
  }

  result<void> init() {
    epoll_.reset(HEADROOM_SYSCALL(epoll_create1)(EPOLL_CLOEXEC));
    if (!epoll_) return errno_error(errno, "epoll_create1");
    auto t = make_timerfd();
    if (!t) return t.error();
    timer_ = std::move(*t);
    auto w = make_eventfd();
    if (!w) return w.error();
    wake_ = std::move(*w);
    if (!watch(timer_.get(), EPOLLIN, &timer_tag_) || !watch(wake_.get(), EPOLLIN, &wake_tag_)) {
      return errno_error(errno, "epoll_ctl");
    }
    const auto now = clock::now();
    auto resolved = resolve(now);
    if (!resolved) return resolved;
    arm(now);
    return {};
  }

  int fd() const noexcept { return epoll_.get(); }

  std::size_t dispatch() {
    // One loop at a time: the owned thread dispatches, and so does a
    // dispatch() already under way on another thread (or further up this
    // one's stack). A forgotten monitor does nothing.
    // (try_lock from the thread that holds it would be undefined.)
    if (dispatching_.load() == std::this_thread::get_id()) return 0;
    std::unique_lock<std::mutex> loop(loop_mu_, std::try_to_lock);
    if (!loop.owns_lock() || running_.load() || !epoll_) return 0;
    struct mark {  // cleared however run_once() ends
      std::atomic<std::thread::id>& who;
      ~mark() { who.store(std::thread::id()); }
    } dispatching{dispatching_};
    dispatching_.store(std::this_thread::get_id());
    return run_once(0);
  }

  result<void> start() {
    if (!epoll_) return result<void>(make_error(make_error_code(errc::not_supported), "monitor forgotten after fork"));
    // From a callback of dispatch(): the thread would run beside it.
    if (dispatching_.load() == std::this_thread::get_id()) {
      return result<void>(make_error(std::make_error_code(std::errc::device_or_resource_busy),
                                     "start() from inside dispatch()"));
    }
    // A dispatch() on another thread finishes first (it does not block).
    std::lock_guard<std::mutex> loop(loop_mu_);
    bool expected = false;
    if (thread_.joinable() && !running_.load()) thread_.join();
    if (!running_.compare_exchange_strong(expected, true)) {
      return result<void>(make_error(std::make_error_code(std::errc::device_or_resource_busy),
                                     "monitor already started"));
    }
    stopping_.store(false);
    thread_ = std::thread([this] {
      while (!stopping_.load()) run_once(-1);
    });
    return {};
  }

  // Returns once the thread has ended; from inside a callback it only asks
  // the loop to end after that callback.
  void stop() {
    if (!running_.load()) return;
    stopping_.store(true);
    std::uint64_t one = 1;
    (void)!HEADROOM_SYSCALL(write)(wake_.get(), &one, sizeof one);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
      thread_.join();
      running_.store(false);
    }
  }

  // In a forked child: close this process's copies of the descriptors and
  // let go of the parent's thread (which does not exist here) without
  // joining it. The parent's monitor is not affected.
  void forget_after_fork() noexcept {
    sources_.clear();
    psi_read_ = kept_file{};
    epoll_.reset();
    timer_.reset();
    wake_.reset();
    // Neither joined nor detached: it is the parent's. Its handle is left
    // behind on purpose (a std::thread destroyed while joinable would
    // terminate the program).
    if (thread_.joinable()) new std::thread(std::move(thread_));
    running_.store(false);
    reader_.reset();
  }

  subscription subscribe(subscriber_registry::callback fn) {
    return subscription(subscribers_, subscribers_->add(std::move(fn)));
  }

  pressure_level level() const noexcept {
    return static_cast<pressure_level>(level_.load(std::memory_order_relaxed));
  }

  std::vector<source_status> sources() const {
    std::lock_guard<std::mutex> lock(state_mu_);
    return status_;
  }

  memory_snapshot last_snapshot() const {
    std::lock_guard<std::mutex> lock(state_mu_);
    return last_;
  }

 private:
  // What an epoll entry is.
  enum class role {
    timer,
    wake,
    v1_threshold,
    v1_pressure_medium,
    v1_pressure_critical,
    v1_oom,
    psi_moderate,
    psi_critical,
    memory_events,
    systemd_psi,
    systemd_stream,
  };

  struct watched {
    unique_fd fd;
    role what;
    std::string path;
  };

  struct tag {
    role what;
  };

  bool watch(int fd, std::uint32_t events, void* ptr) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = ptr;
    return HEADROOM_SYSCALL(epoll_ctl)(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  void add_source(unique_fd fd, role what, std::uint32_t events, std::string path) {
    auto w = std::make_unique<watched>(watched{std::move(fd), what, std::move(path)});
    if (watch(w->fd.get(), events, w.get())) sources_.push_back(std::move(w));
  }

  void set_status(source_status s) {
    std::lock_guard<std::mutex> lock(state_mu_);
    for (auto& old : status_) {
      if (old.kind == s.kind) {
        old = std::move(s);
        return;
      }
    }
    status_.push_back(std::move(s));
  }

  static source_status failed(source_kind k, error e, std::string detail = {}) {
    source_status s;
    s.kind = k;
    s.failure = std::move(e);
    s.detail = std::move(detail);
    return s;
  }
  static source_status active(source_kind k, std::string detail) {
    source_status s;
    s.kind = k;
    s.active = true;
    s.detail = std::move(detail);
    return s;
  }

  // ---------------------------------------------------------------- resolve

  // (Re)opens the reader and every source for the process's current cgroup.
  result<void> resolve(clock::time_point now) {
    auto r = memory_reader::open(opt_.reader);
    if (!r) {
      set_status(failed(source_kind::cgroup, r.error()));
      return r.error();
    }
    reader_.emplace(std::move(*r));
    sources_.clear();  // closing the fds also removes them from epoll
    psi_triggers_ = false;
    psi_history_.clear();
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      status_.clear();
    }
    auto cg = reader_->files().read_proc("cgroup");
    cgroup_text_ = cg ? *cg : std::string();

    const memory_snapshot s = reader_->snapshot();
    update_limit(s);
    const auto& loc = reader_->location();
    const hierarchy_mode mode = reader_->mode();
    const bool v1 = mode == hierarchy_mode::v1 || mode == hierarchy_mode::hybrid;
    const bool has_memcg = reader_->memory_level() != host_level;

    set_status(active(source_kind::cgroup,
                      "limit and cgroup re-checked every " +
                          std::to_string(opt_.slow_interval.count()) + " ms"));
    // Under a root prefix (a captured tree, a fixture) there is no kernel
    // behind the files: sources that register by writing are not used, so
    // nothing is ever written into the tree.
    const bool live = reader_->files().root().empty();
    const error no_kernel = make_error(make_error_code(errc::not_supported),
                                       "root prefix " + opt_.reader.root + ": no kernel to register with");
    thresholds_armed_ = false;
    if (v1 && has_memcg && opt_.use_v1_thresholds && live) register_thresholds(s);
    if (!thresholds_armed_) {
      set_status(active(source_kind::usage_bands,
                        std::string("sampler of ") +
                            (has_memcg ? reader_->usage_path(s) : "/proc/meminfo") + ", " +
                            std::to_string(opt_.fast_interval.count()) + " ms to " +
                            std::to_string(opt_.slow_interval.count()) + " ms"));
    }

    if (v1 && has_memcg && opt_.use_v1_events && !live) {
      set_status(failed(source_kind::v1_pressure_level, no_kernel));
      set_status(failed(source_kind::v1_oom_control, no_kernel));
    } else if (v1 && has_memcg && opt_.use_v1_events) {
      const std::string dir = reader_->files().real_path(loc.chain[reader_->memory_level()]);
      std::string notes;
      bool ok = true;
      error first_error;
      const struct {
        const char* args;
        const char* fallback;
        role what;
      } levels[] = {{"medium,local", "medium", role::v1_pressure_medium},
                    {"critical,local", "critical", role::v1_pressure_critical}};
      for (const auto& l : levels) {
        auto efd = v1_register_event(dir, "memory.pressure_level", l.args);
        // Kernels before 4.10 know no mode; default mode then.
        if (!efd && efd.error().code == std::errc::invalid_argument) {
          efd = v1_register_event(dir, "memory.pressure_level", l.fallback);
        }
        if (efd) {
          add_source(std::move(*efd), l.what, EPOLLIN, dir + "/memory.pressure_level");
        } else {
          ok = false;
          first_error = efd.error();
        }
      }
      set_status(ok ? active(source_kind::v1_pressure_level,
                             dir + "/memory.pressure_level (medium, critical; local)")
                    : failed(source_kind::v1_pressure_level, first_error));
      auto oom = v1_register_event(dir, "memory.oom_control", "");
      if (oom) {
        add_source(std::move(*oom), role::v1_oom, EPOLLIN, dir + "/memory.oom_control");
        set_status(active(source_kind::v1_oom_control, dir + "/memory.oom_control"));
      } else {
        set_status(failed(source_kind::v1_oom_control, oom.error()));
      }
    } else if (v1 && has_memcg) {
      set_status(failed(source_kind::v1_pressure_level, make_error(make_error_code(errc::disabled))));
      set_status(failed(source_kind::v1_oom_control, make_error(make_error_code(errc::disabled))));
    }

    // PSI: the process's own cgroup2 directory; the host's without one.
    psi_path_ = loc.unified_dir.empty()
                    ? std::string("/proc/pressure/memory")
                    : detail::join_path(loc.unified_dir, "/memory.pressure");
    psi_read_ = reader_->files().keep(psi_path_);
    if (opt_.use_psi && !live) {
      set_status(failed(source_kind::psi, no_kernel));
    } else if (opt_.use_psi) {
      const std::string real = reader_->files().real_path(psi_path_);
      auto m = open_psi_trigger(real, opt_.psi_moderate.full, opt_.psi_moderate.stall,
                                opt_.psi_moderate.window);
      auto c = open_psi_trigger(real, opt_.psi_critical.full, opt_.psi_critical.stall,
                                opt_.psi_critical.window);
      if (m && c) {
        add_source(std::move(*m), role::psi_moderate, EPOLLPRI, real);
        add_source(std::move(*c), role::psi_critical, EPOLLPRI, real);
        psi_triggers_ = true;
        set_status(active(source_kind::psi, real + " (" + describe(opt_.psi_moderate) +
                                                " -> moderate, " + describe(opt_.psi_critical) +
                                                " -> critical)"));
      } else {
        set_status(failed(source_kind::psi, m ? c.error() : m.error(), real));
      }
    } else {
      set_status(failed(source_kind::psi, make_error(make_error_code(errc::disabled))));
    }

    // v2 memory.events of the limit cgroup (or the memory cgroup).
    events_path_.clear();
    oom_kills_.reset();
    if (has_memcg) {
      const std::size_t at = s.source == limit_source::chain ? s.limit_level : reader_->memory_level();
      events_path_ = reader_->files().real_path(
          reader_->path_at(at, v1 ? detail::v1::oom_control : detail::v2::events));
      read_event_counters(counters_report::baseline, now);
    }
    if (mode == hierarchy_mode::v2 && has_memcg) {
      if (!opt_.use_memory_events) {
        set_status(failed(source_kind::memory_events, make_error(make_error_code(errc::disabled))));
      } else if (auto f = open_read(events_path_)) {
        add_source(std::move(*f), role::memory_events, EPOLLPRI, events_path_);
        set_status(active(source_kind::memory_events, events_path_));
      } else {
        set_status(failed(source_kind::memory_events, f.error()));
      }
    }

    if (opt_.use_systemd && opt_.reader.use_environment && live) {
      if (const char* watch_path = std::getenv("MEMORY_PRESSURE_WATCH")) {
        auto w = open_systemd_watch(watch_path, std::getenv("MEMORY_PRESSURE_WRITE"));
        if (w) {
          const bool psi = w->wants_pollpri();
          if (!psi) drain_stream(w->fd.get());  // what we wrote into a FIFO
          add_source(std::move(w->fd), psi ? role::systemd_psi : role::systemd_stream,
                     psi ? EPOLLPRI : EPOLLIN, watch_path);
          set_status(active(source_kind::systemd, watch_path));
        } else {
          set_status(failed(source_kind::systemd, w.error()));
        }
      }
    }

    next_housekeeping_ = now + opt_.slow_interval;
    sample(now, s);
    return {};
  }

  static std::string describe(const psi_threshold& t) {
    return std::string(t.full ? "full " : "some ") + std::to_string(t.stall.count() / 1000) +
           " ms/" + std::to_string(t.window.count() / 1000) + " ms";
  }

  // v1: eventfds at the band edges (rising and falling) of the usage cgroup.
  void register_thresholds(const memory_snapshot& s) {
    if (!s.effective_limit || s.usage_level == host_level) return;
    const std::string dir =
        reader_->files().real_path(reader_->location().chain[s.usage_level]);
    std::vector<std::uint64_t> at = {edges_.moderate, edges_.critical,
                                     edges_.exit_of(pressure_level::moderate),
                                     edges_.exit_of(pressure_level::critical)};
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    std::string detail = dir + "/memory.usage_in_bytes thresholds at";
    for (const std::uint64_t bytes : at) {
      auto efd = v1_register_event(dir, "memory.usage_in_bytes", std::to_string(bytes));
      if (!efd) {
        set_status(failed(source_kind::usage_bands, efd.error(), "falling back to the sampler"));
        // Drop the thresholds that did register: sample instead.
        sources_.erase(std::remove_if(sources_.begin(), sources_.end(),
                                      [](const std::unique_ptr<watched>& w) {
                                        return w->what == role::v1_threshold;
                                      }),
                       sources_.end());
        return;
      }
      add_source(std::move(*efd), role::v1_threshold, EPOLLIN, dir);
      detail += " " + human_bytes(bytes);
    }
    lowest_threshold_ = at.front();
    thresholds_armed_ = true;
    set_status(active(source_kind::usage_bands, detail + " (eventfd)"));
  }

  // Band edges for the effective limit in s.
  void update_limit(const memory_snapshot& s) {
    if (!s.effective_limit) return;
    const std::uint64_t limit = *s.effective_limit;
    edges_.moderate = opt_.moderate.at(limit);
    edges_.critical = std::max(opt_.critical.at(limit), edges_.moderate);
    edges_.hysteresis =
        static_cast<std::uint64_t>(static_cast<double>(limit) * opt_.hysteresis_percent / 100.0);
    effective_ = limit;
    limit_ = s.limit ? *s.limit : std::nullopt;
    limit_dir_ = limit_dir_of(s);
  }

  std::string limit_dir_of(const memory_snapshot& s) const {
    if (s.source != limit_source::chain && s.source != limit_source::hierarchical) return {};
    return reader_->location().chain[s.limit_level];
  }

  // ------------------------------------------------------------ the loop

  std::size_t run_once(int timeout_ms) {
    epoll_event evs[16];
    int n;
    do {
      n = HEADROOM_SYSCALL(epoll_wait)(epoll_.get(), evs, 16, timeout_ms);
    } while (n < 0 && errno == EINTR);
    const auto now = clock::now();
    bool sample_now = false;
    for (int i = 0; i < n; ++i) {
      void* p = evs[i].data.ptr;
      if (p == &timer_tag_) {
        drain_eventfd(timer_.get());
      } else if (p == &wake_tag_) {
        drain_eventfd(wake_.get());
      } else {
        sample_now |= on_ready(now, *static_cast<watched*>(p), evs[i].events);
        if (resolve_pending_) break;  // the sources were torn down
      }
    }
    check_psi_totals(now);
    if (resolve_pending_) {
      resolve_pending_ = false;
      re_resolve(now);
    } else if (now >= next_housekeeping_) {
      housekeeping(now);
    } else if (sample_now || now >= next_sample_) {
      sample(now, std::nullopt);
    }
    if (auto n = tracker_.on_tick(now)) {
      const memory_snapshot s = last_snapshot();
      note(n, now, source_kind::usage_bands,
           "no new signal; " + (s.working_set ? band_reason(*s.working_set) : std::string()));
    }
    arm(now);
    return deliver();
  }

  // A PSI trigger's readiness is consumed by whoever polls it first: when a
  // caller's event loop polls fd(), the kernel's poll of our epoll set
  // clears the trigger's event, and our own epoll_wait then sees nothing.
  // So the trigger only wakes us; on every wakeup the totals of the
  // pressure file are read and the trigger's own rule is applied to them:
  // stall growth over at least one window, as a rate, against the trigger's
  // stall per window.
  void check_psi_totals(clock::time_point now) {
    if (!psi_triggers_) return;
    char buf[512];
    auto text = read_kept(psi_read_, buf, sizeof buf);
    if (!text) return;
    auto p = parse_psi(*text);
    if (!p) return;
    psi_history_.push_back({now, p->some.total_us, p->full ? p->full->total_us : 0});
    const auto longest = std::max(opt_.psi_moderate.window, opt_.psi_critical.window);
    // Keep one sample at least `longest` old as the baseline.
    while (psi_history_.size() > 2 && psi_history_[1].time <= now - longest) {
      psi_history_.erase(psi_history_.begin());
    }
    const auto check = [&](const psi_threshold& t, pressure_level l) {
      const psi_sample* base = nullptr;
      for (const auto& h : psi_history_) {
        if (h.time <= now - t.window) base = &h;
      }
      if (!base) return;
      const auto& last = psi_history_.back();
      const double covered = std::chrono::duration<double, std::micro>(now - base->time).count();
      const double grown = static_cast<double>(t.full ? last.full - base->full : last.some - base->some);
      const double per_window = grown * static_cast<double>(t.window.count()) / covered;
      if (per_window >= static_cast<double>(t.stall.count())) {
        signal(now, l, source_kind::psi,
               "PSI " + describe(t) + " on " + psi_path_ + ": " +
                   std::to_string(static_cast<long long>(per_window / 1000)) + " ms stalled per window");
      }
    };
    check(opt_.psi_moderate, pressure_level::moderate);
    check(opt_.psi_critical, pressure_level::critical);
  }

  // One source is ready. Returns true when usage should be sampled now.
  bool on_ready(clock::time_point now, watched& w, std::uint32_t events) {
    switch (w.what) {
      case role::v1_threshold:
        drain_eventfd(w.fd.get());
        return true;
      case role::v1_pressure_medium:
      case role::v1_pressure_critical:
      case role::v1_oom: {
        drain_eventfd(w.fd.get());
        // The eventfd is also signalled when the cgroup is removed: check
        // that it is still there before trusting the wakeup.
        if (!cgroup_alive()) {
          resolve_pending_ = true;
          return false;
        }
        if (w.what == role::v1_oom) {
          signal(now, pressure_level::critical, source_kind::v1_oom_control,
                 "memory.oom_control: out of memory in the cgroup");
          read_event_counters(counters_report::kills, now);
        } else {
          const bool critical = w.what == role::v1_pressure_critical;
          signal(now, critical ? pressure_level::critical : pressure_level::moderate,
                 source_kind::v1_pressure_level,
                 std::string("memory.pressure_level: ") + (critical ? "critical" : "medium"));
        }
        return true;
      }
      case role::psi_moderate:
      case role::psi_critical: {
        if (events & EPOLLERR) {  // the cgroup (and its trigger) is gone
          // A gone trigger reports POLLERR for ever: out of the epoll set
          // with it, or the loop spins while the cgroup cannot be resolved
          // again (the watched process has exited).
          for (const auto& s : sources_) {
            if (s->what == role::psi_moderate || s->what == role::psi_critical) {
              HEADROOM_SYSCALL(epoll_ctl)(epoll_.get(), EPOLL_CTL_DEL, s->fd.get(), nullptr);
            }
          }
          set_status(failed(source_kind::psi, make_error(std::make_error_code(std::errc::no_such_device), w.path)));
          resolve_pending_ = true;
          return false;
        }
        const bool critical = w.what == role::psi_critical;
        const psi_threshold& t = critical ? opt_.psi_critical : opt_.psi_moderate;
        signal(now, critical ? pressure_level::critical : pressure_level::moderate,
               source_kind::psi, "PSI trigger " + describe(t) + " on " + psi_path_);
        return true;
      }
      case role::memory_events:
        if (!read_event_counters(counters_report::everything, now)) {
          resolve_pending_ = !cgroup_alive();
        }
        return true;
      case role::systemd_psi:
      case role::systemd_stream:
        if ((events & EPOLLERR) ||
            (w.what == role::systemd_stream && !drain_stream(w.fd.get()))) {
          set_status(failed(source_kind::systemd,
                            make_error(std::make_error_code(std::errc::connection_reset), w.path)));
          HEADROOM_SYSCALL(epoll_ctl)(epoll_.get(), EPOLL_CTL_DEL, w.fd.get(), nullptr);
          return false;
        }
        signal(now, pressure_level::moderate, source_kind::systemd,
               "$MEMORY_PRESSURE_WATCH signalled (" + w.path + ")");
        return true;
      case role::timer:
      case role::wake:
        break;
    }
    return false;
  }

  bool cgroup_alive() const {
    auto u = reader_->usage();
    return u || !(u.error().code == std::errc::no_such_device ||
                  u.error().code == std::errc::no_such_file_or_directory);
  }

  // What read_event_counters reports from the change since the last read.
  enum class counters_report {
    baseline,    // nothing: remember the counts
    kills,       // oom_kill events only (the periodic re-check)
    everything,  // also high/max -> moderate and oom -> critical signals
  };

  // Reads memory.events (v2) or memory.oom_control (v1) of the limit
  // cgroup: new high/max -> moderate, oom -> critical, oom_kill -> event.
  bool read_event_counters(counters_report what, clock::time_point now) {
    const bool report = what != counters_report::baseline;
    if (events_path_.empty()) return true;
    auto f = open_read(events_path_);
    if (!f) return false;
    char buf[1024];
    auto text = pread_all(f->get(), buf, sizeof buf, events_path_);
    if (!text) return false;
    std::array<key_slot, 4> keys{{{"high", {}}, {"max", {}}, {"oom", {}}, {"oom_kill", {}}}};
    if (!parse_keyed(*text, keys)) return false;
    std::array<std::uint64_t, 4> now_counts{};
    for (std::size_t i = 0; i < keys.size(); ++i) now_counts[i] = keys[i].value.value_or(0);
    if (report && counters_) {
      const auto& was = *counters_;
      const auto grew = [&](std::size_t i) { return now_counts[i] > was[i] ? now_counts[i] - was[i] : 0; };
      const bool signals = what == counters_report::everything;
      if (signals && (grew(0) || grew(1))) {
        signal(now, pressure_level::moderate, source_kind::memory_events,
               "memory.events high +" + std::to_string(grew(0)) + ", max +" +
                   std::to_string(grew(1)));
      }
      if (signals && grew(2)) {
        signal(now, pressure_level::critical, source_kind::memory_events,
               "memory.events oom +" + std::to_string(grew(2)));
      }
      if (grew(3)) {
        memory_event ev = make_event(event_kind::oom_kill, source_of_counters(), now);
        ev.oom_kills = now_counts[3];
        ev.new_oom_kills = grew(3);
        ev.reason = std::to_string(grew(3)) + " process(es) OOM-killed in " +
                    events_path_.substr(0, events_path_.rfind('/'));
        pending_.push_back(std::move(ev));
      }
    }
    counters_ = now_counts;
    oom_kills_ = now_counts[3];
    return true;
  }

  source_kind source_of_counters() const {
    const hierarchy_mode m = reader_->mode();
    return m == hierarchy_mode::v2 ? source_kind::memory_events : source_kind::v1_oom_control;
  }

  // Every slow_interval: a moved process, a removed cgroup, a new limit.
  void housekeeping(clock::time_point now) {
    next_housekeeping_ = now + opt_.slow_interval;
    auto cg = reader_->files().read_proc("cgroup");
    if (cg && *cg != cgroup_text_) {
      re_resolve(now);
      return;
    }
    const memory_snapshot s = reader_->snapshot();
    if (gone(s.limit) || gone(s.usage)) {
      re_resolve(now);
      return;
    }
    // A kill missed by the event sources (or with them off) still counts.
    read_event_counters(counters_report::kills, now);
    sample(now, s);
  }

  // A read that failed because the cgroup directory was removed.
  template <class T>
  static bool gone(const result<T>& r) {
    return !r && (r.error().code == std::errc::no_such_device ||
                  r.error().code == std::errc::no_such_file_or_directory);
  }

  // Compares the limit in a full snapshot with the one the bands are built
  // on: a change is a limit_changed event, new edges, new v1 thresholds.
  void check_limit(clock::time_point now, const memory_snapshot& s) {
    if (!s.limit || !s.effective_limit) return;
    const std::optional<std::uint64_t> new_limit = *s.limit;
    const std::string new_dir = limit_dir_of(s);
    if (new_limit == limit_ && new_dir == limit_dir_ && *s.effective_limit == effective_) return;
    if (new_limit != limit_ || new_dir != limit_dir_) {
      memory_event ev = make_event(event_kind::limit_changed, source_kind::cgroup, now, &s);
      ev.old_limit = limit_;
      ev.new_limit = new_limit;
      ev.old_cgroup = limit_dir_;
      ev.new_cgroup = new_dir;
      ev.reason = "limit " + limit_text(limit_) + " -> " + limit_text(new_limit);
      if (new_dir != limit_dir_) {
        ev.reason += ", held by " + (new_dir.empty() ? std::string("no cgroup") : new_dir);
      }
      pending_.push_back(std::move(ev));
    }
    update_limit(s);
    if (thresholds_armed_) {  // new edges: register again
      sources_.erase(std::remove_if(sources_.begin(), sources_.end(),
                                    [](const std::unique_ptr<watched>& w) {
                                      return w->what == role::v1_threshold;
                                    }),
                     sources_.end());
      thresholds_armed_ = false;
      register_thresholds(s);
    }
  }

  static std::string limit_text(const std::optional<std::uint64_t>& l) {
    return l ? human_bytes(*l) : std::string("none");
  }

  // The process moved or its cgroup went away: start again.
  void re_resolve(clock::time_point now) {
    const std::string old_dir = reader_->location().dir;
    const std::optional<std::uint64_t> old_limit = limit_;
    const std::string old_limit_dir = limit_dir_;
    if (!resolve(now)) {
      next_housekeeping_ = now + opt_.slow_interval;  // try again later
      return;
    }
    memory_event ev = make_event(event_kind::limit_changed, source_kind::cgroup, now);
    ev.moved = true;
    ev.old_limit = old_limit;
    ev.new_limit = limit_;
    ev.old_cgroup = old_dir;
    ev.new_cgroup = reader_->location().dir;
    ev.reason = "the process's memory cgroup changed: " + old_dir + " -> " + ev.new_cgroup +
                "; limit " + limit_text(old_limit) + " -> " + limit_text(limit_);
    (void)old_limit_dir;
    pending_.push_back(std::move(ev));
  }

  // Reads usage (and the working set when it matters) and updates the band.
  void sample(clock::time_point now, std::optional<memory_snapshot> given) {
    const bool v1_events = thresholds_armed_;
    memory_snapshot s;
    if (given) {
      s = std::move(*given);
    } else {
      // Below the moderate edge in usage, the working set (<= usage) is
      // too: one pread answers, no memory.stat needed.
      auto u = reader_->usage();
      if (u && *u < edges_.exit_of(pressure_level::moderate) &&
          tracker_.band() == pressure_level::none) {
        track_rate(now, *u);
        schedule(now, *u, v1_events && *u < lowest_threshold_);
        std::lock_guard<std::mutex> lock(state_mu_);
        last_.usage = *u;
        return;
      }
      s = reader_->snapshot();
    }
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      last_ = s;
    }
    check_limit(now, s);
    if (!s.working_set || !s.effective_limit) {
      next_sample_ = now + opt_.slow_interval;
      return;
    }
    const std::uint64_t ws = *s.working_set;
    track_rate(now, ws);
    const pressure_level band = band_level(tracker_.band(), ws, edges_);
    if (auto n = tracker_.on_band(now, band)) {
      note(n, now, source_kind::usage_bands, band_reason(ws));
    }
    const bool usage_below = s.usage && *s.usage < lowest_threshold_;
    schedule(now, ws, v1_events && usage_below);
  }

  std::string band_reason(std::uint64_t ws) const {
    const double pct = effective_ ? 100.0 * static_cast<double>(ws) / static_cast<double>(effective_) : 0;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.1f%%", pct);
    return "working set " + human_bytes(ws) + " is " + buf + " of the effective limit " +
           human_bytes(effective_) + " (moderate at " + human_bytes(edges_.moderate) +
           ", critical at " + human_bytes(edges_.critical) + ")";
  }

  void track_rate(clock::time_point now, std::uint64_t value) {
    if (have_prev_) {
      const double dt = std::chrono::duration<double>(now - prev_time_).count();
      if (dt > 0) {
        // Smoothed, but a sudden rise counts at once.
        const double inst = (static_cast<double>(value) - static_cast<double>(prev_value_)) / dt;
        rate_ = std::max(inst, 0.5 * rate_ + 0.5 * inst);
      }
    }
    prev_value_ = value;
    prev_time_ = now;
    have_prev_ = true;
  }

  // When to sample next: v1 with usage below every threshold waits for an
  // eventfd; otherwise the adaptive interval.
  void schedule(clock::time_point now, std::uint64_t value, bool events_cover_it) {
    if (events_cover_it) {
      next_sample_ = next_housekeeping_;
      return;
    }
    next_sample_ = now + next_sample_interval(value, effective_, edges_, tracker_.band(), rate_,
                                              opt_.fast_interval, opt_.slow_interval);
  }

  void signal(clock::time_point now, pressure_level l, source_kind k, const std::string& why) {
    note(tracker_.on_signal(now, l), now, k, why);
  }

  // Queues a pressure event for a tracker notice.
  void note(const std::optional<level_tracker::notice>& n, clock::time_point now, source_kind k,
            const std::string& why) {
    if (!n) return;
    level_.store(static_cast<int>(n->level), std::memory_order_relaxed);
    memory_event ev = make_event(event_kind::pressure, k, now);
    ev.level = n->level;
    ev.previous = n->previous;
    ev.repeat = n->repeat;
    ev.reason = why;
    pending_.push_back(std::move(ev));
  }

  memory_event make_event(event_kind kind, source_kind k, clock::time_point now,
                          const memory_snapshot* fresh = nullptr) {
    memory_event ev;
    ev.kind = kind;
    ev.source = k;
    ev.time = now;
    ev.level = tracker_.level();
    ev.previous = ev.level;
    ev.oom_kills = oom_kills_.value_or(0);
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      const memory_snapshot& s = fresh ? *fresh : last_;
      if (s.usage) ev.usage = *s.usage;
      if (s.working_set) ev.working_set = *s.working_set;
      if (s.effective_limit) ev.effective_limit = *s.effective_limit;
    }
    char buf[512];
    if (auto text = read_kept(psi_read_, buf, sizeof buf)) {
      if (auto p = parse_psi(*text)) ev.psi_some_avg10 = p->some.avg10;
    }
    return ev;
  }

  std::size_t deliver() {
    std::size_t called = 0;
    // Callbacks may subscribe or unsubscribe; events queued meanwhile by
    // nothing else (this thread is the only producer).
    std::vector<memory_event> batch;
    batch.swap(pending_);
    for (const auto& ev : batch) called += subscribers_->deliver(ev);
    return called;
  }

  void arm(clock::time_point now) {
    auto next = std::min(next_sample_, next_housekeeping_);
    if (auto e = tracker_.next_expiry(now)) next = std::min(next, *e);
    arm_timer_at(timer_.get(), next);
  }

  monitor_options opt_;
  level_tracker tracker_;
  std::shared_ptr<subscriber_registry> subscribers_;
  std::optional<memory_reader> reader_;
  unique_fd epoll_;
  unique_fd timer_;
  unique_fd wake_;
  tag timer_tag_{role::timer};
  tag wake_tag_{role::wake};
  std::vector<std::unique_ptr<watched>> sources_;
  std::string cgroup_text_;
  std::string psi_path_;
  kept_file psi_read_;
  struct psi_sample {
    clock::time_point time;
    std::uint64_t some;
    std::uint64_t full;
  };
  bool psi_triggers_ = false;
  std::vector<psi_sample> psi_history_;  // totals at each wakeup
  std::string events_path_;
  std::optional<std::array<std::uint64_t, 4>> counters_;
  std::optional<std::uint64_t> oom_kills_;
  band_edges edges_;
  std::uint64_t effective_ = 0;
  std::optional<std::uint64_t> limit_;
  std::string limit_dir_;
  bool thresholds_armed_ = false;
  std::uint64_t lowest_threshold_ = 0;
  bool resolve_pending_ = false;
  clock::time_point next_sample_{};
  clock::time_point next_housekeeping_{};
  double rate_ = 0;
  std::uint64_t prev_value_ = 0;
  clock::time_point prev_time_{};
  bool have_prev_ = false;
  std::vector<memory_event> pending_;
  mutable std::mutex state_mu_;  // status_ and last_, read by other threads
  std::vector<source_status> status_;
  memory_snapshot last_;
  std::atomic<int> level_{0};
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  // Held by dispatch() while it runs and by start() while it launches the
  // thread: two loops never run at once.
  std::mutex loop_mu_;
  std::atomic<std::thread::id> dispatching_{};
};

}  // namespace detail

// The monitor: owns the sources, the level and the subscribers.
class monitor {
 public:
  using callback = std::function<void(const memory_event&)>;

  // Opens the reader and every source for the process's cgroup. Fails only
  // when the reader cannot open (see memory_reader::open) or the kernel
  // gives no epoll/eventfd/timerfd; a source that cannot run is reported in
  // sources(), and the others carry on.
  static result<monitor> create(monitor_options opt = {}) {
    auto core = std::make_unique<detail::monitor_core>(std::move(opt));
    auto ok = core->init();
    if (!ok) return ok.error();
    return monitor(std::move(core));
  }

  monitor(monitor&&) noexcept = default;
  monitor& operator=(monitor&&) noexcept = default;
  ~monitor() = default;  // stops the thread, closes every fd

  // For event loops: readable when something is due; then call dispatch().
  int fd() const noexcept { return core_->fd(); }

  // Handles what is ready and runs due callbacks on this thread. Returns
  // the number of callback calls. Does nothing (returns 0) while start()
  // runs or while another dispatch() is under way; start() waits for a
  // dispatch() on another thread and fails when called from inside one.
  std::size_t dispatch() { return core_->dispatch(); }

  // Runs the monitor on its own thread until stop() (or destruction).
  result<void> start() { return core_->start(); }
  void stop() { core_->stop(); }

  [[nodiscard]] subscription subscribe(callback fn) { return core_->subscribe(std::move(fn)); }

  // After fork(), in the child only, before anything else touches this
  // monitor: the child inherits its descriptors (the parent's epoll set
  // among them) but not its thread. This closes the child's copies and lets
  // go of the thread without joining it; the monitor is then inert, and its
  // subscriptions may be dropped. Create a new monitor in the child if it
  // needs one. A child that calls exec needs nothing: every descriptor is
  // close-on-exec.
  void forget_after_fork() noexcept { core_->forget_after_fork(); }

  pressure_level level() const noexcept { return core_->level(); }
  std::vector<source_status> sources() const { return core_->sources(); }
  // The latest snapshot the monitor read (usage may be newer than the rest).
  memory_snapshot last_snapshot() const { return core_->last_snapshot(); }

 private:
  explicit monitor(std::unique_ptr<detail::monitor_core> core) : core_(std::move(core)) {}
  std::unique_ptr<detail::monitor_core> core_;
};

#endif  // HEADROOM_HAVE_LINUX

}  // namespace headroom
