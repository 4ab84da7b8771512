// headroom: the view of the file system every read goes through.
//
// A "logical" path is what the process being inspected would see:
// /proc/self/cgroup, /sys/fs/cgroup/memory/docker/abc/memory.stat. The real
// path adds the root prefix (a captured tree, a test fixture) and, when the
// inspected process lives in another mount namespace, /proc/<pid>/root so its
// mount points are reached from ours. Logical paths always say /proc/self:
// a tree captured from another process replays with just the root prefix.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "fd.hpp"

namespace headroom::detail {

class file_system {
 public:
  using read_hook =
      std::function<void(std::string_view logical, std::string_view real)>;

  file_system() : file_system("/", 0, nullptr) {}

  // root: prefix for every path ("/" for the live system). pid: 0 for the
  // calling process. hook: called with each file opened (for capture).
  file_system(std::string root, int pid, read_hook hook)
      : pid_(pid), hook_(std::move(hook)) {
    while (!root.empty() && root.back() == '/') root.pop_back();
    root_ = std::move(root);  // "" for "/"
    proc_ = root_ + (pid_ > 0 ? "/proc/" + std::to_string(pid_) : "/proc/self");
    if (pid_ > 0 && root_.empty() && !same_mount_namespace(pid_)) {
      ns_prefix_ = "/proc/" + std::to_string(pid_) + "/root";
    }
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
    if (hook_) hook_(logical, real);
  }

  // Reads /proc/self/<name> whole.
  result<std::string> read_proc(std::string_view name) const {
    const std::string real = proc_path(name);
    note_read("/proc/self/" + std::string(name), real);
    return read_whole(real);
  }

  // Reads a logical path whole.
  result<std::string> read(std::string_view logical) const {
    const std::string real = real_path(logical);
    note_read(logical, real);
    return read_whole(real);
  }

  // Opens a logical path to be kept and re-read.
  kept_file keep(std::string_view logical) const {
    std::string real = real_path(logical);
    note_read(logical, real);
    return keep_open(std::move(real));
  }

  // True when a directory between `mount_point` (excluded) and `dir`
  // (included), both logical, is a symlink: the path would leave the
  // mount. Never so on a cgroup file system; possible in a captured tree.
  bool symlink_below(const std::string& mount_point, const std::string& dir) const {
#if HEADROOM_HAVE_LINUX
    if (dir.size() <= mount_point.size()) return false;
    std::size_t at = mount_point.size();
    while (at < dir.size()) {
      at = dir.find('/', at + 1);
      if (at == std::string::npos) at = dir.size();
      struct stat st {};
      const std::string real = real_path(dir.substr(0, at));
      if (HEADROOM_SYSCALL(lstat)(real.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) return true;
    }
#else
    (void)mount_point;
    (void)dir;
#endif
    return false;
  }

  const std::string& root() const noexcept { return root_; }
  int pid() const noexcept { return pid_; }

 private:
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
  int pid_ = 0;
  read_hook hook_;
};

}  // namespace headroom::detail
