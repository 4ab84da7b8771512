// SPDX-License-Identifier: MIT
// A small static program for the Docker tests: the main process of a test
// container, or a load started in one with `docker exec`.
//
//   headroom-docker-probe hold MIB           touch MIB MiB, print "held MIB",
//                                            then wait for SIGTERM or SIGINT
//   headroom-docker-probe grow MIB MS [MAX]  touch MIB more MiB every MS ms,
//                                            up to MAX MiB (default: until
//                                            killed)
//
// Pages are written, not only allocated, so that the kernel charges them
// to the container's memory cgroup.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t mib = 1024 * 1024;

volatile sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }

// Keeps every block: the memory stays charged until the process ends.
std::vector<char*> blocks;

bool touch(std::size_t n_mib) {
  for (std::size_t i = 0; i < n_mib; ++i) {
    char* p = static_cast<char*>(std::malloc(mib));
    if (!p) return false;
    std::memset(p, 0x5a, mib);
    blocks.push_back(p);
  }
  return true;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: headroom-docker-probe hold MIB | grow MIB MS [MAX_MIB]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  // As a container's pid 1 a signal without a handler is ignored: install
  // one so that `docker stop` ends it at once.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  const std::size_t n = std::strtoull(argv[2], nullptr, 10);
  if (std::strcmp(argv[1], "hold") == 0 && argc == 3) {
    if (!touch(n)) return 1;
    std::printf("held %zu\n", n);
    std::fflush(stdout);
    while (!stop) ::pause();
    return 0;
  }
  if (std::strcmp(argv[1], "grow") == 0 && (argc == 4 || argc == 5)) {
    const long ms = std::strtol(argv[3], nullptr, 10);
    const std::size_t max = argc == 5 ? std::strtoull(argv[4], nullptr, 10) : 0;
    std::size_t total = 0;
    while (!stop && (max == 0 || total < max)) {
      if (!touch(n)) return 1;
      total += n;
      std::printf("grown %zu\n", total);
      std::fflush(stdout);
      ::usleep(static_cast<useconds_t>(ms * 1000));
    }
    return 0;
  }
  return usage();
}
