// SPDX-License-Identifier: MIT
// headroom: the bytes the readers read, kept so that a capture replays them.
//
// A capture copied each file after the report had been made from it, so a
// counter that moved in between (memory.usage_in_bytes, memory.stat) made
// `--root` print other numbers than the live run. With a capture_record the
// readers keep what they read, and the capture writes exactly those bytes.
#pragma once

#include <cstddef>      // std::size_t
#include <cstring>      // std::memcpy
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "detail/mutex.hpp"  // mutex, lock_guard (not <mutex>: its cost)
#include "error.hpp"         // result, errc, error

namespace headroom {

// Every file the readers given it (options::record) opened, with the bytes
// of its first read, and every directory they looked into.
//
// With a record, a reader reads each file once: a later read of the same
// file returns the bytes of the first, so a report made in one pass (a
// counter read twice, meminfo read by two readers) rests on one set of
// bytes, and a tree written from the record replays it byte for byte.
// A file that was opened but never read, or whose reads all failed, has no
// bytes. Two real files for one logical path (the reader's and the target's
// mountinfo of another mount namespace) keep the first; the second is read
// as it is, never replaced by the other's bytes.
//
// Thread-safety: every member may be called from many threads at once.
// Lifetime: the readers keep it alive (options::record is a shared_ptr).
class capture_record {
 public:
  // One file, by its logical path (/proc/self/cgroup, /sys/fs/cgroup/...).
  struct file {
    // The path the process being inspected would see.
    std::string logical;
    // The path it was read from (the root prefix added).
    std::string real;
    // The bytes of its first read; none when it was never read whole.
    std::optional<std::string> bytes;
  };

  // Notes that `logical` was opened from `real` (the first real path wins).
  void note(std::string_view logical, std::string_view real) {
    const detail::lock_guard lock(mutex_);
    entry_of(logical, real);
  }

  // Notes a directory a reader opened or listed (logical path).
  void note_directory(std::string_view logical) {
    const detail::lock_guard lock(mutex_);
    for (const auto& d : dirs_)
      if (d == logical) return;
    dirs_.emplace_back(logical);
  }

  // The outcome of reading `logical` whole from `real`: the bytes recorded
  // before when there are any, else `got`, recorded when it succeeded.
  result<std::string> pin(std::string_view logical, std::string_view real,
                          result<std::string> got) {
    const detail::lock_guard lock(mutex_);
    file* f = entry_of(logical, real);
    if (f == nullptr) return got;
    if (f->bytes) return *f->bytes;
    if (got) f->bytes = *got;
    return got;
  }

  // The same for a read into buf[0, cap) (the kept files of the readers):
  // `got` is what the read returned, errc::malformed when it filled the
  // buffer. Recorded bytes that would fill the buffer are malformed too,
  // naming `path`, as the read itself would have been.
  result<std::string_view> pin_into(std::string_view logical,
                                    std::string_view real,
                                    result<std::string_view> got, char* buf,
                                    std::size_t cap, const std::string& path) {
    const detail::lock_guard lock(mutex_);
    file* f = entry_of(logical, real);
    if (f == nullptr) return got;
    if (f->bytes) {
      if (f->bytes->size() >= cap)
        return result<std::string_view>(errc::malformed, path);
      if (!f->bytes->empty())
        std::memcpy(buf, f->bytes->data(), f->bytes->size());
      return std::string_view(buf, f->bytes->size());
    }
    if (got) {
      f->bytes = std::string(*got);
    } else if (got.error().code == errc::malformed) {
      f->bytes = std::string(buf, cap);  // a full buffer replays as one
    }
    return got;
  }

  // The files, in the order they were first opened.
  std::vector<file> files() const {
    const detail::lock_guard lock(mutex_);
    return files_;
  }

  // The directories, in the order they were first seen.
  std::vector<std::string> directories() const {
    const detail::lock_guard lock(mutex_);
    return dirs_;
  }

 private:
  // The entry of `logical`, made when new; nullptr when it was read from
  // another real path (it is not this one's to pin). A linear search: a
  // capture holds some tens of files, and <map> would cost every reader's
  // translation unit its compile time.
  file* entry_of(std::string_view logical, std::string_view real) {
    file* f = nullptr;
    for (auto& e : files_)
      if (e.logical == logical) {
        f = &e;
        break;
      }
    if (f == nullptr) {
      files_.push_back(file{std::string(logical), std::string(real), {}});
      f = &files_.back();
    }
    return f->real == real ? f : nullptr;
  }

  mutable detail::mutex mutex_;
  std::vector<file> files_;
  std::vector<std::string> dirs_;
};

}  // namespace headroom
