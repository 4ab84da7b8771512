// SPDX-License-Identifier: MIT
// headroom: the file descriptors the pressure monitor waits on, one helper
// per kernel interface (see KERNEL-NOTES "Event sources"):
//  - v1 cgroup.event_control: an eventfd tied to a watched file of the same
//    cgroup (memory.usage_in_bytes thresholds, memory.pressure_level,
//    memory.oom_control);
//  - PSI triggers: "some|full <stall us> <window us>" written, NUL included,
//    into an O_RDWR memory.pressure, then POLLPRI (POLLERR: gone);
//  - systemd's $MEMORY_PRESSURE_WATCH / $MEMORY_PRESSURE_WRITE protocol.
// Every descriptor is close-on-exec and non-blocking.
#pragma once

#include <cerrno>       // errno, EINTR, EINPROGRESS
#include <chrono>       // std::chrono
#include <cstdint>      // std::uint64_t
#include <cstring>      // std::memcpy
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view

#include "../error.hpp"    // result, errno_error, error
#include "fd.hpp"          // HEADROOM_HAVE_LINUX, unique_fd, HEADROOM_SYSCALL
#include "narrow.hpp"      // narrow
#include "secure_env.hpp"  // secure_env

#if HEADROOM_HAVE_LINUX
#include <linux/magic.h>  // PROC_SUPER_MAGIC, CGROUP2_SUPER_MAGIC
#include <sys/eventfd.h>  // eventfd, EFD_CLOEXEC, EFD_NONBLOCK
#include <sys/socket.h>   // socket, AF_UNIX, SOCK_STREAM
#include <sys/statfs.h>   // statfs, fstatfs
#include <sys/timerfd.h>  // timerfd_create, TFD_CLOEXEC, TFD_NONBLOCK
#include <sys/un.h>       // sockaddr_un
#endif

namespace headroom::detail {

#if HEADROOM_HAVE_LINUX

inline result<unique_fd> make_eventfd() {
  const int fd = HEADROOM_SYSCALL(eventfd)(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return errno_error(errno, "eventfd");
  return unique_fd(fd);
}

// Reads an eventfd's counter (resets it); 0 when it was not signalled.
inline std::uint64_t drain_eventfd(int fd) noexcept {
  std::uint64_t n = 0;
  while (HEADROOM_SYSCALL(read)(fd, &n, sizeof n) < 0 && errno == EINTR) {
  }
  return n;
}

inline result<unique_fd> make_timerfd() {
  const int fd = HEADROOM_SYSCALL(timerfd_create)(CLOCK_MONOTONIC,
                                                  TFD_CLOEXEC | TFD_NONBLOCK);
  if (fd < 0) return errno_error(errno, "timerfd");
  return unique_fd(fd);
}

// Arms a timerfd to fire once at `when` (steady_clock is CLOCK_MONOTONIC).
inline void arm_timer_at(int fd,
                         std::chrono::steady_clock::time_point when) noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      when.time_since_epoch())
                      .count();
  itimerspec spec{};
  // 0 disarms: never ask for the epoch itself.
  spec.it_value.tv_sec = narrow<time_t>(ns / 1000000000);
  spec.it_value.tv_nsec = narrow<long>(ns % 1000000000);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
    spec.it_value.tv_nsec = 1;
  HEADROOM_SYSCALL(timerfd_settime)(fd, TFD_TIMER_ABSTIME, &spec, nullptr);
}

inline result<void> write_all(int fd, std::string_view data,
                              const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        HEADROOM_SYSCALL(write)(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, path);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// cgroup v1: asks the kernel to signal a new eventfd for `watched` (a file
// in cgroup directory `dir`, real path) with `args`, by writing
// "<eventfd> <watched fd> <args>" to dir/cgroup.event_control
// (Documentation/admin-guide/cgroup-v1/memory.rst, "Memory thresholds",
// "OOM Control", "Memory Pressure"). The kernel keeps its own reference to
// the eventfd; closing ours unregisters. The watched file's descriptor is
// only needed while registering.
inline result<unique_fd> v1_register_event(const std::string& dir,
                                           std::string_view watched,
                                           std::string_view args) {
  auto efd = make_eventfd();
  if (!efd) return efd;
  const std::string watched_path = dir + "/" + std::string(watched);
  auto wfd = open_read(watched_path);
  if (!wfd) return std::move(wfd).error();
  const std::string control = dir + "/cgroup.event_control";
  unique_fd cfd(HEADROOM_SYSCALL(open)(control.c_str(), O_WRONLY | O_CLOEXEC));
  if (!cfd) return errno_error(errno, control);
  std::string line =
      std::to_string(efd->get()) + " " + std::to_string(wfd->get());
  if (!args.empty()) line += " " + std::string(args);
  auto written = write_all(cfd.get(), line, control);
  if (!written) return written.error();
  return efd;
}

// A PSI trigger on a pressure file (real path): "some 150000 2000000"
// means 150 ms of stall within any 2 s window. The kernel overwrites the
// last byte of what is written with NUL, so the NUL is written too
// (Documentation/accounting/psi.rst, "Userspace monitor usage example").
// Unprivileged writers need a window that is a multiple of 2 s on recent
// kernels; older ones refuse them (EPERM/EACCES).
inline result<unique_fd> open_psi_trigger(const std::string& path, bool full,
                                          std::chrono::microseconds stall,
                                          std::chrono::microseconds window) {
  unique_fd fd(
      HEADROOM_SYSCALL(open)(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return errno_error(errno, path);
  std::string trigger = std::string(full ? "full " : "some ") +
                        std::to_string(stall.count()) + " " +
                        std::to_string(window.count());
  trigger.push_back('\0');
  auto written = write_all(fd.get(), trigger, path);
  if (!written) return written.error();
  return fd;
}

// Standard base64 (RFC 4648, with padding) to bytes, NULs allowed.
inline result<std::string> base64_decode(std::string_view in) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return errc::malformed;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = value(c)) < 0) {
        return errc::malformed;
      }
    }
    const unsigned n =
        static_cast<unsigned>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

// systemd's memory pressure protocol (systemd docs, "Memory Pressure
// Service Protocol"): $MEMORY_PRESSURE_WATCH names a PSI file (open O_RDWR,
// watch POLLPRI, never read), a FIFO (watch POLLIN, drain) or an AF_UNIX
// stream socket (connect, watch POLLIN, drain); "/dev/null" turns it off.
// $MEMORY_PRESSURE_WRITE, base64, is written right after opening.
struct systemd_watch {
  enum class kind { psi_file, fifo, socket };
  unique_fd fd;
  kind type = kind::psi_file;
  std::string path;
  bool wants_pollpri() const noexcept { return type == kind::psi_file; }
};

// PSI files live in procfs (/proc/pressure/*) and cgroupfs (memory.pressure).
inline bool is_psi_file_system(decltype(statfs::f_type) type) noexcept {
  return type == PROC_SUPER_MAGIC || type == CGROUP2_SUPER_MAGIC ||
         type == CGROUP_SUPER_MAGIC;
}

// errc::disabled for "/dev/null"; otherwise the open descriptor or why not.
inline result<systemd_watch> open_systemd_watch(const std::string& path,
                                                const char* write_b64) {
  if (path == "/dev/null") return result<systemd_watch>(errc::disabled, path);
  std::string payload;
  if (write_b64 && *write_b64) {
    auto decoded = base64_decode(write_b64);
    if (!decoded)
      return result<systemd_watch>(errc::malformed, "$MEMORY_PRESSURE_WRITE");
    payload = std::move(*decoded);
  }
  struct stat st {};
  if (HEADROOM_SYSCALL(stat)(path.c_str(), &st) != 0)
    return errno_error(errno, path);
  systemd_watch w;
  w.path = path;
  if (S_ISREG(st.st_mode)) {
    // Only a kernel PSI file takes the payload: a regular file elsewhere
    // (say /etc/passwd) is refused before it is even opened for writing.
    // Checked on an opened descriptor, by its file system, not by its
    // name: first one opened for reading, then the one written to (the
    // path may have been swapped in between).
    w.type = systemd_watch::kind::psi_file;
    const auto on_psi_fs = [](int fd) {
      struct statfs fs {};
      return HEADROOM_SYSCALL(fstatfs)(fd, &fs) == 0 &&
             is_psi_file_system(fs.f_type);
    };
    const auto not_psi = [&path] {
      return result<systemd_watch>(
          errc::not_supported,
          path + ": a regular file that is not a PSI file");
    };
    {
      unique_fd probe(HEADROOM_SYSCALL(open)(
          path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
      if (!probe) return errno_error(errno, path);
      if (!on_psi_fs(probe.get())) return not_psi();
    }
    w.fd.reset(HEADROOM_SYSCALL(open)(
        path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
    if (w.fd && !on_psi_fs(w.fd.get())) return not_psi();
  } else if (S_ISFIFO(st.st_mode)) {
    // O_RDWR: the open neither blocks for a writer nor sees EOF without one.
    w.type = systemd_watch::kind::fifo;
    w.fd.reset(
        HEADROOM_SYSCALL(open)(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    // Still a FIFO once open: a regular file swapped in meanwhile is not
    // written to.
    struct stat opened {};
    if (w.fd && (HEADROOM_SYSCALL(fstat)(w.fd.get(), &opened) != 0 ||
                 !S_ISFIFO(opened.st_mode)))
      return result<systemd_watch>(errc::not_supported,
                                   path + ": no longer a FIFO once opened");
  } else if (S_ISSOCK(st.st_mode)) {
    w.type = systemd_watch::kind::socket;
    w.fd.reset(HEADROOM_SYSCALL(socket)(
        AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (w.fd) {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      if (path.size() >= sizeof addr.sun_path) {
        return result<systemd_watch>(errc::malformed, path);
      }
      std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
      if (HEADROOM_SYSCALL(connect)(w.fd.get(),
                                    reinterpret_cast<const sockaddr*>(&addr),
                                    sizeof addr) != 0 &&
          errno != EINPROGRESS) {
        return errno_error(errno, path);
      }
    }
  } else {
    return result<systemd_watch>(errc::not_supported, path);
  }
  if (!w.fd) return errno_error(errno, path);
  if (!payload.empty()) {
    auto written = write_all(w.fd.get(), payload, path);
    if (!written) return written.error();
  }
  return w;
}

// Reads and discards what a FIFO or socket holds. False when the peer has
// gone (EOF on a socket).
inline bool drain_stream(int fd) noexcept {
  char buf[512];
  for (;;) {
    const ssize_t n = HEADROOM_SYSCALL(read)(fd, buf, sizeof buf);
    if (n > 0) continue;
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

#endif  // HEADROOM_HAVE_LINUX

}  // namespace headroom::detail
