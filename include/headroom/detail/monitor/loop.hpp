// SPDX-License-Identifier: MIT
// headroom: the monitor's loop. Included by pressure.hpp after the public
// types; not meant to be included on its own.
//
// One epoll set holds a timer (the next sample, re-check or expiry of a held
// signal), a wake eventfd (stop()) and the descriptors of every source
// (sources.hpp). A pass waits, hands each ready descriptor to its source,
// applies what the sources report (signals, kills, "sample now", "the cgroup
// is gone"), samples usage when due, re-checks the limit and the cgroup
// every slow_interval, and delivers the events it queued to the
// subscribers, with no lock held. It runs from dispatch() on the caller's
// thread or on the monitor's own thread after start().
#pragma once

#include <algorithm>  // std::max, std::min
#include <array>      // std::array
#include <atomic>     // std::atomic, std::memory_order_relaxed
#include <cstdio>     // std::snprintf
#include <memory>     // std::make_shared, std::shared_ptr
#include <mutex>      // std::unique_lock, std::mutex, std::lock_guard
#include <optional>   // std::optional, std::nullopt
#include <string>     // std::string, std::to_string
#include <thread>     // std::this_thread, std::thread
#include <utility>    // std::move, std::pair
#include <vector>     // std::vector

#include "../event_fds.hpp"       // make_timerfd, make_eventfd, drain_eventfd
#include "../format.hpp"          // human_bytes
#include "../level.hpp"           // level_tracker, pressure_level, band_level
#include "../narrow.hpp"          // narrow
#include "../pressure_rules.hpp"  // critical_edge_with_high, make_band_edges
#include "sampler.hpp"            // usage_sampler
#include "source.hpp"             // monitor_clock, monitor_source, source_env
#include "sources.hpp"            // source_opener
#include "subscribers.hpp"        // subscriber_registry, memory_event

#include <pthread.h>    // pthread_setname_np, pthread_self
#include <sys/epoll.h>  // epoll_create1, EPOLL_CLOEXEC, EPOLLIN
#include <unistd.h>     // getpid, write

namespace headroom::detail {

class monitor_loop {
 public:
  using clock = monitor_clock;

  explicit monitor_loop(monitor_options o)
      : opt_(std::move(o)),
        tracker_(level_tracker::config{opt_.signal_hold, opt_.repeat_interval}),
        subscribers_(std::make_shared<subscriber_registry>()) {}

  monitor_loop(const monitor_loop&) = delete;
  monitor_loop& operator=(const monitor_loop&) = delete;

  // Destroying the monitor from inside one of its own callbacks is not
  // allowed (the thread would outlive it). Every descriptor leaves the
  // epoll set before it is closed: a forked child holding copies of the
  // set would otherwise keep entries for them.
  ~monitor_loop() {
    if (forked()) forget_after_fork();  // the parent's, not this process's
    stop();
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) {
        thread_.detach();
      } else {
        thread_.join();  // it has ended or is ending (it stopped itself)
      }
    }
    unwatch_all();
    unwatch(timer_.get());
    unwatch(wake_.get());
  }

  result<void> init() {
    owner_ = HEADROOM_SYSCALL(getpid)();
    epoll_.reset(HEADROOM_SYSCALL(epoll_create1)(EPOLL_CLOEXEC));
    if (!epoll_) return errno_error(errno, "epoll_create1");
    auto t = make_timerfd();
    if (!t) return t.error();
    timer_ = std::move(*t);
    auto w = make_eventfd();
    if (!w) return w.error();
    wake_ = std::move(*w);
    if (!watch(timer_.get(), EPOLLIN, timer_key) ||
        !watch(wake_.get(), EPOLLIN, wake_key)) {
      return errno_error(errno, "epoll_ctl");
    }
    const auto now = clock::now();
    auto resolved = resolve(now);
    if (!resolved) return resolved;
    arm(now);
    return {};
  }

  int fd() const noexcept { return epoll_.get(); }

  dispatch_result try_dispatch() {
    // One loop at a time: the owned thread dispatches, and so does a
    // dispatch() already under way on another thread (or further up this
    // one's stack). A forgotten monitor does nothing.
    // (try_lock from the thread that holds it would be undefined.)
    if (dispatching_.load() == std::this_thread::get_id()) return {};
    std::unique_lock<std::mutex> loop(loop_mu_, std::try_to_lock);
    if (!loop.owns_lock() || !epoll_ || forked()) return {};
    // Stopped from one of its callbacks, the thread is ending: wait for
    // it, then this thread dispatches (from that callback itself: not).
    if (running_.load() && stopping_.load() &&
        thread_id_.load() != std::this_thread::get_id()) {
      join_thread();
    }
    if (running_.load()) return {};
    struct mark {  // cleared however run_once() ends
      std::atomic<std::thread::id>& who;
      ~mark() { who.store(std::thread::id()); }
    } dispatching{dispatching_};
    dispatching_.store(std::this_thread::get_id());
    return {run_once(0), true};
  }

  result<void> start() {
    if (!epoll_ || forked()) {
      return result<void>(make_error(make_error_code(errc::not_supported),
                                     "monitor forgotten after fork"));
    }
    // From a callback of dispatch(): the thread would run beside it.
    if (dispatching_.load() == std::this_thread::get_id()) {
      return result<void>(
          make_error(std::make_error_code(std::errc::device_or_resource_busy),
                     "start() from inside dispatch()"));
    }
    // From a callback on the monitor's own thread: it runs already, or it
    // is ending after a stop() (and a stop() joining it may hold the lock).
    if (thread_id_.load() == std::this_thread::get_id() && running_.load()) {
      return result<void>(make_error(
          std::make_error_code(std::errc::device_or_resource_busy),
          stopping_.load() ? "start() from a callback of a stopping monitor: "
                             "start it again from another thread"
                           : "monitor already started"));
    }
    // A dispatch() on another thread finishes first (it does not block).
    std::lock_guard<std::mutex> loop(loop_mu_);
    bool expected = false;
    // A thread that has ended, or is ending after stop() from one of its
    // callbacks, is joined first (it never takes loop_mu_).
    if (thread_.joinable() && (!running_.load() || stopping_.load()))
      join_thread();
    if (!running_.compare_exchange_strong(expected, true)) {
      return result<void>(
          make_error(std::make_error_code(std::errc::device_or_resource_busy),
                     "monitor already started"));
    }
    stopping_.store(false);
    thread_ = std::thread([this] {
      // Before any callback: one that calls stop() must see it is on the
      // monitor's own thread (it must not join itself).
      thread_id_.store(std::this_thread::get_id());
      // Named for ps, top and debuggers (15 characters at most).
      pthread_setname_np(pthread_self(), "headroom");
      while (!stopping_.load()) run_once(-1);
      // Stopped from a callback: nobody joins it now, but the monitor may
      // dispatch or start again (start() joins what is left).
      running_.store(false);
    });
    return {};
  }

  // Returns once the thread has ended; from inside a callback it only asks
  // the loop to end after that callback. Several threads may stop at once:
  // one joins, the others wait for it.
  void stop() {
    if (forked() || !running_.load()) return;
    request_stop();
    if (thread_id_.load() == std::this_thread::get_id()) return;
    // The thread never takes loop_mu_; start() does, so thread_ is not
    // replaced meanwhile. A start() that ran between the request above and
    // this lock has launched a new thread: that one is asked too.
    std::lock_guard<std::mutex> loop(loop_mu_);
    if (thread_.joinable()) {
      request_stop();
      join_thread();
    }
    running_.store(false);
  }

  // In a forked child: close this process's copies of the descriptors and
  // let go of the parent's thread (which does not exist here) without
  // joining it. The parent's monitor is not affected: nothing is taken out
  // of the epoll set, which the child shares with the parent.
  void forget_after_fork() noexcept {
    owner_ = 0;  // whatever the pid, this process's monitor is inert now
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
  // epoll keys: the timer, the wake fd, and (source + 1) << 32 | fd index.
  // Numbers, not pointers: an entry never points at freed state.
  static constexpr std::uint64_t timer_key = 0;
  static constexpr std::uint64_t wake_key = 1;
  static std::uint64_t key_of(std::size_t source, std::size_t fd) {
    return (narrow<std::uint64_t>(source) + 1) << 32 | fd;
  }

  // In a forked child that has not called forget_after_fork(): the thread,
  // the lock and the epoll set are the parent's.
  bool forked() const noexcept { return owner_ != HEADROOM_SYSCALL(getpid)(); }

  void request_stop() {
    stopping_.store(true);
    std::uint64_t one = 1;
    (void)!HEADROOM_SYSCALL(write)(wake_.get(), &one, sizeof one);
  }

  // Under loop_mu_, from another thread than the monitor's.
  void join_thread() {
    thread_.join();
    thread_id_.store(std::thread::id());
    running_.store(false);
  }

  bool watch(int fd, std::uint32_t events, std::uint64_t key) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key;
    return HEADROOM_SYSCALL(epoll_ctl)(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) ==
           0;
  }

  void watch_source(std::size_t i) {
    auto& fds = sources_[i].fds;
    for (std::size_t k = 0; k < fds.size(); ++k)
      watch(fds[k].fd.get(), fds[k].events, key_of(i, k));
  }

  // Out of the epoll set before closing: a forked child holding copies of
  // the descriptors would otherwise keep the entries alive.
  void unwatch(int fd) {
    if (fd >= 0 && epoll_)
      (void)HEADROOM_SYSCALL(epoll_ctl)(epoll_.get(), EPOLL_CTL_DEL, fd,
                                        nullptr);
  }
  void unwatch_source(monitor_source& s) {
    for (auto& f : s.fds) unwatch(f.fd.get());
  }
  void unwatch_all() {
    for (auto& s : sources_) unwatch_source(s);
    sources_.clear();
  }

  void publish_status() {
    std::lock_guard<std::mutex> lock(state_mu_);
    status_.clear();
    // The change watch's line, where it opened one, says how the limit and
    // the cgroup are followed; else the loop's own.
    bool watch_line = false;
    for (const auto& s : sources_)
      watch_line |= s.status.kind == source_kind::cgroup;
    if (!watch_line || !cgroup_status_.active)
      status_.push_back(cgroup_status_);
    for (const auto& s : sources_) status_.push_back(s.status);
  }

  source_env env_for(const memory_snapshot& s) {
    return source_env{opt_,   *reader_,  s,
                      edges_, counters_, reader_->files().root().empty()};
  }

  // ---------------------------------------------------------------- resolve

  // (Re)opens the reader and every source for the process's current cgroup.
  result<void> resolve(clock::time_point now) {
    auto r = memory_reader::open(opt_.reader);
    if (!r) {
      cgroup_status_ = source_failed(source_kind::cgroup, r.error());
      publish_status();
      return r.error();
    }
    unwatch_all();  // before the reader they were opened for goes
    reader_.emplace(std::move(*r));
    auto cg = reader_->files().read_proc("cgroup");
    cgroup_text_ = cg ? *cg : std::string();
    const memory_snapshot s = reader_->snapshot();
    high_ = read_high();
    update_limit(s);
    cgroup_status_ =
        source_active(source_kind::cgroup,
                      "limit and cgroup re-checked every " +
                          std::to_string(opt_.slow_interval.count()) + " ms");
    psi_read_ = reader_->files().keep(psi_path_for(*reader_));
    psi_scope_ = psi_scope_for(*reader_);
    reset_counters(s, now);
    sampler_.reset();
    last_usage_.reset();
    const source_env env = env_for(s);
    for (const source_opener open : source_list) open(env, sources_);
    for (std::size_t i = 0; i < sources_.size(); ++i) watch_source(i);
    publish_status();
    next_housekeeping_ = now + recheck_period();
    sample(now, s);
    return {};
  }

  // The kill counters of the limit cgroup (or the memory cgroup).
  void reset_counters(const memory_snapshot& s, clock::time_point now) {
    if (!reader_->memory_at() || !reader_->layout()) {
      counters_.reset({}, source_kind::memory_events);
      return;
    }
    const memory_layout& table = reader_->layout()->memory;
    const chain_position at = s.source == limit_source::chain && s.limit_at
                                  ? *s.limit_at
                                  : *reader_->memory_at();
    // Where the file notifies, it is its own source; elsewhere the kills
    // are v1 oom_control's.
    counters_.reset(
        reader_->files().real_path(reader_->path_at(at, table.events)),
        table.events_notify ? source_kind::memory_events
                            : source_kind::v1_oom_control);
    source_outcome ignored;
    counters_.read(event_counters::report::baseline, ignored);
    (void)now;
  }

  // The tightest memory.high on the chain, where the version has one.
  std::optional<std::uint64_t> read_high() const {
    if (!reader_->layout() || !reader_->layout()->memory.high ||
        opt_.high_margin_percent < 0) {
      return std::nullopt;
    }
    const auto h = reader_->report().high.value;
    return h && *h ? std::optional<std::uint64_t>(**h) : std::nullopt;
  }

  // Band edges for the effective limit in s (and memory.high).
  void update_limit(const memory_snapshot& s) {
    if (!s.effective_limit) return;
    const std::uint64_t limit = *s.effective_limit;
    std::uint64_t critical = opt_.critical.at(limit);
    if (high_) {
      const auto margin = static_cast<std::uint64_t>(
          static_cast<double>(limit) * opt_.high_margin_percent / 100.0);
      critical = critical_edge_with_high(critical, *high_, margin);
    }
    edges_ = make_band_edges(limit, std::min(opt_.moderate.at(limit), critical),
                             critical, opt_.hysteresis_percent);
    effective_ = limit;
    limit_ = s.limit ? *s.limit : std::nullopt;
    limit_dir_ = limit_dir_of(s);
  }

  std::string limit_dir_of(const memory_snapshot& s) const {
    const auto holder = reader_->limit_cgroup(s);
    return holder ? holder->dir : std::string();
  }

  // The usage bands' source (opened first), re-opened for new edges.
  void reopen_usage_bands(const memory_snapshot& s) {
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      if (sources_[i].status.kind != source_kind::usage_bands ||
          sources_[i].fds.empty())
        continue;
      unwatch_source(sources_[i]);
      sources_[i] = open_usage_thresholds(env_for(s));
      watch_source(i);
      publish_status();
      return;
    }
  }

  // How often the limit and the cgroup are re-checked: rarely where the
  // kernel reports their changes.
  std::chrono::milliseconds recheck_period() const {
    for (const auto& src : sources_) {
      if (src.watches_changes && !src.fds.empty())
        return std::max(opt_.recheck_interval, opt_.slow_interval);
    }
    return opt_.slow_interval;
  }

  std::uint64_t usage_watched_below() const {
    for (const auto& src : sources_) {
      if (src.watches_usage_below) return src.watches_usage_below;
    }
    return 0;
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
    for (int i = 0; i < n && !resolve_pending_; ++i) {
      const std::uint64_t key = evs[i].data.u64;
      if (key == timer_key) {
        drain_eventfd(timer_.get());
      } else if (key == wake_key) {
        drain_eventfd(wake_.get());
      } else {
        const auto si = narrow<std::size_t>((key >> 32) - 1);
        const auto fi = narrow<std::size_t>(key & 0xffffffffu);
        if (si >= sources_.size() || fi >= sources_[si].fds.size() ||
            !sources_[si].on_ready)
          continue;
        sample_now |= apply(
            now, si,
            sources_[si].on_ready(now, sources_[si].fds[fi], evs[i].events));
      }
    }
    for (std::size_t si = 0; si < sources_.size() && !resolve_pending_; ++si) {
      if (sources_[si].on_pass)
        sample_now |= apply(now, si, sources_[si].on_pass(now));
    }
    if (resolve_pending_) {
      resolve_pending_ = false;
      recheck_pending_ = false;
      re_resolve(now);
    } else if (recheck_pending_ || now >= next_housekeeping_) {
      recheck_pending_ = false;
      housekeeping(now);
    } else if (release_pending_) {
      // After a kill: the working set too, not only usage.
      sample(now, reader_->snapshot());
    } else if (sample_now || now >= next_sample_) {
      sample(now, std::nullopt);
    }
    if (release_pending_) {
      // An OOM kill ended what the signals said: the level is what the
      // bands (read after the kill) and signals still firing say.
      release_pending_ = false;
      const memory_snapshot s = last_snapshot();
      note(tracker_.release_signals(now), now, source_kind::usage_bands,
           "after the OOM kill: " +
               (s.working_set ? band_reason(*s.working_set) : std::string()));
    }
    if (auto t = tracker_.on_tick(now)) {
      const memory_snapshot s = last_snapshot();
      note(t, now, source_kind::usage_bands,
           "no new signal; " +
               (s.working_set ? band_reason(*s.working_set) : std::string()));
    }
    arm(now);
    return deliver();
  }

  // Applies what source `si` reported. Returns true when usage should be
  // sampled now.
  bool apply(clock::time_point now, std::size_t si, source_outcome o) {
    for (const auto& sig : o.signals) {
      held_[static_cast<std::size_t>(sig.level)] = {sig.kind, sig.reason};
      note(tracker_.on_signal(now, sig.level), now, sig.kind, sig.reason);
    }
    if (o.read_kills) counters_.read(event_counters::report::kills, o);
    for (const auto& k : o.kills) queue_kills(now, k);
    if (o.stop_watching) unwatch_source(sources_[si]);
    if (o.status) {
      sources_[si].status = std::move(*o.status);
      publish_status();
    }
    if (o.resolve) resolve_pending_ = true;
    if (o.recheck) recheck_pending_ = true;
    return o.sample;
  }

  void queue_kills(clock::time_point now, const kill_report& k) {
    memory_event ev = make_event(event_kind::oom_kill, k.kind, now);
    ev.oom_kills = k.total;
    ev.new_oom_kills = k.added;
    ev.reason =
        std::to_string(k.added) + " process(es) OOM-killed in " + k.where;
    pending_.push_back(std::move(ev));
    release_pending_ = true;  // once usage is read again
  }

  // Every recheck_period(), and when the kernel reports a change: a moved
  // process, a removed cgroup, a new limit.
  void housekeeping(clock::time_point now) {
    next_housekeeping_ = now + recheck_period();
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
    source_outcome kills;
    counters_.read(event_counters::report::kills, kills);
    for (const auto& k : kills.kills) queue_kills(now, k);
    sample(now, s);
  }

  // A read that failed because the cgroup directory was removed.
  template <class T>
  static bool gone(const result<T>& r) {
    return !r && is_gone(r.error());
  }

  // Compares the limit in a full snapshot with the one the bands are built
  // on: a change is a limit_changed event, new edges, new v1 thresholds.
  void check_limit(clock::time_point now, const memory_snapshot& s) {
    if (!s.limit || !s.effective_limit) return;
    const std::optional<std::uint64_t> new_limit = *s.limit;
    const std::string new_dir = limit_dir_of(s);
    if (new_limit == limit_ && new_dir == limit_dir_ &&
        *s.effective_limit == effective_)
      return;
    if (new_limit != limit_ || new_dir != limit_dir_) {
      memory_event ev =
          make_event(event_kind::limit_changed, source_kind::cgroup, now, &s);
      ev.old_limit = limit_;
      ev.new_limit = new_limit;
      ev.old_cgroup = limit_dir_;
      ev.new_cgroup = new_dir;
      ev.reason =
          "limit " + limit_text(limit_) + " -> " + limit_text(new_limit);
      if (new_dir != limit_dir_) {
        ev.reason += ", held by " +
                     (new_dir.empty() ? std::string("no cgroup") : new_dir);
      }
      pending_.push_back(std::move(ev));
    }
    high_ = read_high();
    update_limit(s);
    reopen_usage_bands(s);  // new edges: register again
  }

  static std::string limit_text(const std::optional<std::uint64_t>& l) {
    return l ? human_bytes(*l) : std::string("none");
  }

  // The process moved or its cgroup went away: start again.
  void re_resolve(clock::time_point now) {
    const std::string old_dir = reader_->location().dir;
    const std::optional<std::uint64_t> old_limit = limit_;
    if (!resolve(now)) {
      next_housekeeping_ = now + opt_.slow_interval;  // try again later
      return;
    }
    memory_event ev =
        make_event(event_kind::limit_changed, source_kind::cgroup, now);
    ev.moved = true;
    ev.old_limit = old_limit;
    ev.new_limit = limit_;
    ev.old_cgroup = old_dir;
    ev.new_cgroup = reader_->location().dir;
    ev.reason = "the process's memory cgroup changed: " + old_dir + " -> " +
                ev.new_cgroup + "; limit " + limit_text(old_limit) + " -> " +
                limit_text(limit_);
    pending_.push_back(std::move(ev));
  }

  // Reads usage (and the working set when it matters) and updates the band.
  void sample(clock::time_point now, std::optional<memory_snapshot> given) {
    const std::uint64_t watched_below = usage_watched_below();
    memory_snapshot s;
    if (given) {
      s = std::move(*given);
      if (s.usage) check_drop(now, *s.usage);
    } else {
      // Below the moderate edge in usage, the working set (<= usage) is
      // too: one pread answers, no memory.stat needed.
      auto u = reader_->usage();
      if (u) check_drop(now, *u);
      if (u && *u < edges_.exit_of(pressure_level::moderate) &&
          tracker_.band() == pressure_level::none) {
        sampler_.add(now, *u);
        schedule(now, *u, *u < watched_below);
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
    sampler_.add(now, ws);
    const pressure_level band = band_level(tracker_.band(), ws, edges_);
    if (auto t = tracker_.on_band(now, band))
      note(t, now, source_kind::usage_bands, band_reason(ws));
    schedule(now, ws, s.usage && *s.usage < usage_watched_below());
  }

  // Usage that fell by more than the hysteresis may be an OOM kill no event
  // reported (v1 on a read-only cgroupfs has no oom_control eventfd, and
  // the re-check is rare where inotify runs): the kill counter is read.
  void check_drop(clock::time_point now, std::uint64_t usage) {
    if (last_usage_ && usage + edges_.hysteresis < *last_usage_) {
      source_outcome kills;
      counters_.read(event_counters::report::kills, kills);
      for (const auto& k : kills.kills) queue_kills(now, k);
    }
    last_usage_ = usage;
  }

  std::string band_reason(std::uint64_t ws) const {
    const double pct = effective_ ? 100.0 * static_cast<double>(ws) /
                                        static_cast<double>(effective_)
                                  : 0;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.1f%%", pct);
    return "working set " + human_bytes(ws) + " is " + buf +
           " of the effective limit " + human_bytes(effective_) +
           " (moderate at " + human_bytes(edges_.moderate) + ", critical at " +
           human_bytes(edges_.critical) +
           (high_ ? ", memory.high " + human_bytes(*high_) : std::string()) +
           ")";
  }

  // When to sample next: v1 with usage below every threshold waits for an
  // eventfd; otherwise the adaptive interval.
  void schedule(clock::time_point now, std::uint64_t value,
                bool events_cover_it) {
    if (events_cover_it) {
      next_sample_ = next_housekeeping_;
      return;
    }
    next_sample_ =
        sampler_.next(now, value, effective_, edges_, tracker_.band(), opt_);
  }

  // Queues a pressure event for a tracker notice. The event names the
  // source that holds the level now: a band notice whose level a held
  // signal keeps (above the band) is that signal's.
  void note(const std::optional<level_tracker::notice>& n,
            clock::time_point now, source_kind k, const std::string& why) {
    if (!n) return;
    level_.store(static_cast<int>(n->level), std::memory_order_relaxed);
    memory_event ev = make_event(event_kind::pressure, k, now);
    ev.level = n->level;
    ev.previous = n->previous;
    ev.repeat = n->repeat;
    ev.reason = why;
    if (k == source_kind::usage_bands && n->level != pressure_level::none &&
        tracker_.held_by_signal(now)) {
      const auto& h = held_[static_cast<std::size_t>(n->level)];
      ev.source = h.first;
      ev.reason = "held by " + std::string(to_string(h.first)) + " (" +
                  h.second + "); " + why;
    }
    if (ev.working_set) {
      ev.bytes_to_free = bytes_to_free(*ev.working_set, edges_);
      if (effective_)
        ev.time_to_limit =
            time_to_reach(*ev.working_set, effective_, sampler_.rate());
    }
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
    ev.oom_kills = counters_.kills();
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      const memory_snapshot& s = fresh ? *fresh : last_;
      if (s.usage) ev.usage = *s.usage;
      if (s.working_set) ev.working_set = *s.working_set;
      if (s.effective_limit) ev.effective_limit = *s.effective_limit;
    }
    char buf[512];
    if (auto text = read_kept(psi_read_, buf, sizeof buf)) {
      if (auto p = parse_psi(*text)) {
        ev.psi_some_avg10 = p->some.avg10;
        ev.psi_scope = psi_scope_;
      }
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

  // What the monitor was asked for, and its level.
  monitor_options opt_;
  level_tracker tracker_;
  std::shared_ptr<subscriber_registry> subscribers_;
  std::vector<memory_event> pending_;
  // What it watches: the reader and the sources opened for it.
  std::optional<memory_reader> reader_;
  std::vector<monitor_source> sources_;
  source_status cgroup_status_;
  std::string cgroup_text_;
  kept_file psi_read_;  // avg10 for events
  pressure_scope psi_scope_ = pressure_scope::host;
  event_counters counters_;
  usage_sampler sampler_;
  // The limit the bands are built on.
  band_edges edges_;
  std::uint64_t effective_ = 0;
  std::optional<std::uint64_t> limit_;
  std::string limit_dir_;
  std::optional<std::uint64_t> high_;  // memory.high on the chain
  // The loop's own descriptors and schedule.
  unique_fd epoll_;
  unique_fd timer_;
  unique_fd wake_;
  bool resolve_pending_ = false;
  bool recheck_pending_ = false;             // the change watch woke
  std::optional<std::uint64_t> last_usage_;  // at the last sample
  bool release_pending_ = false;             // an OOM kill: held signals end
  // The latest signal at each level (moderate, critical): who holds it.
  std::array<std::pair<source_kind, std::string>, 3> held_{};
  clock::time_point next_sample_{};
  clock::time_point next_housekeeping_{};
  // Read by other threads.
  mutable std::mutex state_mu_;  // status_ and last_
  std::vector<source_status> status_;
  memory_snapshot last_;
  std::atomic<int> level_{0};
  // The thread, and one loop at a time: held by dispatch() while it runs
  // and by start() while it launches the thread.
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::mutex loop_mu_;
  std::atomic<std::thread::id> dispatching_{};
  pid_t owner_ = 0;  // the process that created it (0: forgotten)
};

}  // namespace headroom::detail
