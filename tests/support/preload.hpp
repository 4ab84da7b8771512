// SPDX-License-Identifier: MIT
// For the tests that run a probe with an allocator in LD_PRELOAD: where the
// allocator's library is, and the probe's key=value output.
#pragma once

#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#ifndef HEADROOM_LIBRARY_ARCHITECTURE
#define HEADROOM_LIBRARY_ARCHITECTURE ""
#endif

namespace headroom_test {

// The path of `soname` in the usual library directories; empty: not there.
inline std::string find_library(const std::string& soname) {
  const std::string arch = HEADROOM_LIBRARY_ARCHITECTURE;
  std::vector<std::string> dirs;
  if (!arch.empty()) {
    dirs.push_back("/usr/lib/" + arch);
    dirs.push_back("/lib/" + arch);
  }
  for (const char* d :
       {"/usr/lib64", "/usr/lib", "/lib64", "/lib", "/usr/local/lib"}) {
    dirs.emplace_back(d);
  }
  for (const auto& d : dirs) {
    const std::string path = d + "/" + soname;
    if (::access(path.c_str(), R_OK) == 0) return path;
  }
  return {};
}

// "key=value" lines; other lines are ignored.
inline std::map<std::string, std::string> key_values(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    at = nl + 1;
  }
  return kv;
}

}  // namespace headroom_test
