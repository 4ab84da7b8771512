// SPDX-License-Identifier: MIT
// headroom: pure parsers for the kernel files the library reads.
//
// Each parser is a function from text to a value: no I/O, no allocation
// unless a string must be unescaped. Its comment gives the file's format and
// the kernel document that defines it. The I/O that feeds these lives in
// the readers (read_x reads, parse_x parses). One header per file family;
// include this one for all of them.
#pragma once

#include "parse/cpu.hpp"          // cpu.max, cpu.cfs_*, CPU lists, status
#include "parse/keyed.hpp"        // memory.stat, memory.events, oom_control
#include "parse/meminfo.hpp"      // /proc/meminfo
#include "parse/mountinfo.hpp"    // /proc/<pid>/mountinfo
#include "parse/numbers.hpp"      // numbers, "max", v1 unlimited, sizes
#include "parse/proc_cgroup.hpp"  // /proc/<pid>/cgroup
#include "parse/psi.hpp"          // memory.pressure, /proc/pressure/memory
#include "parse/text.hpp"         // lines and fields
