// SPDX-License-Identifier: MIT
// --capture DIR: writes every file headroom read into DIR at its logical path
// (/proc/self/cgroup -> DIR/proc/self/cgroup), with the bytes the report was
// made from (a capture_record), so that --root DIR replays the same report
// byte for byte. Files that could not be read are left out: a replay then
// finds them missing, as the live run did.
//
// DIR is written as an attacker might have prepared it: it must be a new or
// empty directory and not a symbolic link; everything in it is created
// relative to a directory fd with O_NOFOLLOW (a link planted inside is never
// followed) and O_EXCL (nothing is overwritten); "." and ".." components are
// refused, so nothing is written outside DIR.
#pragma once

#include <headroom/capture_record.hpp>
#include <headroom/error.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
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
    std::vector<std::string> parts;
    auto parent = walk(logical, parts, false);
    if (!parent) return std::move(parent).error();
    const std::string where = path_ + std::string(logical);
    fd_owner out(::openat(parent->get(), parts.back().c_str(),
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

  // Creates the directory DIR + logical and those on the way (an existing
  // directory is fine); a link or a "." / ".." on the way is an error.
  headroom::result<void> make_directory(std::string_view logical) const {
    std::vector<std::string> parts;
    auto dir = walk(logical, parts, true);
    if (!dir) return std::move(dir).error();
    return {};
  }

 private:
  // Splits `logical` into `parts` and opens the directories of all of them
  // but the last (all of them when `all`), made when missing, each
  // relative to the one before with O_NOFOLLOW.
  headroom::result<fd_owner> walk(std::string_view logical,
                                  std::vector<std::string>& parts,
                                  bool all) const {
    const std::string where = path_ + std::string(logical);
    if (logical.size() < 2 || logical[0] != '/')
      return headroom::errno_error(EINVAL, where);
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
    const std::size_t dirs = all ? parts.size() : parts.size() - 1;
    for (std::size_t i = 0; i < dirs; ++i) {
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
    return cur;
  }

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

// Saves what the readers recorded into a capture_dir: each file with the
// bytes the report was made from, and each directory they looked into (a
// directory searched but holding no file read must be there on replay too).
class capture_list {
 public:
  // The record to give the readers (options::record).
  const std::shared_ptr<headroom::capture_record>& record() const noexcept {
    return record_;
  }

  // How many files save() wrote.
  std::size_t size() const { return saved_; }

  headroom::result<void> save(const capture_dir& dir) {
    for (const auto& d : record_->directories()) {
      if (d == "/") continue;
      auto made = dir.make_directory(d);
      if (!made) return made;
    }
    for (const auto& f : record_->files()) {
      std::string content;
      if (f.bytes) {
        content = *f.bytes;
      } else if (!read_regular(f.real, content)) {
        // Never read (a file only noted, such as /proc/self/status for
        // the live affinity): copied now, when it can be; a file that
        // could not be opened is left out, as the live run found it.
        continue;
      }
      auto written = dir.write(f.logical, content);
      if (!written) return written;
      ++saved_;
    }
    return {};
  }

 private:
  // A file copied now is what a tree holds: a regular file of at most 4
  // MiB. A FIFO, a device or a link in a tree being replayed is left out,
  // never read.
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

  std::shared_ptr<headroom::capture_record> record_ =
      std::make_shared<headroom::capture_record>();
  std::size_t saved_ = 0;
};

}  // namespace headroom_info
