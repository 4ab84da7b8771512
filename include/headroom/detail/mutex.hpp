// SPDX-License-Identifier: MIT
// headroom: a mutex that does not cost every reader's translation unit
// <mutex>.
//
// <mutex> brings <chrono>, <tuple> and the timed and recursive mutexes; a
// file that includes memory.hpp paid about a fifth of a second of g++'s
// time for it, to lock two members. On POSIX systems std::mutex is a
// pthread_mutex_t with the default attributes, and so is this one;
// elsewhere it is std::mutex.
#pragma once

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>  // pthread_mutex_t, pthread_mutex_lock
#else
#include <mutex>  // std::mutex, where there is no pthread
#endif

namespace headroom::detail {

// Lock and unlock, as std::mutex (a BasicLockable). Not a system call:
// pthread_mutex_lock enters the kernel only when the mutex is contended,
// as std::mutex's does, so it is not behind HEADROOM_SYSCALL.
class mutex {
 public:
  mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;
#if defined(__unix__) || defined(__APPLE__)
  ~mutex() { ::pthread_mutex_destroy(&m_); }
  // A default mutex fails only when it is misused (EINVAL), as
  // std::mutex's lock() does, which libstdc++ reports by throwing.
  void lock() noexcept { ::pthread_mutex_lock(&m_); }
  void unlock() noexcept { ::pthread_mutex_unlock(&m_); }

 private:
  pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
#else
  ~mutex() = default;
  void lock() { m_.lock(); }
  void unlock() noexcept { m_.unlock(); }

 private:
  std::mutex m_;
#endif
};

// Holds a mutex for its scope, as std::lock_guard.
class lock_guard {
 public:
  explicit lock_guard(mutex& m) : m_(m) { m_.lock(); }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;
  ~lock_guard() { m_.unlock(); }

 private:
  mutex& m_;
};

}  // namespace headroom::detail
