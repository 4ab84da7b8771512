// SPDX-License-Identifier: MIT
// headroom: file descriptors and the reads every other part builds on.
//
// Hot files are opened once (O_RDONLY | O_CLOEXEC) and re-read with pread at
// offset 0 into a fixed buffer the caller owns; a read that fills the buffer
// means the file is not what we expect, not a reason to grow. Cold files
// (mountinfo, /proc/<pid>/cgroup) are read whole into a string.
#pragma once

#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "../error.hpp"

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
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
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

// Reads a whole file of any size (cold path: mountinfo, /proc/<pid>/cgroup).
inline result<std::string> read_whole(const std::string& path) {
  auto fd = open_read(path);
  if (!fd) return std::move(fd).error();
#if HEADROOM_HAVE_LINUX
  std::string out;
  char chunk[4096];
  for (;;) {
    const ssize_t n = HEADROOM_SYSCALL(read)(fd->get(), chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, path);
    }
    if (n == 0) break;
    out.append(chunk, static_cast<std::size_t>(n));
  }
  return out;
#else
  return result<std::string>(errc::not_supported, path);
#endif
}

// A file kept open for repeated reads, with its path for error messages.
struct kept_file {
  unique_fd fd;
  std::string path;  // the real path it was opened from
  error open_error;  // why it is not open (code 0 when it is)
  // Its directory has other files of the same controller, so it cannot
  // legitimately be absent: ENOENT is then an error like any other.
  bool required = false;

  bool is_open() const noexcept { return static_cast<bool>(fd); }
  // Not there at all (ENOENT): a file this directory does not have, which
  // is not an error (a v2 leaf without a controller, the v2 root).
  bool missing() const noexcept {
    return !required && !is_open() && is_missing(open_error);
  }
};

inline kept_file keep_open(std::string path) {
  kept_file f;
  auto fd = open_read(path);
  if (fd) {
    f.fd = std::move(*fd);
  } else {
    f.open_error = fd.error();
  }
  f.path = std::move(path);
  return f;
}

// Reads a kept file into buf. A file that could not be opened returns the
// error from its open.
inline result<std::string_view> read_kept(const kept_file& f, char* buf,
                                          std::size_t cap) {
  if (!f.is_open()) return f.open_error;
  return pread_all(f.fd.get(), buf, cap, f.path);
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
