// SPDX-License-Identifier: MIT
// headroom: one conversion between integer types that are the same type on
// 64-bit Linux and differ on 32-bit targets (size_t and uint64_t, time_t and
// int64_t). A static_cast there is "useless" to -Wuseless-cast on one target
// and required by -Wconversion on the other; a template argument is neither.
#pragma once

namespace headroom::detail {

// The value of `v` as a `To`: the caller has checked that it fits, or wants
// the conversion's modular result (a timespec field, an epoll key half).
template <class To, class From>
constexpr To narrow(From v) noexcept {
  return static_cast<To>(v);
}

}  // namespace headroom::detail
