// SPDX-License-Identifier: MIT
// allocator_policy's actions under each allocator, preloaded with LD_PRELOAD
// as a service started with jemalloc or tcmalloc runs them:
//
//   headroom-allocator-preload-tests ALLOCATOR SONAME PACKAGE
//
// e.g. "jemalloc libjemalloc.so.2 libjemalloc2"; SONAME "-" runs glibc's own
// malloc. Runs allocator_probe and checks what each action reported and did:
// slack after 64 MiB were freed, the release (on the policy's thread),
// jemalloc's decay tightened and restored (by the call, and by the policy's
// destructor), gperftools' heap limit applied (an allocation past it fails;
// half of a changed cgroup limit, cleared with it), glibc's arena count. An
// action the allocator has no call for must say unsupported. When the library
// is not installed, or in a sanitizer build (whose runtime must own malloc), it
// prints "SKIP: why" and exits 77.
#define DOCTEST_CONFIG_IMPLEMENT
#include "../support/doctest.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "../support/preload.hpp"
#include "../support/run.hpp"
#include "../support/sanitized.hpp"

#ifndef HEADROOM_ALLOCATOR_PROBE
#error "HEADROOM_ALLOCATOR_PROBE must be the path of the allocator probe"
#endif

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

std::string g_allocator;
std::string g_library;  // empty: glibc's malloc, nothing preloaded

using key_map = std::map<std::string, std::string>;

key_map run_probe(const std::vector<std::string>& args) {
  if (!g_library.empty()) ::setenv("LD_PRELOAD", g_library.c_str(), 1);
  const auto r = headroom_test::run(args);
  ::unsetenv("LD_PRELOAD");
  REQUIRE_MESSAGE(r.exited, "the probe died with signal " << r.code);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  MESSAGE("probe output:\n" << r.out);
  return headroom_test::key_values(r.out);
}

std::string text(const key_map& kv, const std::string& key) {
  const auto it = kv.find(key);
  REQUIRE_MESSAGE(it != kv.end(), "no " << key << " in the probe's output");
  return it->second;
}

std::uint64_t number(const key_map& kv, const std::string& key) {
  const std::string v = text(kv, key);
  const bool digits =
      !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
  REQUIRE_MESSAGE(digits, key << " is not a number: " << v);
  return std::strtoull(v.c_str(), nullptr, 10);
}

void check_unsupported(const key_map& kv, const std::string& action) {
  CAPTURE(action);
  CHECK(text(kv, action + ".status") == "unsupported");
  CHECK(text(kv, action + ".reason").find(g_allocator) == 0);
  CHECK(text(kv, action + ".call").empty());
}

}  // namespace

TEST_CASE("allocator_policy's actions under the preloaded allocator") {
  const auto kv = run_probe({HEADROOM_ALLOCATOR_PROBE});
  const bool glibc = g_allocator == "glibc";
  const bool jemalloc = g_allocator == "jemalloc";
  const bool gperftools = g_allocator == "gperftools";

  SUBCASE("slack: the 64 MiB just freed are held free") {
    CHECK_FALSE(text(kv, "slack.source").empty());
    CHECK(number(kv, "slack.free") >= 8 * MiB);
    CHECK(number(kv, "slack.in_use") < 8 * MiB);
    if (!glibc) CHECK(kv.count("slack.unmapped") == 1);
  }
  SUBCASE("release: the allocator's call, on the policy's thread") {
    CHECK(text(kv, "release.status") == "ok");
    CHECK(text(kv, "release.allocator") == g_allocator);
    CHECK_FALSE(text(kv, "release.call").empty());
    CHECK(number(kv, "release.off_thread") == 1);
    CHECK(number(kv, "release.after") <= number(kv, "release.before"));
    CHECK(number(kv, "release.decrease") >= 8 * MiB);
  }
  SUBCASE("decay: tightened to 0 and purged, then put back (jemalloc)") {
    if (jemalloc) {
      CHECK(text(kv, "tighten.status") == "ok");
      CHECK(number(kv, "decay.before") > 0);
      CHECK(number(kv, "decay.tightened") == 0);
      CHECK(number(kv, "tighten.decrease") >= 8 * MiB);
      CHECK(text(kv, "restore.status") == "ok");
      CHECK(text(kv, "decay.restored") == text(kv, "decay.before"));
      CHECK(text(kv, "tighten_again.status") == "ok");
      CHECK(text(kv, "decay.after_destroy") == text(kv, "decay.before"));
    } else {
      check_unsupported(kv, "tighten");
      CHECK(text(kv, "restore.reason") == "not tightened");
    }
  }
  SUBCASE("heap limit: tcmalloc.heap_limit_mb applied (gperftools)") {
    if (gperftools) {
      CHECK(text(kv, "limit.status") == "ok");
      CHECK(number(kv, "limit.after") == 256 * MiB);
      CHECK(text(kv, "limit.big_alloc") == "failed");
    } else {
      check_unsupported(kv, "limit");
    }
  }
  SUBCASE("heap limit following the cgroup limit: half, then none") {
    if (gperftools) {
      CHECK(text(kv, "follow.status") == "ok");
      CHECK(number(kv, "follow.after") == 256 * MiB);
      CHECK(text(kv, "clear.status") == "ok");
      CHECK(number(kv, "clear.before") == 256 * MiB);
      CHECK(number(kv, "clear.after") == 0);
    } else {
      check_unsupported(kv, "follow");
      check_unsupported(kv, "clear");
    }
  }
  SUBCASE("arena max: one arena for eight threads (glibc)") {
    if (glibc) {
      CHECK(text(kv, "arena_max.status") == "ok");
      CHECK(number(kv, "heaps") == 1);
      // Without it the same threads make more.
      const auto control = run_probe({HEADROOM_ALLOCATOR_PROBE, "--arenas"});
      CHECK(number(control, "heaps") > 1);
    } else {
      check_unsupported(kv, "arena_max");
    }
  }
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s ALLOCATOR SONAME|- PACKAGE\n", argv[0]);
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
    return skip("sanitizer build: its runtime owns malloc, so " + g_allocator +
                " is not the allocator under test");
  }
  if (soname != "-") {
    g_library = headroom_test::find_library(soname);
    if (g_library.empty()) {
      return skip(soname + " is not installed (Debian: apt-get install " +
                  package + ")");
    }
  }
  std::printf("%s: LD_PRELOAD=%s\n", g_allocator.c_str(), g_library.c_str());
  char* args[] = {argv[0]};
  doctest::Context ctx(1, args);
  return ctx.run();
}
