// SPDX-License-Identifier: MIT
// Heap tuning: what the JVM, the .NET GC and Go's automemlimit would size
// for this process's real limit, and how many CPUs it really has. A
// starting point for runtime flags (-Xmx, GCHeapHardLimit, GOMEMLIMIT,
// GOMAXPROCS) when they are set from outside, for example in an
// entrypoint script:
//
//   headroom-heap-tuning            a table
//   headroom-heap-tuning --env      shell lines: HEADROOM_JVM_MAX_HEAP=...
#include <headroom/cpu.hpp>
#include <headroom/format.hpp>
#include <headroom/memory.hpp>
#include <headroom/policy.hpp>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

struct preset {
  const char* name;
  const char* env;
  const char* flag;
  headroom::budget_policy policy;
};

}  // namespace

int main(int argc, char** argv) {
  const bool env = argc > 1 && std::strcmp(argv[1], "--env") == 0;
  // Both readers from one read of /proc/self/cgroup and mountinfo.
  const auto found = headroom::discovery::read();
  auto reader = headroom::memory_reader::open(found);
  if (!reader) {
    std::fprintf(stderr, "headroom-heap-tuning: %s\n",
                 reader.error().message().c_str());
    return 1;
  }
  const auto s = reader->snapshot();
  const preset presets[] = {
      {"JVM (HotSpot defaults)", "HEADROOM_JVM_MAX_HEAP", "-Xmx / -Xms",
       headroom::presets::jvm()},
      {".NET GC (hard limit)", "HEADROOM_DOTNET_HEAP_LIMIT", "GCHeapHardLimit",
       headroom::presets::dotnet()},
      {"Go (automemlimit)", "HEADROOM_GOMEMLIMIT", "GOMEMLIMIT",
       headroom::presets::go_automemlimit()},
  };
  if (!env) {
    std::printf(
        "effective limit %s (%s)\n",
        s.effective_limit ? headroom::format_bytes(*s.effective_limit).c_str()
                          : s.effective_limit.error().message().c_str(),
        s.has_limit() ? reader->limit_path(s).c_str() : "no limit: host RAM");
  }
  int rc = 0;
  for (const auto& p : presets) {
    auto b = headroom::compute_budget(s, p.policy);
    if (!b) {
      std::fprintf(stderr, "%s: %s\n", p.name, b.error().message().c_str());
      rc = 1;
      continue;
    }
    if (!*b) {
      // The runtime sets nothing without a limit (.NET, automemlimit).
      if (!env)
        std::printf(
            "  %-24s not set: no memory limit (%s left to its default)\n",
            p.name, p.flag);
      continue;
    }
    const auto& budget = **b;
    if (env) {
      std::printf("%s=%llu\n", p.env,
                  static_cast<unsigned long long>(budget.max));
      if (budget.initial) {
        std::printf("%s_INITIAL=%llu\n", p.env,
                    static_cast<unsigned long long>(*budget.initial));
      }
    } else {
      std::printf("  %-24s max %11s  initial %11s  (%s, bound: %s)\n", p.name,
                  headroom::format_bytes(budget.max).c_str(),
                  budget.initial
                      ? headroom::format_bytes(*budget.initial).c_str()
                      : "-",
                  p.flag, headroom::to_string(budget.max_bound));
    }
  }
  auto cpus = headroom::cpu_reader::open(found);
  if (!cpus) {
    std::fprintf(stderr, "cpus: %s\n", cpus.error().message().c_str());
    return 1;
  }
  const auto c = cpus->snapshot();
  const auto up = c.effective(headroom::cpu_rounding::up);
  const auto down = c.effective(headroom::cpu_rounding::down);
  if (!up || !down) {
    std::fprintf(stderr, "cpus: %s\n",
                 (up ? down : up).error().message().c_str());
    return 1;
  }
  if (env) {
    std::printf("HEADROOM_CPUS=%u\nHEADROOM_GOMAXPROCS=%u\n", *up, *down);
  } else {
    std::printf(
        "  %-24s %u rounded up (JDK, .NET), %u rounded down (GOMAXPROCS, "
        "automaxprocs)\n",
        "CPUs", *up, *down);
  }
  return rc;
}
