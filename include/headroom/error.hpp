// SPDX-License-Identifier: MIT
// headroom: error codes and result<T>.
//
// Fallible calls return result<T>: a value, or an error that names what went
// wrong (a std::error_code) and the file it concerns. The library's own
// conditions are headroom::errc; a failed system call carries its errno in
// std::system_category(). Nothing here throws, so everything works with
// -fno-exceptions.
#pragma once

// Every headroom header includes this one first: a build in an older
// standard stops here, with one message, instead of at a std::optional.
#if __cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L)
#error "headroom needs C++17 or later: compile with -std=c++17"
#include <headroom_needs_cxx17>  // stop here (an #error alone lets the compiler go on)
#endif

#include <cstdio>        // std::fprintf, stderr
#include <cstdlib>       // std::abort
#include <new>           // placement new, for result's value
#include <optional>      // std::optional
#include <string>        // std::string
#include <system_error>  // std::error_category, std::error_code
#include <type_traits>   // std::is_error_code_enum, std::true_type
#include <utility>       // std::move, std::in_place, std::forward

// Called when a result is used as a value while it holds an error (a bug in
// the caller). Override by defining HEADROOM_ASSERT before including headroom.
#ifndef HEADROOM_ASSERT
#define HEADROOM_ASSERT(cond)    \
  ((cond) ? static_cast<void>(0) \
          : ::headroom::detail::assert_failed(#cond, __FILE__, __LINE__))
#endif

namespace headroom {

namespace detail {
[[noreturn]] inline void assert_failed(const char* what, const char* file,
                                       int line) {
  std::fprintf(stderr, "headroom: assertion failed: %s (%s:%d)\n", what, file,
               line);
  std::abort();
}
}  // namespace detail

// The library's own error conditions. System call failures are not listed:
// they keep their errno in std::system_category().
enum class errc {
  no_cgroup = 1,      // no cgroup line or no cgroup mount for the process
  controller_absent,  // the controller (memory, cpu...) is not available
  malformed,          // a file's content does not have the documented format
                      // (also: larger than the fixed buffer it is read into)
  not_supported,      // not provided by this hierarchy mode or platform
  disabled,           // turned off by configuration (HEADROOM_DETECT=off)
  not_visible,        // the process's cgroup is not visible: no mount maps its
                      // path, and no directory lists the process
  not_regular_file,   // not a regular file or directory: a FIFO, socket or
                      // device where a kernel file was expected
};

namespace detail {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "headroom"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::no_cgroup:
        return "no cgroup found for the process";
      case errc::controller_absent:
        return "controller not available";
      case errc::malformed:
        return "malformed content";
      case errc::not_supported:
        return "not supported here";
      case errc::disabled:
        return "turned off by configuration";
      case errc::not_visible:
        return "the process's cgroup is not visible here";
      case errc::not_regular_file:
        return "not a regular file (a FIFO, socket or device), not read";
    }
    return "unknown headroom error";
  }
};
}  // namespace detail

inline const std::error_category& category() noexcept {
  static const detail::category_impl instance;
  return instance;
}

// The std::error_code of an errc, in headroom's category().
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace headroom

template <>
struct std::is_error_code_enum<headroom::errc> : std::true_type {};

namespace headroom {

// What went wrong, and with which file (empty when no file is concerned).
// error(errc::malformed, path) for the library's own conditions,
// errno_error(errno, path) for a failed system call.
struct error {
  // What failed: an errc (category()) or an errno (std::system_category()).
  std::error_code code;
  // The file concerned; empty when none is.
  std::string path;

  error() = default;
  error(std::error_code c, std::string p = {}) noexcept  // NOLINT: implicit
      : code(c), path(std::move(p)) {}
  error(errc c, std::string p = {}) noexcept  // NOLINT: implicit
      : code(make_error_code(c)), path(std::move(p)) {}

  // "path: message", or just the message when there is no path.
  std::string message() const {
    std::string m = code.message();
    return path.empty() ? m : path + ": " + m;
  }
};

// error{code, path}.
inline error make_error(std::error_code code, std::string path = {}) {
  return error{code, std::move(path)};
}

// An errno value (a failed system call) about path.
inline error errno_error(int err, std::string path = {}) {
  return error{std::error_code(err, std::system_category()), std::move(path)};
}

// The same error about another file: a parser's error given the path of the
// file it parsed.
inline error with_path(const error& e, std::string path) {
  return error{e.code, std::move(path)};
}

// The questions callers ask about an error. Each names a cause, not a code,
// so the codes that mean it are listed once, here.

// The file does not exist (ENOENT): a file this directory does not have.
inline bool is_missing(const error& e) noexcept {
  return e.code == std::errc::no_such_file_or_directory;
}

// The cgroup is gone: its directory was removed (ENOENT on open, ENODEV on
// a read of a file that was opened before the rmdir).
inline bool is_gone(const error& e) noexcept {
  return is_missing(e) || e.code == std::errc::no_such_device;
}

// Not provided here: headroom's not_supported (this mode, this platform), or
// the kernel's EOPNOTSUPP (PSI turned off with psi=0).
inline bool is_unsupported(const error& e) noexcept {
  return e.code == errc::not_supported ||
         e.code == std::errc::operation_not_supported;
}

// The content is not what the file's format allows.
inline bool is_malformed(const error& e) noexcept {
  return e.code == errc::malformed;
}

// Turned off by configuration (HEADROOM_DETECT=off, an option).
inline bool is_disabled(const error& e) noexcept {
  return e.code == errc::disabled;
}

// This process may not change the file here: the cgroupfs is mounted
// read-only (EROFS, as in Docker and Kubernetes), or the process lacks the
// permission (EACCES, EPERM: not root, or not delegated).
inline bool is_denied(const error& e) noexcept {
  return e.code == std::errc::read_only_file_system ||
         e.code == std::errc::permission_denied ||
         e.code == std::errc::operation_not_permitted;
}

// The kernel refused what was written as a value it does not take (EINVAL):
// an older kernel's syntax, a window out of range.
inline bool is_rejected(const error& e) noexcept {
  return e.code == std::errc::invalid_argument;
}

// Someone else holds it (EBUSY): a PSI trigger already armed on the file.
inline bool is_busy(const error& e) noexcept {
  return e.code == std::errc::device_or_resource_busy;
}

// No cgroup for the process, or the controller is not there.
inline bool is_no_cgroup(const error& e) noexcept {
  return e.code == errc::no_cgroup || e.code == errc::controller_absent;
}

namespace detail {

// result<T>'s value, when there is one: a union and a flag. std::optional<T>
// holds it as well, and costs each translation unit its machinery (bases
// chosen by T's traits, constraints on every member) for each of the
// hundred or so result types the headers name: about a sixth of what
// including headroom.hpp cost.
template <class T>
class result_value {
 public:
  result_value() noexcept {}
  template <class... A>
  explicit result_value(std::in_place_t, A&&... a)
      : value_(std::forward<A>(a)...), has_(true) {}
  result_value(const result_value& o) {
    if (o.has_) emplace(o.value_);
  }
  result_value(result_value&& o) noexcept(
      std::is_nothrow_move_constructible_v<T>) {
    if (o.has_) emplace(std::move(o.value_));
  }
  result_value& operator=(const result_value& o) {
    if (this != &o) {
      reset();
      if (o.has_) emplace(o.value_);
    }
    return *this;
  }
  result_value& operator=(result_value&& o) noexcept(
      std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      reset();
      if (o.has_) emplace(std::move(o.value_));
    }
    return *this;
  }
  ~result_value() { reset(); }

  bool has() const noexcept { return has_; }
  T& get() noexcept { return value_; }
  const T& get() const noexcept { return value_; }

 private:
  template <class... A>
  void emplace(A&&... a) {
    ::new (static_cast<void*>(&value_)) T(std::forward<A>(a)...);
    has_ = true;
  }
  void reset() noexcept {
    if (has_) {
      value_.~T();
      has_ = false;
    }
  }

  union {
    T value_;
  };
  bool has_ = false;
};

// A base that leaves result<T> copyable only when T is, as std::optional
// would: is_copy_constructible_v<result<T>> tells the truth.
template <bool Copyable>
struct copy_control {};
template <>
struct copy_control<false> {
  copy_control() = default;
  copy_control(const copy_control&) = delete;
  copy_control(copy_control&&) = default;
  copy_control& operator=(const copy_control&) = delete;
  copy_control& operator=(copy_control&&) = default;
  ~copy_control() = default;
};

}  // namespace detail

// A value of type T, or an error. A small expected<T, error>.
template <class T>
class [[nodiscard]] result
    : detail::copy_control<std::is_copy_constructible_v<T>> {
 public:
  // The type of the value held.
  using value_type = T;

  // Implicit from anything a T can be made of, so `return bytes;` works.
  template <class U = T,
            class = std::enable_if_t<
                std::is_constructible_v<T, U&&> &&
                !std::is_same_v<std::decay_t<U>, result> &&
                !std::is_same_v<std::decay_t<U>, ::headroom::error> &&
                !std::is_same_v<std::decay_t<U>, errc>>>
  result(U&& value)  // NOLINT: implicit by design
      : value_(std::in_place, std::forward<U>(value)) {}
  result(::headroom::error e) : error_(std::move(e)) {}  // NOLINT
  // An error of headroom's own, about path.
  result(errc code, std::string path = {})  // NOLINT
      : error_(code, std::move(path)) {}

  // True when a value is held (no error).
  bool has_value() const noexcept { return value_.has(); }
  // has_value().
  explicit operator bool() const noexcept { return has_value(); }

  // The value; has_value() must be true (asserted in debug builds).
  T& value() & {
    HEADROOM_ASSERT(has_value());
    return value_.get();
  }
  // The value; has_value() must be true (asserted in debug builds).
  const T& value() const& {
    HEADROOM_ASSERT(has_value());
    return value_.get();
  }
  // The value, moved out; has_value() must be true (asserted in debug
  // builds).
  T&& value() && {
    HEADROOM_ASSERT(has_value());
    return std::move(value_.get());
  }
  // value().
  T& operator*() & { return value(); }
  // value().
  const T& operator*() const& { return value(); }
  // &value().
  T* operator->() { return &value(); }
  // &value().
  const T* operator->() const { return &value(); }

  template <class U>
  // The value, or fallback converted to T when there is an error.
  T value_or(U&& fallback) const& {
    return has_value() ? value_.get()
                       : static_cast<T>(std::forward<U>(fallback));
  }

  // The error; empty (code 0) when there is a value.
  const ::headroom::error& error() const& noexcept { return error_; }
  // The error, moved out; empty (code 0) when there is a value.
  ::headroom::error&& error() && noexcept { return std::move(error_); }

 private:
  detail::result_value<T> value_;
  ::headroom::error error_;
};

// result<void>: success, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(::headroom::error e) : error_(std::move(e)) {}  // NOLINT
  // An error of headroom's own, about path.
  result(errc code, std::string path = {})  // NOLINT
      : error_(code, std::move(path)) {}

  // True on success (the error's code is 0).
  bool has_value() const noexcept { return !error_.code; }
  // has_value().
  explicit operator bool() const noexcept { return has_value(); }
  // The error; empty (code 0) on success.
  const ::headroom::error& error() const& noexcept { return error_; }

 private:
  ::headroom::error error_;
};

}  // namespace headroom
