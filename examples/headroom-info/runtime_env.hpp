// SPDX-License-Identifier: MIT
// headroom-info --env and --exec: runtime settings from the real limit
// (headroom/runtime.hpp), printed as POSIX shell export lines or set in the
// environment of a command that then replaces headroom-info.
#pragma once

#include <headroom/cpu.hpp>
#include <headroom/export.hpp>
#include <headroom/memory.hpp>
#include <headroom/runtime.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace headroom_info {

struct runtime_request {
  std::vector<headroom::runtime> runtimes;  // empty: all of them
  bool override_user = false;
};

// The settings for this process's (or opt.pid's) limit and CPUs, or one
// line on stderr saying why not.
inline bool compute_runtime_env(const headroom::options& opt,
                                const runtime_request& req,
                                headroom::runtime_env& out) {
  const auto fail = [](const char* what, const headroom::error& e) {
    std::fprintf(stderr, "headroom-info: cannot size the runtimes: %s: %s\n",
                 what, headroom::printable(e.message()).c_str());
    return false;
  };
  const auto found = headroom::discovery::read(opt);  // one mountinfo read
  auto mem = headroom::memory_reader::open(found);
  if (!mem) return fail("memory", mem.error());
  auto cpu = headroom::cpu_reader::open(found);
  if (!cpu) return fail("cpus", cpu.error());
  headroom::runtime_env_options o;
  o.override_user = req.override_user;
  // RLIMIT_AS and RLIMIT_DATA are inherited across exec: ours are the
  // command's.
  if (opt.pid == 0) {
    auto lim = headroom::read_address_limits();
    if (!lim) return fail("rlimits", lim.error());
    o.limits = *lim;
  }
  auto env = headroom::runtime_settings(
      mem->snapshot(), cpu->snapshot(),
      req.runtimes.empty() ? headroom::all_runtimes() : req.runtimes, o);
  if (!env) return fail("limits", env.error());
  out = std::move(*env);
  return true;
}

// --env: export lines, and a comment for each variable left alone.
inline int print_runtime_env(const headroom::options& opt,
                             const runtime_request& req) {
  headroom::runtime_env env;
  if (!compute_runtime_env(opt, req, env)) return 1;
  for (const auto& s : env.skipped) {
    std::printf("# %s %s: %s\n", headroom::to_string(s.from),
                headroom::printable(s.name).c_str(),
                headroom::printable(s.why).c_str());
  }
  for (const auto& s : env.set) {
    std::printf("# %s %s: %s\n%s\n", headroom::to_string(s.from),
                s.name.c_str(), s.why.c_str(),
                headroom::shell_export(s).c_str());
  }
  return 0;
}

// --exec: sets the variables and replaces this process with argv[0]. Exits
// 127 when the command is not found, 126 when it cannot be run (as env(1)).
inline int exec_with_runtime_env(const headroom::options& opt,
                                 const runtime_request& req,
                                 const std::vector<std::string>& command) {
  headroom::runtime_env env;
  if (!compute_runtime_env(opt, req, env)) return 1;
  for (const auto& s : env.set) {
    if (::setenv(s.name.c_str(), s.value.c_str(), 1) != 0) {
      std::fprintf(stderr, "headroom-info: setenv %s: %s\n", s.name.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  const int err = errno;
  std::fprintf(stderr, "headroom-info: cannot run %s: %s\n",
               headroom::printable(command[0]).c_str(), std::strerror(err));
  return err == ENOENT ? 127 : 126;
}

}  // namespace headroom_info
