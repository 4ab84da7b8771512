// SPDX-License-Identifier: MIT
// The thrashing source on a real kernel: a forked child reads a 96 MiB file
// over and over through a 16 MiB cgroup, so the kernel evicts the file's
// pages and reads them back (memory.stat workingset_refault_file climbs)
// while usage stays at the limit's edge or below. Only the thrashing
// source may raise the level here. One of the live test programs on this
// host (the guest has no disk to read back from), whose main() checks for
// root first.
#include <headroom/pressure.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "live_support.hpp"

using namespace headroom_live;
using namespace std::chrono_literals;

TEST_CASE("live monitor: a file cache read back from disk is thrashing") {
  // The file lives in the working directory (the build tree, on disk): a
  // file on tmpfs is never read back, only swapped.
  const std::string file = "headroom-thrashing-" + std::to_string(::getpid());
  struct statfs fs {};
  REQUIRE(::statfs(".", &fs) == 0);
  const bool on_disk = fs.f_type != TMPFS_MAGIC && fs.f_type != RAMFS_MAGIC;
  REQUIRE_MESSAGE(on_disk,
                  "the working directory must be on a disk file system");
  {
    const int fd =
        ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::vector<char> chunk(1 << 20, 'x');
    for (int i = 0; i < 96; ++i)
      REQUIRE(::write(fd, chunk.data(), chunk.size()) > 0);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
  thrash_file = file;

  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(16 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));

  headroom::monitor_options o;
  o.reader.pid = child.pid();
  o.thrashing_percent = 10;
  o.thrashing_window = 500ms;
  o.use_psi = false;
  o.use_v1_events = false;
  o.use_memory_events = false;
  // The bands would see the cache at the limit first: out of reach here.
  o.moderate = headroom::band_edge::percent(99);
  o.critical = headroom::band_edge::percent(100);
  auto m = headroom::monitor::create(o);
  REQUIRE_MESSAGE(m.has_value(), m.error().message());
  bool active = false;
  for (const auto& s : m->sources()) {
    if (s.kind != headroom::source_kind::thrashing) continue;
    active = s.active;
    const std::string said = s.active ? s.detail : s.failure.message();
    MESSAGE(said);
  }
  REQUIRE(active);

  std::vector<headroom::memory_event> events;
  auto sub = m->subscribe(
      [&](const headroom::memory_event& e) { events.push_back(e); });
  REQUIRE(child.post(command::thrash, 3000));
  const headroom::memory_event* seen = nullptr;
  const auto end = std::chrono::steady_clock::now() + 15s;
  while (!seen && std::chrono::steady_clock::now() < end) {
    pollfd p{m->fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
    m->dispatch();
    for (const auto& e : events)
      if (e.source == headroom::source_kind::thrashing) seen = &e;
  }
  (void)child.receive(20000);
  ::unlink(file.c_str());
  thrash_file.clear();
  child.ask(command::quit);
  child.wait_exit();
  const std::string stat = read_file(leaf.dir() + "/memory.stat");
  REQUIRE_MESSAGE(seen != nullptr,
                  ("no thrashing event; memory.stat now: " + stat));
  MESSAGE(seen->reason);
  CHECK(seen->level == headroom::pressure_level::moderate);
  CHECK(seen->reason.find("thrashing") != std::string::npos);
}
