// SPDX-License-Identifier: MIT
// headroom: the whole library. Include this, or only the headers you use.
#pragma once

#include "allocator.hpp"      // allocator_policy, set_heap_limit
#include "cpu.hpp"            // cpu_reader, cpu_snapshot
#include "discover.hpp"       // discover, cgroup_location
#include "error.hpp"          // error, result, errc
#include "kubernetes.hpp"     // read_kubernetes, kubernetes_context
#include "memory.hpp"         // memory_reader, memory_snapshot
#include "parse.hpp"          // the parsers, for tools
#include "policy.hpp"         // budget_policy, jvm, dotnet
#include "pressure.hpp"       // monitor, memory_event
#include "release.hpp"        // release_free_memory
#include "runtime.hpp"        // runtime_settings, runtime_env
#include "shared_budget.hpp"  // shared_budget
#include "version.hpp"        // HEADROOM_VERSION_STRING
