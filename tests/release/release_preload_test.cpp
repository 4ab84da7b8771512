// SPDX-License-Identifier: MIT
// release_free_memory() under an allocator preloaded with LD_PRELOAD, as a
// service started with jemalloc or tcmalloc runs it:
//
//   headroom-release-preload-tests ALLOCATOR SONAME PACKAGE
//
// e.g. "jemalloc libjemalloc.so.2 libjemalloc2". Runs release_probe with the
// library preloaded and checks that the allocator's own call ran and gave
// memory back. When the library is not installed, or in a sanitizer build
// (whose runtime must own malloc), it prints "SKIP: why" and exits 77.
#define DOCTEST_CONFIG_IMPLEMENT
#include "../support/doctest.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "../support/preload.hpp"
#include "../support/run.hpp"
#include "../support/sanitized.hpp"

#ifndef HEADROOM_RELEASE_PROBE
#error "HEADROOM_RELEASE_PROBE must be the path of the release probe"
#endif

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

std::string g_allocator;
std::string g_library;

std::uint64_t number(const std::map<std::string, std::string>& kv,
                     const char* key) {
  const auto it = kv.find(key);
  REQUIRE_MESSAGE(it != kv.end(), "no " << key << " in the probe's output");
  REQUIRE_MESSAGE(!it->second.empty(), key << " is empty");
  REQUIRE_MESSAGE(
      it->second.find_first_not_of("0123456789") == std::string::npos,
      key << " is not a number: " << it->second);
  return std::strtoull(it->second.c_str(), nullptr, 10);
}

}  // namespace

TEST_CASE("the preloaded allocator's release call runs and gives memory back") {
  ::setenv("LD_PRELOAD", g_library.c_str(), 1);
  const auto r = headroom_test::run({HEADROOM_RELEASE_PROBE});
  ::unsetenv("LD_PRELOAD");
  REQUIRE_MESSAGE(r.exited, "the probe died with signal " << r.code);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  MESSAGE("probe output:\n" << r.out);
  const auto kv = headroom_test::key_values(r.out);
  CHECK(kv.at("allocator") == g_allocator);
  CHECK_FALSE(kv.at("call").empty());
  CHECK(kv.at("malloc_from") == g_library);
  const std::uint64_t before = number(kv, "rss_before");
  const std::uint64_t after = number(kv, "rss_after");
  CHECK(after <= before);
  // 64 MiB were freed before the call.
  CHECK(number(kv, "rss_released") >= 8 * MiB);
  CHECK(number(kv, "allocator_released") >= 8 * MiB);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s ALLOCATOR SONAME PACKAGE\n", argv[0]);
    return 2;
  }
  const auto skip = [](const std::string& why) {
    std::printf("SKIP: %s\n", why.c_str());
    std::fflush(stdout);
    return 77;
  };
  g_allocator = argv[1];
  const std::string soname = argv[2];
  const std::string package = argv[3];
  if (HEADROOM_TEST_SANITIZED) {
    return skip("sanitizer build: its runtime owns malloc, so " + soname +
                " cannot be preloaded");
  }
  g_library = headroom_test::find_library(soname);
  if (g_library.empty()) {
    return skip(soname + " is not installed (Debian: apt-get install " +
                package + ")");
  }
  std::printf("%s: LD_PRELOAD=%s\n", g_allocator.c_str(), g_library.c_str());
  char* args[] = {argv[0]};
  doctest::Context ctx(1, args);
  return ctx.run();
}
