// SPDX-License-Identifier: MIT
// --capture DIR: copies every file headroom read into DIR at its logical path
// (/proc/self/cgroup -> DIR/proc/self/cgroup), so that --root DIR replays
// the same report. Files that could not be read are left out: a replay then
// finds them missing, as the live run did.
//
// DIR is written as an attacker might have prepared it: it must be a new or
// empty directory and not a symbolic link; everything in it is created
// relative to a directory fd with O_NOFOLLOW (a link planted inside is never
// followed) and O_EXCL (nothing is overwritten); "." and ".." components are
// refused, so nothing is written outside DIR.
#pragma once

#include <headroom/error.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace headroom_info {

// A file descriptor, closed at the end of its scope.
class fd_owner {
 public:
  explicit fd_owner(int fd = -1) noexcept : fd_(fd) {}
  fd_owner(fd_owner&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  fd_owner& operator=(fd_owner&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~fd_owner() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_;
};

// Why a capture directory or file was refused, in words.
inline std::string capture_reason(const headroom::error& e) {
  switch (e.code.value()) {
    case ELOOP:
      return e.path + ": is a symbolic link";
    case ENOTEMPTY:
      return e.path +
             ": is not empty (a capture goes into a new or empty directory)";
    case ENOTDIR:
      return e.path + ": is not a directory";
    case EEXIST:
      return e.path + ": exists already";
    case EINVAL:
      return e.path + ": not a path below the capture directory";
    default:
      return e.message();
  }
}

class capture_dir {
 public:
  // Creates `path` if it does not exist; refuses a symbolic link, anything
  // that is not a directory, and a directory that is not empty.
  static headroom::result<capture_dir> open(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return headroom::errno_error(errno, path);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0)
      return headroom::errno_error(errno, path);
    if (S_ISLNK(st.st_mode)) return headroom::errno_error(ELOOP, path);
    if (!S_ISDIR(st.st_mode)) return headroom::errno_error(ENOTDIR, path);
    fd_owner fd(
        ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return headroom::errno_error(errno, path);
    auto empty = is_empty(fd.get());
    if (!empty) return headroom::errno_error(empty.error().code.value(), path);
    if (!*empty) return headroom::errno_error(ENOTEMPTY, path);
    return capture_dir(path, std::move(fd));
  }

  const std::string& path() const noexcept { return path_; }

  // Writes `content` at DIR + logical ("/proc/self/cgroup"), creating the
  // directories on the way; a link, an existing file or a "." / ".." on the
  // way is an error, never followed or overwritten.
  headroom::result<void> write(std::string_view logical,
                               std::string_view content) const {
    const std::string where = path_ + std::string(logical);
    if (logical.size() < 2 || logical[0] != '/')
      return headroom::errno_error(EINVAL, where);
    std::vector<std::string> parts;
    for (std::string_view rest = logical.substr(1);;) {
      const std::size_t slash = rest.find('/');
      const std::string_view p = rest.substr(0, slash);
      if (p.empty() || p == "." || p == "..")
        return headroom::errno_error(EINVAL, where);
      parts.emplace_back(p);
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    fd_owner cur(::dup(fd_.get()));
    if (!cur) return headroom::errno_error(errno, path_);
    std::string done = path_;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      done += "/" + parts[i];
      if (::mkdirat(cur.get(), parts[i].c_str(), 0755) != 0 &&
          errno != EEXIST) {
        return headroom::errno_error(errno, done);
      }
      fd_owner next(::openat(cur.get(), parts[i].c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next)
        return headroom::errno_error(errno == ENOTDIR ? ELOOP : errno, done);
      cur = std::move(next);
    }
    fd_owner out(::openat(cur.get(), parts.back().c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          0644));
    if (!out) return headroom::errno_error(errno, where);
    while (!content.empty()) {
      const ssize_t n = ::write(out.get(), content.data(), content.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return headroom::errno_error(errno, where);
      content.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

 private:
  capture_dir(std::string path, fd_owner fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}

  static headroom::result<bool> is_empty(int dir_fd) {
    const int copy = ::dup(dir_fd);
    if (copy < 0) return headroom::errno_error(errno);
    DIR* d = ::fdopendir(copy);
    if (!d) {
      const int err = errno;
      ::close(copy);
      return headroom::errno_error(err);
    }
    bool empty = true;
    while (const dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 &&
          std::strcmp(e->d_name, "..") != 0) {
        empty = false;
        break;
      }
    }
    ::closedir(d);
    return empty;
  }

  std::string path_;
  fd_owner fd_;
};

// The files headroom opened, in order, each once; saved into a capture_dir.
class capture_list {
 public:
  auto hook() {
    return [this](std::string_view logical, std::string_view real) {
      if (seen_.insert(std::string(logical)).second) {
        files_.emplace_back(std::string(logical), std::string(real));
      }
    };
  }

  std::size_t size() const { return saved_; }

  headroom::result<void> save(const capture_dir& dir) {
    for (const auto& [logical, real] : files_) {
      std::string content;
      if (!read_regular(real, content)) continue;
      auto written = dir.write(logical, content);
      if (!written) return written;
      ++saved_;
    }
    return {};
  }

 private:
  // A captured file is what a tree holds: a regular file of at most 4 MiB
  // (mountinfo of a host with thousands of mounts is below 1 MiB). A FIFO,
  // a device or a link in a tree being replayed is left out, never read.
  static constexpr std::size_t max_file = 4 << 20;

  static bool read_regular(const std::string& path, std::string& out) {
    fd_owner fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW |
                                         O_NOCTTY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      return false;
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      if (n == 0) return true;
      out.append(buf, static_cast<std::size_t>(n));
      if (out.size() > max_file) return false;
    }
  }

  std::vector<std::pair<std::string, std::string>> files_;
  std::set<std::string> seen_;
  std::size_t saved_ = 0;
};

}  // namespace headroom_info
