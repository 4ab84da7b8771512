// SPDX-License-Identifier: MIT
// headroom: the hierarchy mode, decided once by discovery (discover.hpp).
// What each mode reads is in layout.hpp, picked by layout_for(mode).
#pragma once

namespace headroom {

// How memory is controlled on this host.
enum class hierarchy_mode {
  none,    // no memory controller visible
  v1,      // memory controller on a cgroup v1 hierarchy, no cgroup2 mount
  hybrid,  // memory controller on cgroup v1, and a cgroup2 mount exists
  v2,      // memory controller on cgroup2
};

// The mode's name: "none", "v1", "hybrid" or "v2".
constexpr const char* to_string(hierarchy_mode m) noexcept {
  switch (m) {
    case hierarchy_mode::v1:
      return "v1";
    case hierarchy_mode::hybrid:
      return "hybrid";
    case hierarchy_mode::v2:
      return "v2";
    case hierarchy_mode::none:
      break;
  }
  return "none";
}

// True when the controller is on cgroup v1 (v1 or hybrid hosts): v1 file
// names and semantics apply.
constexpr bool is_v1(hierarchy_mode m) noexcept {
  return m == hierarchy_mode::v1 || m == hierarchy_mode::hybrid;
}

}  // namespace headroom
