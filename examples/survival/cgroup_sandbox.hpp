// SPDX-License-Identifier: MIT
// A memory cgroup made for one run of the demo: created under this
// process's own memory cgroup (v1 or v2), given a limit, a process moved in,
// removed afterwards. Needs root (or a delegated cgroup).
#pragma once

#include <headroom/discover.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace survival {

inline bool write_file(const std::string& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, value.data(), value.size()) ==
                  static_cast<ssize_t>(value.size());
  ::close(fd);
  return ok;
}

class cgroup_sandbox {
 public:
  // Creates <own memory cgroup>/<name> with `limit` bytes. On failure,
  // error() says why.
  cgroup_sandbox(const std::string& name, std::uint64_t limit) {
    auto loc = headroom::discover();
    if (!loc || loc->mode == headroom::hierarchy_mode::none) {
      error_ = "no memory cgroup to work in";
      return;
    }
    v2_ = loc->mode == headroom::hierarchy_mode::v2;
    if (v2_) write_file(loc->dir + "/cgroup.subtree_control", "+memory");
    dir_ = loc->dir + "/" + name;
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
      error_ = dir_ + ": " + std::strerror(errno);
      dir_.clear();
      return;
    }
    const std::string file =
        dir_ + (v2_ ? "/memory.max" : "/memory.limit_in_bytes");
    if (!write_file(file, std::to_string(limit)))
      error_ = file + ": " + std::strerror(errno);
    // No swap for the demo: a run that outgrows the limit is killed, as in
    // most containers.
    write_file(
        dir_ + (v2_ ? "/memory.swap.max" : "/memory.memsw.limit_in_bytes"),
        v2_ ? "0" : std::to_string(limit));
  }
  cgroup_sandbox(const cgroup_sandbox&) = delete;
  cgroup_sandbox& operator=(const cgroup_sandbox&) = delete;
  ~cgroup_sandbox() {
    if (dir_.empty()) return;
    // A process that moved itself in leaves first (a cgroup with a process
    // in it cannot be removed): back to the parent.
    write_file(dir_.substr(0, dir_.rfind('/')) + "/cgroup.procs",
               std::to_string(::getpid()));
    for (int i = 0; i < 100 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY;
         ++i)
      ::usleep(20000);
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  bool v2() const { return v2_; }

  bool move_in(pid_t pid) const {
    return write_file(dir_ + "/cgroup.procs", std::to_string(pid));
  }

  std::string usage_file() const {
    return dir_ + (v2_ ? "/memory.current" : "/memory.usage_in_bytes");
  }
  std::string stat_file() const { return dir_ + "/memory.stat"; }
  std::string peak_file() const {
    return dir_ + (v2_ ? "/memory.peak" : "/memory.max_usage_in_bytes");
  }
  const char* inactive_file_key() const {
    return v2_ ? "inactive_file" : "total_inactive_file";
  }

 private:
  std::string dir_;
  std::string error_;
  bool v2_ = false;
};

}  // namespace survival
