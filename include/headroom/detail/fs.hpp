// SPDX-License-Identifier: MIT
// headroom: the view of the file system every read goes through.
//
// A "logical" path is what the process being inspected would see:
// /proc/self/cgroup, /sys/fs/cgroup/memory/docker/abc/memory.stat. The real
// path adds the root prefix (a captured tree, a test fixture) and, when the
// inspected process lives in another mount namespace, /proc/<pid>/root so its
// mount points are reached from ours. Logical paths always say /proc/self:
// a tree captured from another process replays with just the root prefix.
#pragma once

#include <algorithm>    // std::sort
#include <memory>       // std::shared_ptr
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view
#include <utility>      // std::move
#include <vector>       // std::vector

#include "fd.hpp"  // HEADROOM_HAVE_LINUX, unique_fd, HEADROOM_SYSCALL

#if HEADROOM_HAVE_LINUX
#include <dirent.h>  // DIR, fdopendir, dirent
#include <unistd.h>  // getpid, close
#endif

namespace headroom {

// Whose mountinfo mapped the path of another process (options::pid): the
// reader's own (a node agent on the host sees the real cgroup), or the
// target's, through /proc/<pid>/root (the reader cannot see it).
enum class cgroup_view {
  reader,
  target,
};

constexpr const char* to_string(cgroup_view v) noexcept {
  return v == cgroup_view::target ? "target" : "reader";
}

}  // namespace headroom

namespace headroom::detail {

class file_system {
 public:
  file_system() : file_system("/", 0) {}

  // root: prefix for every path ("/" for the live system). pid: 0 for the
  // calling process. record: keeps what is read, and pins every later read
  // to it (capture).
  file_system(std::string root, int pid,
              std::shared_ptr<capture_record> record = nullptr)
      : pid_(pid), record_(std::move(record)) {
    while (!root.empty() && root.back() == '/') root.pop_back();
    root_ = std::move(root);  // "" for "/"
    proc_ = root_ + (pid_ > 0 ? "/proc/" + std::to_string(pid_) : "/proc/self");
    if (pid_ > 0 && root_.empty() && !same_mount_namespace(pid_)) {
      target_prefix_ = "/proc/" + std::to_string(pid_) + "/root";
      set_view(cgroup_view::target);
    }
  }

  // Another process in another mount namespace can be seen through the
  // reader's own mounts or through its own (/proc/<pid>/root).
  bool can_use_reader_view() const noexcept { return !target_prefix_.empty(); }
  cgroup_view view() const noexcept { return view_; }
  void set_view(cgroup_view v) {
    if (target_prefix_.empty()) return;
    view_ = v;
    ns_prefix_ = v == cgroup_view::target ? target_prefix_ : std::string();
  }

  // Reads the mountinfo of the view: the target's, or the reader's own.
  result<std::string> read_mountinfo() const {
    if (view_ == cgroup_view::target || target_prefix_.empty())
      return read_proc("mountinfo");
    return read_noted("/proc/self/mountinfo", root_ + "/proc/self/mountinfo");
  }

  // The inspected process's pid as the reader's pid namespace numbers it
  // (cgroup.procs lists pids so): the pid given, the caller's own, or in a
  // captured tree the Pid line of /proc/self/status. 0 when unknown.
  long reader_pid() const {
    if (pid_ > 0) return pid_;
#if HEADROOM_HAVE_LINUX
    if (root_.empty()) return static_cast<long>(HEADROOM_SYSCALL(getpid)());
#endif
    auto status = read_proc("status");
    if (!status) return 0;
    const std::string_view text = *status;
    const std::size_t at =
        text.substr(0, 4) == "Pid:" ? 0 : text.find("\nPid:");
    if (at != std::string_view::npos) {
      std::string_view line = text.substr(at == 0 ? 4 : at + 5);
      line = line.substr(0, line.find('\n'));
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
        line.remove_prefix(1);
      long v = 0;
      for (const char c : line) {
        if (c < '0' || c > '9' || v > 1000000000L) return 0;
        v = v * 10 + (c - '0');
      }
      return v;
    }
    return 0;
  }

  // The names of the directories in logical directory `dir`, symlinks and
  // other files left out; none when it cannot be opened. Never follows a
  // symlink: `dir` is opened with O_NOFOLLOW.
  std::vector<std::string> subdirectories(const std::string& dir) const {
    std::vector<std::string> out;
#if HEADROOM_HAVE_LINUX
    const std::string real = real_path(dir);
    auto opened = root_.empty()
                      ? result<unique_fd>(unique_fd(HEADROOM_SYSCALL(open)(
                            real.c_str(),
                            O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW)))
                      : open_real(real, O_DIRECTORY);
    if (!opened || !*opened) return out;
    if (record_) record_->note_directory(dir);
    const int fd = opened->release();
    DIR* d = HEADROOM_SYSCALL(fdopendir)(fd);
    if (d == nullptr) {
      HEADROOM_SYSCALL(close)(fd);
      return out;
    }
    while (const dirent* e = HEADROOM_SYSCALL(readdir)(d)) {
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        // Relative to the directory already open: nothing on the way is
        // resolved again, and the entry itself is not followed.
        struct stat st {};
        is_dir = HEADROOM_SYSCALL(fstatat)(::dirfd(d), e->d_name, &st,
                                           AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(st.st_mode);
      }
      if (is_dir) out.emplace_back(name);
    }
    HEADROOM_SYSCALL(closedir)(d);
    std::sort(out.begin(), out.end());
    if (record_) {
      for (const auto& name : out) record_->note_directory(dir + "/" + name);
    }
#else
    (void)dir;
#endif
    return out;
  }

  // Real path of /proc/self/<name> (of the inspected process).
  std::string proc_path(std::string_view name) const {
    return proc_ + "/" + std::string(name);
  }

  // Real path of a logical absolute path outside /proc/self.
  std::string real_path(std::string_view logical) const {
    return root_ + ns_prefix_ + std::string(logical);
  }

  // Reports a file that was read or opened, for capture.
  void note_read(std::string_view logical, std::string_view real) const {
    if (record_) record_->note(logical, real);
  }

  // Reads /proc/self/<name> whole. On the live system procfs serves it,
  // so it is not fstat'ed for its kind (open_kernel_file).
  result<std::string> read_proc(std::string_view name) const {
    return read_noted("/proc/self/" + std::string(name), proc_path(name), true);
  }

  // Reads a logical path whole.
  result<std::string> read(std::string_view logical) const {
    return read_noted(logical, real_path(logical));
  }

  // Opens a logical path to be kept and re-read.
  kept_file keep(std::string_view logical) const {
    return keep_noted(logical, real_path(logical));
  }

  // Opens a logical path under a cgroup mount point, or in /proc, to be
  // kept and re-read: as keep() does, except that on the live system (no
  // root prefix) the file is the kernel's and is not fstat'ed for its
  // kind (open_kernel_file).
  kept_file keep_kernel(std::string_view logical) const {
    return keep_noted(logical, real_path(logical), true);
  }

  // Opens /proc/self/<name> (of the inspected process) to be kept.
  kept_file keep_proc(std::string_view name) const {
    return keep_noted("/proc/self/" + std::string(name), proc_path(name));
  }

  // Opens `real` (a real_path or proc_path of `logical`) to be kept, as
  // open_real does (`kernel`: open_kernel_file on the live system); noted,
  // and with a record, its reads pinned to it.
  kept_file keep_noted(std::string_view logical, std::string real,
                       bool kernel = false) const {
    note_read(logical, real);
    auto fd =
        kernel && root_.empty() ? open_kernel_file(real) : open_real(real);
    kept_file f = keep_opened(std::move(fd), std::move(real));
    if (record_) {
      f.record = record_.get();
      f.logical = std::string(logical);
    }
    return f;
  }

  // Reads `real` (a real_path or proc_path of `logical`) whole, noted
  // (`kernel`: opened as open_kernel_file on the live system); with a
  // record, the bytes of its first read.
  result<std::string> read_noted(std::string_view logical,
                                 const std::string& real,
                                 bool kernel = false) const {
    note_read(logical, real);
    auto text = kernel && root_.empty() ? read_kernel(real) : read_real(real);
    if (!record_) return text;
    return record_->pin(logical, real, std::move(text));
  }

  // Reads a file the kernel serves whole, without the kind check.
  static result<std::string> read_kernel(const std::string& real) {
    auto fd = open_kernel_file(real);
    if (!fd) return std::move(fd).error();
    return read_open(fd->get(), real);
  }

  // Opens a real path (one real_path or proc_path made). Under a root
  // prefix, resolved within the root: a symlink in a captured tree, even
  // an absolute one or one with "..", never leads a read outside it. A
  // FIFO, socket or device is refused either way.
  result<unique_fd> open_real(const std::string& real, int extra = 0) const {
    if (root_.empty()) {
      if (extra == 0) return open_file(real);
      return open_file_in("", real, extra);
    }
    return open_file_in(root_, std::string_view(real).substr(root_.size()),
                        extra);
  }

  // Reads a real path whole (at most max_file_bytes), as open_real opens.
  result<std::string> read_real(const std::string& real) const {
    auto fd = open_real(real);
    if (!fd) return std::move(fd).error();
    return read_open(fd->get(), real);
  }

  // True when a directory between `mount_point` (excluded) and `dir`
  // (included), both logical, is a symlink: the path would leave the
  // mount. Never so on a cgroup file system; possible in a captured tree.
  // Under a root prefix the mount point is opened within the root and each
  // directory below it is looked at with fstatat(AT_SYMLINK_NOFOLLOW)
  // relative to the one above, so no symlink of the tree is resolved
  // outside it, not even to be looked at.
  bool symlink_below(const std::string& mount_point,
                     const std::string& dir) const {
#if HEADROOM_HAVE_LINUX
    if (dir.size() <= mount_point.size()) return false;
    if (root_.empty()) {
      std::size_t at = mount_point.size();
      while (at < dir.size()) {
        at = dir.find('/', at + 1);
        if (at == std::string::npos) at = dir.size();
        struct stat st {};
        const std::string real = real_path(dir.substr(0, at));
        if (HEADROOM_SYSCALL(lstat)(real.c_str(), &st) == 0 &&
            S_ISLNK(st.st_mode))
          return true;
      }
      return false;
    }
    auto cur = open_real(real_path(mount_point), O_DIRECTORY);
    if (!cur) return false;
    std::string_view rest = std::string_view(dir).substr(mount_point.size());
    while (!rest.empty()) {
      const std::size_t slash = rest.find('/');
      const std::string name(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view()
                                             : rest.substr(slash + 1);
      if (name.empty()) continue;
      struct stat st {};
      if (HEADROOM_SYSCALL(fstatat)(cur->get(), name.c_str(), &st,
                                    AT_SYMLINK_NOFOLLOW) != 0)
        return false;
      if (!S_ISDIR(st.st_mode)) return S_ISLNK(st.st_mode);
      if (rest.empty()) break;
      unique_fd next(HEADROOM_SYSCALL(openat)(
          cur->get(), name.c_str(),
          O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0));
      if (!next) return false;
      *cur = std::move(next);
    }
#else
    (void)mount_point;
    (void)dir;
#endif
    return false;
  }

  // True when logical path `dir` is a directory (not through a symlink).
  // Under a root prefix, its parent is opened within the root and `dir`
  // looked at with fstatat(AT_SYMLINK_NOFOLLOW) relative to it.
  bool is_directory(const std::string& dir) const {
#if HEADROOM_HAVE_LINUX
    struct stat st {};
    bool is_dir = false;
    if (root_.empty()) {
      const std::string real = real_path(dir);
      is_dir = HEADROOM_SYSCALL(lstat)(real.c_str(), &st) == 0 &&
               S_ISDIR(st.st_mode);
    } else {
      const std::size_t slash = dir.rfind('/');
      if (slash == std::string::npos) return false;
      const std::string parent = dir.substr(0, slash);
      std::string name = dir.substr(slash + 1);
      if (name.empty()) name = ".";
      auto at =
          open_real(real_path(parent.empty() ? "/" : parent), O_DIRECTORY);
      // Only a parent that is not there or not a directory says no; one
      // that cannot be opened now (EMFILE, EACCES) is left to the reads
      // below it, whose errors say why.
      if (!at) return !not_a_directory_path(at.error());
      is_dir = HEADROOM_SYSCALL(fstatat)(at->get(), name.c_str(), &st,
                                         AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISDIR(st.st_mode);
    }
    if (is_dir && record_) record_->note_directory(dir);
    return is_dir;
#else
    (void)dir;
    return false;
#endif
  }

  const std::string& root() const noexcept { return root_; }
  int pid() const noexcept { return pid_; }

 private:
  // The error of a path that does not name a directory.
  static bool not_a_directory_path(const error& e) noexcept {
    return is_missing(e) || e.code == std::errc::not_a_directory ||
           e.code == std::errc::too_many_symbolic_link_levels ||
           e.code == errc::not_regular_file;
  }

  static bool same_mount_namespace(int pid) {
#if HEADROOM_HAVE_LINUX
    struct stat mine {};
    struct stat theirs {};
    const std::string other = "/proc/" + std::to_string(pid) + "/ns/mnt";
    if (HEADROOM_SYSCALL(stat)("/proc/self/ns/mnt", &mine) != 0) return true;
    if (HEADROOM_SYSCALL(stat)(other.c_str(), &theirs) != 0) return true;
    return mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
#else
    (void)pid;
    return true;
#endif
  }

  std::string root_;
  std::string proc_;
  std::string ns_prefix_;
  std::string
      target_prefix_;  // /proc/<pid>/root, when in another mount namespace
  cgroup_view view_ = cgroup_view::reader;
  int pid_ = 0;
  std::shared_ptr<capture_record> record_;
};

}  // namespace headroom::detail
