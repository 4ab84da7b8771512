// SPDX-License-Identifier: MIT
// headroom-info as a user runs it: the JSON contract, the human report,
// --capture then --root replay, --pid, and exit codes on bad input.
#include <dirent.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <string>
#include <vector>

#include "../support/container_layouts.hpp"
#include "../support/doctest.hpp"
#include "../support/json.hpp"
#include "../support/kubernetes_layouts.hpp"
#include "../support/layouts.hpp"
#include "../support/psi_layouts.hpp"
#include "../support/run.hpp"

using namespace headroom_test;

#ifndef HEADROOM_INFO
#error "HEADROOM_INFO must be the path of the headroom-info binary"
#endif

namespace {

run_result info(std::vector<std::string> args) {
  args.insert(args.begin(), HEADROOM_INFO);
  return run(args);
}

// headroom-info with environment variables set ("NAME=value").
run_result info_env(const std::vector<std::string>& env,
                    std::vector<std::string> args) {
  args.insert(args.begin(), HEADROOM_INFO);
  args.insert(args.begin(), env.begin(), env.end());
  args.insert(args.begin(), "/usr/bin/env");
  return run(args);
}

json info_json(std::vector<std::string> args) {
  args.push_back("--json");
  const auto r = info(args);
  REQUIRE_MESSAGE(r.exited, "headroom-info died with signal " << r.code);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  auto j = json_reader::parse(r.out);
  REQUIRE_MESSAGE(j.has_value(), "not JSON: " << r.out);
  return *j;
}

const json& field(const json& j, const char* dotted) {
  const json* v = j.at(dotted);
  REQUIRE_MESSAGE(v != nullptr, "missing field " << dotted);
  return *v;
}

std::uint64_t bytes(const json& j, const char* dotted) {
  const auto v = field(j, dotted).u64();
  REQUIRE_MESSAGE(v.has_value(), dotted << " is not an integer");
  return *v;
}

std::string str(const json& j, const char* dotted) {
  const json& v = field(j, dotted);
  REQUIRE_MESSAGE(v.type == json::kind::string, dotted << " is not a string");
  return v.text;
}

// The fields README.md documents as the contract.
const char* const contract[] = {
    "headroom_version",
    "cgroup.version",
    "cgroup.memory_path",
    "cgroup.memory_dir",
    "cgroup.path_mapping",
    "cgroup.path_fallback",
    "cgroup.chain",
    "memory.limit_bytes",
    "memory.limit_path",
    "memory.limit_cgroup",
    "memory.limit_source",
    "memory.high_bytes",
    "memory.low_bytes",
    "memory.swap_limit_bytes",
    "memory.usage_bytes",
    "memory.usage_path",
    "memory.working_set_bytes",
    "memory.anon_bytes",
    "memory.file_bytes",
    "memory.inactive_file_bytes",
    "memory.peak_bytes",
    "memory.failcnt",
    "memory.oom_kill_count",
    "memory.events",
    "memory.host_total_bytes",
    "memory.effective_limit_bytes",
    "memory.headroom_bytes",
    "pressure.scope",
    "pressure.path",
    "pressure.some",
    "pressure.full",
    "pressure.reason",
    "pressure_cpu.scope",
    "pressure_cpu.path",
    "pressure_cpu.reason",
    "pressure_cpu.some",
    "pressure_cpu.full",
    "pressure_io.scope",
    "pressure_io.path",
    "pressure_io.reason",
    "pressure_io.some",
    "pressure_io.full",
    "errors",
    "cgroup.view",
    "cgroup.dirs_searched",
    "memory.usage_cgroup",
    "memory.usage_scope",
    "memory.headroom_is_bound",
    "cpu.path_mapping",
    "cpu.path_fallback",
    "kubernetes.qos_class",
    "kubernetes.qos_class_source",
    "kubernetes.oom_score_adj",
    "kubernetes.oom_score_adj_agrees",
    "kubernetes.cgroup_driver",
    "kubernetes.pod_uid",
    "kubernetes.container_id",
    "kubernetes.container_runtime",
    "kubernetes.memory_request_bytes",
    "kubernetes.memory_request_source",
    "kubernetes.memory_request_estimate",
};

}  // namespace

TEST_CASE("--json: the contract on Kubernetes v2 (pod slice limit)") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  const json j = info_json({"--root", t.root()});
  for (const char* f : contract) {
    CAPTURE(f);
    CHECK(j.at(f) != nullptr);
  }
  const std::string pod = std::string("/sys/fs/cgroup") + k8s_pod;
  CHECK(str(j, "cgroup.version") == "v2");
  CHECK(str(j, "cgroup.memory_path") == std::string(k8s_pod) + k8s_container);
  CHECK(field(j, "cgroup.chain").items.size() == 5);
  CHECK(bytes(j, "memory.limit_bytes") == 1 * GiB);
  CHECK(str(j, "memory.limit_path") == pod + "/memory.max");
  CHECK(str(j, "memory.limit_cgroup") == pod);
  CHECK(str(j, "memory.limit_source") == "chain");
  CHECK(bytes(j, "memory.high_bytes") == 900 * MiB);
  CHECK(field(j, "memory.swap_limit_bytes").is_null());  // max: unlimited
  CHECK(bytes(j, "memory.usage_bytes") == 700 * MiB);
  CHECK(str(j, "memory.usage_path") == pod + "/memory.current");
  CHECK(bytes(j, "memory.working_set_bytes") == 600 * MiB);
  CHECK(bytes(j, "memory.host_total_bytes") == 16 * GiB);
  CHECK(bytes(j, "memory.effective_limit_bytes") == 1 * GiB);
  CHECK(bytes(j, "memory.headroom_bytes") == 1 * GiB - 600 * MiB);
  CHECK(bytes(j, "memory.oom_kill_count") == 1);
  CHECK(bytes(j, "memory.events.max") == 4);
  CHECK(str(j, "pressure.scope") == "cgroup");
  CHECK(field(j, "pressure.some.avg10").type == json::kind::number);
  const std::string ctr = pod + k8s_container;
  CHECK(str(j, "pressure_cpu.scope") == "cgroup");
  CHECK(str(j, "pressure_cpu.path") == ctr + "/cpu.pressure");
  CHECK(field(j, "pressure_cpu.reason").is_null());
  CHECK(bytes(j, "pressure_cpu.some.total_us") == 2500000);
  CHECK(bytes(j, "pressure_cpu.full.total_us") == 400000);
  CHECK(str(j, "pressure_io.scope") == "cgroup");
  CHECK(str(j, "pressure_io.path") == ctr + "/io.pressure");
  CHECK(bytes(j, "pressure_io.some.total_us") == 7000000);
  CHECK(bytes(j, "pressure_io.full.total_us") == 6000000);
  CHECK(str(j, "kubernetes.qos_class") == "Burstable");
  CHECK(str(j, "kubernetes.pod_uid") == "1234");
  CHECK(str(j, "kubernetes.container_id") == "abcd");
  // A tree without oom_score_adj: null, not an error.
  CHECK(field(j, "kubernetes.oom_score_adj").is_null());
  CHECK(field(j, "errors").items.empty());
}

TEST_CASE("--json: null where unlimited, and the error list where unreadable") {
  fixture_tree t;
  layout_docker_v1(t);
  SUBCASE("unlimited") {
    t.file("sys/fs/cgroup/memory/memory.limit_in_bytes",
           std::string(v1_unlimited_4k) + "\n");
    t.file("sys/fs/cgroup/memory/memory.stat",
           v1_stat(v1_unlimited_4k, 60 * MiB, 40 * MiB, 20 * MiB));
    const json j = info_json({"--root", t.root()});
    CHECK(str(j, "cgroup.version") == "v1");
    CHECK(field(j, "memory.limit_bytes").is_null());
    CHECK(field(j, "memory.limit_path").is_null());
    CHECK(str(j, "memory.limit_source") == "none");
    CHECK(field(j, "memory.high_bytes").is_null());
    CHECK(bytes(j, "memory.effective_limit_bytes") == 16 * GiB);
    CHECK(field(j, "errors").items.empty());
  }
  SUBCASE("garbage limit file") {
    t.file("sys/fs/cgroup/memory/memory.limit_in_bytes", "lots\n");
    const json j = info_json({"--root", t.root()});
    CHECK(field(j, "memory.limit_bytes").is_null());
    CHECK(field(j, "memory.effective_limit_bytes").is_null());
    CHECK(bytes(j, "memory.usage_bytes") == 100 * MiB);
    const auto& errs = field(j, "errors").items;
    REQUIRE_FALSE(errs.empty());
    CHECK(str(errs[0], "field") == "memory.limit_bytes");
    CHECK(str(errs[0], "path") ==
          t.root() + "/sys/fs/cgroup/memory/memory.limit_in_bytes");
    CHECK(str(errs[0], "message") == "malformed content");
  }
}

TEST_CASE("the human report: sizes and where they came from") {
  fixture_tree t;
  layout_docker_v1(t);
  const auto r = info({"--root", t.root()});
  REQUIRE(r.exited);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("256.0 MiB (268435456)") != std::string::npos);
  CHECK(r.out.find("<- /sys/fs/cgroup/memory/memory.limit_in_bytes") !=
        std::string::npos);
  CHECK(r.out.find("v1: memory controller on cgroup v1") != std::string::npos);
  CHECK(r.out.find("below_mount_root") != std::string::npos);
  CHECK(r.out.find("176.0 MiB") != std::string::npos);  // headroom
}

TEST_CASE("the human report and JSON name the pod, its class and request") {
  for (const pod_row& row : pod_rows()) {
    CAPTURE(row.name);
    fixture_tree t;
    write_pod(t, row);
    const auto h = info({"--root", t.root()});
    REQUIRE(h.code == 0);
    const std::string name = row.name;
    const char* qos =
        name.find("guaranteed") != std::string::npos  ? "Guaranteed"
        : name.find("burstable") != std::string::npos ? "Burstable"
                                                      : "BestEffort";
    CHECK(h.out.find(std::string("qos class         ") + qos +
                     "   <- from the cgroup path") != std::string::npos);
    CHECK(h.out.find(std::string("pod uid           ") + pod_uid) !=
          std::string::npos);
    const auto j = info({"--json", "--root", t.root()});
    REQUIRE(j.code == 0);
    auto doc = json_reader::parse(j.out);
    REQUIRE(doc);
    CHECK(str(*doc, "kubernetes.qos_class") == qos);
    CHECK(str(*doc, "kubernetes.container_id") == ctr_id);
  }
}

TEST_CASE("--capture then --root replays the same report") {
  SUBCASE("from a fixture tree") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    fixture_tree cap;
    const auto first =
        info({"--json", "--root", t.root(), "--capture", cap.root()});
    REQUIRE(first.code == 0);
    CHECK(first.err.find("captured") != std::string::npos);
    const auto again = info({"--json", "--root", cap.root()});
    REQUIRE(again.code == 0);
    // Identical but for the root prefix and error paths, which name it.
    auto strip = [](std::string s, const std::string& root) {
      for (std::size_t at; (at = s.find(root)) != std::string::npos;)
        s.erase(at, root.size());
      return s;
    };
    CHECK(strip(first.out, t.root()) == strip(again.out, cap.root()));
  }
  SUBCASE("from this machine") {
    fixture_tree cap;
    const json live = info_json({"--capture", cap.root()});
    const json replay = info_json({"--root", cap.root()});
    for (const char* f :
         {"cgroup.version", "cgroup.memory_path", "cgroup.memory_dir",
          "cgroup.path_mapping", "memory.limit_source", "pressure.scope",
          "pressure.path"}) {
      CAPTURE(f);
      CHECK(field(live, f).text == field(replay, f).text);
    }
    CHECK(field(live, "memory.limit_bytes").text ==
          field(replay, "memory.limit_bytes").text);
    CHECK(field(live, "memory.host_total_bytes").text ==
          field(replay, "memory.host_total_bytes").text);
    CHECK(field(live, "cgroup.chain").items.size() ==
          field(replay, "cgroup.chain").items.size());
    CHECK(field(replay, "memory.usage_bytes").u64().has_value());
  }
}

namespace {

// Replaces the first `from` in `s` by `to`; fails the test when absent.
std::string replace_once(std::string s, const std::string& from,
                         const std::string& to) {
  const std::size_t at = s.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "no " << from << " in " << s);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("--capture then --root on this machine: the same bytes") {
  // Every value is compared, counters that move by the microsecond
  // (usage, memory.stat, PSI totals) included: the capture holds the bytes
  // the live report was made from. Nothing in a report is a clock reading,
  // so no field is left out for being time-varying. Two fields differ by
  // design and are mapped back, each exactly once: the root the report
  // names, and the affinity's source (sched_getaffinity live; a tree
  // cannot hold a system call, so a replay reads Cpus_allowed_list of
  // /proc/self/status, which the capture copies).
  SUBCASE("JSON") {
    fixture_tree cap;
    const auto live = info({"--json", "--capture", cap.root()});
    REQUIRE_MESSAGE(live.code == 0, live.err);
    const auto replay = info({"--json", "--root", cap.root()});
    REQUIRE_MESSAGE(replay.code == 0, replay.err);
    std::string mapped = replace_once(
        replay.out, "\"root\":\"" + cap.root() + "\"", "\"root\":\"/\"");
    mapped = replace_once(mapped, "\"affinity_source\":\"/proc/self/status\"",
                          "\"affinity_source\":\"sched_getaffinity\"");
    CHECK(mapped == live.out);
    CHECK(live.out.find("\"usage_bytes\":") != std::string::npos);
  }
  SUBCASE("human") {
    fixture_tree cap;
    const auto live = info({"--capture", cap.root()});
    REQUIRE_MESSAGE(live.code == 0, live.err);
    const auto replay = info({"--root", cap.root()});
    REQUIRE_MESSAGE(replay.code == 0, replay.err);
    std::string mapped =
        replace_once(replay.out, ": this process, root " + cap.root() + "\n",
                     ": this process\n");
    mapped = replace_once(mapped, "<- /proc/self/status\n",
                          "<- sched_getaffinity\n");
    CHECK(mapped == live.out);
  }
  SUBCASE("Prometheus: nothing to map") {
    fixture_tree cap;
    const auto live = info({"--format", "prometheus", "--capture", cap.root()});
    REQUIRE_MESSAGE(live.code == 0, live.err);
    const auto replay = info({"--format", "prometheus", "--root", cap.root()});
    REQUIRE_MESSAGE(replay.code == 0, replay.err);
    CHECK(replay.out == live.out);
  }
}

// secure: a setgid copy of headroom-info runs in secure execution
// (AT_SECURE: its egid is not its gid), where HEADROOM_* and
// $MEMORY_PRESSURE_WATCH must be ignored. A test of its own (ctest
// cli_secure_env): it exits 77 (SKIP), saying why, where a setgid copy
// cannot be made or does not run securely.
TEST_CASE(
    "secure: HEADROOM_* and MEMORY_PRESSURE_WATCH are ignored in a setgid "
    "program") {
  const auto skip = [](const std::string& why) {
    std::printf("SKIP: %s\n", why.c_str());
    std::fflush(stdout);
    std::_Exit(77);
  };
  if (::geteuid() != 0)
    skip("needs root to make a setgid copy of headroom-info");
  fixture_tree dir;
  REQUIRE(::chmod(dir.root().c_str(), 0755) == 0);
  const std::string plain = dir.path("headroom-info");
  const std::string setgid = dir.path("headroom-info-setgid");
  for (const std::string& to : {plain, setgid}) {
    std::filesystem::copy_file(HEADROOM_INFO, to);
  }
  // Group nobody, set-group-ID: still root (it reads everything), but the
  // effective gid differs from the real one, so the kernel sets AT_SECURE.
  if (::chown(setgid.c_str(), 0, 65534) != 0 ||
      ::chmod(setgid.c_str(), 02755) != 0)
    skip("cannot make " + setgid + " setgid: " + std::strerror(errno));
  struct stat st {};
  REQUIRE(::stat(setgid.c_str(), &st) == 0);
  REQUIRE((st.st_mode & S_ISGID) != 0);
  // glibc prints the auxiliary vector for LD_SHOW_AUXV, and ignores the
  // variable in secure execution: AT_SECURE 0 from the plain copy and
  // nothing from the setgid one shows that the arrangement took.
  const auto auxv = [](const std::string& bin) {
    return run({"/usr/bin/env", "LD_SHOW_AUXV=1", bin, "--help"}).out;
  };
  const std::string plain_auxv = auxv(plain);
  if (plain_auxv.find("AT_SECURE:") == std::string::npos)
    skip(
        "LD_SHOW_AUXV shows no auxiliary vector (not glibc, or static): "
        "secure execution cannot be confirmed");
  CHECK(plain_auxv.find("AT_SECURE:            0") != std::string::npos);
  const std::string setgid_auxv = auxv(setgid);
  if (setgid_auxv.find("AT_SECURE:") != std::string::npos)
    skip("the setgid copy does not run in secure execution (a nosuid mount?)");

  const auto json_of = [](const std::string& bin,
                          const std::vector<std::string>& env) {
    std::vector<std::string> argv{"/usr/bin/env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(bin);
    argv.push_back("--json");
    const auto r = run(argv);
    REQUIRE_MESSAGE(r.code == 0, r.err);
    auto j = json_reader::parse(r.out);
    REQUIRE_MESSAGE(j.has_value(), "not JSON: " << r.out);
    return *j;
  };
  SUBCASE("HEADROOM_MEMORY_LIMIT") {
    const std::vector<std::string> env{"HEADROOM_MEMORY_LIMIT=300Mi"};
    const json honoured = json_of(plain, env);
    CHECK(str(honoured, "memory.limit_source") == "environment");
    CHECK(bytes(honoured, "memory.limit_bytes") == 300 * MiB);
    const json ignored = json_of(setgid, env);
    CHECK(str(ignored, "memory.limit_source") != "environment");
    CHECK(str(ignored, "memory.limit_source") ==
          str(json_of(plain, {}), "memory.limit_source"));
  }
  SUBCASE("MEMORY_PRESSURE_WATCH") {
    // systemd's protocol names what the monitor opens and writes to: a
    // FIFO here. The plain copy watches it; the setgid one has no systemd
    // source at all.
    const std::string fifo = dir.path("pressure.fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto systemd_source = [&fifo](const std::string& bin) {
      spawned w({"/usr/bin/env", "MEMORY_PRESSURE_WATCH=" + fifo, bin,
                 "--watch", "--json", "--interval", "100"});
      const auto first = w.line(5000);
      w.signal(SIGINT);
      w.wait();
      REQUIRE_MESSAGE(first, "no sources line from " << bin);
      const auto j = json_reader::parse(*first);
      REQUIRE_MESSAGE(j, "not JSON: " << *first);
      std::string found = "none";
      for (const auto& src : field(*j, "sources").items) {
        if (str(src, "source") == "systemd")
          found = str(src, "state") + " " + str(src, "detail");
      }
      return found;
    };
    CHECK(systemd_source(plain) == "active " + fifo);
    CHECK(systemd_source(setgid) == "none");
  }
  SUBCASE("HEADROOM_DETECT") {
    const std::vector<std::string> env{"HEADROOM_DETECT=off"};
    const std::string detected = str(json_of(plain, {}), "cgroup.version");
    if (detected == "none")
      skip("no cgroup here: HEADROOM_DETECT=off shows nothing");
    CHECK(str(json_of(plain, env), "cgroup.version") == "none");
    CHECK(str(json_of(setgid, env), "cgroup.version") == detected);
  }
}

TEST_CASE("--pid reports on another process") {
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const json self = info_json({});
  const json other = info_json({"--pid", std::to_string(child)});
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(field(other, "pid").u64() == static_cast<std::uint64_t>(child));
  CHECK(str(other, "cgroup.version") == str(self, "cgroup.version"));
  CHECK(field(other, "cgroup.memory_path").text ==
        field(self, "cgroup.memory_path").text);
}

TEST_CASE(
    "exit codes: 0 when it could report, 1 with one line when not, 2 for bad "
    "usage") {
  SUBCASE("no limit is still a report") {
    fixture_tree t;
    write_host(t);
    t.file("proc/self/mountinfo", mi_base);
    const auto r = info({"--root", t.root()});
    CHECK(r.exited);
    CHECK(r.code == 0);
    CHECK(r.out.find("none: no memory controller visible") !=
          std::string::npos);
  }
  SUBCASE("a process that does not exist") {
    pid_t gone = 4194000;
    while (::kill(gone, 0) == 0 || errno != ESRCH) --gone;
    const auto r = info({"--pid", std::to_string(gone)});
    CHECK(r.exited);
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("headroom-info: cannot report: /proc/" +
                     std::to_string(gone)) == 0);
    CHECK(r.err.find('\n') == r.err.size() - 1);  // one line
  }
  SUBCASE("an empty root") {
    fixture_tree t;
    const auto r = info({"--root", t.root()});
    CHECK(r.code == 1);
    CHECK(r.err.find("No such file or directory") != std::string::npos);
  }
  SUBCASE("bad arguments") {
    CHECK(info({"--pid", "abc"}).code == 2);
    CHECK(info({"--pid"}).code == 2);
    CHECK(info({"--frobnicate"}).code == 2);
  }
}

TEST_CASE("hostile trees never crash it") {
  const std::vector<std::pair<std::string, std::string>> breakages = {
      {"proc/self/mountinfo", std::string(70000, 'x')},
      {"proc/self/mountinfo", std::string("\0\0\0", 3)},
      {"proc/self/cgroup", std::string(1 << 20, ':')},
      {"proc/self/cgroup", "0::/../../../../etc\n"},
      {"proc/self/cgroup", "0::/a/../../../etc\n"},
      {"proc/meminfo", "MemTotal: 18446744073709551615 kB\nMemFree: 1 kB\n"},
      {"sys/fs/cgroup/kubepods.slice/memory.max", "18446744073709551615\n"},
      {"sys/fs/cgroup/kubepods.slice/memory.stat", std::string(100000, '\n')},
      {"sys/fs/cgroup/kubepods.slice/memory.current", "-5\n"},
      {"sys/fs/cgroup/cgroup.controllers", std::string(5000, ' ')},
  };
  for (const auto& breakage : breakages) {
    const std::string& path = breakage.first;
    const std::string& content = breakage.second;
    CAPTURE(path);
    fixture_tree t;
    layout_kubernetes_v2(t);
    t.file(path, content);
    for (const bool json_out : {false, true}) {
      auto r = json_out ? info({"--json", "--root", t.root()})
                        : info({"--root", t.root()});
      CHECK_MESSAGE(r.exited, "killed by signal " << r.code);
      CHECK((r.code == 0 || r.code == 1));
      if (json_out && r.code == 0) CHECK(json_reader::parse(r.out).has_value());
    }
  }
}

// ---------------------------------------------------------------------------
// The cpu section (--json) and --format prometheus

#include "../support/cpu_layouts.hpp"
#include "../support/exposition.hpp"

namespace {

prom_text info_prometheus(std::vector<std::string> args) {
  args.push_back("--format");
  args.push_back("prometheus");
  const auto r = info(args);
  REQUIRE_MESSAGE(r.exited, "headroom-info died with signal " << r.code);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  return parse_prometheus(r.out);
}

}  // namespace

TEST_CASE(
    "--json cpu: quota on the pod slice, cpuset of the container, affinity of "
    "the tree") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const json j = info_json({"--root", t.root()});
  const std::string pod = std::string("/sys/fs/cgroup") + k8s_pod;
  CHECK(str(j, "cpu.controller") == "v2");
  CHECK(str(j, "cpu.cgroup_dir") == pod + k8s_container);
  CHECK(field(j, "cpu.reason").is_null());
  CHECK(bytes(j, "cpu.affinity_count") == 8);
  CHECK(str(j, "cpu.affinity_source") == "/proc/self/status");
  CHECK(field(j, "cpu.quota_cpus").type == json::kind::number);
  CHECK(field(j, "cpu.quota_cpus").text == "1.500000");
  CHECK(bytes(j, "cpu.quota_us") == 150000);
  CHECK(bytes(j, "cpu.period_us") == 100000);
  CHECK(str(j, "cpu.quota_path") == pod + "/cpu.max");
  CHECK(str(j, "cpu.quota_cgroup") == pod);
  CHECK(str(j, "cpu.cpuset_controller") == "v2");
  CHECK(bytes(j, "cpu.cpuset_count") == 4);
  CHECK(str(j, "cpu.cpuset_path") ==
        pod + k8s_container + "/cpuset.cpus.effective");
  CHECK(bytes(j, "cpu.effective_count_up") == 2);
  CHECK(bytes(j, "cpu.effective_count_down") == 1);
  CHECK(field(j, "cpu.errors").items.empty());
  CHECK(field(j, "errors").items.empty());
  // --format json is --json.
  const auto a = info({"--json", "--root", t.root()});
  const auto b = info({"--format", "json", "--root", t.root()});
  CHECK(a.out == b.out);
}

TEST_CASE("--json cpu: null where unlimited or unreadable, with the reason") {
  SUBCASE("no quota, no cpuset mounted (Docker v1)") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct", "-1");
    const json j = info_json({"--root", t.root()});
    CHECK(str(j, "cpu.controller") == "v1");
    CHECK(field(j, "cpu.quota_cpus").is_null());
    CHECK(field(j, "cpu.quota_path").is_null());
    CHECK(str(j, "cpu.cpuset_controller") == "none");
    CHECK(field(j, "cpu.cpuset_count").is_null());
    CHECK(bytes(j, "cpu.effective_count_up") == 16);
    CHECK(field(j, "cpu.errors").items.empty());
  }
  SUBCASE("garbage cpu.max") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const std::string file =
        std::string("sys/fs/cgroup") + k8s_pod + "/cpu.max";
    t.file(file, "lots\n");
    const json j = info_json({"--root", t.root()});
    CHECK(field(j, "cpu.quota_cpus").is_null());
    CHECK(field(j, "cpu.effective_count_up").is_null());
    CHECK(field(j, "cpu.effective_count_down").is_null());
    CHECK(bytes(j, "cpu.affinity_count") == 8);
    const auto& errs = field(j, "cpu.errors").items;
    REQUIRE(errs.size() == 1);
    CHECK(str(errs[0], "field") == "cpu.quota_cpus");
    CHECK(str(errs[0], "path") == t.root() + "/" + file);
    CHECK(str(errs[0], "message") == "malformed content");
  }
  SUBCASE("no cpu controller") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    t.file("proc/self/cgroup", "12:memory:/docker/0123abcd\n0::/\n");
    const json j = info_json({"--root", t.root()});
    CHECK(str(j, "cpu.controller") == "none");
    CHECK(field(j, "cpu.cgroup_dir").is_null());
    CHECK(str(j, "cpu.reason") == "no cpu cgroup for the process");
    CHECK(bytes(j, "cpu.effective_count_down") == 16);
  }
}

TEST_CASE("the human report has a cpu section") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const auto r = info({"--root", t.root()});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("\ncpu\n") != std::string::npos);
  CHECK(r.out.find("1.50 CPUs (150000 us per 100000 us)") != std::string::npos);
  CHECK(r.out.find("2 rounded up (JDK, .NET), 1 rounded down (automaxprocs)") !=
        std::string::npos);
}

TEST_CASE("--format prometheus: cAdvisor's names, values from the tree") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const prom_text p = info_prometheus({"--root", t.root()});
  // container_*: the container's own cgroup, as cAdvisor reads it. Its
  // memory.max says max: cAdvisor writes 0 for unlimited.
  CHECK(sample_value(p, "container_spec_memory_limit_bytes") == "0");
  CHECK(sample_value(p, "container_spec_memory_reservation_limit_bytes") ==
        "0");
  CHECK(sample_value(p, "container_spec_memory_swap_limit_bytes") == "0");
  CHECK(sample_value(p, "container_memory_usage_bytes") ==
        std::to_string(600 * MiB));
  CHECK(sample_value(p, "container_memory_working_set_bytes") ==
        std::to_string(580 * MiB));
  CHECK(sample_value(p, "container_memory_rss") == std::to_string(60 * MiB));
  CHECK(sample_value(p, "container_memory_cache") == std::to_string(40 * MiB));
  CHECK(sample_value(p, "container_memory_total_inactive_file_bytes") ==
        std::to_string(20 * MiB));
  CHECK(sample_value(p, "container_memory_max_usage_bytes") ==
        std::to_string(610 * MiB));
  CHECK(sample_value(p, "container_oom_events_total") == "0");
  CHECK(p.types.at("container_oom_events_total") == "counter");
  // headroom_*: the tightest on the chain (the pod's 1 GiB) and the usage
  // the kernel compares with it.
  CHECK(sample_value(p, "headroom_memory_limit_bytes") ==
        std::to_string(1 * GiB));
  CHECK(sample_value(p, "headroom_memory_usage_bytes") ==
        std::to_string(700 * MiB));
  CHECK(sample_value(p, "headroom_memory_working_set_bytes") ==
        std::to_string(600 * MiB));
  CHECK(sample_value(p, "headroom_memory_peak_bytes") ==
        std::to_string(710 * MiB));
  CHECK(sample_value(p, "headroom_memory_oom_kills_total") == "1");
  CHECK(sample_value(p, "headroom_memory_stat_bytes", {{"key", "kernel"}}) ==
        "327680");
  CHECK(sample_value(p, "headroom_memory_stat_events_total",
                     {{"key", "pgfault"}}) == "100");
  CHECK(p.types.at("headroom_memory_stat_events_total") == "counter");
  CHECK(sample_value(p, "machine_memory_bytes") == std::to_string(16 * GiB));
  CHECK(sample_value(p, "headroom_effective_limit_bytes") ==
        std::to_string(1 * GiB));
  CHECK(sample_value(p, "headroom_headroom_bytes") ==
        std::to_string(1 * GiB - 600 * MiB));
  CHECK(sample_value(p, "headroom_memory_high_bytes") ==
        std::to_string(900 * MiB));
  CHECK(sample_value(p, "headroom_psi_memory_some_avg10",
                     {{"scope", "cgroup"}}) == "0.00");
  CHECK(sample_value(p, "container_pressure_memory_waiting_seconds_total") ==
        "0.000000");
  // cpu.pressure and io.pressure of the container's own cgroup, as cAdvisor
  // writes them: some is "waiting", full is "stalled", in seconds.
  CHECK(sample_value(p, "container_pressure_cpu_waiting_seconds_total") ==
        "2.500000");
  CHECK(sample_value(p, "container_pressure_cpu_stalled_seconds_total") ==
        "0.400000");
  CHECK(sample_value(p, "container_pressure_io_waiting_seconds_total") ==
        "7.000000");
  CHECK(sample_value(p, "container_pressure_io_stalled_seconds_total") ==
        "6.000000");
  for (const char* m : {"container_pressure_cpu_waiting_seconds_total",
                        "container_pressure_io_stalled_seconds_total"}) {
    CHECK(p.types.at(m) == "counter");
  }
  CHECK(sample_value(p, "headroom_psi_cpu_some_avg10", {{"scope", "cgroup"}}) ==
        "1.50");
  CHECK(sample_value(p, "headroom_psi_io_full_avg300", {{"scope", "cgroup"}}) ==
        "0.75");
  // The container's own cpu.max says "max 100000": cAdvisor writes its
  // period and no quota, though the pod slice above holds 1.5 CPUs.
  CHECK(find_sample(p, "container_spec_cpu_quota") == nullptr);
  CHECK(has_comment(p,
                    "# container_spec_cpu_quota omitted: no quota on the own "
                    "cpu cgroup (/sys/fs/cgroup" +
                        std::string(k8s_pod) + k8s_container + "/cpu.max)"));
  CHECK(sample_value(p, "container_spec_cpu_period") == "100000");
  CHECK(sample_value(p, "headroom_cpu_quota_cpus") == "1.5");
  CHECK(sample_value(p, "headroom_cpu_affinity_cpus") == "8");
  CHECK(sample_value(p, "headroom_cpuset_cpus") == "4");
  CHECK(sample_value(p, "headroom_cpu_effective_cpus", {{"rounding", "up"}}) ==
        "2");
  CHECK(sample_value(p, "headroom_cpu_effective_cpus",
                     {{"rounding", "down"}}) == "1");
  const std::string pod = std::string("/sys/fs/cgroup") + k8s_pod;
  CHECK(sample_value(p, "headroom_info",
                     {{"cgroup_version", "v2"}, {"cpu_quota_cgroup", pod}}) ==
        "1");
  CHECK(sample_value(p, "headroom_read_errors") == "0");
  // v2 has no failcnt: no sample, and a comment that says why.
  CHECK(find_sample(p, "headroom_memory_failcnt_total") == nullptr);
  CHECK(has_comment(p,
                    "# headroom_memory_failcnt_total omitted: not provided in "
                    "cgroup mode v2"));
}

TEST_CASE(
    "--format prometheus: v1 refaults as cAdvisor reads them, the cgroup's "
    "own") {
  fixture_tree t;
  layout_docker_v1(t);
  const std::string stat = "sys/fs/cgroup/memory/memory.stat";
  const std::string base =
      v1_stat(std::to_string(256 * MiB), 60 * MiB, 40 * MiB, 20 * MiB);
  SUBCASE("Linux 5.9+: the local keys, not total_*") {
    // cAdvisor looks up workingset_refault_file, which v1 prints for the
    // cgroup alone; total_* (its descendants too) is headroom_'s.
    t.file(stat, base +
                     "workingset_refault_anon 7\nworkingset_refault_file 3095\n"
                     "total_workingset_refault_anon 9\n"
                     "total_workingset_refault_file 5000\n");
    const prom_text p = info_prometheus({"--root", t.root()});
    CHECK(sample_value(p, "container_memory_workingset_refault_file_total") ==
          "3095");
    CHECK(sample_value(p, "container_memory_workingset_refault_anon_total") ==
          "7");
    CHECK(sample_value(p, "headroom_memory_stat_events_total",
                       {{"key", "workingset_refault_file"}}) == "5000");
    // v1 has no pgscan under any name: no sample, as before.
    CHECK(find_sample(p, "container_memory_pgscan_total") == nullptr);
  }
  SUBCASE("an older kernel without them: omitted, saying so") {
    t.file(stat, base);
    const prom_text p = info_prometheus({"--root", t.root()});
    CHECK(find_sample(p, "container_memory_workingset_refault_file_total") ==
          nullptr);
    CHECK(has_comment(p,
                      "# container_memory_workingset_refault_file_total "
                      "omitted: cAdvisor reads memory.stat "
                      "workingset_refault_file, which this memory.stat does "
                      "not have"));
  }
}

TEST_CASE(
    "--format prometheus: absent and unreadable values have no sample, only a "
    "comment") {
  SUBCASE("unlimited memory and CPU (Docker v1)") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct", "-1");
    t.file("sys/fs/cgroup/memory/memory.limit_in_bytes",
           std::string(v1_unlimited_4k) + "\n");
    t.file("sys/fs/cgroup/memory/memory.stat",
           v1_stat(v1_unlimited_4k, 60 * MiB, 40 * MiB, 20 * MiB));
    const prom_text p = info_prometheus({"--root", t.root()});
    CHECK(find_sample(p, "headroom_memory_limit_bytes") == nullptr);
    CHECK(has_comment(p, "# headroom_memory_limit_bytes omitted: no limit"));
    CHECK(sample_value(p, "container_spec_memory_limit_bytes") == "0");
    CHECK(find_sample(p, "container_spec_cpu_quota") == nullptr);
    CHECK(has_comment(p, "# container_spec_cpu_quota omitted: no quota"));
    CHECK(find_sample(p, "headroom_cpu_quota_cpus") == nullptr);
    CHECK(sample_value(p, "headroom_memory_failcnt_total") == "0");
    CHECK(sample_value(p, "headroom_effective_limit_bytes") ==
          std::to_string(16 * GiB));
    // Host-wide PSI is not the container's.
    CHECK(find_sample(p, "container_pressure_memory_waiting_seconds_total") ==
          nullptr);
    CHECK(sample_value(p, "headroom_psi_memory_some_avg10",
                       {{"scope", "host"}}) == "0.10");
    CHECK(sample_value(p, "headroom_read_errors") == "0");
  }
  SUBCASE("garbage limit and cpu.max") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
    t.file(pod + "/memory.max", "lots\n");
    t.file(pod + "/cpu.max", "lots\n");
    const prom_text p = info_prometheus({"--root", t.root()});
    CHECK(find_sample(p, "headroom_memory_limit_bytes") == nullptr);
    CHECK(has_comment(
        p, "# headroom_memory_limit_bytes omitted: unreadable: " + t.root() +
               "/" + pod + "/memory.max: malformed content"));
    CHECK(find_sample(p, "headroom_effective_limit_bytes") == nullptr);
    CHECK(find_sample(p, "container_spec_cpu_quota") == nullptr);
    CHECK(find_sample(p, "headroom_cpu_effective_cpus") == nullptr);
    CHECK(has_comment(
        p, "# headroom_cpu_effective_cpus omitted: unknown: " + t.root() + "/" +
               pod + "/cpu.max: malformed content"));
    CHECK(std::stoi(sample_value(p, "headroom_read_errors")) >= 3);
  }
  SUBCASE("label values are escaped") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    // A cgroup path with a quote and a backslash (escaped as \134 in
    // mountinfo).
    t.file("proc/self/cgroup",
           "12:memory:/a\"b\\c\n11:cpu,cpuacct:/docker/0123abcd\n");
    t.file(
        "proc/self/mountinfo",
        std::string(mi_base) +
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
            "1291 1282 0:30 /docker/0123abcd /sys/fs/cgroup/cpu,cpuacct ro - "
            "cgroup cgroup "
            "rw,cpu,cpuacct\n");
    write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
    write_v1(t, "sys/fs/cgroup/memory/a\"b\\c", v1_dir{});
    const prom_text p = info_prometheus({"--root", t.root()});
    const prom_sample* s = find_sample(p, "headroom_info");
    REQUIRE(s != nullptr);
    CHECK(s->labels.at("memory_dir") == "/sys/fs/cgroup/memory/a\"b\\c");
  }
  SUBCASE("bad format") {
    CHECK(info({"--format", "yaml"}).code == 2);
    CHECK(info({"--format"}).code == 2);
  }
}

TEST_CASE(
    "cpu and io PSI missing (no CONFIG_PSI, psi=0): not available, and why, "
    "in every output") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const std::string ctr =
      std::string("sys/fs/cgroup") + k8s_pod + k8s_container;
  t.remove(ctr + "/cpu.pressure");
  t.remove("proc/pressure/cpu");
  const std::string why = "not available: no /" + ctr +
                          "/cpu.pressure and no /proc/pressure/cpu: the "
                          "kernel has no PSI (built without CONFIG_PSI, or "
                          "booted with psi=0)";
  const json j = info_json({"--root", t.root()});
  CHECK(field(j, "pressure_cpu.scope").is_null());
  CHECK(str(j, "pressure_cpu.reason") == why);
  CHECK(field(j, "pressure_cpu.some").is_null());
  CHECK(field(j, "pressure_cpu.full").is_null());
  // Not an error: nothing is wrong with the tree, the kernel has none.
  CHECK(field(j, "errors").items.empty());
  // IO's is still read.
  CHECK(str(j, "pressure_io.scope") == "cgroup");
  CHECK(field(j, "pressure_io.reason").is_null());

  const auto h = info({"--root", t.root()});
  REQUIRE(h.code == 0);
  const auto at = h.out.find("cpu pressure (PSI)\n  scope             " + why);
  CHECK_MESSAGE(at != std::string::npos, h.out);

  const prom_text p = info_prometheus({"--root", t.root()});
  for (const char* m : {"container_pressure_cpu_waiting_seconds_total",
                        "container_pressure_cpu_stalled_seconds_total",
                        "headroom_psi_cpu_some_avg10"}) {
    CAPTURE(m);
    CHECK(find_sample(p, m) == nullptr);
    CHECK(has_comment(p, "# " + std::string(m) + " omitted: " + why));
  }
  CHECK(sample_value(p, "container_pressure_io_waiting_seconds_total") ==
        "7.000000");
  CHECK(sample_value(p, "headroom_read_errors") == "0");
}

TEST_CASE("--format prometheus on this machine parses") {
  const prom_text p = info_prometheus({});
  CHECK(find_sample(p, "container_memory_usage_bytes") != nullptr);
  CHECK(find_sample(p, "headroom_cpu_affinity_cpus") != nullptr);
  CHECK(find_sample(p, "headroom_cpu_effective_cpus", {{"rounding", "up"}}) !=
        nullptr);
  CHECK(sample_value(p, "headroom_read_errors") == "0");
}

TEST_CASE("--capture then --root replays the cpu section of this machine") {
  fixture_tree cap;
  const json live = info_json({"--capture", cap.root()});
  const json replay = info_json({"--root", cap.root()});
  for (const char* f :
       {"cpu.controller", "cpu.cgroup_dir", "cpu.affinity_count",
        "cpu.quota_cpus", "cpu.quota_us", "cpu.quota_cgroup",
        "cpu.cpuset_controller", "cpu.cpuset_count", "cpu.effective_count_up",
        "cpu.effective_count_down"}) {
    CAPTURE(f);
    CHECK(field(live, f).text == field(replay, f).text);
  }
  CHECK(str(live, "cpu.affinity_source") == "sched_getaffinity");
  CHECK(str(replay, "cpu.affinity_source") == "/proc/self/status");
  CHECK(field(replay, "cpu.effective_count_up").u64().has_value());
  CHECK(field(replay, "cpu.errors").items.empty());
}

TEST_CASE("--watch --json: events as JSON lines until SIGINT") {
  fixture_tree t;
  layout_kubernetes_v2(t);  // the pod slice holds 1 GiB; 700 MiB used
  const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
  spawned w({HEADROOM_INFO, "--watch", "--json", "--interval", "50", "--root",
             t.root()});

  auto first = w.line(5000);
  REQUIRE(first);
  auto sources = json_reader::parse(*first);
  REQUIRE(sources);
  CHECK(str(*sources, "kind") == "sources");
  CHECK(str(*sources, "level") == "none");
  bool sampler = false;
  std::string thrashing;
  for (const auto& s : field(*sources, "sources").items) {
    if (str(s, "source") == "usage_bands") sampler = s.at("active")->b;
    if (str(s, "source") == "thrashing") thrashing = str(s, "state");
    // state says what active does, and tells "turned off" from "failed".
    const std::string state = str(s, "state");
    CHECK((state == "active") == s.at("active")->b);
    CHECK((state == "active" || state == "disabled" || state == "failed"));
  }
  CHECK(sampler);
  CHECK(thrashing == "disabled");  // off unless thrashing_percent is set

  // 960 MiB of 1 GiB: critical.
  t.file(pod + "/memory.current", n(960 * MiB));
  t.file(pod + "/memory.stat", v2_stat(960 * MiB, 0, 0));
  std::optional<json> event;
  for (int i = 0; i < 20 && !event; ++i) {
    auto l = w.line(500);
    if (!l) continue;
    auto j = json_reader::parse(*l);
    REQUIRE_MESSAGE(j, *l);
    if (str(*j, "kind") == "pressure") event = j;
  }
  REQUIRE(event);
  CHECK(str(*event, "level") == "critical");
  CHECK(str(*event, "previous") == "none");
  CHECK(str(*event, "source") == "usage_bands");
  CHECK(bytes(*event, "working_set_bytes") == 960 * MiB);
  CHECK(bytes(*event, "effective_limit_bytes") == 1 * GiB);

  t.file(pod + "/memory.max", n(4 * GiB));
  std::optional<json> changed;
  for (int i = 0; i < 20 && !changed; ++i) {
    auto l = w.line(500);
    if (!l) continue;
    auto j = json_reader::parse(*l);
    REQUIRE_MESSAGE(j, *l);
    if (str(*j, "kind") == "limit_changed") changed = j;
  }
  REQUIRE(changed);
  CHECK(bytes(*changed, "old_limit_bytes") == 1 * GiB);
  CHECK(bytes(*changed, "new_limit_bytes") == 4 * GiB);
  CHECK(changed->at("moved")->b == false);

  w.signal(SIGINT);
  const auto r = w.wait();
  CHECK(r.exited);
  CHECK(r.code == 0);
}

TEST_CASE("--watch --record: the samples before critical, as JSON lines") {
  fixture_tree t;
  layout_kubernetes_v2(t);  // the pod slice holds 1 GiB; 700 MiB used
  const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
  // In the working directory (the build tree): /tmp may be tmpfs, which the
  // recorder refuses.
  char tmpl[] = "headroom-cli-record-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  spawned w({HEADROOM_INFO, "--watch", "--json", "--interval", "50", "--record",
             dir, "--root", t.root()});
  REQUIRE(w.line(5000));  // the sources line
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  t.file(pod + "/memory.current", n(960 * MiB));
  t.file(pod + "/memory.stat", v2_stat(960 * MiB, 0, 0));
  std::string record;
  for (int i = 0; i < 100 && record.empty(); ++i) {
    (void)w.line(100);
    if (DIR* d = ::opendir(dir.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.find("-critical.jsonl") != std::string::npos)
          record = dir + "/" + name;
      }
      ::closedir(d);
    }
  }
  w.signal(SIGINT);
  const auto r = w.wait();
  CHECK(r.exited);
  CHECK(r.code == 0);
  REQUIRE_MESSAGE(!record.empty(), ("no record in " + dir));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // written whole
  std::ifstream in(record);
  std::string line;
  std::vector<json> lines;
  while (std::getline(in, line)) {
    auto j = json_reader::parse(line);
    REQUIRE_MESSAGE(j, line);
    lines.push_back(*j);
  }
  REQUIRE(lines.size() >= 3);
  CHECK(str(lines[0], "kind") == "record");
  CHECK(str(lines[0], "trigger") == "critical");
  bool before_at_700 = false, at_960 = false, critical_event = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const double t_s = std::stod(lines[i].at("t_s")->text);
    if (str(lines[i], "kind") == "sample") {
      const auto usage = bytes(lines[i], "usage_bytes");
      if (usage == 700 * MiB && t_s <= -1.0) before_at_700 = true;
      if (usage == 960 * MiB) at_960 = true;
    } else if (str(lines[i], "event") == "pressure" &&
               str(lines[i], "level") == "critical") {
      critical_event = true;
    }
  }
  CHECK(before_at_700);  // seconds before the trigger, at the old usage
  CHECK(at_960);
  CHECK(critical_event);
  (void)std::system(("rm -rf '" + dir + "'").c_str());

  // Refused: tmpfs (where /dev/shm is one), no directory, without --watch.
  const auto shm =
      info({"--watch", "--record", "/dev/shm", "--root", t.root()});
  struct statfs fs {};
  if (::statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
    CHECK(shm.code == 1);
    CHECK(shm.err.find("tmpfs") != std::string::npos);
  }
  const auto missing =
      info({"--watch", "--record", "/nonexistent-dir", "--root", t.root()});
  CHECK(missing.code == 1);
  CHECK(missing.err.find("/nonexistent-dir") != std::string::npos);
  CHECK(info({"--record", "."}).code == 2);
}

TEST_CASE("--watch --pid N: exits 3 once process N has ended") {
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  spawned w({HEADROOM_INFO, "--watch", "--json", "--interval", "50", "--pid",
             std::to_string(child)});
  auto first = w.line(5000);
  REQUIRE(first);  // watching N
  auto sources = json_reader::parse(*first);
  REQUIRE(sources);
  CHECK(str(*sources, "kind") == "sources");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // Before, it watched on in silence: a hang, ended by the guard.
  const auto r = w.wait_for(10000);
  REQUIRE_MESSAGE(r, "--watch went on after process " << child << " ended");
  CHECK(r->exited);
  CHECK(r->code == 3);
}

TEST_CASE("--watch: bad combinations are usage errors") {
  CHECK(info({"--watch", "--format", "prometheus"}).code == 2);
  CHECK(info({"--watch", "--interval", "0"}).code == 2);
  CHECK(info({"--watch", "--interval", "x"}).code == 2);
}

TEST_CASE(
    "HEADROOM_DETECT=off with HEADROOM_MEMORY_LIMIT: a report, not a crash") {
  for (const char* format : {"json", "human", "prometheus"}) {
    CAPTURE(format);
    const auto r =
        info_env({"HEADROOM_DETECT=off", "HEADROOM_MEMORY_LIMIT=512Mi"},
                 {"--format", format});
    REQUIRE_MESSAGE(r.exited, "killed by signal " << r.code);
    CHECK(r.code == 0);
    if (std::string(format) != "json") continue;
    const auto j = json_reader::parse(r.out);
    REQUIRE(j);
    CHECK(str(*j, "cgroup.version") == "none");
    CHECK(field(*j, "cgroup.chain").items.empty());
    CHECK(bytes(*j, "memory.limit_bytes") == 512 * MiB);
    CHECK(str(*j, "memory.limit_source") == "environment");
    CHECK(str(*j, "memory.limit_path") == "$HEADROOM_MEMORY_LIMIT");
    CHECK(field(*j, "memory.limit_cgroup").is_null());  // no cgroup holds it
  }
}

// ---------------------------------------------------------------------------
// headroom/export.hpp: one table of fields behind the three outputs

#include <headroom/export.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

TEST_CASE(
    "every field of the table is in each output it names, and the CLI prints "
    "the same") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  headroom::options opt;
  opt.root = t.root();
  auto ex = headroom::exporter::open(opt);
  REQUIRE(ex);
  const headroom::export_report r = ex->read();
  const std::string json_text = headroom::to_json(r);
  const auto j = json_reader::parse(json_text);
  REQUIRE(j);
  const prom_text p = parse_prometheus(headroom::to_prometheus(r));
  const std::string human = headroom::to_text(r);
  std::size_t rows = 0;
  for (const headroom::field_section& sec : headroom::report_fields()) {
    for (const headroom::field* f = sec.begin; f != sec.end; ++f) {
      ++rows;
      const std::string key =
          (sec.json.empty() ? "" : std::string(sec.json) + ".") +
          std::string(f->json);
      CAPTURE(key);
      CAPTURE(f->metric);
      const headroom::field_value v = f->get(r);
      if (!f->json.empty()) CHECK(j->at(key) != nullptr);
      if (!f->metric.empty()) {
        const std::string m(f->metric);
        CHECK((find_sample(p, m) != nullptr ||
               has_comment(p, "# " + m + " omitted: ")));
        if (v.has_value()) CHECK(find_sample(p, m) != nullptr);
      }
      if (!f->label.empty() && v.has_value() && !v.quiet &&
          f->json.find('.') == std::string::npos) {
        CHECK(human.find("  " + std::string(f->label) + " ") !=
              std::string::npos);
      }
    }
  }
  CHECK(rows > 60);
  CHECK(info({"--json", "--root", t.root()}).out == json_text);
  CHECK(info({"--format", "prometheus", "--root", t.root()}).out ==
        headroom::to_prometheus(r));
}

namespace {

// GET path from 127.0.0.1:port; the whole response ("" when it fails).
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
        response.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return response;
}

int listening_port(spawned& server) {
  const auto first = server.line(10000);
  REQUIRE_MESSAGE(first, "the server did not say where it listens");
  const std::string prefix = "listening on 127.0.0.1:";
  REQUIRE(first->rfind(prefix, 0) == 0);
  return std::stoi(first->substr(prefix.size()));
}

}  // namespace

TEST_CASE(
    "example: the metrics server answers GET /metrics with the exposition "
    "text") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  spawned server({HEADROOM_METRICS_SERVER, "--port", "0", "--requests", "2",
                  "--root", t.root()});
  const int port = listening_port(server);

  const std::string missing = http_get(port, "/");
  CHECK(missing.rfind("HTTP/1.1 404 ", 0) == 0);

  const std::string response = http_get(port, "/metrics");
  REQUIRE(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(response.find("\r\nContent-Type: text/plain; version=0.0.4") !=
        std::string::npos);
  const std::size_t body_at = response.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);
  const std::string body = response.substr(body_at + 4);
  const std::size_t length_at = response.find("Content-Length: ");
  REQUIRE(length_at < body_at);
  CHECK(std::stoul(response.substr(length_at + 16)) == body.size());
  const prom_text p = parse_prometheus(body);
  CHECK(sample_value(p, "headroom_memory_limit_bytes") ==
        std::to_string(1 * GiB));
  CHECK(sample_value(p, "headroom_memory_working_set_bytes") ==
        std::to_string(600 * MiB));
  CHECK(sample_value(p, "headroom_cpu_effective_cpus", {{"rounding", "up"}}) ==
        "2");
  CHECK(sample_value(p, "headroom_read_errors") == "0");

  const auto r = server.wait();  // it exits after the two requests
  CHECK(r.exited);
  CHECK(r.code == 0);
}

TEST_CASE(
    "example: the textfile collector file is replaced by a rename, never "
    "written in place") {
  fixture_tree dir;
  const std::string file = dir.path("headroom.prom");
  dir.file("headroom.prom", "old\n");
  struct stat before {};
  REQUIRE(::stat(file.c_str(), &before) == 0);
  const auto r = run({HEADROOM_TEXTFILE, "--dir", dir.root()});
  REQUIRE(r.exited);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  struct stat after {};
  REQUIRE(::stat(file.c_str(), &after) == 0);
  CHECK(after.st_ino != before.st_ino);  // a new file took the old one's name
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  const prom_text p = parse_prometheus(text.str());
  CHECK(find_sample(p, "container_memory_usage_bytes") != nullptr);
  CHECK(sample_value(p, "headroom_read_errors") == "0");
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.root())) {
    CAPTURE(e.path());
    ++entries;
  }
  CHECK(entries == 1);  // no temporary file left behind

  CHECK(run({HEADROOM_TEXTFILE, "--dir", dir.path("missing")}).code == 1);
  CHECK(run({HEADROOM_TEXTFILE}).code == 2);
}

// ---------------------------------------------------------------------------
// Output that stays valid whatever bytes the tree holds

#include "../../examples/headroom-info/capture.hpp"
#include "../support/utf8.hpp"

namespace {

// A cgroup name with ESC (a colour escape), a C1 CSI (U+009B), bytes that
// are not UTF-8 (0xff, 0xc3 0x28), a quote and a backslash.
const std::string evil_name =
    "/evil\x1b[31m\xc2\x9b"
    "2J\xff\xc3(\"q\\b";
// The same name as valid UTF-8: each invalid byte became U+FFFD.
const std::string evil_name_utf8 =
    "/evil\x1b[31m\xc2\x9b"
    "2J\xef\xbf\xbd\xef\xbf\xbd(\"q\\b";

// Docker v1, the memory cgroup named evil_name.
void layout_evil_name(fixture_tree& t) {
  layout_docker_v1(t);
  t.file("proc/self/cgroup",
         "12:memory:" + evil_name + "\n11:cpu,cpuacct:" + evil_name + "\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
             "36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
             "rw,cpu,cpuacct\n");
  v1_dir d;
  d.limit =
      std::to_string(128 * MiB);  // tighter than the mount point's 256 MiB
  write_v1(t, "sys/fs/cgroup/memory" + evil_name, d);
  write_v1_cpu(t, "sys/fs/cgroup/cpu,cpuacct" + evil_name, "50000");
}

void layout_none(fixture_tree& t) {
  write_host(t);
  t.file("proc/self/mountinfo", mi_base);
}

// True when `text` may go to a terminal: UTF-8, and no control byte but
// the newline (no ESC, no DEL, no C1 control).
bool terminal_safe(const std::string& text) {
  if (!valid_utf8(text)) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if ((b < 0x20 && b != '\n') || b == 0x7f) return false;
    if (b == 0xc2 && i + 1 < text.size() &&
        static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      return false;
    }
  }
  return true;
}

struct named_layout {
  const char* name;
  void (*build)(fixture_tree&);
};

// Every fixture tree the tests build.
const named_layout all_layouts[] = {
    {"docker_v1", layout_docker_v1},
    {"kubernetes_v2", layout_kubernetes_v2},
    {"docker_v1_cpu", layout_docker_v1_cpu},
    {"kubernetes_v2_cpu", layout_kubernetes_v2_cpu},
    {"no cgroup", layout_none},
    {"evil name", layout_evil_name},
};

}  // namespace

TEST_CASE(
    "every fixture tree: JSON that parses, exposition text that checks, a safe "
    "human report") {
  for (const named_layout& l : all_layouts) {
    CAPTURE(l.name);
    fixture_tree t;
    l.build(t);
    const auto j = info({"--json", "--root", t.root()});
    REQUIRE(j.code == 0);
    const auto parsed = json_reader::parse(j.out);
    CHECK_MESSAGE(parsed.has_value(), j.out);
    const auto p = info({"--format", "prometheus", "--root", t.root()});
    REQUIRE(p.code == 0);
    const prom_text parsed_p = parse_prometheus(p.out);
    CHECK(!parsed_p.samples.empty());
    for (const std::string& c : parsed_p.comments) CHECK(terminal_safe(c));
    const auto h = info({"--root", t.root()});
    REQUIRE(h.code == 0);
    CHECK(terminal_safe(h.out));
  }
}

TEST_CASE(
    "every container layout row: valid outputs, and the limit the kernel "
    "enforces") {
  for (const container_row& row : container_rows()) {
    CAPTURE(row.name);
    fixture_tree t;
    write_row(t, row);
    const auto j = info({"--json", "--root", t.root()});
    REQUIRE(j.code == 0);
    const auto parsed = json_reader::parse(j.out);
    REQUIRE_MESSAGE(parsed.has_value(), j.out);
    if (row.limit) CHECK(bytes(*parsed, "memory.limit_bytes") == *row.limit);
    if (row.unlimited || row.error)
      CHECK(field(*parsed, "memory.limit_bytes").is_null());
    const auto p = info({"--format", "prometheus", "--root", t.root()});
    REQUIRE(p.code == 0);
    const prom_text metrics = parse_prometheus(p.out);
    for (const std::string& c : metrics.comments) CHECK(terminal_safe(c));
    if (row.limit) {
      CHECK(sample_value(metrics, "headroom_memory_limit_bytes") ==
            std::to_string(*row.limit));
    }
    const auto h = info({"--root", t.root()});
    REQUIRE(h.code == 0);
    CHECK(terminal_safe(h.out));
  }
}

TEST_CASE(
    "every psi_layouts row: each resource's pressure in JSON, the human "
    "report and the exposition, or why it is not available") {
  for (const psi_row& row : psi_rows()) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    fixture_tree t;
    row.build(t);
    const json j = info_json({"--root", t.root()});
    const prom_text p = info_prometheus({"--root", t.root()});
    const auto h = info({"--root", t.root()});
    REQUIRE(h.code == 0);
    CHECK(terminal_safe(h.out));
    // A kernel without PSI is no error (the cpu section's own errors, for
    // trees without cpu files, are in cpu.errors).
    CHECK(field(j, "errors").items.empty());
    const struct {
      const char* name;  // as in the files and the metric names
      const char* json;  // the JSON section
      const char* title;
      const psi_expect& want;
    } resources[] = {
        {"memory", "pressure", "memory pressure (PSI)", row.memory},
        {"cpu", "pressure_cpu", "cpu pressure (PSI)", row.cpu},
        {"io", "pressure_io", "io pressure (PSI)", row.io},
    };
    for (const auto& r : resources) {
      CAPTURE(r.name);
      const std::string sec = r.json;
      const auto key = [&](const char* k) { return sec + "." + k; };
      const std::string name = r.name;
      const std::string waiting =
          "container_pressure_" + name + "_waiting_seconds_total";
      const std::string stalled =
          "container_pressure_" + name + "_stalled_seconds_total";
      const std::string avg = "headroom_psi_" + name + "_some_avg10";
      CHECK(str(j, key("path").c_str()) == r.want.path);
      // The section's first row says the scope and file, or why none.
      const std::string title = std::string(r.title) + "\n";
      const std::size_t at = h.out.find(title);
      REQUIRE_MESSAGE(at != std::string::npos, h.out);
      const std::size_t row_at = at + title.size();
      const std::string scope_row =
          h.out.substr(row_at, h.out.find('\n', row_at) - row_at);
      if (r.want.scope.empty()) {
        const std::string why = str(j, key("reason").c_str());
        CHECK(why.rfind("not available: no " + r.want.path, 0) == 0);
        CHECK(why.find("CONFIG_PSI") != std::string::npos);
        CHECK(field(j, key("scope").c_str()).is_null());
        CHECK(field(j, key("some").c_str()).is_null());
        CHECK(scope_row.find(why) != std::string::npos);
        for (const std::string& m : {waiting, stalled, avg}) {
          CAPTURE(m);
          CHECK(find_sample(p, m) == nullptr);
          CHECK(has_comment(p, "# " + m + " omitted: " + why));
        }
        continue;
      }
      CHECK(field(j, key("reason").c_str()).is_null());
      CHECK(str(j, key("scope").c_str()) == r.want.scope);
      CHECK(scope_row.find(r.want.scope + "   <- " + r.want.path) !=
            std::string::npos);
      CHECK(field(j, (sec + ".some.total_us").c_str()).u64().has_value());
      CHECK(field(j, (sec + ".full").c_str()).is_null() == !r.want.full);
      CHECK(find_sample(p, avg, {{"scope", r.want.scope}}) != nullptr);
      // cAdvisor's series only for the cgroup's own pressure.
      const bool own = r.want.scope == "cgroup";
      CHECK((find_sample(p, waiting) != nullptr) == own);
      CHECK((find_sample(p, stalled) != nullptr) == (own && r.want.full));
      if (!own) {
        CHECK(has_comment(p, "# " + waiting +
                                 " omitted: the pressure read is not the "
                                 "cgroup's (scope " +
                                 r.want.scope + ")"));
      }
    }
  }
}

TEST_CASE("a cgroup name with ESC, a C1 control and invalid UTF-8") {
  fixture_tree t;
  layout_evil_name(t);
  const std::string dir = "/sys/fs/cgroup/memory" + evil_name;
  SUBCASE("JSON: invalid bytes as U+FFFD, control bytes as \\u escapes") {
    const auto r = info({"--json", "--root", t.root()});
    REQUIRE(r.code == 0);
    CHECK(r.out.find('\x1b') == std::string::npos);
    CHECK(r.out.find("\\u001b[31m\\u009b2J") != std::string::npos);
    CHECK(terminal_safe(r.out));  // C1 controls are escaped too
    const auto j = json_reader::parse(r.out);
    REQUIRE(j);
    CHECK(str(*j, "cgroup.memory_path") == evil_name_utf8);
    CHECK(str(*j, "cgroup.memory_dir") ==
          "/sys/fs/cgroup/memory" + evil_name_utf8);
    CHECK(bytes(*j, "memory.limit_bytes") == 128 * MiB);
    CHECK(str(*j, "memory.limit_cgroup") ==
          "/sys/fs/cgroup/memory" + evil_name_utf8);
    CHECK(str(*j, "cpu.cgroup_dir") ==
          "/sys/fs/cgroup/cpu,cpuacct" + evil_name_utf8);
  }
  SUBCASE("Prometheus: label values escaped, UTF-8") {
    const prom_text p = info_prometheus({"--root", t.root()});
    const prom_sample* s = find_sample(p, "headroom_info");
    REQUIRE(s != nullptr);
    CHECK(s->labels.at("memory_dir") ==
          "/sys/fs/cgroup/memory" + evil_name_utf8);
    CHECK(s->labels.at("limit_cgroup") ==
          "/sys/fs/cgroup/memory" + evil_name_utf8);
    CHECK(sample_value(p, "container_spec_memory_limit_bytes") ==
          std::to_string(128 * MiB));
  }
  SUBCASE("human: every control and invalid byte as \\xNN, nothing raw") {
    const auto r = info({"--root", t.root()});
    REQUIRE(r.code == 0);
    CHECK(terminal_safe(r.out));
    CHECK(r.out.find("/evil\\x1b[31m\\xc2\\x9b2J\\xff\\xc3(\"q\\\\b") !=
          std::string::npos);
    CHECK(r.out.find("128.0 MiB (134217728)") != std::string::npos);
  }
  SUBCASE("--capture keeps the bytes, and --root replays them") {
    fixture_tree cap;
    const auto first =
        info({"--json", "--root", t.root(), "--capture", cap.root()});
    REQUIRE(first.code == 0);
    const auto again = info({"--json", "--root", cap.root()});
    REQUIRE(again.code == 0);
    const auto j = json_reader::parse(again.out);
    REQUIRE(j);
    CHECK(str(*j, "cgroup.memory_dir") ==
          "/sys/fs/cgroup/memory" + evil_name_utf8);
    CHECK(bytes(*j, "memory.limit_bytes") == 128 * MiB);
  }
}

TEST_CASE(
    "--capture refuses a directory that is a link, is not empty or is not a "
    "directory") {
  fixture_tree t;
  layout_docker_v1(t);
  fixture_tree outside;  // where a planted link points: must stay empty
  const auto nothing_written = [&] {
    return std::filesystem::is_empty(outside.root());
  };
  SUBCASE("a symbolic link to an empty directory") {
    fixture_tree cap;
    const std::string link = cap.path("link");
    REQUIRE(::symlink(outside.root().c_str(), link.c_str()) == 0);
    const auto r = info({"--root", t.root(), "--capture", link});
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err ==
          "headroom-info: cannot capture: " + link + ": is a symbolic link\n");
    CHECK(nothing_written());
  }
  SUBCASE("a directory that is not empty") {
    fixture_tree cap;
    cap.file("keep", "mine\n");
    const auto r = info({"--root", t.root(), "--capture", cap.root()});
    CHECK(r.code == 1);
    CHECK(r.err.find("is not empty") != std::string::npos);
    std::size_t entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(cap.root())) {
      (void)e;
      ++entries;
    }
    CHECK(entries == 1);
  }
  SUBCASE("a planted link inside an empty directory is found by the check") {
    fixture_tree cap;
    REQUIRE(::symlink(outside.root().c_str(), cap.path("proc").c_str()) == 0);
    const auto r = info({"--root", t.root(), "--capture", cap.root()});
    CHECK(r.code == 1);
    CHECK(nothing_written());
  }
  SUBCASE("a regular file") {
    fixture_tree cap;
    cap.file("file", "x");
    const auto r = info({"--root", t.root(), "--capture", cap.path("file")});
    CHECK(r.code == 1);
    CHECK(r.err.find("is not a directory") != std::string::npos);
  }
  SUBCASE("a directory that does not exist yet is created") {
    fixture_tree cap;
    const std::string fresh = cap.path("new");
    const auto r = info({"--json", "--root", t.root(), "--capture", fresh});
    CHECK(r.code == 0);
    CHECK(std::filesystem::exists(fresh + "/proc/self/mountinfo"));
  }
}

TEST_CASE(
    "capture_dir never follows a link planted after the check, never leaves "
    "DIR") {
  fixture_tree cap;
  fixture_tree outside;
  auto dir = headroom_info::capture_dir::open(cap.root());
  REQUIRE(dir);
  // What a racing attacker plants once the directory was found empty.
  REQUIRE(::symlink(outside.root().c_str(), cap.path("proc").c_str()) == 0);
  cap.dir("sys");
  REQUIRE(::symlink(outside.path("stolen").c_str(),
                    cap.path("sys/file").c_str()) == 0);

  const auto via_dir = dir->write("/proc/self/cgroup", "x\n");
  CHECK_FALSE(via_dir);
  CHECK(via_dir.error().code.value() == ELOOP);
  const auto via_file = dir->write("/sys/file", "x\n");
  CHECK_FALSE(via_file);
  CHECK(via_file.error().code.value() ==
        EEXIST);  // O_EXCL: links are not followed
  for (const char* bad :
       {"/../escape", "/sys/../../escape", "relative", "/", "//x", "/a/./b"}) {
    CAPTURE(bad);
    const auto r = dir->write(bad, "x\n");
    CHECK_FALSE(r);
    CHECK(r.error().code.value() == EINVAL);
  }
  CHECK(std::filesystem::is_empty(outside.root()));
  CHECK_FALSE(std::filesystem::exists(cap.root() + "/../escape"));
  // A file that exists is never overwritten.
  CHECK(dir->write("/sys/fs/cgroup/memory.max", "1\n"));
  CHECK_FALSE(dir->write("/sys/fs/cgroup/memory.max", "2\n"));
}

// ---------------------------------------------------------------------------
// Container layouts: how the cgroup was found, whose usage, and errors in
// place of numbers when the cgroup is not visible.

namespace {
const container_row& row_named(const std::vector<container_row>& rows,
                               const std::string& prefix) {
  for (const auto& r : rows) {
    if (std::string(r.name).rfind(prefix, 0) == 0) return r;
  }
  FAIL("no row " << prefix);
  return rows.front();
}
bool boolean(const json& j, const char* dotted) {
  const json& v = field(j, dotted);
  REQUIRE_MESSAGE(v.type == json::kind::boolean, dotted << " is not a boolean");
  return v.b;
}
}  // namespace

TEST_CASE(
    "--json: a stacked mount, a cgroup found by pid, and one not visible") {
  const auto rows = container_rows();
  SUBCASE("stacked: the visible mount's directory and limit") {
    fixture_tree t;
    write_row(t, row_named(rows, "docker v1 -v"));
    const json j = info_json({"--root", t.root()});
    CHECK(str(j, "cgroup.path_mapping") == "mount_root");
    CHECK_FALSE(boolean(j, "cgroup.path_fallback"));
    CHECK(str(j, "cgroup.view") == "reader");
    CHECK(bytes(j, "cgroup.dirs_searched") == 0);
    CHECK(str(j, "cgroup.memory_dir") == "/sys/fs/cgroup/memory/docker/abc");
    CHECK(bytes(j, "memory.limit_bytes") == 256 * MiB);
    CHECK(str(j, "memory.usage_cgroup") == "/sys/fs/cgroup/memory/docker/abc");
    CHECK(str(j, "memory.usage_scope") == "limit_cgroup");
    CHECK_FALSE(boolean(j, "memory.headroom_is_bound"));
    CHECK(str(j, "cpu.controller") == "none");
    CHECK(field(j, "errors").items.empty());
  }
  SUBCASE("found by pid") {
    fixture_tree t;
    write_row(t, row_named(rows, "v1 cgroup namespace over the host's mounts"));
    const json j = info_json({"--root", t.root()});
    CHECK(str(j, "cgroup.path_mapping") == "found_by_pid");
    CHECK_FALSE(boolean(j, "cgroup.path_fallback"));
    CHECK(bytes(j, "cgroup.dirs_searched") >= 4);
    CHECK(bytes(j, "memory.limit_bytes") == 300 * MiB);
    CHECK(str(j, "memory.limit_path") ==
          "/sys/fs/cgroup/memory/a/b/c/memory.limit_in_bytes");
  }
  SUBCASE("not visible: nulls, the reason, and errors") {
    fixture_tree t;
    write_row(t, row_named(rows, "v2 private namespace, moved to a sibling"));
    const json j = info_json({"--root", t.root()});
    CHECK(str(j, "cgroup.path_mapping") == "outside_namespace");
    CHECK(boolean(j, "cgroup.path_fallback"));
    CHECK(field(j, "cgroup.memory_dir").is_null());
    CHECK(str(j, "cgroup.reason").find("/../sib is not under the root /") !=
          std::string::npos);
    CHECK(field(j, "memory.limit_bytes").is_null());
    CHECK(field(j, "memory.limit_path").is_null());
    CHECK(field(j, "memory.usage_bytes").is_null());
    CHECK(field(j, "memory.headroom_bytes").is_null());
    CHECK(field(j, "memory.swap_limit_bytes").is_null());
    bool limit_error = false;
    for (const auto& e : field(j, "errors").items) {
      if (str(e, "field") == "memory.limit_bytes") limit_error = true;
    }
    CHECK(limit_error);
    const auto human = info({"--root", t.root()});
    CHECK(human.out.find("not visible here") != std::string::npos);
  }
  SUBCASE(
      "usage below the limit cgroup: the headroom is a bound, and the report "
      "says so") {
    fixture_tree t;
    layout_v1_pod_above_mount(t);
    const json j = info_json({"--root", t.root()});
    CHECK(str(j, "memory.usage_scope") == "below_limit_cgroup");
    CHECK(boolean(j, "memory.headroom_is_bound"));
    CHECK(str(j, "memory.usage_cgroup") == "/sys/fs/cgroup/memory");
    CHECK(
        info({"--root", t.root()}).out.find("the headroom is an upper bound") !=
        std::string::npos);
  }
}

TEST_CASE(
    "--json cpu: the controller's version, its mapping, and a quota that is "
    "not the process's") {
  fixture_tree t;
  write_host(t);
  t.file("proc/self/status", status_of(tree_pid));
  t.file("proc/self/cgroup",
         "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n");
  // The cpu mount shows another container's cgroup: its quota is not ours.
  t.file("proc/self/mountinfo",
         std::string(mi_base) + mi_unified +
             "50 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup "
             "rw,memory\n"
             "51 31 0:33 /docker/other /sys/fs/cgroup/cpu,cpuacct ro - cgroup "
             "cgroup rw,cpu,cpuacct\n");
  write_v1(t, "sys/fs/cgroup/memory", v1_dir{});
  t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n");
  t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  t.file("sys/fs/cgroup/cpu,cpuacct/cgroup.procs", "1\n");
  const json j = info_json({"--root", t.root()});
  CHECK(str(j, "cgroup.version") == "hybrid");
  CHECK(str(j, "cpu.controller") == "v1");
  CHECK(str(j, "cpu.path_mapping") == "not_under_mount_root");
  CHECK(boolean(j, "cpu.path_fallback"));
  CHECK(field(j, "cpu.quota_cpus").is_null());
  CHECK(field(j, "cpu.effective_count_up").is_null());
  bool quota_error = false;
  for (const auto& e : field(j, "cpu.errors").items) {
    if (str(e, "field").find("quota") != std::string::npos) quota_error = true;
  }
  CHECK(quota_error);
}

// ---------------------------------------------------------------------------
// What a new user tripped over

TEST_CASE(
    "HEADROOM_MEMORY_LIMIT that does not parse says why and how to write it") {
  const std::pair<const char*, const char*> cases[] = {
      {"512m", "write 512Mi (binary) or 512M (decimal)"},
      {"512MB", "no B: write 512M (decimal) or 512Mi (binary)"},
      {"512MiB", "no B: write 512Mi"},
      {"1.5Gi",
       "fractions are not accepted: use a smaller unit (1.5Gi is 1536Mi)"},
      {"-1", "a size has no sign"},
      {"512x", "unknown unit x"},
  };
  for (const auto& c : cases) {
    const std::string value = c.first;
    const std::string hint = c.second;
    CAPTURE(value);
    const auto h =
        info_env({std::string("HEADROOM_MEMORY_LIMIT=") + value}, {});
    CHECK(h.code == 0);
    CHECK(h.out.find(std::string("HEADROOM_MEMORY_LIMIT=") + value +
                     ": malformed content (") != std::string::npos);
    CHECK(h.out.find(hint) != std::string::npos);
    const auto p = info_env({std::string("HEADROOM_MEMORY_LIMIT=") + value},
                            {"--format", "prometheus"});
    CHECK(p.out.find(hint) != std::string::npos);
    const auto j =
        info_env({std::string("HEADROOM_MEMORY_LIMIT=") + value}, {"--json"});
    const auto parsed = json_reader::parse(j.out);
    REQUIRE(parsed);
    CHECK(field(*parsed, "memory.limit_bytes").is_null());
    const json& listed = field(*parsed, "errors").items.at(0);
    CHECK(str(listed, "field") == "memory.limit_bytes");
    CHECK(str(listed, "message") == "malformed content");
    CHECK(str(listed, "hint").find(hint) != std::string::npos);
  }
  const auto ok = info_env({"HEADROOM_MEMORY_LIMIT=512Mi"}, {"--json"});
  const auto j = json_reader::parse(ok.out);
  REQUIRE(j);
  CHECK(bytes(*j, "memory.limit_bytes") == 512 * MiB);
}

TEST_CASE("--help shows both forms, --watch included") {
  const auto r = info({"--help"});
  CHECK(r.code == 0);
  CHECK(r.out.find("usage: headroom-info [--json") == 0);
  CHECK(r.out.find("\n       headroom-info --watch [--json] [--interval MS]") !=
        std::string::npos);
  // The build tree has no installed README: --help says where it is instead
  // of naming a file that is not there.
  CHECK(r.out.find("Documentation: README.md of the headroom sources") !=
        std::string::npos);
}

TEST_CASE(
    "--pid: the report names /proc/N/cgroup; a gone process is \"no such "
    "process\"") {
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const auto r = info({"--pid", std::to_string(child)});
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  REQUIRE(r.code == 0);
  const std::string own = "/proc/" + std::to_string(child) + "/cgroup";
  if (r.out.find("  memory path ") != std::string::npos) {
    CHECK(r.out.find("<- " + own) != std::string::npos);
  }
  CHECK(r.out.find("/proc/self/cgroup") == std::string::npos);

  pid_t gone = 4194000;
  while (::kill(gone, 0) == 0 || errno != ESRCH) --gone;
  for (const char* format : {"human", "json", "prometheus"}) {
    const auto g = info({"--pid", std::to_string(gone), "--format", format});
    CHECK(g.code == 1);
    CHECK(g.err == "headroom-info: cannot report: /proc/" +
                       std::to_string(gone) + ": no such process\n");
  }
}

TEST_CASE("--watch: times count from the start, never negative") {
  fixture_tree t;
  layout_kubernetes_v2(t);
  const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
  // Critical from the start: the first event is the level found at start.
  t.file(pod + "/memory.current", n(1000 * MiB));
  t.file(pod + "/memory.stat", v2_stat(1000 * MiB, 0, 0));
  spawned w({HEADROOM_INFO, "--watch", "--json", "--interval", "50", "--root",
             t.root()});
  std::size_t events = 0;
  for (int i = 0; i < 10 && events < 2; ++i) {
    auto l = w.line(500);
    if (!l) continue;
    auto j = json_reader::parse(*l);
    REQUIRE_MESSAGE(j, *l);
    if (str(*j, "kind") == "sources") continue;
    ++events;
    const std::string time = field(*j, "time_s").text;
    CAPTURE(time);
    CHECK(time.find('-') == std::string::npos);
  }
  CHECK(events >= 1);
  w.signal(SIGINT);
  CHECK(w.wait().code == 0);
}

// ---------------------------------------------------------------------------
// Prometheus's own parser agrees

TEST_CASE(
    "promtool: every layout's exposition text parses with Prometheus's own "
    "parser") {
  const char* env = std::getenv("PROMTOOL");
  std::string promtool = env && *env ? env : "";
  if (promtool.empty()) {
    for (const char* dir : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
      if (::access(dir, X_OK) == 0) promtool = dir;
    }
  }
  if (promtool.empty()) {
    std::printf(
        "SKIP: promtool not found (Debian package prometheus, or $PROMTOOL)\n");
    std::fflush(stdout);
    std::_Exit(77);
  }
  fixture_tree out;
  std::size_t checked = 0;
  const auto check = [&](const std::string& name, const std::string& root) {
    CAPTURE(name);
    const auto p = info({"--format", "prometheus", "--root", root});
    REQUIRE(p.code == 0);
    out.file("metrics.prom", p.out);
    const auto r =
        run({"/bin/sh", "-c",
             "'" + promtool + "' check metrics < " + out.path("metrics.prom")});
    CAPTURE(r.out);
    CAPTURE(r.err);
    // 0: clean; 3: lint findings (a counter without _total, a gauge named
    // _count); 1: does not parse. Every name follows the conventions.
    CHECK(r.exited);
    CHECK(r.code == 0);
    CHECK(r.err.find("error while linting") == std::string::npos);
    ++checked;
  };
  for (const named_layout& l : all_layouts) {
    fixture_tree t;
    l.build(t);
    check(l.name, t.root());
  }
  for (const container_row& row : container_rows()) {
    fixture_tree t;
    write_row(t, row);
    check(row.name, t.root());
  }
  for (const pod_row& row : pod_rows()) {
    fixture_tree t;
    write_pod(t, row);
    check(row.name, t.root());
  }
  for (const psi_row& row : psi_rows()) {
    fixture_tree t;
    row.build(t);
    check(row.name, t.root());
  }
  check("this machine", "/");
  CHECK(checked > 10);
}

#include <sys/sysmacros.h>

// ---------------------------------------------------------------------------
// Special files, symlinks and contradicting values in a tree given with
// --root: an error naming the file or the documented clamp, never a hang
// (each run is under timeout(1): 124 would be a hang).

namespace {

run_result info_timed(std::vector<std::string> args) {
  args.insert(args.begin(), HEADROOM_INFO);
  args.insert(args.begin(), {"/usr/bin/timeout", "10"});
  return run(args);
}

}  // namespace

TEST_CASE("--root: special files are refused, never read or waited on") {
  struct special {
    const char* name;
    const char* rel;
    bool fatal;  // the report cannot be made without this file
  };
  const special cases[] = {
      {"FIFO as memory.max", "sys/fs/cgroup/kubepods.slice/memory.max", false},
      {"FIFO as mountinfo", "proc/self/mountinfo", true},
      {"FIFO as meminfo", "proc/meminfo", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    fixture_tree t;
    layout_kubernetes_v2(t);
    t.remove(c.rel);
    REQUIRE(::mkfifo(t.path(c.rel).c_str(), 0600) == 0);
    const auto r = info_timed({"--json", "--root", t.root()});
    REQUIRE_MESSAGE(r.exited, "killed by signal " << r.code);
    CHECK(r.code != 124);
    const std::string text = r.out + r.err;
    CHECK(text.find("not a regular file") != std::string::npos);
    CHECK(text.find(c.rel) != std::string::npos);
    CHECK(r.code == (c.fatal ? 1 : 0));
  }
  SUBCASE("a socket as memory.max") {
    // open(2) of a socket fails with ENXIO ("No such device or address");
    // it is refused as a FIFO is, with the same words.
    fixture_tree t;
    layout_kubernetes_v2(t);
    const std::string rel = "sys/fs/cgroup/kubepods.slice/memory.max";
    t.socket(rel);
    const auto r = info_timed({"--json", "--root", t.root()});
    REQUIRE(r.exited);
    CHECK(r.code == 0);
    CHECK(r.out.find(rel + "\",\"message\":\"not a regular file") !=
          std::string::npos);
  }
  SUBCASE("/dev/zero by a symlink, and a device node") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    t.remove("proc/meminfo");
    REQUIRE(::symlink("/dev/zero", t.path("proc/meminfo").c_str()) == 0);
    auto r = info_timed({"--json", "--root", t.root()});
    REQUIRE(r.exited);
    CHECK(r.code == 0);
    CHECK(r.out.find("proc/meminfo\",\"message\":\"Too many levels of "
                     "symbolic links") != std::string::npos);
    t.remove("proc/meminfo");
    if (::mknod(t.path("proc/meminfo").c_str(), S_IFCHR | 0600,
                ::makedev(1, 5)) == 0) {
      r = info_timed({"--json", "--root", t.root()});
      REQUIRE(r.exited);
      CHECK(r.code == 0);
      CHECK(r.out.find("proc/meminfo\",\"message\":\"not a regular file") !=
            std::string::npos);
    } else {
      MESSAGE("mknod needs root (CAP_MKNOD); device case not run");
    }
  }
}

TEST_CASE("--root: symlinks resolve inside the tree, never outside") {
  SUBCASE("sys -> /sys reads nothing of this machine") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    t.remove("sys");
    REQUIRE(::symlink("/sys", t.path("sys").c_str()) == 0);
    // Within the tree, /sys is the link itself: a loop, named in the tree.
    const auto r = info_timed({"--json", "--root", t.root()});
    REQUIRE(r.exited);
    CHECK(r.code == 1);
    CHECK(r.err.find(t.root() + "/sys/fs/cgroup/") != std::string::npos);
    CHECK(r.err.find("Too many levels of symbolic links") != std::string::npos);
  }
  SUBCASE("proc/self -> /proc/self is a loop inside the tree") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    t.remove("proc/self");
    REQUIRE(::symlink("/proc/self", t.path("proc/self").c_str()) == 0);
    const auto r = info_timed({"--root", t.root()});
    REQUIRE(r.exited);
    CHECK(r.code == 1);
    CHECK(r.err.find("proc/self/") != std::string::npos);
    CHECK(r.err.find("Too many levels of symbolic links") != std::string::npos);
  }
  SUBCASE("an absolute link inside the tree reads the tree's file") {
    fixture_tree t;
    layout_kubernetes_v2_cpu(t);
    REQUIRE(::rename(t.path("proc/self").c_str(),
                     t.path("proc/self.real").c_str()) == 0);
    REQUIRE(::symlink("/proc/self.real", t.path("proc/self").c_str()) == 0);
    const auto j = info_json({"--root", t.root()});
    CHECK(bytes(j, "memory.limit_bytes") == 1 * GiB);
    // The cpu reader's status file too: the tree's Cpus_allowed_list, not
    // an ENOENT from /proc/self.real on this machine.
    CHECK(str(j, "cpu.affinity_source") == "/proc/self/status");
    CHECK(bytes(j, "cpu.affinity_count") == 8);
  }
}

TEST_CASE("--root: meminfo that contradicts itself is an error, not a number") {
  fixture_tree t;
  layout_none(t);
  t.file("proc/meminfo",
         "MemTotal: 1000 kB\nMemFree: 5000 kB\nMemAvailable: 900 kB\n");
  auto j = info_json({"--root", t.root()});
  CHECK(field(j, "memory.usage_bytes").type == json::kind::null);
  CHECK(field(j, "memory.host_total_bytes").type == json::kind::null);
  CHECK(field(j, "memory.headroom_bytes").type == json::kind::null);
  const auto r = info_timed({"--root", t.root()});
  CHECK(r.code == 0);
  CHECK(r.out.find("proc/meminfo: malformed content") != std::string::npos);
  // MemAvailable below MemFree: the host-wide working set is clamped to
  // the usage.
  t.file("proc/meminfo",
         "MemTotal: 10000 kB\nMemFree: 5000 kB\nMemAvailable: 3000 kB\n");
  j = info_json({"--root", t.root()});
  CHECK(bytes(j, "memory.usage_bytes") == 5000 * 1024);
  CHECK(bytes(j, "memory.working_set_bytes") == 5000 * 1024);
}

TEST_CASE("--watch --root DIR --pid N on a tree captured from this machine") {
  fixture_tree cap;
  const auto made = info({"--capture", cap.root()});
  REQUIRE_MESSAGE(made.code == 0, made.err);
  SUBCASE("the capture holds /proc/self, not proc/N: a clear error") {
    const std::string why = cap.root() +
                            "/proc/4242: no such process in the tree (a "
                            "capture keeps the process it was made of as "
                            "/proc/self: leave out --pid)\n";
    const auto w =
        info_timed({"--watch", "--root", cap.root(), "--pid", "4242"});
    REQUIRE(w.exited);
    CHECK(w.code == 1);
    CHECK(w.out.empty());
    CHECK(w.err == "headroom-info: cannot watch: " + why);
    const auto r = info_timed({"--root", cap.root(), "--pid", "4242"});
    CHECK(r.code == 1);
    CHECK(r.err == "headroom-info: cannot report: " + why);
  }
  SUBCASE("its proc/self as proc/N: watched until proc/N leaves the tree") {
    REQUIRE(::rename(cap.path("proc/self").c_str(),
                     cap.path("proc/4242").c_str()) == 0);
    const json once = info_json({"--root", cap.root(), "--pid", "4242"});
    spawned w({HEADROOM_INFO, "--watch", "--json", "--interval", "50", "--root",
               cap.root(), "--pid", "4242"});
    auto first = w.line(5000);
    REQUIRE(first);
    auto sources = json_reader::parse(*first);
    REQUIRE_MESSAGE(sources, *first);
    CHECK(str(*sources, "kind") == "sources");
    // The cgroup source re-reads the tree's limit and cgroup; the kernel
    // sources say that a tree has no kernel to register with.
    bool cgroup_active = false;
    for (const json& s : field(*sources, "sources").items) {
      if (str(s, "source") == "cgroup")
        cgroup_active = field(s, "active").type == json::kind::boolean &&
                        field(s, "active").b;
    }
    CHECK(cgroup_active);
    CHECK(str(once, "cgroup.memory_dir").rfind("/sys/fs/cgroup/", 0) == 0);
    // Still watching: no exit while proc/4242 is there.
    CHECK_FALSE(w.wait_for(300));
    std::filesystem::remove_all(cap.path("proc/4242"));
    const auto r = w.wait_for(10000);
    REQUIRE_MESSAGE(r, "--watch went on after proc/4242 left the tree");
    CHECK(r->exited);
    CHECK(r->code == 3);
  }
}
