// SPDX-License-Identifier: MIT
// Read cost, side by side in one run:
//  - headroom usage() against the floor, one bare pread of the usage file
//    on an open fd;
//  - headroom snapshot() against the sum of the bare preads it needs (the
//    limit file of each directory on the chain, usage, memory.stat);
//  - a naive reader that opens the file with std::ifstream on every call;
//  - libuv's uv_get_constrained_memory() (where libuv is available), and
//    the value it returns next to headroom's limit;
//  - cold discovery (discover(), memory_reader::open(), both readers opened
//    apart and from one discovery) against plain
//    reads of the two files it cannot do without: /proc/self/mountinfo
//    and /proc/self/cgroup (the kernel writes both out on every read).
//  - with --depths (root, cgroup v1 or v2): open() and snapshot() with the
//    process moved to chain depths 1 (the hierarchy's root), 8, 32 and 64,
//    each call timed alone, p50, p99 and max beside the floor: for open()
//    one open+read+close of each file it cannot do without (mountinfo,
//    /proc/self/cgroup, meminfo) and an open of the usage and memory.stat
//    it keeps; for snapshot() the two preads it needs (usage and
//    memory.stat of the limit cgroup).
//  - with --threads: 1, 2, 8 and 32 threads calling snapshot() for a
//    fixed time on one shared reader and on a reader each: calls a second
//    in all, and each call's p50, p99 and max.
//  - with --mounts (root): discover() and memory_reader::open() against one
//    open+read+close of mountinfo, and the memory and cpu readers opened
//    apart against from one discovery, in a private mount namespace holding
//    100, 1,000 and 10,000 mounts (a tmpfs on a directory each).
// Rounds alternate between the candidates so that noise on a shared
// machine hits them alike; each figure is the median over rounds.
//
//   read_cost [--rounds N] [--quick] [--depths [--cgroup-prefix NAME]]
//             [--threads] [--mounts]
// Prints a table, and "result read <field> <value>" lines for scripts.
// --depths makes <own memory cgroup>/NAME-<pid>/d/d/... (NAME:
// headroom-bench), moves itself in and back, and removes them.
#include <headroom/headroom.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if HEADROOM_BENCH_LIBUV
#include <uv.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;

volatile std::uint64_t sink;  // keeps results alive

struct candidate {
  std::string name;
  std::function<void()> op;
  int iterations;
  std::vector<double> ns_per_op;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Bare pread of a whole small file into a stack buffer: the floor.
std::uint64_t bare_pread(int fd) {
  char buf[16384];
  ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  return static_cast<std::uint64_t>(n) + static_cast<unsigned char>(buf[0]);
}

std::uint64_t naive_read(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  in >> v;
  return v;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// One call's time, each call timed alone.
struct spread {
  double p50 = 0, p99 = 0, max = 0;  // ns
};

template <class Op>
spread time_each(int n, Op&& op) {
  std::vector<double> t;
  t.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n / 10 + 1; ++i) op();  // warm up
  for (int i = 0; i < n; ++i) {
    const auto t0 = clock_type::now();
    op();
    t.push_back(std::chrono::duration<double, std::nano>(clock_type::now() - t0)
                    .count());
  }
  std::sort(t.begin(), t.end());
  spread s;
  s.p50 = t[t.size() / 2];
  s.p99 = t[std::min(t.size() - 1, t.size() * 99 / 100)];
  s.max = t.back();
  return s;
}

bool write_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) ==
                  static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

std::uint64_t open_read_close(const char* path) {
  char buf[16384];
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  std::uint64_t n = 0;
  for (ssize_t k; (k = ::read(fd, buf, sizeof buf)) > 0;)
    n += static_cast<std::uint64_t>(k);
  ::close(fd);
  return n;
}

// open() and snapshot() at chain depths 1, 8, 32 and 64 (see the top).
int run_depths(const std::string& prefix, int rounds) {
  if (::geteuid() != 0) {
    std::printf("depths: SKIP: moving itself between cgroups needs root\n");
    return 77;
  }
  auto base_reader = headroom::memory_reader::open();
  if (!base_reader || !base_reader->layout() ||
      base_reader->location().chain.empty()) {
    std::printf("depths: SKIP: no memory cgroup here\n");
    return 77;
  }
  const auto& fs = base_reader->files();
  const auto& loc = base_reader->location();
  const std::string own = fs.real_path(loc.dir);
  const std::string root = fs.real_path(loc.chain.back());
  const std::size_t own_depth = loc.chain.size();
  const bool v2 = base_reader->mode() == headroom::hierarchy_mode::v2;
  const auto& m = base_reader->layout()->memory;
  // Directories made, deepest last.
  std::vector<std::string> made;
  std::string dir = own + "/" + prefix + "-" + std::to_string(::getpid());
  const auto cleanup = [&] {
    write_text(own + "/cgroup.procs", std::to_string(::getpid()));
    for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
  };
  std::printf(
      "\nopen() and snapshot() by chain depth, each call timed alone (ns)\n"
      "%-5s %-28s %9s %9s %9s   %-26s %9s %9s %9s %7s\n",
      "depth", "call", "p50", "p99", "max", "floor", "p50", "p99", "max",
      "p50 x");
  int iterations = rounds * 20;
  for (const std::size_t depth :
       {std::size_t{1}, std::size_t{8}, std::size_t{32}, std::size_t{64}}) {
    std::string target;
    if (depth == 1) {
      target = root;
    } else if (depth < own_depth) {
      continue;
    } else {
      // The own chain, then directories down to `depth`.
      std::string at = own;
      for (std::size_t d = own_depth; d < depth; ++d) {
        at += d == own_depth ? "/" + prefix + "-" + std::to_string(::getpid())
                             : std::string("/d");
        if (::mkdir(at.c_str(), 0755) == 0) {
          made.push_back(at);
        } else if (errno != EEXIST) {
          std::printf("depths: cannot make %s: %s\n", at.c_str(),
                      std::strerror(errno));
          cleanup();
          return 1;
        }
        if (v2 && d + 1 < depth)
          write_text(at + "/cgroup.subtree_control", "+memory");
      }
      target = at;
    }
    if (depth > own_depth && v2)
      write_text(own + "/cgroup.subtree_control", "+memory");
    if (!write_text(target + "/cgroup.procs", std::to_string(::getpid()))) {
      std::printf("depths: cannot move into %s: %s\n", target.c_str(),
                  std::strerror(errno));
      cleanup();
      return 1;
    }
    auto r = headroom::memory_reader::open();
    if (!r) {
      std::printf("depths: open failed: %s\n", r.error().message().c_str());
      cleanup();
      return 1;
    }
    const auto s = r->snapshot();
    if (!s.usage_at) {
      std::printf("%-5zu (no usage file here: host-wide)\n", depth);
      continue;
    }
    const std::string usage = r->files().real_path(r->usage_path(s));
    const std::string stat =
        r->files().real_path(r->path_at(*s.usage_at, m.stat));
    const int ufd = ::open(usage.c_str(), O_RDONLY | O_CLOEXEC);
    const int sfd = ::open(stat.c_str(), O_RDONLY | O_CLOEXEC);
    const auto open_floor = time_each(iterations, [&] {
      std::uint64_t x = open_read_close("/proc/self/mountinfo") +
                        open_read_close("/proc/self/cgroup");
      char buf[16384];
      const int mi = ::open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
      x += static_cast<std::uint64_t>(::pread(mi, buf, sizeof buf, 0));
      const int a = ::open(usage.c_str(), O_RDONLY | O_CLOEXEC);
      const int b = ::open(stat.c_str(), O_RDONLY | O_CLOEXEC);
      ::close(mi);
      ::close(a);
      ::close(b);
      sink = x;
    });
    const auto open_t = time_each(iterations, [&] {
      sink = headroom::memory_reader::open()->chain_size();
    });
    const auto snap_floor = time_each(
        iterations * 20, [&] { sink = bare_pread(ufd) + bare_pread(sfd); });
    const auto snap_t = time_each(
        iterations * 20, [&] { sink = r->snapshot().headroom.value_or(0); });
    ::close(ufd);
    ::close(sfd);
    const auto row = [&](const char* call, const spread& a, const char* floor,
                         const spread& b) {
      std::printf(
          "%-5zu %-28s %9.0f %9.0f %9.0f   %-26s %9.0f %9.0f %9.0f %6.2fx\n",
          r->chain_size(), call, a.p50, a.p99, a.max, floor, b.p50, b.p99,
          b.max, a.p50 / b.p50);
    };
    row("memory_reader::open()", open_t, "reads+opens it needs", open_floor);
    row("snapshot()", snap_t, "2 preads it needs", snap_floor);
    std::printf(
        "result read depth%zu_open_p50_ns %.0f\nresult read "
        "depth%zu_open_floor_p50_ns %.0f\nresult read depth%zu_snapshot_p50_ns "
        "%.0f\nresult read depth%zu_snapshot_floor_p50_ns %.0f\n",
        depth, open_t.p50, depth, open_floor.p50, depth, snap_t.p50, depth,
        snap_floor.p50);
  }
  cleanup();
  return 0;
}

// Each call's time from a pooled sample, in ns.
spread spread_of(std::vector<double> t) {
  spread s;
  if (t.empty()) return s;
  std::sort(t.begin(), t.end());
  s.p50 = t[t.size() / 2];
  s.p99 = t[std::min(t.size() - 1, t.size() * 99 / 100)];
  s.max = t.back();
  return s;
}

// `threads` threads call snapshot() for `ms`, on `shared` or (null) on a
// reader each; returns calls a second in all and each call's spread.
std::pair<double, spread> snapshot_threads(
    const headroom::memory_reader* shared, int threads, int ms) {
  std::vector<std::vector<double>> times(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  const auto start = clock_type::now() + std::chrono::milliseconds(20);
  const auto end = start + std::chrono::milliseconds(ms);
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      std::optional<headroom::memory_reader> own;
      if (!shared) own.emplace(headroom::memory_reader::open().value());
      const headroom::memory_reader& r = shared ? *shared : *own;
      auto& t = times[static_cast<std::size_t>(i)];
      t.reserve(1 << 16);
      std::this_thread::sleep_until(start);
      for (auto now = clock_type::now(); now < end;) {
        sink = r.snapshot().headroom.value_or(0);
        const auto after = clock_type::now();
        t.push_back(
            std::chrono::duration<double, std::nano>(after - now).count());
        now = after;
      }
    });
  }
  for (auto& th : pool) th.join();
  std::vector<double> all;
  for (const auto& t : times) all.insert(all.end(), t.begin(), t.end());
  const double per_s = static_cast<double>(all.size()) * 1000.0 / ms;
  return {per_s, spread_of(std::move(all))};
}

int run_threads(int rounds) {
  auto reader = headroom::memory_reader::open();
  if (!reader || !reader->snapshot().usage_at) {
    std::printf("threads: SKIP: no cgroup usage file to read here\n");
    return 77;
  }
  const int ms = rounds * 40;  // per configuration: 600 ms, 120 quick
  std::printf(
      "\nsnapshot() from many threads, %d ms each (calls/s in all; ns per "
      "call)\n%-8s %-18s %12s %9s %9s %9s\n",
      ms, "threads", "readers", "calls/s", "p50", "p99", "max");
  for (const int n : {1, 2, 8, 32}) {
    const auto one = snapshot_threads(&*reader, n, ms);
    const auto each = snapshot_threads(nullptr, n, ms);
    const auto row = [&](const char* what, const std::pair<double, spread>& x) {
      std::printf("%-8d %-18s %12.0f %9.0f %9.0f %9.0f\n", n, what, x.first,
                  x.second.p50, x.second.p99, x.second.max);
    };
    row("one shared", one);
    row("one per thread", each);
    std::printf(
        "result read threads%d_shared_calls_per_s %.0f\nresult read "
        "threads%d_each_calls_per_s %.0f\nresult read threads%d_shared_p99_ns "
        "%.0f\nresult read threads%d_each_p99_ns %.0f\n",
        n, one.first, n, each.first, n, one.second.p99, n, each.second.p99);
  }
  return 0;
}

// Discovery against the mount table's size (see the top). Runs in a child
// in a mount namespace of its own, so the mounts go with it.
int run_mounts(int rounds) {
  if (::geteuid() != 0) {
    std::printf("mounts: SKIP: a mount namespace and mounts need root\n");
    return 77;
  }
  // Made out here, removed out here: inside, the mounts cover it.
  char dir[] = "/tmp/headroom-bench-mounts-XXXXXX";
  if (!::mkdtemp(dir)) return 1;
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) return 1;
  if (child > 0) {
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    ::rmdir(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::printf("mounts: SKIP: no private mount namespace: %s\n",
                std::strerror(errno));
    std::fflush(stdout);
    ::_exit(77);
  }
  // A tmpfs of its own holds the mount points, one directory each (mounts
  // stacked on one directory make the kernel's mountinfo quadratic).
  if (::mount("none", dir, "tmpfs", 0, "size=16m") != 0) {
    std::printf("mounts: SKIP: tmpfs: %s\n", std::strerror(errno));
    std::fflush(stdout);
    ::_exit(77);
  }
  const auto count = [] {
    std::ifstream in("/proc/self/mountinfo");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  };
  std::printf(
      "\ndiscovery by the number of mounts, each call timed alone (ns)\n"
      "%-7s %-28s %9s %9s %9s %9s\n",
      "mounts", "call", "p50", "p99", "max", "p50 x");
  int rc = 0;
  for (const std::size_t want :
       {std::size_t{100}, std::size_t{1000}, std::size_t{10000}}) {
    for (std::size_t have = count(); have < want; ++have) {
      const std::string at = std::string(dir) + "/" + std::to_string(have);
      if (::mkdir(at.c_str(), 0700) != 0 ||
          ::mount("none", at.c_str(), "tmpfs", 0, "size=4k") != 0) {
        std::printf("mounts: SKIP: mount %zu failed: %s\n", have,
                    std::strerror(errno));
        rc = 77;
        break;
      }
    }
    if (rc) break;
    const std::size_t have = count();
    const int iterations =
        std::max(3, rounds * 20 * 100 / static_cast<int>(want));
    const auto floor = time_each(
        iterations, [] { sink = open_read_close("/proc/self/mountinfo"); });
    const auto disc = time_each(
        iterations, [] { sink = headroom::discover()->chain.size(); });
    const auto open = time_each(iterations, [] {
      sink = headroom::memory_reader::open()->chain_size();
    });
    // A program that sizes itself opens both readers: each open() reads
    // mountinfo, one discovery reads it once for both.
    const auto both_apart = time_each(iterations, [] {
      sink = headroom::memory_reader::open()->chain_size() +
             headroom::cpu_reader::open()->cpu_location().chain.size();
    });
    const auto both_shared = time_each(iterations, [] {
      const auto d = headroom::discovery::read();
      sink = headroom::memory_reader::open(d)->chain_size() +
             headroom::cpu_reader::open(d)->cpu_location().chain.size();
    });
    const auto row = [&](const char* call, const spread& x) {
      std::printf("%-7zu %-28s %9.0f %9.0f %9.0f %8.2fx\n", have, call, x.p50,
                  x.p99, x.max, x.p50 / floor.p50);
    };
    row("open+read+close mountinfo", floor);
    row("discover()", disc);
    row("memory_reader::open()", open);
    row("memory+cpu: two open()s", both_apart);
    row("memory+cpu: one discovery", both_shared);
    std::printf(
        "result read mounts%zu_both_apart_p50_ns %.0f\nresult read "
        "mounts%zu_both_shared_p50_ns %.0f\n",
        want, both_apart.p50, want, both_shared.p50);
    std::printf(
        "result read mounts%zu_mountinfo_p50_ns %.0f\nresult read "
        "mounts%zu_discover_p50_ns %.0f\nresult read mounts%zu_open_p50_ns "
        "%.0f\n",
        want, floor.p50, want, disc.p50, want, open.p50);
  }
  // The namespace and its mounts end with this process.
  std::fflush(stdout);
  ::_exit(rc);
}

}  // namespace

int main(int argc, char** argv) {
#ifndef __OPTIMIZE__
  std::printf(
      "warning: built without optimization; figures are not representative\n");
#endif
  int rounds = 15;
  bool depths = false;
  bool threads = false;
  bool mounts = false;
  std::string prefix = "headroom-bench";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--quick") == 0) rounds = 3;
    if (std::strcmp(argv[i], "--depths") == 0) depths = true;
    if (std::strcmp(argv[i], "--threads") == 0) threads = true;
    if (std::strcmp(argv[i], "--mounts") == 0) mounts = true;
    if (std::strcmp(argv[i], "--cgroup-prefix") == 0 && i + 1 < argc)
      prefix = argv[++i];
  }
  if (depths) return run_depths(prefix, rounds);
  if (threads) return run_threads(rounds);
  if (mounts) return run_mounts(rounds);
  auto opened = headroom::memory_reader::open();
  if (!opened) {
    std::printf("FAIL: %s\n", opened.error().message().c_str());
    return 1;
  }
  const headroom::memory_reader& reader = *opened;
  const auto s0 = reader.snapshot();
  if (!s0.usage_at) {
    std::printf("SKIP: no cgroup usage file to read here (mode %s)\n",
                headroom::to_string(reader.mode()));
    return 77;
  }
  const auto& fs = reader.files();
  const std::string usage_path = fs.real_path(reader.usage_path(s0));
  // The files snapshot() reads: the limit file of each directory on the
  // chain, then usage and memory.stat of the usage cgroup.
  std::vector<int> snapshot_fds;
  for (std::size_t i = 0; i < reader.chain_size(); ++i) {
    const int fd =
        ::open(fs.real_path(reader.path_at(headroom::chain_position{i},
                                           reader.layout()->memory.limit))
                   .c_str(),
               O_RDONLY | O_CLOEXEC);
    if (fd >= 0) snapshot_fds.push_back(fd);
  }
  const int usage_fd = ::open(usage_path.c_str(), O_RDONLY | O_CLOEXEC);
  snapshot_fds.push_back(usage_fd);
  snapshot_fds.push_back(::open(
      fs.real_path(reader.path_at(*s0.usage_at, reader.layout()->memory.stat))
          .c_str(),
      O_RDONLY | O_CLOEXEC));

  std::vector<candidate> c;
  c.push_back({"bare pread (usage file)",
               [&] { sink = bare_pread(usage_fd); },
               20000,
               {}});
  c.push_back({"headroom usage()",
               [&] { sink = reader.usage().value_or(0); },
               20000,
               {}});
  c.push_back({"bare preads snapshot() needs",
               [&] {
                 std::uint64_t x = 0;
                 for (int fd : snapshot_fds) x += bare_pread(fd);
                 sink = x;
               },
               5000,
               {}});
  c.push_back({"headroom snapshot()",
               [&] { sink = reader.snapshot().headroom.value_or(0); },
               5000,
               {}});
  c.push_back({"naive ifstream per call",
               [&] { sink = naive_read(usage_path); },
               5000,
               {}});
#if HEADROOM_BENCH_LIBUV
  c.push_back({"libuv uv_get_constrained_memory",
               [&] { sink = uv_get_constrained_memory(); },
               5000,
               {}});
#endif
  c.push_back({"plain read of mountinfo",
               [&] { sink = read_all("/proc/self/mountinfo").size(); },
               300,
               {}});
  c.push_back({"plain read of /proc/self/cgroup",
               [&] { sink = read_all("/proc/self/cgroup").size(); },
               300,
               {}});
  c.push_back({"headroom discover() (cold)",
               [&] { sink = headroom::discover()->chain.size(); },
               300,
               {}});
  c.push_back({"headroom memory_reader::open()",
               [&] { sink = headroom::memory_reader::open()->chain_size(); },
               300,
               {}});
  c.push_back({"headroom memory+cpu, two open()s",
               [&] {
                 sink =
                     headroom::memory_reader::open()->chain_size() +
                     headroom::cpu_reader::open()->cpu_location().chain.size();
               },
               300,
               {}});
  c.push_back({"headroom memory+cpu, one discovery",
               [&] {
                 const auto d = headroom::discovery::read();
                 sink =
                     headroom::memory_reader::open(d)->chain_size() +
                     headroom::cpu_reader::open(d)->cpu_location().chain.size();
               },
               300,
               {}});

  for (auto& x : c) {
    for (int i = 0; i < x.iterations / 10; ++i) x.op();  // warm up
  }
  for (int r = 0; r < rounds; ++r) {
    for (auto& x : c) {
      const auto t0 = clock_type::now();
      for (int i = 0; i < x.iterations; ++i) x.op();
      const double ns =
          std::chrono::duration<double, std::nano>(clock_type::now() - t0)
              .count();
      x.ns_per_op.push_back(ns / x.iterations);
    }
  }

  std::printf("mode %s, usage file %s, chain of %zu, %d rounds\n",
              headroom::to_string(reader.mode()), usage_path.c_str(),
              reader.chain_size(), rounds);
  for (const auto& x : c)
    std::printf("  %-34s %10.0f ns/op\n", x.name.c_str(), median(x.ns_per_op));
  const auto m = [&](const char* name) {
    for (const auto& x : c) {
      if (x.name == name) return median(x.ns_per_op);
    }
    return 0.0;
  };
  const double usage_ratio =
      m("headroom usage()") / m("bare pread (usage file)");
  const double snapshot_ratio =
      m("headroom snapshot()") / m("bare preads snapshot() needs");
  std::printf("usage()    / bare pread          = %.2fx\n", usage_ratio);
  std::printf("snapshot() / its bare preads     = %.2fx\n", snapshot_ratio);
  std::printf("naive ifstream / usage()         = %.2fx\n",
              m("naive ifstream per call") / m("headroom usage()"));
  std::printf(
      "result read usage_ns %.0f\nresult read pread_ns %.0f\nresult read "
      "usage_ratio %.2f\n",
      m("headroom usage()"), m("bare pread (usage file)"), usage_ratio);
  std::printf(
      "result read snapshot_ns %.0f\nresult read snapshot_preads_ns "
      "%.0f\nresult read snapshot_ratio %.2f\n",
      m("headroom snapshot()"), m("bare preads snapshot() needs"),
      snapshot_ratio);
  std::printf("result read naive_ns %.0f\n", m("naive ifstream per call"));
  std::printf(
      "result read discover_ns %.0f\nresult read open_ns %.0f\nresult read "
      "mountinfo_ns %.0f\n",
      m("headroom discover() (cold)"), m("headroom memory_reader::open()"),
      m("plain read of mountinfo"));
  std::printf("result read cgroupfile_ns %.0f\n",
              m("plain read of /proc/self/cgroup"));
  std::printf(
      "result read both_apart_ns %.0f\nresult read both_shared_ns %.0f\n",
      m("headroom memory+cpu, two open()s"),
      m("headroom memory+cpu, one discovery"));
  const auto limit = s0.limit_bytes().value_or(0);
#if HEADROOM_BENCH_LIBUV
  const std::uint64_t uv = uv_get_constrained_memory();
  std::printf("libuv / usage()                  = %.2fx\n",
              m("libuv uv_get_constrained_memory") / m("headroom usage()"));
  std::printf(
      "libuv says the limit is %llu (%s); headroom says %s\n",
      static_cast<unsigned long long>(uv),
      uv == 0 ? "0: no limit known" : headroom::format_bytes(uv).c_str(),
      limit ? headroom::format_bytes(limit).c_str() : "no limit");
  std::printf("result read libuv_ns %.0f\nresult read libuv_limit %llu\n",
              m("libuv uv_get_constrained_memory"),
              static_cast<unsigned long long>(uv));
#else
  std::printf("libuv: not built in (libuv1-dev not found at configure time)\n");
#endif
  std::printf("result read headroom_limit %llu\n",
              static_cast<unsigned long long>(limit));
  for (int fd : snapshot_fds) ::close(fd);
  return 0;
}
