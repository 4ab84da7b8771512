// SPDX-License-Identifier: MIT
// The record before a kill, on a real kernel: a forked child allocates step
// by step in a 64 MiB cgroup until the OOM killer ends it, while a monitor
// and a recorder watch it (options::pid). The record written on oom_kill
// must show the seconds before: usage rising to the limit, critical before
// the kill, the kill counter moving. One of the live test programs, whose
// main() checks for root first.
#include <headroom/pressure.hpp>
#include <headroom/recorder.hpp>

#include <linux/magic.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "../support/json.hpp"
#include "live_support.hpp"

using namespace headroom_live;
using namespace std::chrono_literals;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char t[] = "/tmp/headroom-record-XXXXXX";
    if (::mkdtemp(t)) path = t;
  }
  ~temp_dir() {
    if (!path.empty()) (void)std::system(("rm -rf '" + path + "'").c_str());
  }
};

std::vector<headroom_test::json> read_lines(const std::string& path) {
  std::vector<headroom_test::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = headroom_test::json_reader::parse(line);
    REQUIRE_MESSAGE(j.has_value(), (std::string("not JSON: ") + line));
    out.push_back(std::move(*j));
  }
  return out;
}

double number_at(const headroom_test::json& j, const char* key) {
  const auto* v = j.at(key);
  REQUIRE_MESSAGE(v != nullptr, key);
  REQUIRE_MESSAGE(v->type == headroom_test::json::kind::number, key);
  return std::stod(v->text);
}

std::string string_at(const headroom_test::json& j, const char* key) {
  const auto* v = j.at(key);
  return v && v->type == headroom_test::json::kind::string ? v->text : "";
}

}  // namespace

TEST_CASE(
    "live recorder: the record written on oom_kill shows the seconds before") {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));

  temp_dir dir;
  REQUIRE(!dir.path.empty());
  headroom::monitor_options mo;
  mo.reader.pid = child.pid();
  auto m = headroom::monitor::create(mo);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  headroom::recorder_options ro;
  ro.dir = dir.path;
  ro.interval = 100ms;
  ro.samples = 100;  // 10 s
  ro.reader.pid = child.pid();
  ro.allow_tmpfs = true;  // the guest's /tmp is tmpfs; refusal is tested below
  auto rec = headroom::recorder::create(ro);
  REQUIRE_MESSAGE(rec.has_value(), rec.error().message());
  auto sub = rec->attach(*m);

  const auto pump = [&](std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{m->fd(), POLLIN, 0};
      ::poll(&p, 1, 10);
      m->dispatch();
    }
  };
  pump(300ms);
  // 2 MiB every 60 ms: about two seconds from nothing to the limit.
  bool killed = false;
  for (int step = 0; step < 200 && !killed; ++step) {
    killed = !child.ask(command::allocate, 2 * MiB);
    if (!killed) pump(60ms);
  }
  REQUIRE(killed);
  child.wait_exit();

  std::string record;
  for (int i = 0; i < 500 && record.empty(); ++i) {
    pump(10ms);
    for (const auto& p : rec->records())
      if (p.find("-oom_kill.jsonl") != std::string::npos) record = p;
  }
  if (auto e = rec->last_error()) MESSAGE(e->message());
  REQUIRE_MESSAGE(!record.empty(), "no record written on oom_kill");
  MESSAGE((std::string("record: ") + record));

  // HEADROOM_TEST_KEEP_RECORD=FILE keeps a copy, to look at.
  if (const char* keep = std::getenv("HEADROOM_TEST_KEEP_RECORD"))
    (void)std::system(("cp '" + record + "' '" + keep + "'").c_str());
  const auto lines = read_lines(record);
  REQUIRE(lines.size() > 5);
  CHECK(string_at(lines[0], "kind") == "record");
  CHECK(string_at(lines[0], "trigger") == "oom_kill");
  CHECK(number_at(lines[0], "lines") == static_cast<double>(lines.size() - 1));

  double earliest = 0, prev_t = -1e9;
  double low_usage = 1e18, high_usage_before = 0, kills_after = 0;
  bool critical_before = false, kill_event = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto& l = lines[i];
    const double t = number_at(l, "t_s");
    CHECK(t >= prev_t);  // oldest first
    prev_t = t;
    earliest = std::min(earliest, t);
    const std::string kind = string_at(l, "kind");
    if (kind == "sample") {
      const auto* u = l.at("usage_bytes");
      REQUIRE(u != nullptr);
      if (u->type != headroom_test::json::kind::number) continue;
      const double usage = std::stod(u->text);
      if (t < 0) {
        low_usage = std::min(low_usage, usage);
        high_usage_before = std::max(high_usage_before, usage);
      }
      if (t >= 0)
        kills_after = std::max(kills_after, number_at(l, "oom_kills"));
      CHECK(l.at("stat.anon") != nullptr);
    } else {
      REQUIRE(kind == "event");
      if (string_at(l, "event") == "pressure" &&
          string_at(l, "level") == "critical" && t <= 0)
        critical_before = true;
      if (string_at(l, "event") == "oom_kill") kill_event = true;
    }
  }
  CAPTURE(earliest);
  CAPTURE(low_usage);
  CAPTURE(high_usage_before);
  CHECK(earliest <= -1.5);  // the seconds before the kill are there
  CHECK(low_usage < 32.0 * MiB);
  CHECK(high_usage_before >= 48.0 * MiB);
  CHECK(critical_before);
  CHECK(kill_event);
  CHECK(kills_after >= 1);
}

TEST_CASE("live recorder: a directory on tmpfs is refused unless allowed") {
  headroom::recorder_options ro;
  ro.dir = "/dev/shm";
  struct statfs fs {};
  if (::statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
    auto refused = headroom::recorder::create(ro);
    REQUIRE(!refused);
    CHECK(refused.error().code ==
          headroom::make_error_code(headroom::errc::not_supported));
    CHECK(refused.error().path.find("tmpfs") != std::string::npos);
    ro.allow_tmpfs = true;
    CHECK(headroom::recorder::create(ro).has_value());
    ro.allow_tmpfs = false;
  } else {
    MESSAGE("/dev/shm is not a tmpfs here: the refusal is not checked");
  }
  ro.dir = "/nonexistent-headroom-record";
  auto missing = headroom::recorder::create(ro);
  REQUIRE(!missing);
  CHECK(missing.error().code == std::errc::no_such_file_or_directory);
  ro.dir = "/proc/self/status";  // not a directory
  auto file = headroom::recorder::create(ro);
  REQUIRE(!file);
  CHECK(file.error().code == std::errc::not_a_directory);
}
