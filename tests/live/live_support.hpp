// SPDX-License-Identifier: MIT
// Shared by the live test files: the host's layout, a fresh top cgroup per
// test, and removal of what a test made.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../support/doctest.hpp"
#include "live_cgroup.hpp"

namespace headroom_live {

inline constexpr std::uint64_t MiB = 1024 * 1024;

// Set by main() before any test runs.
inline host_layout g_host;
inline int g_serial = 0;

using cgroup_list = std::vector<std::unique_ptr<cgroup_dir>>;

// A fresh top directory for one test, under the own memory cgroup.
inline std::string new_base(cgroup_list& keep) {
  std::string err;
  auto dir = cgroup_dir::make(g_host, g_host.own_dir,
                              "headroom-live-" + std::to_string(::getpid()) +
                                  "-" + std::to_string(++g_serial),
                              &err);
  REQUIRE_MESSAGE(dir.has_value(), err);
  keep.push_back(std::make_unique<cgroup_dir>(g_host, *dir));
  return *dir;
}

inline cgroup_dir& add(cgroup_list& keep, const std::string& parent,
                       const std::string& name, bool enable_memory = true) {
  std::string err;
  auto dir = cgroup_dir::make(g_host, parent, name, &err, enable_memory);
  REQUIRE_MESSAGE(dir.has_value(), err);
  keep.push_back(std::make_unique<cgroup_dir>(g_host, *dir));
  return *keep.back();
}

// Removes the directories deepest first when a test ends.
struct cleanup {
  cgroup_list& keep;
  ~cleanup() {
    while (!keep.empty()) keep.pop_back();
  }
};

inline child_report must(const std::optional<child_report>& r) {
  REQUIRE_MESSAGE(r.has_value(), "the child died before it answered");
  REQUIRE_MESSAGE(r->open_ok == 1, r->open_error);
  return *r;
}

}  // namespace headroom_live
