// SPDX-License-Identifier: MIT
// headroom: a record of the seconds before a kill. The recorder samples the
// memory cgroup (usage, working set, memory.stat with the counters' deltas,
// PSI, the kill counter) into a bounded ring, keeps the monitor's events
// beside the samples, and when the level reaches critical or the OOM killer
// kills, writes the ring as JSON lines to a directory: what the service was
// doing just before.
//
//   headroom::recorder_options ro;
//   ro.dir = "/var/log/myservice";               // not tmpfs: see below
//   auto rec = headroom::recorder::create(ro);
//   if (!rec) log(rec.error().message());
//   auto sub = rec->attach(*monitor);
//
// A record is one file, <dir>/headroom-<pid>-<unix ms>-<trigger>.jsonl,
// created with O_EXCL|O_NOFOLLOW beside nothing else: a "record" line (the
// trigger, the cgroup, how many lines follow), then the samples and events
// oldest first, each with t_s, its time relative to the trigger (negative:
// before it). Critical writes at most one record per min_write_interval; an
// oom_kill always writes one (the kill counter is in each sample).
//
// The directory must not be on tmpfs (or ramfs) unless allow_tmpfs: pages
// written there are charged to the memory cgroup of the writer, so the
// record of an OOM would itself push towards the limit.
//
// Thread-safety: the recorder samples and writes on a thread of its own
// ("headroom-rec"); attach(), record_now(), records() and last_error() may
// be called from any thread. Lifetime: a subscription from attach() holds
// only a weak reference; destroying the recorder stops its thread (and
// waits for a record being written).
#pragma once

#include <algorithm>           // std::stable_sort
#include <chrono>              // std::chrono
#include <condition_variable>  // std::condition_variable
#include <cstdint>             // std::uint64_t
#include <cstdio>              // std::snprintf
#include <deque>               // std::deque
#include <functional>          // std::function
#include <memory>    // std::make_shared, std::weak_ptr, std::shared_ptr
#include <mutex>     // std::lock_guard, std::mutex, std::unique_lock
#include <optional>  // std::optional, std::nullopt
#include <string>    // std::string, std::to_string
#include <thread>    // std::thread
#include <utility>   // std::move, std::exchange
#include <vector>    // std::vector

#include "detail/fd.hpp"              // HEADROOM_SYSCALL
#include "detail/json_writer.hpp"     // json_writer
#include "detail/pressure_rules.hpp"  // refaults_between
#include "error.hpp"                  // result, error, errno_error
#include "memory.hpp"                 // memory_reader, memory_report
#include "pressure.hpp"               // monitor, memory_event

#if HEADROOM_HAVE_LINUX
#include <fcntl.h>        // openat, O_WRONLY, O_CREAT
#include <linux/magic.h>  // TMPFS_MAGIC, RAMFS_MAGIC
#include <pthread.h>      // pthread_setname_np, pthread_self
#include <sys/statfs.h>   // statfs, fstatfs
#include <unistd.h>       // close, sysconf, unlinkat
#endif

namespace headroom {

// Where a recorder writes, what its ring keeps, and what triggers a
// record. A plain value, copied into the recorder.
struct recorder_options {
  std::string dir;  // where records are written (must exist)
  // How many samples the ring keeps, and how often one is taken: with the
  // defaults, the two minutes before the trigger.
  std::size_t samples = 120;
  // How often a sample is taken.
  std::chrono::milliseconds interval{1000};
  // Events kept beside the samples (the most recent ones).
  std::size_t events = 256;
  // At most one record per interval for critical (oom_kill always writes).
  std::chrono::milliseconds min_write_interval{10000};
  bool allow_tmpfs = false;  // tmpfs and ramfs count against the limit
  options reader;            // whose cgroup is sampled (pid, root)
  // Called on the recorder's thread after each record: its path, or the
  // error that kept it from being written.
  std::function<void(const result<std::string>&)> on_record;
};

namespace detail {

// memory.stat entries that are event counters: a sample carries their
// growth since the previous sample.
inline constexpr stat_key recorder_counters[] = {
    stat_key::workingset_refault_anon,
    stat_key::workingset_refault_file,
    stat_key::workingset_activate_anon,
    stat_key::workingset_activate_file,
    stat_key::pgscan,
    stat_key::pgsteal,
    stat_key::pgfault,
    stat_key::pgmajfault};

inline bool is_recorder_counter(stat_key k) noexcept {
  for (stat_key c : recorder_counters)
    if (c == k) return true;
  return false;
}

// A sample or an event: its JSON object, to which writing adds t_s.
struct recorder_line {
  std::chrono::steady_clock::time_point time;
  std::string json;
};

// `previous` was read at `previous_at`, `r` at `at`; `page`: the page size
// memory.stat's event counters count in.
inline std::string sample_json(
    const memory_report& r, const memory_report* previous,
    std::chrono::steady_clock::time_point previous_at,
    std::chrono::steady_clock::time_point at, std::uint64_t page,
    double unix_s) {
  json_writer w;
  w.begin_object().string("kind", "sample").real("time_unix_s", unix_s, 3);
  const memory_snapshot& s = r.snapshot;
  w.optional_number("usage_bytes", s.usage
                                       ? std::optional<std::uint64_t>(*s.usage)
                                       : std::nullopt);
  w.optional_number("working_set_bytes",
                    s.working_set ? std::optional<std::uint64_t>(*s.working_set)
                                  : std::nullopt);
  w.optional_number("limit_bytes", s.limit_bytes());
  w.optional_number("effective_limit_bytes",
                    s.effective_limit
                        ? std::optional<std::uint64_t>(*s.effective_limit)
                        : std::nullopt);
  w.optional_number("oom_kills",
                    r.oom_kills.value
                        ? std::optional<std::uint64_t>(*r.oom_kills.value)
                        : std::nullopt);
  if (r.pressure.value) {
    const psi_stats& p = *r.pressure.value;
    w.begin_object("psi").string("scope", to_string(r.pressure_from));
    w.real("some_avg10", p.some.avg10).number("some_total_us", p.some.total_us);
    if (p.full) {
      w.real("full_avg10", p.full->avg10)
          .number("full_total_us", p.full->total_us);
    }
    w.end_object();
  } else {
    w.null("psi");
  }
  if (r.stat.value) {
    const memory_accounting& a = *r.stat.value;
    const memory_accounting* b =
        previous && previous->stat.value ? &*previous->stat.value : nullptr;
    w.begin_object("stat");
    for (std::size_t i = 0; i < stat_key_count; ++i) {
      const auto k = static_cast<stat_key>(i);
      if (a[k] && !is_recorder_counter(k)) w.number(to_string(k), *a[k]);
    }
    w.end_object().begin_object("delta");
    for (stat_key k : recorder_counters) {
      if (a[k] && b && (*b)[k] && *a[k] >= *(*b)[k])
        w.number(to_string(k), *a[k] - *(*b)[k]);
    }
    w.end_object();
    // The refault rate against the file cache, as the thrashing source
    // judges it (refaults_between): bytes read back per second, and that in
    // percent of the file cache now.
    const auto rf = stat_key::workingset_refault_file;
    if (a[rf] && b && (*b)[rf]) {
      const auto rate = refaults_between(
          {previous_at, *(*b)[rf], 0},
          {at, *a[rf], a[stat_key::file].value_or(0)}, page, 0, 0);
      if (rate) {
        w.real("refault_file_bytes_per_s", rate->bytes_per_second, 0);
        w.real("refault_file_percent_per_s", rate->percent_per_second, 2);
      }
    }
  } else {
    w.null("stat");
  }
  w.end_object();
  return std::move(w.out());
}

inline std::string event_json(const memory_event& e) {
  json_writer w;
  w.begin_object()
      .string("kind", "event")
      .string("event", to_string(e.kind))
      .string("level", to_string(e.level))
      .string("source", to_string(e.source))
      .string("reason", e.reason)
      .optional_number("working_set_bytes", e.working_set);
  if (e.kind == event_kind::oom_kill) w.number("oom_kills", e.oom_kills);
  w.end_object();
  return std::move(w.out());
}

class recorder_state {
 public:
  using clock = std::chrono::steady_clock;

  recorder_state(recorder_options o, memory_reader r, int dir_fd)
      : opt_(std::move(o)), reader_(std::move(r)), dir_fd_(dir_fd) {}

  ~recorder_state() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
#if HEADROOM_HAVE_LINUX
    if (dir_fd_ >= 0) HEADROOM_SYSCALL(close)(dir_fd_);
#endif
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  void on_event(const memory_event& e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({e.time, event_json(e)});
    while (events_.size() > opt_.events) events_.pop_front();
    const bool critical =
        e.kind == event_kind::pressure && e.level == pressure_level::critical;
    if (e.kind == event_kind::oom_kill) {
      pending_ = "oom_kill";
    } else if (critical && !pending_) {
      pending_ = "critical";
    } else {
      return;
    }
    wake_.notify_all();
  }

  void record_now(std::string trigger) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_ = std::move(trigger);
      forced_ = true;
    }
    wake_.notify_all();
  }

  std::vector<std::string> records() const {
    std::lock_guard<std::mutex> lock(mu_);
    return written_;
  }
  std::optional<error> last_error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  // Waits until `n` records are written (or failed), for at most `d`.
  bool wait_records(std::size_t n, std::chrono::milliseconds d) const {
    std::unique_lock<std::mutex> lock(mu_);
    return done_.wait_for(lock, d, [&] { return attempts_ >= n; });
  }

 private:
  void run() {
#if HEADROOM_HAVE_LINUX
    (void)::pthread_setname_np(::pthread_self(), "headroom-rec");
#endif
    std::unique_lock<std::mutex> lock(mu_);
    auto next = clock::now();
    while (!stop_) {
      if (clock::now() >= next) {
        lock.unlock();
        take_sample();
        lock.lock();
        next += opt_.interval;
        if (next < clock::now()) next = clock::now() + opt_.interval;
      }
      if (pending_) {
        std::string trigger = std::move(*pending_);
        pending_.reset();
        const bool forced = std::exchange(forced_, false);
        const auto now = clock::now();
        const bool due = forced || trigger == "oom_kill" || !last_write_ ||
                         now - *last_write_ >= opt_.min_write_interval;
        if (due) {
          last_write_ = now;
          lock.unlock();
          take_sample();  // the moment of the trigger too
          write_record(trigger, now);
          lock.lock();
          ++attempts_;
          done_.notify_all();
        }
        continue;
      }
      wake_.wait_until(lock, next, [&] { return stop_ || pending_; });
    }
  }

  static std::uint64_t page_size() {
#if HEADROOM_HAVE_LINUX
    const long p = HEADROOM_SYSCALL(sysconf)(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::uint64_t>(p) : 4096;
#else
    return 4096;
#endif
  }

  void take_sample() {
    memory_report r = reader_.report();
    const auto now = clock::now();
    const double unix_s =
        std::chrono::duration<double>(
            std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::string tail = sample_json(r, previous_ ? &*previous_ : nullptr,
                                   previous_at_, now, page_size(), unix_s);
    previous_ = std::move(r);
    previous_at_ = now;
    std::lock_guard<std::mutex> lock(mu_);
    samples_.push_back({now, std::move(tail)});
    while (samples_.size() > opt_.samples) samples_.pop_front();
  }

  void write_record(const std::string& trigger, clock::time_point at) {
    std::vector<const recorder_line*> lines;
    std::deque<recorder_line> samples, events;
    {
      std::lock_guard<std::mutex> lock(mu_);
      samples = samples_;
      events = events_;
    }
    for (const auto& l : samples) lines.push_back(&l);
    for (const auto& l : events) lines.push_back(&l);
    std::stable_sort(lines.begin(), lines.end(),
                     [](const recorder_line* a, const recorder_line* b) {
                       return a->time < b->time;
                     });
    const auto unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count();
#if HEADROOM_HAVE_LINUX
    const std::string name = "headroom-" +
                             std::to_string(HEADROOM_SYSCALL(getpid)()) + "-" +
                             std::to_string(unix_ms) + "-" + trigger + ".jsonl";
#else
    const std::string name = "headroom-" + std::to_string(unix_ms) + ".jsonl";
#endif
    json_writer head;
    head.begin_object()
        .string("kind", "record")
        .string("trigger", trigger)
        .string("cgroup", reader_.location().dir)
        .number("lines", lines.size())
        .number("interval_ms",
                static_cast<std::uint64_t>(opt_.interval.count()))
        .end_object();
    std::string text = std::move(head.out()) + "\n";
    for (const recorder_line* l : lines) {
      char t[48];
      double ts = std::chrono::duration<double>(l->time - at).count();
      if (ts > -0.0005 && ts < 0.0005) ts = 0;  // not "-0.000"
      std::snprintf(t, sizeof t, "{\"t_s\":%.3f,", ts);
      text += t;
      text.append(l->json, 1, std::string::npos);  // after its '{'
      text += "\n";
    }
    auto ok = write_file(name, text);
    result<std::string> outcome = opt_.dir + "/" + name;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ok) {
        written_.push_back(*outcome);
      } else {
        error_ = ok.error();
        outcome = ok.error();
      }
    }
    if (opt_.on_record) opt_.on_record(outcome);
  }

  result<void> write_file(const std::string& name, const std::string& text) {
#if HEADROOM_HAVE_LINUX
    const int fd = HEADROOM_SYSCALL(openat)(
        dir_fd_, name.c_str(),
        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return errno_error(errno, opt_.dir + "/" + name);
    std::size_t off = 0;
    while (off < text.size()) {
      const ssize_t n =
          HEADROOM_SYSCALL(write)(fd, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A full disk (ENOSPC) or a quota: no half record is left behind
        // for a reader to take as the whole one.
        const int err = n < 0 ? errno : EIO;
        HEADROOM_SYSCALL(close)(fd);
        HEADROOM_SYSCALL(unlinkat)(dir_fd_, name.c_str(), 0);
        return errno_error(err, opt_.dir + "/" + name);
      }
      off += static_cast<std::size_t>(n);
    }
    if (HEADROOM_SYSCALL(close)(fd) != 0)
      return errno_error(errno, opt_.dir + "/" + name);
    return {};
#else
    (void)name;
    (void)text;
    (void)dir_fd_;
    return result<void>(errc::not_supported, opt_.dir);
#endif
  }

  const recorder_options opt_;
  memory_reader reader_;
  int dir_fd_ = -1;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  mutable std::condition_variable done_;
  std::deque<recorder_line> samples_;      // guarded by mu_
  std::deque<recorder_line> events_;       // guarded by mu_
  std::optional<memory_report> previous_;  // the recorder thread's own
  clock::time_point previous_at_{};
  std::optional<std::string> pending_;
  bool forced_ = false;
  bool stop_ = false;
  std::optional<clock::time_point> last_write_;
  std::vector<std::string> written_;
  std::optional<error> error_;
  std::size_t attempts_ = 0;
  std::thread thread_;
};

}  // namespace detail

class recorder {
 public:
  // Opens the reader and the directory, and starts sampling. Errors: the
  // reader's; the directory's (ENOTDIR, ENOENT, EACCES); a directory on
  // tmpfs or ramfs without allow_tmpfs (errc::not_supported, with why);
  // std::errc::invalid_argument for no directory, 0 samples or a zero
  // interval. Off Linux: errc::not_supported.
  static result<recorder> create(recorder_options o) {
#if HEADROOM_HAVE_LINUX
    if (o.dir.empty() || o.samples == 0 || o.interval.count() <= 0)
      return make_error(std::make_error_code(std::errc::invalid_argument),
                        "recorder: a directory, samples and an interval");
    const int fd = HEADROOM_SYSCALL(open)(o.dir.c_str(),
                                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_error(errno, o.dir);
    struct statfs fs {};
    if (HEADROOM_SYSCALL(fstatfs)(fd, &fs) != 0) {
      const int err = errno;
      HEADROOM_SYSCALL(close)(fd);
      return errno_error(err, o.dir);
    }
    const bool in_memory = fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
    if (in_memory && !o.allow_tmpfs) {
      HEADROOM_SYSCALL(close)(fd);
      return result<recorder>(
          errc::not_supported,
          o.dir +
              " (tmpfs or ramfs: a record there is charged to the "
              "memory cgroup; set allow_tmpfs to write there anyway)");
    }
    auto reader = memory_reader::open(o.reader);
    if (!reader) {
      HEADROOM_SYSCALL(close)(fd);
      return reader.error();
    }
    auto s = std::make_shared<detail::recorder_state>(std::move(o),
                                                      std::move(*reader), fd);
    s->start();
    return recorder(std::move(s));
#else
    return result<recorder>(errc::not_supported, o.dir);
#endif
  }

  // Keeps the monitor's events and writes a record on critical and on
  // oom_kill. The subscription holds a weak reference: it may outlive the
  // recorder (then it does nothing).
  [[nodiscard]] subscription attach(monitor& m) {
    std::weak_ptr<detail::recorder_state> weak = state_;
    return m.subscribe([weak](const memory_event& e) {
      if (auto s = weak.lock()) s->on_event(e);
    });
  }
  // Or pass events in yourself.
  void on_event(const memory_event& e) {
    if (state_) state_->on_event(e);
  }

  // Writes a record now, whatever the rate limit (`trigger` names it; it
  // goes into the file name, so letters, digits and '_' only are kept).
  void record_now(std::string trigger = "request") {
    if (!state_) return;
    std::string t;
    for (char c : trigger) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')
        t += c;
    }
    state_->record_now(t.empty() ? "request" : t);
  }

  // The records written so far (paths), and the last write's error.
  std::vector<std::string> records() const {
    return state_ ? state_->records() : std::vector<std::string>();
  }
  // The error of the last write that failed (a later success does not
  // clear it); nullopt when none failed.
  std::optional<error> last_error() const {
    return state_ ? state_->last_error() : std::nullopt;
  }
  // Waits until `n` records were attempted (written or failed), at most `d`.
  bool wait_records(std::size_t n, std::chrono::milliseconds d) const {
    return state_ && state_->wait_records(n, d);
  }

 private:
  explicit recorder(std::shared_ptr<detail::recorder_state> s)
      : state_(std::move(s)) {}
  std::shared_ptr<detail::recorder_state> state_;
};

}  // namespace headroom
