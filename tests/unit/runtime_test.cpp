// SPDX-License-Identifier: MIT
// Runtime settings (runtime.hpp) on fixture trees of real layouts, with the
// numbers worked out by hand from the presets' rules, and the user's own
// values kept or overridden.
#include <headroom/memory.hpp>
#include <headroom/runtime.hpp>

#include <map>
#include <string>

#include "../support/cpu_layouts.hpp"
#include "../support/doctest.hpp"
#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

struct tree_env {
  memory_snapshot mem;
  cpu_snapshot cpu;
};

tree_env read_tree(const fixture_tree& t) {
  options o;
  o.root = t.root();
  o.use_environment = false;
  auto m = memory_reader::open(o);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  auto c = cpu_reader::open(o);
  REQUIRE_MESSAGE(c.has_value(), c.error().message());
  return {m->snapshot(), c->snapshot()};
}

// An environment of its own instead of the test process's.
env_lookup from(std::map<std::string, std::string> vars) {
  return [vars](const std::string& n) -> std::optional<std::string> {
    const auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

runtime_env must(const result<runtime_env>& r) {
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return *r;
}

std::map<std::string, std::string> values(const runtime_env& e) {
  std::map<std::string, std::string> out;
  for (const auto& s : e.set) {
    CHECK_MESSAGE(out.count(s.name) == 0, s.name << " set twice");
    out[s.name] = s.value;
  }
  return out;
}

runtime_env_options no_user_env() {
  runtime_env_options o;
  o.lookup = from({});
  return o;
}

}  // namespace

TEST_CASE("Docker v1: 256 MiB and 2.5 CPUs of 16") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  const auto in = read_tree(t);
  const auto env =
      must(runtime_settings(in.mem, in.cpu, all_runtimes(), no_user_env()));
  const std::map<std::string, std::string> expected = {
      // 90% of 268435456, truncated.
      {"GOMEMLIMIT", "241591910"},
      // 2.5 rounded down.
      {"GOMAXPROCS", "2"},
      // The effective limit itself, and 2.5 rounded up.
      {"JAVA_TOOL_OPTIONS", "-XX:MaxRAM=268435456 -XX:ActiveProcessorCount=3"},
      // Half of 256 MiB.
      {"NODE_OPTIONS", "--max-old-space-size=128"},
      // 75% of 256 MiB = 192 MiB = 0xc000000.
      {"DOTNET_GCHeapHardLimit", "0xc000000"},
      // 8 per CPU, 3 CPUs.
      {"MALLOC_ARENA_MAX", "24"},
  };
  CHECK(values(env) == expected);
  CHECK(env.skipped.empty());
}

TEST_CASE("Kubernetes v2: a pod limit of 1 GiB, 1.5 CPUs, a cpuset of 4") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const auto in = read_tree(t);
  const auto env =
      must(runtime_settings(in.mem, in.cpu, all_runtimes(), no_user_env()));
  const std::map<std::string, std::string> expected = {
      {"GOMEMLIMIT", "966367641"},  // 0.9 * 2^30, truncated
      {"GOMAXPROCS", "1"},
      {"JAVA_TOOL_OPTIONS", "-XX:MaxRAM=1073741824 -XX:ActiveProcessorCount=2"},
      {"NODE_OPTIONS", "--max-old-space-size=512"},
      {"DOTNET_GCHeapHardLimit", "0x30000000"},
      {"MALLOC_ARENA_MAX", "16"},
  };
  CHECK(values(env) == expected);
}

TEST_CASE("only the runtimes asked for") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  const auto in = read_tree(t);
  const auto env = must(runtime_settings(
      in.mem, in.cpu, {runtime::node, runtime::glibc}, no_user_env()));
  const std::map<std::string, std::string> expected = {
      {"NODE_OPTIONS", "--max-old-space-size=128"},
      {"MALLOC_ARENA_MAX", "24"},
  };
  CHECK(values(env) == expected);
}

TEST_CASE("no limit and no quota: nothing set, each says why") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  t.file("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  t.file("sys/fs/cgroup/memory/memory.stat",
         "cache 0\nrss 0\nhierarchical_memory_limit 9223372036854771712\n"
         "total_inactive_file 0\n");
  t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  const auto in = read_tree(t);
  REQUIRE(in.mem.limit.has_value());
  REQUIRE_FALSE(in.mem.limit->has_value());
  const auto env =
      must(runtime_settings(in.mem, in.cpu, all_runtimes(), no_user_env()));
  CHECK(env.set.empty());
  // GOMEMLIMIT, GOMAXPROCS, two JVM options, node, dotnet, glibc.
  CHECK(env.skipped.size() == 7);
  for (const auto& s : env.skipped) {
    CAPTURE(s.name);
    CHECK(s.why.find("default is right") != std::string::npos);
  }
}

TEST_CASE("a cpuset alone (no quota) below the affinity counts") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const std::string pod = std::string("sys/fs/cgroup") + k8s_pod;
  write_v2_cpu(t, pod, "max 100000");  // cpuset 0-3 of 8 is left
  const auto in = read_tree(t);
  const auto env = must(runtime_settings(
      in.mem, in.cpu, {runtime::go, runtime::glibc}, no_user_env()));
  CHECK(values(env).at("GOMAXPROCS") == "4");
  CHECK(values(env).at("MALLOC_ARENA_MAX") == "32");
}

TEST_CASE("the user's values are kept, or replaced with override_user") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  const auto in = read_tree(t);
  runtime_env_options o;
  o.lookup = from({{"GOMEMLIMIT", "100MiB"},
                   {"JAVA_TOOL_OPTIONS", "-Xss1m -XX:MaxRAM=1g"},
                   {"NODE_OPTIONS", "--max_old_space_size=300 --trace-gc"},
                   {"COMPlus_GCHeapHardLimit", "0x1000"},
                   {"MALLOC_ARENA_MAX", "2"}});

  SUBCASE("kept") {
    const auto env = must(runtime_settings(in.mem, in.cpu, all_runtimes(), o));
    const std::map<std::string, std::string> expected = {
        {"GOMAXPROCS", "2"},
        // The user's MaxRAM stays; ActiveProcessorCount is appended.
        {"JAVA_TOOL_OPTIONS",
         "-Xss1m -XX:MaxRAM=1g -XX:ActiveProcessorCount=3"},
    };
    CHECK(values(env) == expected);
    std::map<std::string, int> kept;
    for (const auto& s : env.skipped) {
      CHECK(s.why.find("kept the user's") == 0);
      ++kept[s.name];
    }
    CHECK(kept == std::map<std::string, int>{{"GOMEMLIMIT", 1},
                                             {"JAVA_TOOL_OPTIONS", 1},
                                             {"NODE_OPTIONS", 1},
                                             {"DOTNET_GCHeapHardLimit", 1},
                                             {"MALLOC_ARENA_MAX", 1}});
  }
  SUBCASE("overridden: the user's other options stay") {
    o.override_user = true;
    const auto env = must(runtime_settings(in.mem, in.cpu, all_runtimes(), o));
    const auto v = values(env);
    CHECK(v.at("GOMEMLIMIT") == "241591910");
    CHECK(v.at("JAVA_TOOL_OPTIONS") ==
          "-Xss1m -XX:MaxRAM=268435456 -XX:ActiveProcessorCount=3");
    CHECK(v.at("NODE_OPTIONS") == "--trace-gc --max-old-space-size=128");
    CHECK(v.at("DOTNET_GCHeapHardLimit") == "0xc000000");
    CHECK(v.at("MALLOC_ARENA_MAX") == "24");
    CHECK(env.skipped.empty());
  }
}

TEST_CASE("a witness that cannot be read is an error, never a setting") {
  SUBCASE("garbage limit") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    t.file("sys/fs/cgroup/memory/memory.limit_in_bytes", "lots\n");
    const auto in = read_tree(t);
    const auto env = runtime_settings(in.mem, in.cpu, {runtime::node});
    REQUIRE_FALSE(env.has_value());
    CHECK(env.error().code == errc::malformed);
    CHECK(env.error().path.find("memory.limit_in_bytes") != std::string::npos);
    // glibc needs no memory witness.
    CHECK(runtime_settings(in.mem, in.cpu, {runtime::glibc}, no_user_env())
              .has_value());
  }
  SUBCASE("garbage quota") {
    fixture_tree t;
    layout_docker_v1_cpu(t);
    t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "half\n");
    const auto in = read_tree(t);
    const auto env = runtime_settings(in.mem, in.cpu, {runtime::go});
    REQUIRE_FALSE(env.has_value());
    CHECK(env.error().path.find("cpu.cfs_quota_us") != std::string::npos);
    // node needs no CPU witness.
    CHECK(runtime_settings(in.mem, in.cpu, {runtime::node}, no_user_env())
              .has_value());
  }
}

TEST_CASE("shell quoting: single quotes, the quote itself as '\\''") {
  env_setting s;
  s.name = "JAVA_TOOL_OPTIONS";
  s.value = "-Dx='a b' $HOME `id` \\n";
  CHECK(shell_export(s) ==
        "export JAVA_TOOL_OPTIONS='-Dx='\\''a b'\\'' $HOME `id` \\n'");
}

TEST_CASE("runtime names") {
  for (runtime r : all_runtimes()) {
    CHECK(runtime_from_string(to_string(r)) == r);
  }
  CHECK_FALSE(runtime_from_string("java").has_value());
  CHECK_FALSE(runtime_from_string("").has_value());
}
