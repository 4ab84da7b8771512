// SPDX-License-Identifier: MIT
// An arena sized from the budget: a bump allocator for per-request scratch
// memory whose capacity is a fixed share of what the process may really
// use (here 10% of the effective limit, with a reserve for the rest of the
// process, between 1 MiB and 256 MiB), instead of a constant picked for
// one machine. The memory is reserved at once and touched only when used,
// so the budget is an upper bound, not a cost.
//
//   headroom-arena
#include <headroom/format.hpp>
#include <headroom/memory.hpp>
#include <headroom/policy.hpp>

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

class arena {
 public:
  explicit arena(std::size_t capacity) : capacity_(capacity) {
    void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  ~arena() {
    if (base_) ::munmap(base_, capacity_);
  }

  bool ok() const { return base_ != nullptr; }

  // Aligned bump allocation; nullptr when the budget is spent.
  void* allocate(std::size_t n, std::size_t align = alignof(std::max_align_t)) {
    const std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (at > capacity_ || n > capacity_ - at) return nullptr;
    used_ = at + n;
    return base_ + at;
  }

  // Frees everything at once, and gives the pages back to the kernel.
  void reset() {
    ::madvise(base_, used_, MADV_DONTNEED);
    used_ = 0;
  }

  std::size_t used() const { return used_; }
  std::size_t capacity() const { return capacity_; }

 private:
  char* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
};

}  // namespace

int main() {
  auto reader = headroom::memory_reader::open();
  if (!reader) {
    std::fprintf(stderr, "headroom-arena: %s\n",
                 reader.error().message().c_str());
    return 1;
  }
  headroom::budget_policy policy;
  policy.percent = 10;
  policy.reserve = 16 << 20;  // leave room for the rest of the process
  policy.floor = 1 << 20;
  policy.ceiling = 256u << 20;
  policy.alignment = 1 << 16;
  const auto s = reader->snapshot();
  auto b = headroom::compute_budget(s, policy);
  if (!b || !*b) {
    std::fprintf(stderr, "headroom-arena: no budget: %s\n",
                 b ? "nothing to size from" : b.error().message().c_str());
    return 1;
  }
  arena a((*b)->max);
  if (!a.ok()) {
    std::fprintf(stderr, "headroom-arena: mmap of %zu bytes failed\n",
                 static_cast<std::size_t>((*b)->max));
    return 1;
  }
  std::printf(
      "effective limit %s: arena of %s (10%% - 16 MiB reserve, bound: %s)\n",
      headroom::format_bytes(*s.effective_limit).c_str(),
      headroom::format_bytes(a.capacity()).c_str(),
      headroom::to_string((*b)->max_bound));
  // Serve "requests" of 4 KiB scratch until the budget says no, then reset.
  std::size_t served = 0;
  for (int round = 0; round < 3; ++round) {
    while (void* p = a.allocate(4096)) {
      std::memset(p, 1, 4096);
      ++served;
    }
    std::printf("  round %d: arena full at %s, reset\n", round + 1,
                headroom::format_bytes(a.used()).c_str());
    a.reset();
  }
  std::printf("served %zu scratch blocks within the budget\n", served);
  return served > 0 ? 0 : 1;
}
