// SPDX-License-Identifier: MIT
// headroom: the monitor's event sources, in the order they are opened. A
// new source is its own header with an open_* function, and a line here.
// Each opener adds nothing when the source does not exist in this mode (it
// then has no line in sources()), or sources whose status says they are
// active, disabled or why they failed. What exists in which mode is read
// from the version's table (layout_for), never from the mode itself.
#pragma once

#include "changes.hpp"           // open_changes
#include "counters.hpp"          // open_memory_events
#include "psi.hpp"               // open_psi
#include "source.hpp"            // source_env, source_sink
#include "systemd.hpp"           // open_systemd
#include "thrashing.hpp"         // open_thrashing
#include "usage_thresholds.hpp"  // open_usage_bands
#include "v1_events.hpp"         // open_cgroup_events

namespace headroom::detail {

using source_opener = void (*)(const source_env&, source_sink&);

inline constexpr source_opener source_list[] = {
    open_changes,        // inotify on the chain: limit_changed at once
    open_usage_bands,    // v1 eventfd thresholds, else the sampler
    open_cgroup_events,  // the table's cgroup.event_control rows (v1)
    open_psi,            // PSI triggers
    open_memory_events,  // v2 memory.events
    open_systemd,        // $MEMORY_PRESSURE_WATCH
    open_thrashing,      // memory.stat refaults (opt-in)
};

}  // namespace headroom::detail
