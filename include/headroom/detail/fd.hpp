// SPDX-License-Identifier: MIT
// headroom: file descriptors and the reads every other part builds on.
//
// Hot files are opened once (O_RDONLY | O_CLOEXEC) and re-read with pread at
// offset 0 into a fixed buffer the caller owns; a read that fills the buffer
// means the file is not what we expect, not a reason to grow. Cold files
// (mountinfo, /proc/<pid>/cgroup) are read whole into a string.
#pragma once

#include <cerrno>       // errno, EINTR, ENOTDIR
#include <cstddef>      // std::size_t
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::exchange, std::move

#include "../capture_record.hpp"  // capture_record
#include "../error.hpp"           // result, errno_error, errc

// HEADROOM_HAVE_LINUX: 1 where the kernel interfaces exist. Elsewhere every
// read fails with errc::not_supported and the reader reports mode none.
#ifndef HEADROOM_HAVE_LINUX
#if defined(__linux__)
#define HEADROOM_HAVE_LINUX 1
#else
#define HEADROOM_HAVE_LINUX 0
#endif
#endif
#if HEADROOM_HAVE_LINUX
#include <fcntl.h>        // open, O_RDONLY, O_CLOEXEC
#include <sys/stat.h>     // stat, fstat, S_ISREG
#include <sys/syscall.h>  // SYS_openat2
#include <unistd.h>       // close, pread, read

#include <cstdint>  // std::uint64_t
#include <vector>   // std::vector
#endif

// Every system call headroom makes is written HEADROOM_SYSCALL(name)(...),
// which is ::name by default. A test program may define it, before any
// headroom header and the same way in all of its translation units, to
// route the calls through fakes that inject faults (EACCES, EINTR, short
// reads, EMFILE, ENODEV, POLLERR...). See tests/faults.
#ifndef HEADROOM_SYSCALL
#define HEADROOM_SYSCALL(name) ::name
#endif

namespace headroom::detail {

// Owns a file descriptor; closes it once.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
#if HEADROOM_HAVE_LINUX
    if (fd_ >= 0) HEADROOM_SYSCALL(close)(fd_);
#endif
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Opens `path` read-only and close-on-exec. The file itself must not be a
// symlink (O_NOFOLLOW: ELOOP): kernel files never are, and a captured tree
// must not send a read elsewhere.
inline result<unique_fd> open_read(const std::string& path) {
#if HEADROOM_HAVE_LINUX
  int fd;
  do {
    fd = HEADROOM_SYSCALL(open)(path.c_str(),
                                O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_error(errno, path);
  return unique_fd(fd);
#else
  return result<unique_fd>(errc::not_supported, path);
#endif
}

// Reads the whole content of an open file from offset 0 into buf[0, cap).
// Returns the bytes read. Filling the buffer is an error (malformed): the
// caller sized it for the largest legal content.
//
// Every kernel file headroom reads ends with a newline, and the kernel
// hands out such small files whole: a read that ends with '\n' and leaves
// room in the buffer is taken as complete, which saves the second pread
// that would only return 0. A short read cut anywhere else is continued;
// one cut at a line end can only lose whole lines, never change a number.
inline result<std::string_view> pread_all(int fd, char* buf, std::size_t cap,
                                          const std::string& path_for_errors) {
#if HEADROOM_HAVE_LINUX
  std::size_t got = 0;
  while (got < cap) {
    const ssize_t n = HEADROOM_SYSCALL(pread)(fd, buf + got, cap - got,
                                              static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, path_for_errors);
    }
    if (n == 0) return std::string_view(buf, got);
    got += static_cast<std::size_t>(n);
    if (got < cap && buf[got - 1] == '\n') return std::string_view(buf, got);
  }
  return result<std::string_view>(errc::malformed, path_for_errors);
#else
  (void)fd;
  (void)buf;
  (void)cap;
  return result<std::string_view>(errc::not_supported, path_for_errors);
#endif
}

// The most a file read whole may hold: 16 MiB. The largest such file is
// mountinfo, whose lines are about 100 bytes on a plain system and reach
// 1-2 KiB with overlay options; 16 MiB holds 10,000 mounts at 1.6 KiB
// each. A larger file is malformed, not a reason to read on (a captured
// tree can hold anything).
inline constexpr std::size_t max_file_bytes = std::size_t{16} << 20;

// Reads an open file whole, at most max_file_bytes (more is malformed).
inline result<std::string> read_open(int fd, const std::string& path) {
#if HEADROOM_HAVE_LINUX
  std::string out;
  char chunk[4096];
  for (;;) {
    const ssize_t n = HEADROOM_SYSCALL(read)(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_file_bytes)
      return result<std::string>(errc::malformed, path);
    out.append(chunk, static_cast<std::size_t>(n));
  }
  return out;
#else
  (void)fd;
  return result<std::string>(errc::not_supported, path);
#endif
}

#if HEADROOM_HAVE_LINUX
// Only regular files and directories are read: a FIFO would block, a
// device could be endless (/dev/zero) or have effects, a socket has no
// content. One fstat on an open descriptor; the open itself is
// O_NONBLOCK, so a FIFO never blocks it.
inline result<unique_fd> checked_kind(unique_fd fd, const std::string& path) {
  struct stat st {};
  if (HEADROOM_SYSCALL(fstat)(fd.get(), &st) != 0)
    return errno_error(errno, path);
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return result<unique_fd>(errc::not_regular_file, path);
  return fd;
}
#endif

// Opens a file the kernel itself serves (procfs, or a cgroup mount of the
// live system, whose directories hold only the kernel's files), as
// open_file does but without its fstat (O_NOFOLLOW, O_NONBLOCK, retried on
// EINTR): such a file is never a FIFO, a socket or a device. Should one be
// bound over it, O_NONBLOCK keeps the open from blocking and the bounded reads
// that follow fail or find it malformed (pread of a FIFO: ESPIPE; a device
// filling the buffer: malformed). Never for a path under a root prefix.
inline result<unique_fd> open_kernel_file(const std::string& path) {
#if HEADROOM_HAVE_LINUX
  int fd;
  do {
    fd = HEADROOM_SYSCALL(open)(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY |
                                                  O_NOFOLLOW | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_error(errno, path);
  return unique_fd(fd);
#else
  return result<unique_fd>(errc::not_supported, path);
#endif
}

// Opens `path` to be read: open_kernel_file, then refused unless it is a
// regular file or a directory (errc::not_regular_file), without blocking.
inline result<unique_fd> open_file(const std::string& path) {
  auto fd = open_kernel_file(path);
#if HEADROOM_HAVE_LINUX
  if (fd) return checked_kind(std::move(*fd), path);
#endif
  return fd;
}

#if HEADROOM_HAVE_LINUX
#ifndef SYS_openat2
#define HEADROOM_SYS_OPENAT2 437  // the same number on every architecture
#else
#define HEADROOM_SYS_OPENAT2 SYS_openat2
#endif

// struct open_how of <linux/openat2.h>, which older headers lack.
struct open_how_v0 {
  std::uint64_t flags;
  std::uint64_t mode;
  std::uint64_t resolve;
};
inline constexpr std::uint64_t resolve_no_magiclinks = 0x02;
inline constexpr std::uint64_t resolve_in_root = 0x10;

// The fallback where openat2 is missing (ENOSYS: before Linux 5.6, or a
// seccomp filter that does not know it): resolves `rel` below `root_fd`
// component by component, each opened with O_NOFOLLOW relative to the
// directory before it. A symlink on the way is read and resolved within
// the root, as RESOLVE_IN_ROOT does: an absolute target starts again at
// the root, ".." never goes above it. The last component must not be a
// symlink (ELOOP, as O_NOFOLLOW).
inline int open_walking(int root_fd, std::string_view rel, int flags) {
  std::vector<std::string> todo;  // components still to resolve, reversed
  const auto push_path = [&todo](std::string_view p) {
    std::vector<std::string> parts;
    std::size_t at = 0;
    while (at <= p.size()) {
      std::size_t end = p.find('/', at);
      if (end == std::string_view::npos) end = p.size();
      if (end > at) parts.emplace_back(p.substr(at, end - at));
      at = end + 1;
    }
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  };
  push_path(rel);
  std::vector<unique_fd> dirs;  // below the root; the root is root_fd
  const auto top = [&]() { return dirs.empty() ? root_fd : dirs.back().get(); };
  int links = 0;
  while (!todo.empty()) {
    const std::string name = std::move(todo.back());
    todo.pop_back();
    if (name == ".") continue;
    if (name == "..") {
      if (!dirs.empty()) dirs.pop_back();
      continue;
    }
    if (todo.empty()) {
      return HEADROOM_SYSCALL(openat)(top(), name.c_str(), flags | O_NOFOLLOW,
                                      0);
    }
    unique_fd next(HEADROOM_SYSCALL(openat)(
        top(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0));
    if (!next) return -1;
    struct stat st {};
    if (HEADROOM_SYSCALL(fstat)(next.get(), &st) != 0) return -1;
    if (S_ISDIR(st.st_mode)) {
      dirs.push_back(std::move(next));
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      errno = ENOTDIR;
      return -1;
    }
    if (++links > 40) {  // the kernel's own limit
      errno = ELOOP;
      return -1;
    }
    char target[4096];
    const ssize_t n = HEADROOM_SYSCALL(readlinkat)(top(), name.c_str(), target,
                                                   sizeof target);
    if (n < 0) return -1;
    if (static_cast<std::size_t>(n) >= sizeof target) {
      errno = ENAMETOOLONG;
      return -1;
    }
    const std::string_view t(target, static_cast<std::size_t>(n));
    if (!t.empty() && t.front() == '/') dirs.clear();
    push_path(t);
  }
  // `rel` named the root itself, or a directory reached through "..".
  return HEADROOM_SYSCALL(openat)(top(), ".", flags, 0);
}
#endif

// Opens `rel` (a path inside `root`, '/' or not) as open_file does, never
// leaving `root`: a symlink on the way, absolute or with "..", resolves
// within the root as if it were "/" (openat2 RESOLVE_IN_ROOT, or the same
// walk by hand where the kernel lacks openat2). Errors name root + rel.
inline result<unique_fd> open_file_in(const std::string& root,
                                      std::string_view rel, int extra = 0) {
  std::string path = root;
  if (rel.empty() || rel.front() != '/') path += '/';
  path += rel;
#if HEADROOM_HAVE_LINUX
  const char* root_c = root.empty() ? "/" : root.c_str();
  int rfd;
  do {
    rfd = HEADROOM_SYSCALL(open)(root_c, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } while (rfd < 0 && errno == EINTR);
  if (rfd < 0) return errno_error(errno, root_c);
  const unique_fd root_fd(rfd);
  const int flags =
      O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK | extra;
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  const std::string rel_s = rel.empty() ? std::string(".") : std::string(rel);
  open_how_v0 how{static_cast<std::uint64_t>(flags), 0,
                  resolve_in_root | resolve_no_magiclinks};
  long fd;
  do {
    fd = HEADROOM_SYSCALL(syscall)(HEADROOM_SYS_OPENAT2, root_fd.get(),
                                   rel_s.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  bool walked = false;
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
    walked = true;
    do {
      fd = open_walking(root_fd.get(), rel_s, flags);
    } while (fd < 0 && errno == EINTR);
  }
  if (fd < 0 && errno == ENXIO) {
    // open(2) of a socket fails with ENXIO before there is a descriptor to
    // fstat: the same path, resolved the same way, looked at through an
    // O_PATH descriptor (which a socket gives) is refused as a FIFO or a
    // device is.
    const int open_errno = errno;
    const int path_flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
    long pfd;
    if (walked) {
      pfd = open_walking(root_fd.get(), rel_s, path_flags);
    } else {
      open_how_v0 path_how{static_cast<std::uint64_t>(path_flags), 0,
                           how.resolve};
      pfd =
          HEADROOM_SYSCALL(syscall)(HEADROOM_SYS_OPENAT2, root_fd.get(),
                                    rel_s.c_str(), &path_how, sizeof path_how);
    }
    if (pfd >= 0) {
      const unique_fd probe(static_cast<int>(pfd));
      struct stat st {};
      if (HEADROOM_SYSCALL(fstat)(probe.get(), &st) == 0 &&
          S_ISSOCK(st.st_mode))
        return result<unique_fd>(errc::not_regular_file, path);
    }
    errno = open_errno;
  }
  if (fd < 0) return errno_error(errno, path);
  return checked_kind(unique_fd(static_cast<int>(fd)), path);
#else
  (void)extra;
  return result<unique_fd>(errc::not_supported, path);
#endif
}

// Reads a whole file of any size up to max_file_bytes (cold path:
// mountinfo, /proc/<pid>/cgroup); a FIFO, socket or device is refused.
inline result<std::string> read_whole(const std::string& path) {
  auto fd = open_file(path);
  if (!fd) return std::move(fd).error();
  return read_open(fd->get(), path);
}

// A file kept open for repeated reads, with its path for error messages.
struct kept_file {
  unique_fd fd;
  std::string path;  // the real path it was opened from
  error open_error;  // why it is not open (code 0 when it is)
  // Its directory has other files of the same controller, so it cannot
  // legitimately be absent: ENOENT is then an error like any other.
  bool required = false;
  // For a capture: every read is pinned to the bytes of the first, kept
  // under the file's logical path (file_system::keep sets both).
  capture_record* record = nullptr;
  std::string logical;

  bool is_open() const noexcept { return static_cast<bool>(fd); }
  // Not there at all (ENOENT): a file this directory does not have, which
  // is not an error (a v2 leaf without a controller, the v2 root).
  bool missing() const noexcept {
    return !required && !is_open() && is_missing(open_error);
  }
};

// Keeps `fd` (opened from `path`, or why it could not be).
inline kept_file keep_opened(result<unique_fd> fd, std::string path) {
  kept_file f;
  if (fd) {
    f.fd = std::move(*fd);
  } else {
    f.open_error = fd.error();
  }
  f.path = std::move(path);
  return f;
}

inline kept_file keep_open(std::string path) {
  auto fd = open_file(path);
  return keep_opened(std::move(fd), std::move(path));
}

// Reads a kept file into buf. A file that could not be opened returns the
// error from its open.
inline result<std::string_view> read_kept(const kept_file& f, char* buf,
                                          std::size_t cap) {
  if (!f.is_open()) return f.open_error;
  auto got = pread_all(f.fd.get(), buf, cap, f.path);
  if (f.record == nullptr) return got;
  return f.record->pin_into(f.logical, f.path, std::move(got), buf, cap,
                            f.path);
}

// One-line files (a number, "max", a CPU list) fit in this; a larger
// content is malformed.
inline constexpr std::size_t number_buffer = 64;

// Reads a small kept file into a stack buffer of N bytes and parses it; a
// parse error names the file.
template <std::size_t N = number_buffer, class Parse>
auto read_parsed(const kept_file& f, Parse&& parse)
    -> decltype(parse(std::string_view{})) {
  char buf[N];
  auto text = read_kept(f, buf, sizeof buf);
  if (!text) return std::move(text).error();
  auto v = parse(*text);
  if (!v) return with_path(v.error(), f.path);
  return v;
}

}  // namespace headroom::detail
