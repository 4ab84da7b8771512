// SPDX-License-Identifier: MIT
// Units and a fixed start time the tests share. Defined once here, so that
// test files compiled together (a unity build) see one definition.
#pragma once

#include <chrono>
#include <cstdint>

namespace headroom_test {

inline constexpr std::uint64_t MiB = 1024 * 1024;
inline constexpr std::uint64_t GiB = 1024 * MiB;

// Where tests that pass times in start: an hour after the steady clock's
// epoch, so that times a little before it are still valid time points.
inline const std::chrono::steady_clock::time_point t0 =
    std::chrono::steady_clock::time_point() + std::chrono::hours(1);

}  // namespace headroom_test
