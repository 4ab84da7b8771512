// headroom-info as a user runs it: the JSON contract, the human report,
// --capture then --root replay, --pid, and exit codes on bad input.
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "../support/doctest.hpp"
#include "../support/json.hpp"
#include "../support/layouts.hpp"
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
    "headroom_version",        "cgroup.version",
    "cgroup.memory_path",      "cgroup.memory_dir",
    "cgroup.path_mapping",     "cgroup.path_fallback",
    "cgroup.chain",            "memory.limit_bytes",
    "memory.limit_path",       "memory.limit_cgroup",
    "memory.limit_source",     "memory.high_bytes",
    "memory.low_bytes",        "memory.swap_limit_bytes",
    "memory.usage_bytes",      "memory.usage_path",
    "memory.working_set_bytes","memory.anon_bytes",
    "memory.file_bytes",       "memory.inactive_file_bytes",
    "memory.peak_bytes",       "memory.failcnt",
    "memory.oom_kill_count",   "memory.events",
    "memory.host_total_bytes", "memory.effective_limit_bytes",
    "memory.headroom_bytes",   "pressure.scope",
    "pressure.path",           "pressure.some",
    "pressure.full",           "errors",
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
  CHECK(field(j, "errors").items.empty());
}

TEST_CASE("--json: null where unlimited, and the error list where unreadable") {
  fixture_tree t;
  layout_docker_v1(t);
  SUBCASE("unlimited") {
    t.file("sys/fs/cgroup/memory/memory.limit_in_bytes", std::string(v1_unlimited_4k) + "\n");
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
    CHECK(str(errs[0], "path") == t.root() + "/sys/fs/cgroup/memory/memory.limit_in_bytes");
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
  CHECK(r.out.find("<- /sys/fs/cgroup/memory/memory.limit_in_bytes") != std::string::npos);
  CHECK(r.out.find("v1: memory controller on cgroup v1") != std::string::npos);
  CHECK(r.out.find("below_mount_root") != std::string::npos);
  CHECK(r.out.find("176.0 MiB") != std::string::npos);  // headroom
}

TEST_CASE("--capture then --root replays the same report") {
  SUBCASE("from a fixture tree") {
    fixture_tree t;
    layout_kubernetes_v2(t);
    fixture_tree cap;
    const auto first = info({"--json", "--root", t.root(), "--capture", cap.root()});
    REQUIRE(first.code == 0);
    CHECK(first.err.find("captured") != std::string::npos);
    const auto again = info({"--json", "--root", cap.root()});
    REQUIRE(again.code == 0);
    // Identical but for the root prefix and error paths, which name it.
    auto strip = [](std::string s, const std::string& root) {
      for (std::size_t at; (at = s.find(root)) != std::string::npos;) s.erase(at, root.size());
      return s;
    };
    CHECK(strip(first.out, t.root()) == strip(again.out, cap.root()));
  }
  SUBCASE("from this machine") {
    fixture_tree cap;
    const json live = info_json({"--capture", cap.root()});
    const json replay = info_json({"--root", cap.root()});
    for (const char* f : {"cgroup.version", "cgroup.memory_path", "cgroup.memory_dir",
                          "cgroup.path_mapping", "memory.limit_source", "pressure.scope",
                          "pressure.path"}) {
      CAPTURE(f);
      CHECK(field(live, f).text == field(replay, f).text);
    }
    CHECK(field(live, "memory.limit_bytes").text == field(replay, "memory.limit_bytes").text);
    CHECK(field(live, "memory.host_total_bytes").text ==
          field(replay, "memory.host_total_bytes").text);
    CHECK(field(live, "cgroup.chain").items.size() == field(replay, "cgroup.chain").items.size());
    CHECK(field(replay, "memory.usage_bytes").u64().has_value());
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
  CHECK(field(other, "cgroup.memory_path").text == field(self, "cgroup.memory_path").text);
}

TEST_CASE("exit codes: 0 when it could report, 1 with one line when not, 2 for bad usage") {
  SUBCASE("no limit is still a report") {
    fixture_tree t;
    write_host(t);
    t.file("proc/self/mountinfo", mi_base);
    const auto r = info({"--root", t.root()});
    CHECK(r.exited);
    CHECK(r.code == 0);
    CHECK(r.out.find("none: no memory controller visible") != std::string::npos);
  }
  SUBCASE("a process that does not exist") {
    pid_t gone = 4194000;
    while (::kill(gone, 0) == 0 || errno != ESRCH) --gone;
    const auto r = info({"--pid", std::to_string(gone)});
    CHECK(r.exited);
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("headroom-info: cannot report: /proc/" + std::to_string(gone)) == 0);
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
      auto r = json_out ? info({"--json", "--root", t.root()}) : info({"--root", t.root()});
      CHECK_MESSAGE(r.exited, "killed by signal " << r.code);
      CHECK((r.code == 0 || r.code == 1));
      if (json_out && r.code == 0) CHECK(json_reader::parse(r.out).has_value());
    }
  }
}
