// SPDX-License-Identifier: MIT
// headroom-info: what memory this process (or --pid N) may really use, and
// where each number comes from. The library's counterpart of
// `java -XshowSettings:system`.
//
//   headroom-info [--json | --format human|json|prometheus] [--root DIR]
//                 [--pid N] [--capture DIR]
//   headroom-info --watch [--json] [--interval MS] [--root DIR] [--pid N]
//   headroom-info --env [RUNTIME...] [--override] [--root DIR] [--pid N]
//   headroom-info --exec [--runtime RUNTIME...] [--override] -- COMMAND [ARGS]
//
// Exits 0 whenever it could report ("no limit" included); otherwise prints
// one line on stderr and exits 1 (2 for bad arguments). --watch --pid N
// exits 3 when process N ends.
#include <headroom/export.hpp>
#include <headroom/headroom.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture.hpp"
#include "runtime_env.hpp"
#include "watch.hpp"

namespace {

struct args {
  bool json = false;
  bool prometheus = false;
  bool watch = false;
  int interval_ms = 1000;
  std::string root = "/";
  int pid = 0;
  std::string capture;
  std::string record;  // --watch --record DIR
  bool env = false;    // --env
  bool exec = false;   // --exec
  headroom_info::runtime_request runtimes;
  std::vector<std::string> command;  // after --
};

const char* const usage_text =
    "usage: headroom-info [--json | --format FORMAT] [--root DIR] [--pid N] "
    "[--capture DIR]\n"
    "       headroom-info --watch [--json] [--interval MS] [--record DIR] "
    "[--root DIR] [--pid N]\n"
    "  --json         one JSON object (its contract: README.md, \"The JSON "
    "contract\")\n"
    "  --format F     human (default), json, or prometheus (text exposition "
    "0.0.4)\n"
    "  --root DIR     read proc/ and sys/ under DIR instead of /\n"
    "  --pid N        report on process N instead of this one\n"
    "  --capture DIR  copy every file read into DIR; --root DIR replays it\n"
    "  --watch        stream pressure, oom_kill and limit_changed events (one\n"
    "                 per line; JSON lines with --json) until interrupted;\n"
    "                 with --pid N, exits 3 once process N has ended\n"
    "  --interval MS  with --watch: how often the limit and cgroup are\n"
    "                 re-checked, and usage sampled far from the edges (1000)\n"
    "  --record DIR   with --watch: keep the last 2 minutes of samples and\n"
    "                 write them to DIR on critical and on oom_kill (JSON "
    "lines)\n"
    "  --env [RUNTIME...]  shell export lines that size each runtime (go, "
    "jvm,\n"
    "                 node, dotnet, glibc; all without RUNTIME) for the limit\n"
    "  --exec [--runtime RUNTIME]... -- COMMAND [ARGS...]\n"
    "                 set them and run COMMAND in place of headroom-info\n"
    "  --override     replace values the user already set (kept otherwise)\n"
    "  --version      print the version\n";

// Where README.md is: beside an installed headroom-info, <prefix>/share/doc/
// headroom (HEADROOM_INFO_DOCS: that directory relative to the binary's);
// otherwise only the sources have it. Said as it is, never a path that is
// not there.
#ifndef HEADROOM_INFO_DOCS
#define HEADROOM_INFO_DOCS "../share/doc/headroom"
#endif
std::string docs_line() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<std::size_t>(n));
    dir.erase(dir.find_last_of('/') + 1);
    const std::string readme = dir + HEADROOM_INFO_DOCS "/README.md";
    struct stat st {};
    if (::stat(readme.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      char real[4096];
      const bool ok = ::realpath(readme.c_str(), real) != nullptr;
      return "Documentation: " + (ok ? std::string(real) : readme) + "\n";
    }
  }
  return "Documentation: README.md of the headroom sources (not installed "
         "here)\n";
}

[[noreturn]] void bad_usage(const std::string& why) {
  std::fprintf(stderr, "headroom-info: %s\n%s",
               headroom::printable(why).c_str(), usage_text);
  std::exit(2);
}

// RUNTIME, or several separated by commas.
void add_runtime(args& a, std::string_view names) {
  while (!names.empty()) {
    const std::size_t comma = names.find(',');
    const std::string_view name = names.substr(0, comma);
    const auto r = headroom::runtime_from_string(name);
    if (!r) bad_usage("unknown runtime: " + std::string(name));
    a.runtimes.runtimes.push_back(*r);
    names = comma == std::string_view::npos ? std::string_view()
                                            : names.substr(comma + 1);
  }
}

args parse_args(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) bad_usage(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--format") {
      const std::string f = value();
      if (f != "human" && f != "json" && f != "prometheus")
        bad_usage("bad format: " + f);
      a.json = f == "json";
      a.prometheus = f == "prometheus";
    } else if (arg == "--watch") {
      a.watch = true;
    } else if (arg == "--interval") {
      const std::string v = value();
      auto n = headroom::parse_u64(v);
      if (!n || *n == 0 || *n > 3600000) bad_usage("bad interval: " + v);
      a.interval_ms = static_cast<int>(*n);
    } else if (arg == "--root") {
      a.root = value();
    } else if (arg == "--pid") {
      const std::string v = value();
      auto n = headroom::parse_u64(v);
      if (!n || *n == 0 || *n > 0x3fffffff) bad_usage("bad pid: " + v);
      a.pid = static_cast<int>(*n);
    } else if (arg == "--capture") {
      a.capture = value();
    } else if (arg == "--record") {
      a.record = value();
    } else if (arg == "--env") {
      a.env = true;
      while (i + 1 < argc && argv[i + 1][0] != '-') add_runtime(a, argv[++i]);
    } else if (arg == "--exec") {
      a.exec = true;
    } else if (arg == "--runtime") {
      add_runtime(a, value());
      while (i + 1 < argc && argv[i + 1][0] != '-') add_runtime(a, argv[++i]);
    } else if (arg == "--override") {
      a.runtimes.override_user = true;
    } else if (arg == "--") {
      for (++i; i < argc; ++i) a.command.emplace_back(argv[i]);
    } else if (arg == "--version") {
      std::printf("headroom-info %s\n", HEADROOM_VERSION_STRING);
      std::exit(0);
    } else if (arg == "--help" || arg == "-h") {
      std::printf("%s%s", usage_text, docs_line().c_str());
      std::exit(0);
    } else {
      bad_usage("unknown argument: " + std::string(arg));
    }
  }
  if (a.env && a.exec) bad_usage("--env and --exec exclude each other");
  if (a.exec && a.command.empty()) bad_usage("--exec needs -- COMMAND");
  if (!a.exec && !a.command.empty()) bad_usage("-- COMMAND needs --exec");
  if (!a.env && !a.exec &&
      (!a.runtimes.runtimes.empty() || a.runtimes.override_user))
    bad_usage("--runtime and --override go with --env or --exec");
  if (!a.record.empty() && !a.watch) bad_usage("--record goes with --watch");
  if ((a.env || a.exec) &&
      (a.json || a.prometheus || a.watch || !a.capture.empty()))
    bad_usage("--env and --exec take --root, --pid, --runtime, --override");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const args a = parse_args(argc, argv);

  headroom::options opt;
  opt.root = a.root;
  opt.pid = a.pid;
  headroom_info::capture_list captured;
  if (!a.capture.empty()) opt.record = captured.record();
  if (a.env) return headroom_info::print_runtime_env(opt, a.runtimes);
  if (a.exec)
    return headroom_info::exec_with_runtime_env(opt, a.runtimes, a.command);
  if (a.watch) {
    if (a.prometheus || !a.capture.empty())
      bad_usage("--watch takes --json, not --format prometheus or --capture");
    return headroom_info::watch(
        opt, a.json, std::chrono::milliseconds(a.interval_ms), a.record);
  }

  // The capture directory is checked before anything is read: a refused
  // DIR ends the run with nothing written.
  std::optional<headroom_info::capture_dir> capture_into;
  if (!a.capture.empty()) {
    auto dir = headroom_info::capture_dir::open(a.capture);
    if (!dir) {
      std::fprintf(
          stderr, "headroom-info: cannot capture: %s\n",
          headroom::printable(headroom_info::capture_reason(dir.error()))
              .c_str());
      return 1;
    }
    capture_into.emplace(std::move(*dir));
  }

  auto ex = headroom::exporter::open(opt);
  if (!ex) {
    std::fprintf(
        stderr, "headroom-info: cannot report: %s\n",
        headroom::printable(headroom_info::why_not(ex.error(), opt)).c_str());
    return 1;
  }
  const headroom::export_report r = ex->read();
  const std::string out = a.prometheus ? headroom::to_prometheus(r)
                          : a.json     ? headroom::to_json(r)
                                       : headroom::to_text(r);
  std::fputs(out.c_str(), stdout);
  if (capture_into) {
    auto saved = captured.save(*capture_into);
    if (!saved) {
      std::fprintf(
          stderr, "headroom-info: capture failed: %s\n",
          headroom::printable(headroom_info::capture_reason(saved.error()))
              .c_str());
      return 1;
    }
    std::fprintf(stderr, "headroom-info: captured %zu files into %s\n",
                 captured.size(), headroom::printable(a.capture).c_str());
  }
  return 0;
}
