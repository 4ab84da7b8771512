// SPDX-License-Identifier: MIT
// release_free_memory() in this process: the allocator that serves malloc is
// found at run time and its release call really runs. In a normal build that
// is glibc's malloc_trim(0); a sanitizer build has the sanitizer's allocator.
// jemalloc and gperftools are tested through LD_PRELOAD in tests/release.
#include <headroom/release.hpp>
#include "../support/doctest.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "../support/sanitized.hpp"

using namespace headroom;

TEST_CASE("parse_statm_resident") {
  CHECK(*parse_statm_resident("2523 1081 785 26 0 229 0\n") == 1081);
  CHECK(*parse_statm_resident("2523 1081 785 26 0 229 0") == 1081);
  CHECK(parse_statm_resident("2523 1081\n").error().code == errc::malformed);
  CHECK(parse_statm_resident("2523 1081 785 26 0 229 0 9\n").error().code ==
        errc::malformed);
  CHECK(parse_statm_resident("2523 -1 785 26 0 229 0\n").error().code ==
        errc::malformed);
  CHECK(parse_statm_resident("").error().code == errc::malformed);
}

TEST_CASE(
    "release_free_memory: the allocator that serves malloc releases what it "
    "holds free") {
  // Many small blocks from the main heap, touched so they are resident,
  // then freed: glibc keeps them (the pin after them stops the heap top
  // from shrinking) until malloc_trim(0) gives the pages back.
  constexpr std::size_t count = 200000;
  constexpr std::size_t size = 256;
  std::vector<void*> blocks;
  blocks.reserve(count);
  bool all_allocated = true;
  for (std::size_t i = 0; i < count; ++i) {
    void* p = std::malloc(size);
    if (p == nullptr) {
      all_allocated = false;
      break;
    }
    std::memset(p, 0x5a, size);
    blocks.push_back(p);
  }
  REQUIRE(all_allocated);
  void* pin = std::malloc(size);
  REQUIRE(pin != nullptr);
  for (void* p : blocks) std::free(p);

  const auto r = release_free_memory();
  std::free(pin);
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  REQUIRE_MESSAGE(r->rss_before.has_value(), r->rss_before.error().message());
  REQUIRE_MESSAGE(r->rss_after.has_value(), r->rss_after.error().message());
  MESSAGE("allocator " << std::string(to_string(r->allocator)) << ", call "
                       << r->call << ", malloc from " << r->malloc_from
                       << ", rss " << *r->rss_before << " -> "
                       << *r->rss_after);
#if HEADROOM_TEST_SANITIZED
  // The sanitizer runtime, linked into this program, defines malloc; its
  // purge call serves it when the runtime has one (ASan), else nothing known
  // does (TSan): glibc's malloc_trim is not called, it would trim a heap
  // nobody allocates from.
  CHECK(r->malloc_from.find("libc.so") == std::string::npos);
  if (::dlsym(RTLD_DEFAULT, "__sanitizer_purge_allocator") != nullptr) {
    CHECK(r->allocator == allocator_kind::sanitizer);
    CHECK(r->call == "__sanitizer_purge_allocator()");
    CHECK(*r->rss_after <= *r->rss_before);
  } else {
    CHECK(r->allocator == allocator_kind::unknown);
    CHECK(r->call.empty());
  }
#else
  CHECK(*r->rss_after <= *r->rss_before);
  CHECK(r->allocator == allocator_kind::glibc);
  CHECK(r->call == "malloc_trim(0)");
  CHECK(r->malloc_from.find("libc.so") != std::string::npos);
  // About 50 MiB were free in the middle of the heap.
  REQUIRE(r->rss_released().has_value());
  CHECK(*r->rss_released() >= 16 * 1024 * 1024);
#endif
}
