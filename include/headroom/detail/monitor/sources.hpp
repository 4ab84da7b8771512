// headroom: the monitor's event sources, in the order they are opened. A
// new source is its own header with an open_* function, and a line here.
// Each opener returns nullopt when the source does not exist in this mode
// (it then has no line in sources()), or a source whose status says it is
// active, disabled or why it failed.
#pragma once

#include <optional>

#include "counters.hpp"
#include "psi.hpp"
#include "source.hpp"
#include "systemd.hpp"
#include "usage_thresholds.hpp"
#include "v1_events.hpp"

namespace headroom::detail {

using source_opener = std::optional<monitor_source> (*)(const source_env&);

inline constexpr source_opener source_list[] = {
    open_usage_bands,        // v1 eventfd thresholds, else the sampler
    open_v1_pressure_level,  // v1, hybrid
    open_v1_oom_control,     // v1, hybrid
    open_psi,                // PSI triggers
    open_memory_events,      // v2 memory.events
    open_systemd,            // $MEMORY_PRESSURE_WATCH
};

}  // namespace headroom::detail
