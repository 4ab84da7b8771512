// SPDX-License-Identifier: MIT
// A consumer that calls what users call, so that templates are instantiated
// under the strict warnings too (tests/strict/run.cmake).
#include <cstdio>
#include <headroom/headroom.hpp>

int main() {
  auto reader = headroom::memory_reader::open();
  if (!reader) {
    std::printf("%s\n", reader.error().message().c_str());
    return 0;
  }
  const headroom::memory_snapshot s = reader->snapshot();
  const auto holder = reader->limit_cgroup(s);
  const auto report = reader->report();
  auto budget = headroom::compute_budget(s, headroom::presets::jvm());
  auto cpu = headroom::cpu_reader::open();
  if (cpu) (void)cpu->snapshot().effective(headroom::cpu_rounding::up);
  auto m = headroom::monitor::create();
  if (m) {
    auto sub = m->subscribe([](const headroom::memory_event& e) { (void)e; });
    (void)m->dispatch();
  }
  const headroom::cgroup_layout* layout = headroom::layout_for(s.mode);
  std::printf(
      "%s %s %s %zu %d\n", headroom::format_bytes(s.usage.value_or(0)).c_str(),
      holder ? holder->dir.c_str() : "-", layout ? layout->name.data() : "none",
      report.chain.size(), budget ? 1 : 0);
  return 0;
}
