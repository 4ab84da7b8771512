// SPDX-License-Identifier: MIT
// Runs each allocator_policy action on 64 MiB just freed and prints what it
// reported as key=value lines (allocator_preload_test runs it with an
// allocator in LD_PRELOAD):
//
//   allocator_probe            slack, release, decay, heap limit, arena max
//   allocator_probe --arenas   only counts glibc's heaps after 8 threads
//                              allocated at once (no arena max set)
#include <headroom/allocator.hpp>

#include <dlfcn.h>
#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t small = 4096;
constexpr std::size_t large = 1 << 20;

// 32 MiB in small blocks and 32 MiB in large ones, touched, then freed
// (a small block allocated after them stays, as live data would).
bool churn(std::vector<void*>& pins) {
  std::vector<void*> blocks;
  for (int i = 0; i < 8192; ++i) blocks.push_back(std::malloc(small));
  for (int i = 0; i < 32; ++i) blocks.push_back(std::malloc(large));
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i] == nullptr) return false;
    std::memset(blocks[i], 0x5a, i < 8192 ? small : large);
  }
  pins.push_back(std::malloc(small));
  for (void* p : blocks) std::free(p);
  return true;
}

std::string number(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v) : std::string("unknown");
}

void print(const char* key, const headroom::allocator_action& a) {
  std::printf("%s.status=%s\n", key, headroom::to_string(a.status));
  std::printf("%s.allocator=%s\n", key, headroom::to_string(a.allocator));
  std::printf("%s.call=%s\n", key, a.call.c_str());
  std::printf("%s.reason=%s\n", key, a.reason.c_str());
  std::printf("%s.measure=%s\n", key, a.measure.c_str());
  std::printf("%s.before=%s\n", key, number(a.before).c_str());
  std::printf("%s.after=%s\n", key, number(a.after).c_str());
  std::printf("%s.decrease=%s\n", key, number(a.decrease()).c_str());
}

// jemalloc's arena 0 dirty decay time, read independently of the policy.
std::string jemalloc_arena0_decay() {
  void* sym = ::dlsym(RTLD_DEFAULT, "mallctl");
  if (sym == nullptr) return "none";
  const auto mallctl =
      headroom::detail::as_function<headroom::detail::mallctl_fn>(sym);
  ssize_t v = 0;
  std::size_t len = sizeof v;
  if (mallctl("arena.0.dirty_decay_ms", &v, &len, nullptr, 0) != 0) {
    return "error";
  }
  return std::to_string(v);
}

// glibc's heaps (arenas) in malloc_info's XML after 8 threads allocated at
// the same time.
int glibc_heaps_after_threads() {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&ready] {
      void* p = std::malloc(small);
      ready.fetch_add(1);
      while (ready.load() < 8) std::this_thread::yield();
      std::free(p);
    });
  }
  for (auto& t : threads) t.join();
  char* text = nullptr;
  std::size_t size = 0;
  FILE* f = ::open_memstream(&text, &size);
  if (f == nullptr) return -1;
  ::malloc_info(0, f);
  std::fclose(f);
  int heaps = 0;
  for (const char* at = text; (at = std::strstr(at, "<heap nr=")) != nullptr;
       ++at) {
    ++heaps;
  }
  std::free(text);
  return heaps;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--arenas") == 0) {
    std::printf("heaps=%d\n", glibc_heaps_after_threads());
    return 0;
  }
  // The arena count first: arenas made before it stay.
  print("arena_max", headroom::set_arena_max(1));
  const bool glibc =
      headroom::to_string(headroom::detail::serving_allocator(
          headroom::detail::malloc_home())) == std::string("glibc");
  if (glibc) std::printf("heaps=%d\n", glibc_heaps_after_threads());

  std::vector<void*> pins;
  if (!churn(pins)) {
    std::fprintf(stderr, "allocator_probe: malloc failed\n");
    return 1;
  }
  const auto slack = headroom::read_allocator_slack();
  if (slack) {
    std::printf("slack.source=%s\n", slack->source.c_str());
    std::printf("slack.in_use=%s\n", number(slack->in_use).c_str());
    std::printf("slack.free=%s\n", number(slack->free).c_str());
    std::printf("slack.unmapped=%s\n", number(slack->unmapped).c_str());
  } else {
    std::printf("slack.error=%s\n", slack.error().message().c_str());
  }

  std::vector<headroom::allocator_action> seen;
  std::atomic<bool> off_thread{true};
  headroom::allocator_policy_options opt;
  const auto caller = std::this_thread::get_id();
  opt.on_action = [&](const headroom::allocator_action&) {
    if (std::this_thread::get_id() == caller) off_thread.store(false);
  };
  {
    headroom::allocator_policy policy(opt);
    // Moderate: a release, on the policy's thread.
    policy.notify(headroom::pressure_level::moderate);
    policy.wait_idle();
    const auto after_moderate = policy.actions();
    if (after_moderate.size() != 1) {
      std::fprintf(stderr, "allocator_probe: %zu actions after moderate\n",
                   after_moderate.size());
      return 1;
    }
    print("release", after_moderate[0]);
    std::printf("release.off_thread=%d\n", off_thread.load() ? 1 : 0);

    // The same again, now for the decay: critical, then none.
    if (!churn(pins)) return 1;
    const std::string decay_before = jemalloc_arena0_decay();
    print("tighten", policy.tighten_decay());
    std::printf("decay.before=%s\n", decay_before.c_str());
    std::printf("decay.tightened=%s\n", jemalloc_arena0_decay().c_str());
    print("restore", policy.restore_decay());
    std::printf("decay.restored=%s\n", jemalloc_arena0_decay().c_str());
  }

  {
    // Destroyed while tightened: the policy puts the decay times back.
    headroom::allocator_policy policy;
    print("tighten_again", policy.tighten_decay());
  }
  std::printf("decay.after_destroy=%s\n", jemalloc_arena0_decay().c_str());

  {
    // A heap limit that follows the cgroup limit: half of it.
    headroom::allocator_policy_options follow;
    follow.heap_limit_percent = 50;
    headroom::allocator_policy policy(follow);
    headroom::memory_event e;
    e.kind = headroom::event_kind::limit_changed;
    e.new_limit = std::uint64_t{512} << 20;
    e.effective_limit = e.new_limit;
    policy.notify(e);
    policy.wait_idle();
    const auto raised = policy.actions();
    e.new_limit.reset();
    e.effective_limit.reset();
    policy.notify(e);
    policy.wait_idle();
    const auto cleared = policy.actions();
    if (raised.empty() || cleared.size() != raised.size() + 1) {
      std::fprintf(stderr, "allocator_probe: %zu, %zu heap limit actions\n",
                   raised.size(), cleared.size());
      return 1;
    }
    print("follow", raised.back());
    print("clear", cleared.back());
  }

  // A 256 MiB heap limit, then an allocation past it.
  const auto limit = headroom::set_heap_limit(256u << 20);
  print("limit", limit);
  if (limit.ok()) {
    // Through a volatile pointer: a compiler may drop an allocation whose
    // result is only compared with null (clang does, and then "ok").
    void* (*volatile allocate)(std::size_t) = std::malloc;
    void* big = allocate(std::size_t{512} << 20);
    std::printf("limit.big_alloc=%s\n", big != nullptr ? "ok" : "failed");
    std::free(big);
  }
  for (void* p : pins) std::free(p);
  return 0;
}
