// SPDX-License-Identifier: MIT
// headroom: what each cgroup version reads, as data.
//
// A hierarchy version is a table (detail/v1.hpp, detail/v2.hpp): its file
// names, its memory.stat keys, which optional values it has (high, failcnt,
// a swap rule, an events file and its keys) and the events it registers
// through cgroup.event_control. layout_for(mode) is the one place that picks
// a table for a mode; the readers, the monitor and headroom-info ask the
// table (`if (L.high)`) instead of asking the mode. Adding a file or a
// version is an edit to a table.
#pragma once

#include "detail/layout_types.hpp"  // memory_layout, cpu_layout, cgroup_layout
#include "detail/v1.hpp"            // the v1 table
#include "detail/v2.hpp"            // the v2 table
#include "mode.hpp"                 // hierarchy_mode

namespace headroom {

// The table for a mode: v1 and hybrid hosts read v1 files (the memory
// controller is on a v1 hierarchy), v2 hosts v2 files. nullptr for mode
// none: there is no cgroup to read.
constexpr const cgroup_layout* layout_for(hierarchy_mode m) noexcept {
  switch (m) {
    case hierarchy_mode::v1:
    case hierarchy_mode::hybrid:
      return &detail::v1::layout;
    case hierarchy_mode::v2:
      return &detail::v2::layout;
    case hierarchy_mode::none:
      break;
  }
  return nullptr;
}

}  // namespace headroom
