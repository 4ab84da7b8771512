// SPDX-License-Identifier: MIT
// The survival demo: one cache workload in a real 128 MiB memory cgroup,
// run three ways. A naive cache grows until the kernel's OOM killer ends it
// (SIGKILL: exit 137). The same cache following a headroom monitor sheds on
// pressure events and survives. And "shared": two caches and a buffer pool
// share one headroom::shared_budget that follows the limit and the
// monitor, each holding its weighted part. Needs root (it creates the
// cgroups).
//
//   headroom-survival [--runs N] [--limit 128Mi] [--requests N]
//                     [--trace DIR] [--only naive|headroom|shared]
//
// The workload: Zipf-distributed requests over 20000 keys, each value
// 64 KiB computed on a miss and kept in an LRU cache (1.25 GiB if all were
// kept). Each run is a fresh process in a fresh cgroup; this process
// samples the cgroup's usage and working set every 10 ms (--trace writes
// them as CSV, for plotting) and prints kills, hit rate and peak working
// set. Exits 0 when every headroom and shared run survived; the naive runs
// are expected to be killed.
//
//   headroom-survival --in-place naive|headroom|shared [--requests N]
//                     [--seed S]
//
// runs one cache in this process, in the cgroup it already is in (a
// container started with `docker run -m 128m`): no cgroup is created, no
// root is needed. It samples its own working set through a memory_reader
// and prints `result in_place ...` lines when it finishes; a naive cache is
// killed by the kernel instead (exit 137).
#include <headroom/format.hpp>
#include <headroom/pressure.hpp>
#include <headroom/release.hpp>
#include <headroom/shared_budget.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../pressure-cache/lru_cache.hpp"
#include "cgroup_sandbox.hpp"

namespace {

constexpr std::size_t value_size = 64 * 1024;
constexpr std::uint32_t keys = 20000;

// What a worker reports on its pipe when it finishes (a killed one cannot).
struct worker_report {
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t sheds = 0;
  std::uint64_t cache_bytes = 0;
};

// Zipf(s = 1) over `keys` keys: the cumulative distribution, searched.
class zipf {
 public:
  explicit zipf(std::uint32_t n) : cdf_(n) {
    double sum = 0;
    for (std::uint32_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / (i + 1));
    for (auto& c : cdf_) c /= sum;
  }
  std::uint32_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<std::uint32_t>(
        std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// The value for a key: 64 KiB computed from it (the "expensive" miss).
// Written into `v`, whose buffer is reused when it has one.
void compute_into(std::uint32_t key, std::string& v) {
  v.resize(value_size);
  std::uint64_t x = key * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < value_size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&v[i], &x, 8);
  }
}

std::string compute(std::uint32_t key) {
  std::string v;
  compute_into(key, v);
  return v;
}

std::size_t entry_size(const std::uint32_t&, const std::string& v) {
  return sizeof(std::uint32_t) + v.capacity() + 64;  // + list and map nodes
}

// Which cache a run uses.
enum class cache_kind {
  naive,     // grows until the kernel kills it
  headroom,  // one cache that sheds on the monitor's pressure events
  shared,    // two caches and a buffer pool sharing one budget
};

const char* name_of(cache_kind k) {
  return k == cache_kind::naive      ? "naive"
         : k == cache_kind::headroom ? "headroom"
                                     : "shared";
}

std::optional<cache_kind> kind_named(const std::string& s) {
  for (cache_kind k :
       {cache_kind::naive, cache_kind::headroom, cache_kind::shared})
    if (s == name_of(k)) return k;
  return std::nullopt;
}

// The monitor's options for both kinds that follow it. Where nothing
// signals a change in usage (a read-only cgroupfs, as in Docker: no v1
// thresholds), usage is sampled. This cache fills a 128 MiB limit at
// ~400 MiB/s from a cold start, in bursts faster than that: with the
// defaults (intervals planned for 512 MiB/s, at most 250 ms) it survived 2
// of 5 runs in read-only Docker, with 20 ms between reads 3 of 3.
std::optional<headroom::monitor> make_monitor() {
  headroom::monitor_options opt;
  opt.sample_bound = std::chrono::milliseconds(20);
  auto m = headroom::monitor::create(opt);
  if (!m) {
    std::fprintf(stderr, "worker: monitor: %s\n", m.error().message().c_str());
    return std::nullopt;
  }
  return std::move(*m);
}

// The monitor is part of the request loop: a poll with no wait, then
// dispatch() runs the callbacks here, on this thread.
void poll_monitor(headroom::monitor& m) {
  pollfd p{m.fd(), POLLIN, 0};
  if (::poll(&p, 1, 0) == 1) m.dispatch();
}

using cache_type = pressure_cache::lru_cache<std::uint32_t, std::string>;

// Serves `requests` requests, calling `sample` every 64 of them. False
// when the monitor could not be created.
template <class Sample>
bool serve_alone(bool follow_pressure, std::uint64_t requests,
                 std::uint64_t seed, worker_report& r, Sample sample) {
  cache_type cache(entry_size);
  std::optional<headroom::monitor> mon;
  if (follow_pressure) {
    if (!(mon = make_monitor())) return false;
    cache.follow(*mon);
  }
  const zipf dist(keys);
  std::mt19937_64 rng(seed);
  for (; r.requests < requests; ++r.requests) {
    if (r.requests % 64 == 0) sample();
    if (mon) poll_monitor(*mon);
    const std::uint32_t k = dist(rng);
    if (!cache.get(k)) cache.put(k, compute(k));
  }
  r.hits = cache.hits();
  r.misses = cache.misses();
  r.sheds = cache.sheds();
  r.cache_bytes = cache.bytes();
  return true;
}

// The same requests served by two caches (even keys weigh 3, odd keys 1)
// and a pool of spare 64 KiB buffers that evicted values return to and
// misses take from, all three sized by one shared_budget: 90% of the
// effective limit, following the monitor. Each cache grows up to its
// target (pulled on every put, so regrowth after pressure is paced by the
// budget) and is cut to it when pressure lowers it.
template <class Sample>
bool serve_shared(std::uint64_t requests, std::uint64_t seed, worker_report& r,
                  Sample sample) {
  auto mon = make_monitor();
  if (!mon) return false;
  headroom::budget_policy policy;
  policy.percent = 90;
  auto budget = headroom::shared_budget::create(mon->last_snapshot(), policy);
  if (!budget) {
    std::fprintf(stderr, "worker: budget: %s\n",
                 budget.error().message().c_str());
    return false;
  }
  cache_type even(entry_size), odd(entry_size);
  std::vector<std::string> pool;  // spare buffers, each value_size
  std::size_t pool_cap = 0;
  std::uint64_t shrinks = 0;
  const auto cut = [&](cache_type& c) {
    return [&c, &shrinks](std::uint64_t target) {
      c.set_capacity(static_cast<std::size_t>(target));
      (void)headroom::release_free_memory();
      ++shrinks;
    };
  };
  auto even_share = budget->join({"even keys", 3}, cut(even));
  auto odd_share = budget->join({"odd keys", 1, 4 << 20}, cut(odd));
  auto pool_share = budget->join({"buffer pool", 0.25}, [&](std::uint64_t t) {
    pool_cap = static_cast<std::size_t>(t / value_size);
    if (pool.size() > pool_cap) pool.resize(pool_cap);
    ++shrinks;
  });
  if (!even_share || !odd_share || !pool_share) return false;
  const auto keep = [&](std::string&& v) {
    if (pool.size() < pool_cap) pool.push_back(std::move(v));
  };
  even.on_evict(keep);
  odd.on_evict(keep);
  auto sub = budget->follow(*mon);

  const zipf dist(keys);
  std::mt19937_64 rng(seed);
  for (; r.requests < requests; ++r.requests) {
    if (r.requests % 64 == 0) sample();
    poll_monitor(*mon);
    const std::uint32_t k = dist(rng);
    cache_type& c = k % 2 ? odd : even;
    if (c.get(k)) continue;
    std::string v;
    if (!pool.empty()) {
      v = std::move(pool.back());
      pool.pop_back();
    }
    compute_into(k, v);
    headroom::budget_share& share = k % 2 ? *odd_share : *even_share;
    c.set_capacity(static_cast<std::size_t>(share.target()));
    c.put(k, std::move(v));
    share.report(c.bytes());
    pool_cap = static_cast<std::size_t>(pool_share->target() / value_size);
    pool_share->report(pool.size() * value_size);
  }
  r.hits = even.hits() + odd.hits();
  r.misses = even.misses() + odd.misses();
  r.sheds = shrinks;
  r.cache_bytes = even.bytes() + odd.bytes() + pool.size() * value_size;
  return true;
}

template <class Sample>
bool serve(cache_kind kind, std::uint64_t requests, std::uint64_t seed,
           worker_report& r, Sample sample) {
  if (kind == cache_kind::shared)
    return serve_shared(requests, seed, r, sample);
  return serve_alone(kind == cache_kind::headroom, requests, seed, r, sample);
}

// A worker of the demo: serves `requests` requests, then reports on fd 3.
int worker(cache_kind kind, std::uint64_t requests, std::uint64_t seed) {
  worker_report r;
  if (!serve(kind, requests, seed, r, [] {})) return 2;
  return ::write(3, &r, sizeof r) == static_cast<ssize_t>(sizeof r) ? 0 : 2;
}

// --in-place: one cache in this process and its current cgroup; the
// working set is sampled through headroom itself.
int in_place(cache_kind kind, std::uint64_t requests, std::uint64_t seed) {
  auto reader = headroom::memory_reader::open();
  if (!reader) {
    std::fprintf(stderr, "headroom-survival: %s\n",
                 reader.error().message().c_str());
    return 1;
  }
  const auto limit = reader->snapshot().limit_bytes();
  std::uint64_t peak_ws = 0;
  worker_report r;
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = serve(kind, requests, seed, r, [&] {
    if (auto ws = reader->snapshot().working_set)
      peak_ws = std::max(peak_ws, *ws);
  });
  if (!ok) return 2;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const auto report = reader->report();
  const auto kernel_peak = report.peak.value ? *report.peak.value : 0;
  const char* cache = name_of(kind);
  std::printf("result in_place cache %s\n", cache);
  std::printf("result in_place limit_bytes %llu\n",
              static_cast<unsigned long long>(limit.value_or(0)));
  std::printf("result in_place requests %llu\nresult in_place hits %llu\n",
              static_cast<unsigned long long>(r.requests),
              static_cast<unsigned long long>(r.hits));
  std::printf("result in_place hit_rate_pct %.1f\n",
              100.0 * static_cast<double>(r.hits) /
                  static_cast<double>(std::max<std::uint64_t>(1, r.requests)));
  std::printf("result in_place sheds %llu\n",
              static_cast<unsigned long long>(r.sheds));
  std::printf("result in_place peak_ws_bytes %llu\n",
              static_cast<unsigned long long>(peak_ws));
  std::printf("result in_place kernel_peak_bytes %llu\n",
              static_cast<unsigned long long>(kernel_peak));
  std::printf("result in_place seconds %.2f\n", seconds);
  return 0;
}

std::uint64_t read_number(const std::string& path) {
  auto text = headroom::read_file(path);
  if (!text) return 0;
  auto v = headroom::parse_counter(*text);
  return v ? *v : 0;
}

std::uint64_t read_key(const std::string& path, const char* key) {
  auto text = headroom::read_file(path);
  if (!text) return 0;
  std::array<headroom::key_slot, 1> k{{{key, {}}}};
  if (!headroom::parse_keyed(*text, k)) return 0;
  return k[0].value.value_or(0);
}

struct run_result {
  bool killed = false;
  int exit_code = -1;
  worker_report report;
  bool reported = false;
  std::uint64_t peak_working_set = 0;  // sampled every 10 ms
  std::uint64_t kernel_peak = 0;       // the cgroup's own peak usage
  double seconds = 0;
  double killed_at_ms = -1;
};

run_result run_once(const char* self, cache_kind kind, std::uint64_t limit,
                    std::uint64_t requests, std::uint64_t seed, int index,
                    FILE* trace) {
  run_result res;
  survival::cgroup_sandbox cg("headroom-survival-" +
                                  std::to_string(::getpid()) + "-" +
                                  std::to_string(index),
                              limit);
  if (!cg.ok()) {
    std::fprintf(stderr, "headroom-survival: %s\n", cg.error().c_str());
    std::exit(77);
  }
  int pipefd[2];
  if (::pipe(pipefd) != 0) std::exit(1);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Into the cgroup first, then a fresh process image: every page the
    // worker touches is charged to the 128 MiB cgroup.
    if (!cg.move_in(::getpid())) ::_exit(3);
    ::dup2(pipefd[1], 3);
    const std::string req = std::to_string(requests);
    const std::string sd = std::to_string(seed);
    ::execl(self, self, "--worker", name_of(kind), req.c_str(), sd.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(4);
  }
  ::close(pipefd[1]);
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
    if (w == pid) {
      res.seconds = ms / 1000;
      if (WIFSIGNALED(status)) res.killed_at_ms = ms;
      break;
    }
    const std::uint64_t usage = read_number(cg.usage_file());
    const std::uint64_t inactive =
        read_key(cg.stat_file(), cg.inactive_file_key());
    const std::uint64_t ws = usage > inactive ? usage - inactive : 0;
    res.peak_working_set = std::max(res.peak_working_set, ws);
    if (trace) {
      std::fprintf(trace, "%s,%d,%.1f,%llu,%llu\n", name_of(kind), index, ms,
                   static_cast<unsigned long long>(usage),
                   static_cast<unsigned long long>(ws));
    }
    ::usleep(10000);
  }
  res.kernel_peak = read_number(cg.peak_file());
  res.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  res.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  res.reported = ::read(pipefd[0], &res.report, sizeof res.report) ==
                 static_cast<ssize_t>(sizeof res.report);
  ::close(pipefd[0]);
  if (trace && res.killed) {
    std::fprintf(trace, "%s,%d,%.1f,kill,kill\n", name_of(kind), index,
                 res.killed_at_ms);
  }
  return res;
}

std::uint64_t parse_size_arg(const char* s) {
  auto v = headroom::parse_size(s);
  if (!v) {
    std::fprintf(stderr, "headroom-survival: bad size %s\n", s);
    std::exit(2);
  }
  return *v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--worker") == 0) {
    const auto kind = kind_named(argv[2]);
    if (!kind) return 2;
    return worker(*kind, std::strtoull(argv[3], nullptr, 10),
                  std::strtoull(argv[4], nullptr, 10));
  }
  int runs = 1;
  std::uint64_t limit = 128 * 1024 * 1024;
  std::uint64_t requests = 60000;
  std::string trace_dir;
  std::string only;
  std::string here;
  std::uint64_t seed = 1000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "headroom-survival: %s needs a value\n",
                     a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--runs") {
      runs = std::atoi(value());
    } else if (a == "--limit") {
      limit = parse_size_arg(value());
    } else if (a == "--requests") {
      requests = std::strtoull(value(), nullptr, 10);
    } else if (a == "--trace") {
      trace_dir = value();
    } else if (a == "--only") {
      only = value();
    } else if (a == "--in-place") {
      here = value();
    } else if (a == "--seed") {
      seed = std::strtoull(value(), nullptr, 10);
    } else {
      std::fprintf(
          stderr,
          "usage: headroom-survival [--runs N] [--limit 128Mi] [--requests N] "
          "[--trace DIR] [--only naive|headroom|shared]\n"
          "       headroom-survival --in-place naive|headroom|shared "
          "[--requests N] "
          "[--seed S]\n");
      return 2;
    }
  }
  if (!here.empty()) {
    const auto kind = kind_named(here);
    if (!kind) {
      std::fprintf(stderr,
                   "headroom-survival: --in-place takes naive, headroom or "
                   "shared\n");
      return 2;
    }
    return in_place(*kind, requests, seed);
  }
  if (::geteuid() != 0) {
    std::printf("SKIP: the demo creates memory cgroups: run it as root\n");
    return 77;
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';

  FILE* trace = nullptr;
  if (!trace_dir.empty()) {
    trace = std::fopen((trace_dir + "/survival-trace.csv").c_str(), "w");
    if (trace)
      std::fprintf(trace, "cache,run,ms,usage_bytes,working_set_bytes\n");
  }
  std::printf(
      "limit %s, %llu requests over %u keys of 64 KiB (Zipf), %d run(s) each\n",
      headroom::format_bytes(limit).c_str(),
      static_cast<unsigned long long>(requests), keys, runs);
  std::printf("%-9s %4s  %-26s %8s %9s %14s %14s %7s\n", "cache", "run",
              "outcome", "seconds", "hit rate", "peak ws", "kernel peak",
              "sheds");
  constexpr int kinds = 3;
  int kills[kinds] = {};
  int survived[kinds] = {};
  int done[kinds] = {};
  std::vector<double> hit_rates[kinds];
  std::uint64_t peak[kinds] = {};
  for (int r = 0; r < runs; ++r) {
    for (int k = 0; k < kinds; ++k) {
      const auto kind = static_cast<cache_kind>(k);
      if (!only.empty() && only != name_of(kind)) continue;
      const auto res =
          run_once(self, kind, limit, requests, 1000 + r, kinds * r + k, trace);
      ++done[k];
      if (res.killed) ++kills[k];
      peak[k] = std::max(peak[k], res.peak_working_set);
      char outcome[64];
      if (res.killed) {
        std::snprintf(outcome, sizeof outcome, "killed (SIGKILL, exit 137)");
      } else if (res.reported && res.exit_code == 0) {
        std::snprintf(outcome, sizeof outcome, "survived");
        ++survived[k];
      } else {
        std::snprintf(outcome, sizeof outcome, "failed (exit %d)",
                      res.exit_code);
      }
      char rate[16] = "-";
      char sheds[16] = "-";
      if (res.reported) {
        const double hr = 100.0 * static_cast<double>(res.report.hits) /
                          static_cast<double>(
                              std::max<std::uint64_t>(1, res.report.requests));
        hit_rates[k].push_back(hr);
        std::snprintf(rate, sizeof rate, "%.1f%%", hr);
        std::snprintf(sheds, sizeof sheds, "%llu",
                      static_cast<unsigned long long>(res.report.sheds));
      }
      std::printf("%-9s %4d  %-26s %8.2f %9s %14s %14s %7s\n", name_of(kind),
                  r + 1, outcome, res.seconds, rate,
                  headroom::format_bytes(res.peak_working_set).c_str(),
                  headroom::format_bytes(res.kernel_peak).c_str(), sheds);
      std::fflush(stdout);
    }
  }
  if (trace) std::fclose(trace);
  const auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? -1.0 : s / static_cast<double>(v.size());
  };
  std::printf("\nnaive:    killed %d of %d\n", kills[0], done[0]);
  for (int k = 1; k < kinds; ++k) {
    std::printf(
        "%-9s killed %d of %d, survived %d of %d, mean hit rate %.1f%%, "
        "peak working set %s\n",
        (std::string(name_of(static_cast<cache_kind>(k))) + ":").c_str(),
        kills[k], done[k], survived[k], done[k], mean(hit_rates[k]),
        headroom::format_bytes(peak[k]).c_str());
  }
  std::printf(
      "result survival naive_killed %d\nresult survival naive_runs %d\n",
      kills[0], done[0]);
  for (int k = 1; k < kinds; ++k) {
    const char* n = name_of(static_cast<cache_kind>(k));
    std::printf("result survival %s_survived %d\n", n, survived[k]);
    std::printf("result survival %s_runs %d\n", n, done[k]);
    std::printf("result survival %s_hit_rate_pct %.1f\n", n,
                mean(hit_rates[k]));
    std::printf("result survival %s_peak_ws_bytes %llu\n", n,
                static_cast<unsigned long long>(peak[k]));
  }
  // Every run that follows pressure must have finished.
  return survived[1] == done[1] && survived[2] == done[2] ? 0 : 1;
}
