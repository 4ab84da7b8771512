// SPDX-License-Identifier: MIT
// The monitor where containers run it: in a private mount namespace whose
// cgroup mounts are bound read-only (as Docker and Kubernetes mount them),
// as root and as an unprivileged user (nobody) watching a cgroup it does not
// own. The watcher is a forked process (a mount namespace and a uid are
// per process); it sends each source and event as a line. The test process
// keeps the writable view: it makes the cgroups, changes the limit and
// drives the allocating child.
#include <headroom/pressure.hpp>

#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "../support/skip.hpp"
#include "live_support.hpp"

using namespace headroom_live;
using namespace std::chrono_literals;

namespace {

constexpr uid_t nobody = 65534;

void say(int fd, const std::string& line) {
  const std::string l = line + "\n";
  if (::write(fd, l.data(), l.size()) < 0) ::_exit(3);
}

// The watcher's side: a read-only cgroupfs, then (unprivileged) nobody, then
// a monitor of `target` run until killed. Its first line is "skip WHY",
// "fail WHY" or the sources, then "ready"; then one line per event.
[[noreturn]] void watcher_main(int out, pid_t target, bool unprivileged,
                               const std::string& limit_file,
                               headroom::monitor_options o) {
  const std::string e = enter_read_only_cgroupfs();
  if (!e.empty()) {
    say(out, "skip no read-only mount namespace here: " + e);
    ::_exit(0);
  }
  if (unprivileged && (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 ||
                       ::setuid(nobody) != 0)) {
    say(out, std::string("skip cannot become nobody: ") + std::strerror(errno));
    ::_exit(0);
  }
  // The layout must really be what it claims: the limit file not writable.
  const int w = ::open(limit_file.c_str(), O_WRONLY | O_CLOEXEC);
  say(out, "writable " + std::string(w >= 0 ? "yes" : std::strerror(errno)));
  if (w >= 0) ::close(w);
  o.reader.pid = target;
  auto m = headroom::monitor::create(o);
  if (!m) {
    say(out, "fail monitor::create: " + m.error().message());
    ::_exit(0);
  }
  for (const auto& s : m->sources()) {
    say(out, std::string("source ") + headroom::to_string(s.kind) + " " +
                 (s.active ? "active" : "failed") + " scope=" +
                 (s.scope ? headroom::to_string(*s.scope) : "-") + " " +
                 (s.failure.code ? s.failure.message() + "; " : "") + s.detail);
  }
  say(out, "ready");
  auto sub = m->subscribe([&](const headroom::memory_event& ev) {
    say(out, std::string("event ") + headroom::to_string(ev.kind) + " " +
                 headroom::to_string(ev.level) + " " +
                 headroom::to_string(ev.source) + " " + ev.reason);
  });
  for (;;) {
    pollfd p{m->fd(), POLLIN, 0};
    ::poll(&p, 1, 200);
    m->dispatch();
  }
}

// The test's side of a watcher: its lines, and waits for them.
class remote_watcher {
 public:
  remote_watcher(pid_t target, bool unprivileged, const std::string& limit_file,
                 const headroom::monitor_options& o = {}) {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(p[0]);
      watcher_main(p[1], target, unprivileged, limit_file, o);
    }
    ::close(p[1]);
    fd_ = p[0];
  }
  remote_watcher(const remote_watcher&) = delete;
  remote_watcher& operator=(const remote_watcher&) = delete;
  ~remote_watcher() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::close(fd_);
  }

  std::vector<std::string> lines;

  // Reads what the watcher said within `d`.
  void pump(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count()))) != 1)
        return;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return;  // the watcher is gone
      buf_.append(buf, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
        MESSAGE(buf_.substr(0, nl));
        lines.push_back(buf_.substr(0, nl));
        buf_.erase(0, nl + 1);
      }
    }
  }
  // Index of the first line from `from` that starts with `prefix`, or -1.
  int find(const std::string& prefix, std::size_t from = 0) const {
    for (std::size_t i = from; i < lines.size(); ++i)
      if (lines[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    return -1;
  }
  int wait_for(const std::string& prefix, std::chrono::milliseconds limit,
               std::size_t from = 0) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (find(prefix, from) < 0 && std::chrono::steady_clock::now() < end)
      pump(20ms);
    return find(prefix, from);
  }
  // "ready", or the reason it is not ("skip ..." / "fail ..."; "" if none).
  std::string start() {
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
      pump(20ms);
      for (const auto& l : lines) {
        if (l == "ready" || l.rfind("skip ", 0) == 0 ||
            l.rfind("fail ", 0) == 0)
          return l;
      }
    }
    return "";
  }
  std::string line(int i) const {
    return i >= 0 ? lines[static_cast<std::size_t>(i)] : std::string();
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_;
};

std::string limit_file(const cgroup_dir& d) {
  return d.dir() + (g_host.v2() ? "/memory.max" : "/memory.limit_in_bytes");
}

// Starts the watcher and checks the layout; false: skipped (said why).
bool started(remote_watcher& w) {
  const std::string s = w.start();
  if (s.rfind("skip ", 0) == 0) {
    headroom_test::note_skip(s.substr(5));
    return false;
  }
  REQUIRE_MESSAGE(s == "ready", "the watcher did not start: " << s);
  const std::string writable = w.line(w.find("writable "));
  CHECK_MESSAGE(writable != "writable yes",
                "the limit file is writable inside: not a read-only layout");
  return true;
}

void kill_case(bool unprivileged) {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  REQUIRE(leaf.set_limit(64 * MiB));
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  must(child.ask(command::snapshot));
  remote_watcher w(child.pid(), unprivileged, limit_file(leaf));
  if (!started(w)) return;
  // Read-only: no v1 threshold can be registered; the bands are sampled.
  const std::string bands = w.line(w.find("source usage_bands "));
  CHECK(bands.find("usage_bands active") != std::string::npos);
  CHECK(bands.find("(eventfd)") == std::string::npos);

  // A limit changed from outside is seen (inotify works on a read-only
  // mount, and the re-check reads the file).
  REQUIRE(leaf.set_limit(128 * MiB));
  const int up = w.wait_for("event limit_changed", 3000ms);
  CHECK_MESSAGE(up >= 0, "a raised limit was not seen within 3 s");
  REQUIRE(leaf.set_limit(64 * MiB));
  const int down = w.wait_for("event limit_changed", 3000ms,
                              static_cast<std::size_t>(up >= 0 ? up + 1 : 0));
  CHECK_MESSAGE(down >= 0, "a lowered limit was not seen within 3 s");

  // 4 MiB steps, then 1 MiB ones past 40 MiB, until the kernel kills it.
  bool killed = false;
  std::size_t lines_before_kill = 0;
  for (int step = 0; step < 200 && !killed; ++step) {
    killed = !child.ask(command::allocate, step < 10 ? 4 * MiB : 1 * MiB);
    if (!killed) {
      w.pump(20ms);
      lines_before_kill = w.lines.size();
    }
  }
  REQUIRE(killed);
  child.wait_exit();
  const int moderate = w.find("event pressure moderate");
  const int critical = w.find("event pressure critical");
  REQUIRE_MESSAGE(moderate >= 0, "no moderate before the kill");
  REQUIRE_MESSAGE(critical >= 0, "no critical before the kill");
  CHECK(moderate < critical);
  CHECK(static_cast<std::size_t>(critical) < lines_before_kill);
  CHECK_MESSAGE(w.wait_for("event oom_kill", 5000ms) >= 0,
                "the OOM kill was not seen within 5 s");
}

// PSI of the child's own cgroup2 directory, polled (the trigger cannot be
// written read-only), fires under load.
void psi_case(bool unprivileged) {
  cgroup_list dirs;
  cleanup c{dirs};
  const std::string base = new_base(dirs);
  auto& leaf = add(dirs, base, "leaf");
  headroom::monitor_options o;
  o.psi_moderate.stall = std::chrono::microseconds(20000);  // 20 ms in 2 s
  // Only PSI may raise the level, as in "a PSI trigger fires under load".
  o.use_v1_events = false;
  o.use_memory_events = false;
  // On v1 the child needs a cgroup2 directory of its own beside its memory
  // cgroup, or its PSI is the cgroup2 root's: host-wide.
  std::string own2;
  if (g_host.v2()) {
    // memory.high throttling sleeps the allocating task: memory stall.
    REQUIRE(leaf.set_limit(256 * MiB));
    REQUIRE(leaf.set_high(std::to_string(32 * MiB)));
  } else {
    const std::string root2 = "/sys/fs/cgroup/unified";
    if (::access((root2 + "/cgroup.procs").c_str(), F_OK) != 0)
      HEADROOM_SKIP_CASE("no cgroup2 mount at " + root2 + " beside v1");
    const std::string self = read_file("/proc/self/cgroup");
    const auto at = self.find("\n0::");
    const std::string rel =
        self.rfind("0::", 0) == 0
            ? self.substr(3, self.find('\n') - 3)
            : (at == std::string::npos
                   ? std::string()
                   : self.substr(at + 4, self.find('\n', at + 4) - at - 4));
    own2 = root2 + (rel == "/" ? "" : rel) + "/headroom-live-" +
           std::to_string(::getpid()) + "-psi";
    REQUIRE_MESSAGE(::mkdir(own2.c_str(), 0755) == 0,
                    own2 << ": " << std::strerror(errno));
    if (::access((own2 + "/memory.pressure").c_str(), F_OK) != 0) {
      ::rmdir(own2.c_str());
      HEADROOM_SKIP_CASE("no PSI on this kernel (no memory.pressure in " +
                         own2 + "; psi=0?)");
    }
    const std::string tmp =
        std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    struct statfs fs {};
    REQUIRE(::statfs(tmp.c_str(), &fs) == 0);
    if (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC) {
      ::rmdir(own2.c_str());
      HEADROOM_SKIP_CASE(tmp +
                         " is in memory (tmpfs/ramfs): nothing to reclaim, so "
                         "no stall to cause on v1");
    }
    REQUIRE(leaf.set_limit(16 * MiB));
    thrash_file = tmp + "/headroom-thrash-" + std::to_string(::getpid());
    const int fd = ::open(thrash_file.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::vector<char> chunk(1 << 20, 'x');
    for (int i = 0; i < 96; ++i)
      REQUIRE(::write(fd, chunk.data(), chunk.size()) > 0);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // read from disk
    ::close(fd);
    // Readable by nobody: the child is root, but keep it plain.
    ::chmod(thrash_file.c_str(), 0644);
  }
  struct remove_own2 {
    std::string& dir;
    ~remove_own2() {
      if (!thrash_file.empty()) ::unlink(thrash_file.c_str());
      thrash_file.clear();
      for (int i = 0; !dir.empty() && i < 200 && ::rmdir(dir.c_str()) != 0 &&
                      errno == EBUSY;
           ++i)
        ::usleep(10 * 1000);
    }
  } gone{own2};
  child_process child;
  REQUIRE(leaf.move_in(child.pid()));
  if (!own2.empty())
    REQUIRE(write_file(own2 + "/cgroup.procs", std::to_string(child.pid())));
  must(child.ask(command::snapshot));
  remote_watcher w(child.pid(), unprivileged, limit_file(leaf), o);
  if (!started(w)) return;
  const std::string psi = w.line(w.find("source psi "));
  if (psi.find("psi failed") != std::string::npos &&
      psi.find("No such file") != std::string::npos)
    HEADROOM_SKIP_CASE("no PSI on this kernel: " + psi);
  REQUIRE_MESSAGE(psi.find("psi active scope=cgroup") != std::string::npos,
                  "PSI is not active on the own cgroup: " << psi);
  CHECK_MESSAGE(psi.find(" polled") != std::string::npos,
                "a read-only PSI trigger should be polled: " << psi);

  if (g_host.v2()) {
    REQUIRE(child.post(command::allocate, 40 * MiB));
  } else {
    REQUIRE(child.post(command::thrash, 5000));
  }
  // A PSI event at moderate, or at critical if the stall was long.
  int fired = -1;
  const auto end = std::chrono::steady_clock::now() + 15s;
  while (fired < 0 && std::chrono::steady_clock::now() < end) {
    w.pump(20ms);
    for (const char* l : {"moderate", "critical"}) {
      const int i = w.find(std::string("event pressure ") + l + " psi ");
      if (i >= 0) fired = i;
    }
  }
  const auto after = child.receive(g_host.v2() ? 1000 : 20000);
  const std::string pressure =
      read_file((own2.empty() ? leaf.dir() : own2) + "/memory.pressure");
  CHECK_MESSAGE(fired >= 0, "no PSI event within 15 s; memory.pressure now: "
                                << pressure << " usage "
                                << (after ? std::to_string(after->usage)
                                          : std::string("?")));
  // On v2 the allocation over memory.high stays throttled (nothing to
  // reclaim without swap): the child is killed by its destructor instead.
  if (!g_host.v2()) {
    child.ask(command::quit);
    child.wait_exit();
  }
}

}  // namespace

TEST_CASE(
    "live read-only: moderate, then critical, before the kill; oom_kill and "
    "limit changes seen") {
  kill_case(false);
}

TEST_CASE(
    "live read-only, as nobody: moderate, then critical, before the kill; "
    "oom_kill and limit changes seen") {
  kill_case(true);
}

TEST_CASE(
    "live read-only: PSI of the own cgroup2 directory, polled, fires under "
    "load") {
  psi_case(false);
}

TEST_CASE(
    "live read-only, as nobody: PSI of the own cgroup2 directory, polled, "
    "fires under load") {
  psi_case(true);
}
