// SPDX-License-Identifier: MIT
// headroom: the whole library. Include this, or only the headers you use.
#pragma once

#include "allocator.hpp"
#include "cpu.hpp"
#include "discover.hpp"
#include "error.hpp"
#include "kubernetes.hpp"
#include "memory.hpp"
#include "parse.hpp"
#include "policy.hpp"
#include "pressure.hpp"
#include "release.hpp"
#include "runtime.hpp"
#include "shared_budget.hpp"
#include "version.hpp"
