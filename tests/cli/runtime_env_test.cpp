// SPDX-License-Identifier: MIT
// headroom-info --env and --exec as an entrypoint runs them: export lines a
// shell evaluates back to the same values, a command started with them set,
// the user's values kept, and the exit codes.
#include <string>
#include <vector>

#include "../support/cpu_layouts.hpp"
#include "../support/doctest.hpp"
#include "../support/layouts.hpp"
#include "../support/run.hpp"

using namespace headroom_test;

#ifndef HEADROOM_INFO
#error "HEADROOM_INFO must be the path of the headroom-info binary"
#endif

namespace {

// headroom-info under env(1) with exactly these variables.
run_result info_in(const std::vector<std::string>& env,
                   std::vector<std::string> args) {
  args.insert(args.begin(), HEADROOM_INFO);
  args.insert(args.begin(), env.begin(), env.end());
  args.insert(args.begin(), {"/usr/bin/env", "-i", "PATH=/usr/bin:/bin"});
  return run(args);
}

// What a shell prints for these variables after evaluating `out`.
std::string evaluated(const std::string& out, const std::string& names) {
  std::string script =
      out + "\nfor v in " + names +
      "; do eval \"printf '%s=%s\\n' $v \\\"\\${$v-unset}\\\"\"; "
      "done\n";
  const auto r = run({"/bin/sh", "-c", script});
  REQUIRE(r.code == 0);
  return r.out;
}

const std::string all_names =
    "GOMEMLIMIT GOMAXPROCS JAVA_TOOL_OPTIONS NODE_OPTIONS "
    "DOTNET_GCHeapHardLimit MALLOC_ARENA_MAX";

}  // namespace

TEST_CASE("--env on Docker v1 (256 MiB, 2.5 CPUs): a shell reads them back") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  const auto r = info_in({}, {"--env", "--root", t.root()});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(evaluated(r.out, all_names) ==
        "GOMEMLIMIT=241591910\n"
        "GOMAXPROCS=2\n"
        "JAVA_TOOL_OPTIONS=-XX:MaxRAM=268435456 -XX:ActiveProcessorCount=3\n"
        "NODE_OPTIONS=--max-old-space-size=128\n"
        "DOTNET_GCHeapHardLimit=0xc000000\n"
        "MALLOC_ARENA_MAX=24\n");
  // Every line is a comment or an export.
  std::size_t at = 0;
  while (at < r.out.size()) {
    const std::size_t nl = r.out.find('\n', at);
    const std::string line = r.out.substr(at, nl - at);
    CHECK_MESSAGE((line.rfind("# ", 0) == 0 || line.rfind("export ", 0) == 0),
                  line);
    at = nl == std::string::npos ? r.out.size() : nl + 1;
  }
}

TEST_CASE("--env RUNTIME...: only those, names separated or by commas") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--env", "go", "glibc", "--root", t.root()},
           {"--env", "go,glibc", "--root", t.root()},
           {"--root", t.root(), "--env", "glibc,go"}}) {
    const auto r = info_in({}, args);
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(evaluated(r.out, all_names) ==
          "GOMEMLIMIT=241591910\nGOMAXPROCS=2\nJAVA_TOOL_OPTIONS=unset\n"
          "NODE_OPTIONS=unset\nDOTNET_GCHeapHardLimit=unset\n"
          "MALLOC_ARENA_MAX=24\n");
  }
}

TEST_CASE("--env keeps what the user set; --override replaces it") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  const std::vector<std::string> user = {
      "GOMAXPROCS=7", "JAVA_TOOL_OPTIONS=-Dname='it''s' -XX:MaxRAM=1g"};
  const auto kept = info_in(user, {"--env", "go", "jvm", "--root", t.root()});
  REQUIRE_MESSAGE(kept.code == 0, kept.err);
  CHECK(kept.out.find("kept the user's GOMAXPROCS=7") != std::string::npos);
  CHECK(evaluated(kept.out, "GOMAXPROCS JAVA_TOOL_OPTIONS") ==
        "GOMAXPROCS=unset\n"
        "JAVA_TOOL_OPTIONS=-Dname='it''s' -XX:MaxRAM=1g "
        "-XX:ActiveProcessorCount=3\n");
  const auto over =
      info_in(user, {"--env", "go", "jvm", "--override", "--root", t.root()});
  REQUIRE_MESSAGE(over.code == 0, over.err);
  CHECK(evaluated(over.out, "GOMAXPROCS JAVA_TOOL_OPTIONS") ==
        "GOMAXPROCS=2\n"
        "JAVA_TOOL_OPTIONS=-Dname='it''s' -XX:MaxRAM=268435456 "
        "-XX:ActiveProcessorCount=3\n");
}

TEST_CASE("--exec sets them and runs the command in its place") {
  fixture_tree t;
  layout_kubernetes_v2_cpu(t);
  const auto r = info_in(
      {"NODE_OPTIONS=--trace-gc"},
      {"--exec", "--runtime", "node", "--runtime", "go", "--root", t.root(),
       "--", "/bin/sh", "-c",
       "echo \"$NODE_OPTIONS|$GOMEMLIMIT|$GOMAXPROCS|${MALLOC_ARENA_MAX-unset}"
       "|$0|$$\"",
       "arg0"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.rfind("--trace-gc --max-old-space-size=512|966367641|1|unset|"
                    "arg0|",
                    0) == 0);
}

TEST_CASE("--exec: exit codes of env(1), errors that say why") {
  fixture_tree t;
  layout_docker_v1_cpu(t);
  const auto missing =
      info_in({}, {"--exec", "--root", t.root(), "--", "/nonexistent/cmd"});
  CHECK(missing.code == 127);
  CHECK(missing.err.find("cannot run /nonexistent/cmd") != std::string::npos);
  const auto not_exec =
      info_in({}, {"--exec", "--root", t.root(), "--", t.root()});
  CHECK(not_exec.code == 126);
  // The command's own exit code comes back.
  CHECK(info_in({},
                {"--exec", "--root", t.root(), "--", "/bin/sh", "-c", "exit 9"})
            .code == 9);
  // A limit that cannot be read: no command started, the file named.
  t.file("sys/fs/cgroup/memory/memory.limit_in_bytes", "lots\n");
  const auto bad = info_in(
      {}, {"--exec", "--root", t.root(), "--", "/bin/sh", "-c", "echo ran"});
  CHECK(bad.code == 1);
  CHECK(bad.out.empty());
  CHECK(bad.err.find("memory.limit_in_bytes") != std::string::npos);
  CHECK(info_in({}, {"--env", "--root", t.root()}).code == 1);
}

TEST_CASE("--env/--exec usage errors exit 2") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--env", "java"},
           {"--exec"},
           {"--exec", "--runtime"},
           {"--exec", "--runtime", "cobol", "--", "true"},
           {"--env", "--exec", "--", "true"},
           {"--", "true"},
           {"--override"},
           {"--env", "--json"}}) {
    const auto r = info_in({}, args);
    CAPTURE(args.front());
    CHECK(r.code == 2);
    CHECK(r.err.find("usage:") != std::string::npos);
  }
}

TEST_CASE("--env on this machine: with no limit set, nothing exported") {
  // HEADROOM_DETECT=off: no cgroup read, so no limit and no quota whatever
  // this machine is; every runtime keeps its default.
  const auto r = info_in({"HEADROOM_DETECT=off"}, {"--env"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("export") == std::string::npos);
  CHECK(r.out.find("default is right") != std::string::npos);
}
