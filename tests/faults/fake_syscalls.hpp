// SPDX-License-Identifier: MIT
// Fakes for the system calls headroom makes, to inject faults. Including
// this header routes every HEADROOM_SYSCALL(name) of the library to
// fake_sys::name, which forwards to the real call unless an armed fault
// matches it: "the next pread of a file whose path ends in memory.max fails
// with EACCES", "every pread returns at most 7 bytes", "epoll_wait reports
// EPOLLERR for the PSI trigger". Files are matched by path for open and
// stat, and by the path their descriptor was opened from for read, pread,
// write and epoll_wait: the fakes remember which descriptor came from where.
//
// Include it before any headroom header, in every translation unit of the
// program that includes one (the library's inline functions must be the
// same everywhere).
#pragma once

#ifdef HEADROOM_SYSCALL
#error "fake_syscalls.hpp must come before any headroom header"
#endif

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace fake_sys {

enum class call {
  open,
  read,
  pread,
  write,
  close,
  eventfd,
  timerfd_create,
  epoll_create1,
  epoll_ctl,
  epoll_wait,
  socket,
  connect,
  stat,
  lstat,
  fstatat,  // the path given (a name relative to a directory descriptor)
  fstatfs,
  fstat,
  openat2,  // the library's syscall(SYS_openat2, ...)
  uname,
  inotify_init1,
  inotify_add_watch,
  count_  // number of kinds
};

// What to do to the matching calls.
struct fault {
  call what = call::open;
  // open, stat, lstat: the path ends with this. read, pread, write,
  // epoll_wait: the descriptor was opened from such a path. Empty: any.
  std::string path_suffix;
  // Only descriptors opened for writing (O_WRONLY, O_RDWR), or for open:
  // only opens for writing.
  bool writable_only = false;
  // When not empty: only these descriptors (e.g. the ones open when the
  // fault was armed; see fds_from()).
  std::set<int> only_fds;
  int error = 0;              // fail with this errno
  std::size_t max_bytes = 0;  // read, pread: return at most this many bytes
  std::uint32_t epoll_events =
      0;           // epoll_wait: report these for the matched fds
  int skip = 0;    // let this many matching calls through first
  int times = -1;  // then apply to this many (-1: all)
};

struct fd_info {
  std::string
      path;  // a path, or what it is: "eventfd", "timerfd", "epoll", "socket"
  int flags = 0;
  bool writable() const { return (flags & O_ACCMODE) != O_RDONLY; }
};

// Serves the content of a file from memory instead of reading it: the
// function returns the whole content (it must be thread-safe).
using content_source = std::function<std::string()>;

namespace detail {

struct armed_fault {
  int id;
  fault f;
  int hits;
};

struct state {
  std::shared_mutex mu;
  std::map<int, fd_info> fds;
  // epoll fd -> (fd -> the event it was added with)
  std::map<int, std::map<int, epoll_event>> epoll_sets;
  std::vector<armed_fault> faults;
  std::atomic<int> armed{0};
  int next_id = 1;
  std::vector<std::pair<std::string, content_source>> served;
  std::atomic<int> serving{0};
  bool recording = false;
  std::vector<std::string> writes;  // "open-for-write <path>" / "write <path>"
  // Descriptors closed while still in an epoll set, and epoll sets closed
  // with entries left (a forked child holding copies would keep them).
  std::vector<std::string> closed_watched;
  std::atomic<long> calls[static_cast<int>(call::count_)] = {};
};

inline state& st() {
  static state s;
  return s;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline void count(call c) {
  st().calls[static_cast<int>(c)].fetch_add(1, std::memory_order_relaxed);
}

// The fault that applies to this call, if any (a copy: it may be disarmed
// meanwhile). Counts the skip and the times down.
inline std::optional<fault> take(call c, const std::string& path, bool writable,
                                 int fd) {
  state& s = st();
  if (s.armed.load(std::memory_order_acquire) == 0) return std::nullopt;
  std::unique_lock<std::shared_mutex> lock(s.mu);
  for (auto& a : s.faults) {
    fault& f = a.f;
    if (f.what != c || f.times == 0) continue;
    if (!f.path_suffix.empty() && !ends_with(path, f.path_suffix)) continue;
    if (f.writable_only && !writable) continue;
    if (!f.only_fds.empty() && f.only_fds.count(fd) == 0) continue;
    if (f.skip > 0) {
      --f.skip;
      return std::nullopt;
    }
    if (f.times > 0) --f.times;
    ++a.hits;
    return f;
  }
  return std::nullopt;
}

inline fd_info info_of(int fd) {
  state& s = st();
  std::shared_lock<std::shared_mutex> lock(s.mu);
  const auto it = s.fds.find(fd);
  return it == s.fds.end() ? fd_info{} : it->second;
}

inline void note_fd(int fd, std::string what, int flags) {
  state& s = st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  s.fds[fd] = fd_info{std::move(what), flags};
  if (s.recording && (flags & O_ACCMODE) != O_RDONLY &&
      s.fds[fd].path.find('/') != std::string::npos) {
    s.writes.push_back("open-for-write " + s.fds[fd].path);
  }
}

inline void note_write(int fd) {
  state& s = st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  if (!s.recording) return;
  const auto it = s.fds.find(fd);
  s.writes.push_back("write " + (it == s.fds.end()
                                     ? "fd " + std::to_string(fd) +
                                           " (not opened by the library)"
                                     : it->second.path));
}

inline std::optional<std::string> served_content(const std::string& path) {
  state& s = st();
  if (s.serving.load(std::memory_order_acquire) == 0) return std::nullopt;
  content_source source;
  {
    std::shared_lock<std::shared_mutex> lock(s.mu);
    for (const auto& kv : s.served) {
      if (ends_with(path, kv.first)) source = kv.second;
    }
  }
  if (!source) return std::nullopt;
  return source();
}

// Restores errno after the bookkeeping around a real call.
struct keep_errno {
  int saved = errno;
  ~keep_errno() { errno = saved; }
};

}  // namespace detail

// ------------------------------------------------------------ the controls

// Arms a fault; returns its id.
inline int arm(fault f) {
  auto& s = detail::st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  const int id = s.next_id++;
  s.faults.push_back({id, std::move(f), 0});
  s.armed.fetch_add(1, std::memory_order_release);
  return id;
}

// How many calls the fault applied to.
inline int hits(int id) {
  auto& s = detail::st();
  std::shared_lock<std::shared_mutex> lock(s.mu);
  for (const auto& a : s.faults) {
    if (a.id == id) return a.hits;
  }
  return 0;
}

inline void disarm(int id) {
  auto& s = detail::st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  const auto it =
      std::find_if(s.faults.begin(), s.faults.end(),
                   [&](const detail::armed_fault& a) { return a.id == id; });
  if (it == s.faults.end()) return;
  s.faults.erase(it);
  s.armed.fetch_sub(1, std::memory_order_release);
}

// A fault armed for the life of this object.
class armed {
 public:
  explicit armed(fault f) : id_(arm(std::move(f))) {}
  ~armed() { disarm(id_); }
  armed(const armed&) = delete;
  armed& operator=(const armed&) = delete;
  int hits() const { return fake_sys::hits(id_); }

 private:
  int id_;
};

// pread of a descriptor opened from a path ending in `suffix` returns what
// `source` gives, as a kernel file would: the whole content at once.
inline void serve(std::string suffix, content_source source) {
  auto& s = detail::st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  s.served.emplace_back(std::move(suffix), std::move(source));
  s.serving.fetch_add(1, std::memory_order_release);
}

inline void stop_serving() {
  auto& s = detail::st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  s.serving.fetch_sub(static_cast<int>(s.served.size()),
                      std::memory_order_release);
  s.served.clear();
}

// The descriptors open now that were opened from a path ending in `suffix`.
inline std::set<int> fds_from(const std::string& suffix) {
  auto& s = detail::st();
  std::shared_lock<std::shared_mutex> lock(s.mu);
  std::set<int> out;
  for (const auto& kv : s.fds) {
    if (detail::ends_with(kv.second.path, suffix)) out.insert(kv.first);
  }
  return out;
}

inline fd_info info(int fd) { return detail::info_of(fd); }

inline long calls(call c) {
  return detail::st().calls[static_cast<int>(c)].load();
}

// Records every open for writing (by path) and every write (by the path or
// kind of its descriptor) until stop_recording().
inline void start_recording() {
  auto& s = detail::st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  s.recording = true;
  s.writes.clear();
}

inline std::vector<std::string> stop_recording() {
  auto& s = detail::st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  s.recording = false;
  return std::move(s.writes);
}

// What was closed while still in an epoll set since the last call, one
// line each ("<path> in an epoll set", "epoll with N entries").
inline std::vector<std::string> take_closed_while_watched() {
  auto& s = detail::st();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  return std::move(s.closed_watched);
}

// ------------------------------------------------------------- the fakes

inline int open(const char* path, int flags, mode_t mode = 0) {
  detail::count(call::open);
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  if (auto f = detail::take(call::open, path, writable, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  const int fd = ::open(path, flags, mode);
  detail::keep_errno k;
  if (fd >= 0) detail::note_fd(fd, path, flags);
  return fd;
}

inline ssize_t read(int fd, void* buf, std::size_t n) {
  detail::count(call::read);
  const fd_info i = detail::info_of(fd);
  if (auto f = detail::take(call::read, i.path, i.writable(), fd)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
    if (f->max_bytes) n = std::min(n, f->max_bytes);
  }
  return ::read(fd, buf, n);
}

inline ssize_t pread(int fd, void* buf, std::size_t n, off_t offset) {
  detail::count(call::pread);
  const fd_info i = detail::info_of(fd);
  if (auto f = detail::take(call::pread, i.path, i.writable(), fd)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
    if (f->max_bytes) n = std::min(n, f->max_bytes);
  }
  if (auto content = detail::served_content(i.path)) {
    const auto at = static_cast<std::size_t>(offset);
    if (at >= content->size()) return 0;
    const std::size_t k = std::min(n, content->size() - at);
    std::memcpy(buf, content->data() + at, k);
    return static_cast<ssize_t>(k);
  }
  return ::pread(fd, buf, n, offset);
}

inline ssize_t write(int fd, const void* buf, std::size_t n) {
  detail::count(call::write);
  detail::note_write(fd);
  const fd_info i = detail::info_of(fd);
  if (auto f = detail::take(call::write, i.path, i.writable(), fd)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  return ::write(fd, buf, n);
}

inline int close(int fd) {
  detail::count(call::close);
  {
    // Forgotten before the real close: once closed, the number may be
    // handed out again by another thread.
    auto& s = detail::st();
    std::unique_lock<std::shared_mutex> lock(s.mu);
    const auto set = s.epoll_sets.find(fd);
    if (set != s.epoll_sets.end() && !set->second.empty()) {
      s.closed_watched.push_back(
          "epoll with " + std::to_string(set->second.size()) + " entries");
    }
    for (const auto& other : s.epoll_sets) {
      if (other.first != fd && other.second.count(fd)) {
        const auto i = s.fds.find(fd);
        s.closed_watched.push_back(
            (i == s.fds.end() ? std::to_string(fd) : i->second.path) +
            " in an epoll set");
      }
    }
    s.fds.erase(fd);
    s.epoll_sets.erase(fd);
    for (auto& set : s.epoll_sets) set.second.erase(fd);
  }
  return ::close(fd);
}

// A descriptor that is not a file: fails as armed, or is noted by its kind.
template <class Make>
int make_fd(call c, const char* kind, int flags, Make&& make) {
  detail::count(c);
  if (auto f = detail::take(c, kind, (flags & O_ACCMODE) != O_RDONLY, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  const int fd = make();
  detail::keep_errno k;
  if (fd >= 0) detail::note_fd(fd, kind, flags);
  return fd;
}

inline int eventfd(unsigned int initval, int flags) {
  return make_fd(call::eventfd, "eventfd", O_RDWR,
                 [&] { return ::eventfd(initval, flags); });
}

inline int timerfd_create(int clockid, int flags) {
  return make_fd(call::timerfd_create, "timerfd", O_RDONLY,
                 [&] { return ::timerfd_create(clockid, flags); });
}

inline int timerfd_settime(int fd, int flags, const itimerspec* value,
                           itimerspec* old) {
  return ::timerfd_settime(fd, flags, value, old);
}

inline int epoll_create1(int flags) {
  return make_fd(call::epoll_create1, "epoll", O_RDONLY,
                 [&] { return ::epoll_create1(flags); });
}

inline int socket(int domain, int type, int protocol) {
  return make_fd(call::socket, "socket", O_RDWR,
                 [&] { return ::socket(domain, type, protocol); });
}

inline int connect(int fd, const sockaddr* addr, socklen_t len) {
  detail::count(call::connect);
  const int rc = ::connect(fd, addr, len);
  detail::keep_errno k;
  if (addr->sa_family == AF_UNIX) {
    // The socket is known by the path it connects to from now on.
    const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
    auto& s = detail::st();
    std::unique_lock<std::shared_mutex> lock(s.mu);
    s.fds[fd].path = un->sun_path;
  }
  return rc;
}

inline int inotify_init1(int flags) {
  detail::count(call::inotify_init1);
  return ::inotify_init1(flags);
}

inline int inotify_add_watch(int fd, const char* path, std::uint32_t mask) {
  detail::count(call::inotify_add_watch);
  return ::inotify_add_watch(fd, path, mask);
}

inline int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
  detail::count(call::epoll_ctl);
  const int rc = ::epoll_ctl(epfd, op, fd, ev);
  detail::keep_errno k;
  if (rc == 0) {
    auto& s = detail::st();
    std::unique_lock<std::shared_mutex> lock(s.mu);
    if (op == EPOLL_CTL_DEL) {
      s.epoll_sets[epfd].erase(fd);
    } else {
      s.epoll_sets[epfd][fd] = *ev;
    }
  }
  return rc;
}

namespace detail {
// The descriptors of set `epfd` that an armed epoll_wait fault matches,
// each with the fault's events; an errno to fail with in `error`.
inline std::vector<epoll_event> injected(int epfd, int& error) {
  std::vector<epoll_event> inject;
  if (st().armed.load(std::memory_order_acquire) == 0) return inject;
  std::vector<std::pair<int, epoll_event>> members;
  {
    auto& s = st();
    std::shared_lock<std::shared_mutex> lock(s.mu);
    const auto it = s.epoll_sets.find(epfd);
    if (it != s.epoll_sets.end())
      members.assign(it->second.begin(), it->second.end());
  }
  for (const auto& m : members) {
    const fd_info i = info_of(m.first);
    if (auto f = take(call::epoll_wait, i.path, i.writable(), m.first)) {
      if (f->error) {
        error = f->error;
        return {};
      }
      epoll_event e = m.second;
      e.events = f->epoll_events;
      inject.push_back(e);
    }
  }
  return inject;
}

// How long a blocking epoll_wait sleeps at a time before it looks for
// faults armed meanwhile.
inline constexpr int epoll_wait_slice_ms = 10;
}  // namespace detail

// With an armed epoll_wait fault, the descriptors in the set that match it
// are reported ready with the fault's events, added to whatever the real
// call (which then does not block) reports. A fault armed while a caller
// already waits is seen as the kernel shows an event that comes during the
// wait: the wait ends within a slice, not at its timeout. (An idle monitor
// waits for minutes; a test arms the fault after start(), when the thread
// may or may not have entered its wait yet.) The call counts once,
// whatever the slices: a loop that waits is told from one that spins.
inline int epoll_wait(int epfd, epoll_event* evs, int max, int timeout) {
  detail::count(call::epoll_wait);
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(timeout < 0 ? 0 : timeout);
  for (;;) {
    int error = 0;
    const std::vector<epoll_event> inject = detail::injected(epfd, error);
    if (error) {
      errno = error;
      return -1;
    }
    if (!inject.empty()) {
      int n = ::epoll_wait(epfd, evs, max, 0);
      if (n < 0) return n;
      for (const auto& e : inject) {
        bool merged = false;
        for (int k = 0; k < n; ++k) {
          if (evs[k].data.u64 == e.data.u64) {
            evs[k].events |= e.events;
            merged = true;
          }
        }
        if (!merged && n < max) evs[n++] = e;
      }
      return n;
    }
    int slice = detail::epoll_wait_slice_ms;
    if (timeout >= 0) {
      // Rounded up, as the kernel rounds a timeout: never shorter.
      const auto left_us =
          std::chrono::duration_cast<std::chrono::microseconds>(
              until - std::chrono::steady_clock::now())
              .count();
      const long long left = left_us > 0 ? (left_us + 999) / 1000 : 0;
      if (left < slice) slice = static_cast<int>(left);
    }
    const int n = ::epoll_wait(epfd, evs, max, slice);
    if (n != 0 || (timeout >= 0 && slice < detail::epoll_wait_slice_ms))
      return n;
  }
}

// openat and openat2 count as opens: a fault armed for open matches them
// by the directory's path joined with the name, so a tree read through a
// root directory descriptor is faulted like one read by path.
namespace detail {
inline std::string joined(int dirfd, const char* path) {
  if (path[0] == '/') return path;
  std::string p = info_of(dirfd).path;
  if (std::string(path) == ".") return p;
  return p + "/" + path;
}
}  // namespace detail

inline int openat(int dirfd, const char* path, int flags, mode_t mode = 0) {
  detail::count(call::open);
  const std::string full = detail::joined(dirfd, path);
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  if (auto f = detail::take(call::open, full, writable, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  const int fd = ::openat(dirfd, path, flags, mode);
  detail::keep_errno k;
  if (fd >= 0) detail::note_fd(fd, full, flags);
  return fd;
}

inline ssize_t readlinkat(int dirfd, const char* path, char* buf,
                          std::size_t n) {
  return ::readlinkat(dirfd, path, buf, n);
}

inline int fstat(int fd, struct stat* out) {
  detail::count(call::fstat);
  const fd_info i = detail::info_of(fd);
  if (auto f = detail::take(call::fstat, i.path, i.writable(), fd)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  return ::fstat(fd, out);
}

// The library calls syscall() only for openat2 (dirfd, path, how, size).
// A fault armed for openat2 (ENOSYS: a kernel without it) fails it; one
// armed for open fails it as it would an open of the joined path.
inline long syscall(long number, ...) {
  if (number != SYS_openat2) {
    errno = ENOSYS;
    return -1;
  }
  va_list ap;
  va_start(ap, number);
  const int dirfd = va_arg(ap, int);
  const char* path = va_arg(ap, const char*);
  void* how = va_arg(ap, void*);
  const std::size_t size = va_arg(ap, std::size_t);
  va_end(ap);
  detail::count(call::openat2);
  const std::string full = detail::joined(dirfd, path);
  std::uint64_t flags = 0;
  std::memcpy(&flags, how, sizeof flags);
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  if (auto f = detail::take(call::openat2, full, writable, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  detail::count(call::open);
  if (auto f = detail::take(call::open, full, writable, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  const long fd = ::syscall(SYS_openat2, dirfd, path, how, size);
  detail::keep_errno k;
  if (fd >= 0)
    detail::note_fd(static_cast<int>(fd), full, static_cast<int>(flags));
  return fd;
}

inline int stat(const char* path, struct stat* out) {
  detail::count(call::stat);
  if (auto f = detail::take(call::stat, path, false, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  return ::stat(path, out);
}

inline int lstat(const char* path, struct stat* out) {
  detail::count(call::lstat);
  if (auto f = detail::take(call::lstat, path, false, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  return ::lstat(path, out);
}

inline int fstatat(int dirfd, const char* path, struct stat* out, int flags) {
  detail::count(call::fstatat);
  if (auto f = detail::take(call::fstatat, path, false, -1)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  return ::fstatat(dirfd, path, out, flags);
}

// The kernel's release, or as faked: a fault armed for uname fails it with
// its error, or (error 0) reports the release in its path_suffix
// ("5.15.0": a kernel where memory.use_hierarchy can still be 0).
inline int uname(struct utsname* out) {
  detail::count(call::uname);
  const int rc = ::uname(out);
  if (rc != 0) return rc;
  detail::keep_errno k;
  auto& s = detail::st();
  if (s.armed.load(std::memory_order_acquire) == 0) return rc;
  std::unique_lock<std::shared_mutex> lock(s.mu);
  for (auto& a : s.faults) {
    fault& f = a.f;
    if (f.what != call::uname || f.times == 0) continue;
    if (f.skip > 0) {
      --f.skip;
      return rc;
    }
    if (f.times > 0) --f.times;
    ++a.hits;
    if (f.error) {
      k.saved = f.error;
      return -1;
    }
    std::snprintf(out->release, sizeof out->release, "%s",
                  f.path_suffix.c_str());
    return rc;
  }
  return rc;
}

// Forwarded unchanged, so that every call the library makes goes through
// the seam (no faults are injected into these yet).
inline int sched_getaffinity(pid_t pid, std::size_t size, cpu_set_t* set) {
  return ::sched_getaffinity(pid, size, set);
}
template <class Resource>
inline int getrlimit(Resource resource, struct rlimit* out) {
  return ::getrlimit(resource, out);
}
inline long sysconf(int name) { return ::sysconf(name); }
inline pid_t getpid() { return ::getpid(); }
inline void* dlsym(void* handle, const char* name) {
  return ::dlsym(handle, name);
}
inline int dladdr(const void* address, Dl_info* info) {
  return ::dladdr(address, info);
}

// Directory streams (file_system::subdirectories): passed through, so that
// every call the library makes is written through the seam.
inline DIR* fdopendir(int fd) { return ::fdopendir(fd); }
inline dirent* readdir(DIR* d) { return ::readdir(d); }
inline int closedir(DIR* d) { return ::closedir(d); }

// The recorder removes a record it could not write whole.
inline int unlinkat(int dirfd, const char* path, int flags) {
  return ::unlinkat(dirfd, path, flags);
}

// Which file system a descriptor is on (the systemd watch's PSI check).
inline int fstatfs(int fd, struct statfs* out) {
  detail::count(call::fstatfs);
  const fd_info i = detail::info_of(fd);
  if (auto f = detail::take(call::fstatfs, i.path, i.writable(), fd)) {
    if (f->error) {
      errno = f->error;
      return -1;
    }
  }
  return ::fstatfs(fd, out);
}

}  // namespace fake_sys

#define HEADROOM_SYSCALL(name) ::fake_sys::name
