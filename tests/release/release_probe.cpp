// SPDX-License-Identifier: MIT
// Allocates and frees 64 MiB in small and large blocks, calls
// release_free_memory() and prints what it reported as key=value lines.
// release_preload_test runs it with an allocator in LD_PRELOAD.
#include <headroom/release.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main() {
  std::vector<void*> blocks;
  for (int i = 0; i < 8192; ++i) blocks.push_back(std::malloc(4096));  // 32 MiB
  for (int i = 0; i < 32; ++i)
    blocks.push_back(std::malloc(1 << 20));  // 32 MiB
  for (void* p : blocks) {
    if (p == nullptr) {
      std::fprintf(stderr, "release_probe: malloc failed\n");
      return 1;
    }
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    std::memset(blocks[i], 0x5a, i < 8192 ? 4096 : (1 << 20));
  }
  void* pin = std::malloc(4096);  // something stays allocated
  for (void* p : blocks) std::free(p);

  const auto r = headroom::release_free_memory();
  std::free(pin);
  if (!r) {
    std::fprintf(stderr, "release_probe: %s\n", r.error().message().c_str());
    return 1;
  }
  const auto number = [](const std::optional<std::uint64_t>& v) {
    return v ? std::to_string(*v) : std::string("unknown");
  };
  std::printf("allocator=%s\n", headroom::to_string(r->allocator));
  std::printf("call=%s\n", r->call.c_str());
  std::printf("malloc_from=%s\n", r->malloc_from.c_str());
  std::printf("rss_before=%s\n", r->rss_before
                                     ? std::to_string(*r->rss_before).c_str()
                                     : "unknown");
  std::printf("rss_after=%s\n",
              r->rss_after ? std::to_string(*r->rss_after).c_str() : "unknown");
  std::printf("rss_released=%s\n", number(r->rss_released()).c_str());
  std::printf("allocator_released=%s\n", number(r->allocator_released).c_str());
  return 0;
}
