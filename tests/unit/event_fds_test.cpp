// SPDX-License-Identifier: MIT
// The event-source helpers on real file descriptors: base64, systemd's
// watch protocol over a FIFO, a socket, a regular file and /dev/null, and
// v1 registration failing cleanly where there is no cgroup.
#include <headroom/detail/event_fds.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "../support/doctest.hpp"
#include "../support/fixture_tree.hpp"
#include "../support/skip.hpp"

using namespace headroom;
using namespace headroom::detail;

namespace {
bool readable(int fd, short what, int ms = 1000) {
  pollfd p{fd, what, 0};
  return ::poll(&p, 1, ms) == 1 && (p.revents & what);
}
}  // namespace

TEST_CASE("base64_decode") {
  // What systemd writes for "some 200000 2000000" plus its NUL.
  auto d = base64_decode("c29tZSAyMDAwMDAgMjAwMDAwMAA=");
  REQUIRE(d);
  CHECK(*d == std::string("some 200000 2000000\0", 20));
  CHECK(*base64_decode("") == "");
  CHECK(*base64_decode("YQ==") == "a");
  CHECK(*base64_decode("YWI=") == "ab");
  CHECK(*base64_decode("YWJj") == "abc");
  for (const char* bad : {"YQ=", "Y===", "YQ==YQ==", "YW J", "YWJ*", "=YWJ"}) {
    CAPTURE(bad);
    CHECK(base64_decode(bad).error().code == errc::malformed);
  }
}

TEST_CASE("systemd watch: /dev/null turns it off") {
  auto w = open_systemd_watch("/dev/null", nullptr);
  REQUIRE_FALSE(w);
  CHECK(w.error().code == errc::disabled);
}

TEST_CASE("systemd watch: a missing path, a directory, bad base64") {
  headroom_test::fixture_tree t;
  CHECK(open_systemd_watch(t.path("nope"), nullptr).error().code ==
        std::errc::no_such_file_or_directory);
  CHECK(open_systemd_watch(t.root(), nullptr).error().code ==
        errc::not_supported);
  t.file("psi", "");
  CHECK(open_systemd_watch(t.path("psi"), "%%%").error().code ==
        errc::malformed);
}

TEST_CASE(
    "systemd watch: a regular file that is not a PSI file is refused, nothing "
    "written") {
  headroom_test::fixture_tree t;
  t.file("passwd", "root:x:0:0::/root:/bin/sh\n");
  auto w = open_systemd_watch(t.path("passwd"), "c29tZSAxMDAwMDAgMTAwMDAwMAA=");
  REQUIRE_FALSE(w);
  CHECK(w.error().code == errc::not_supported);
  CHECK(w.error().message().find("not a PSI file") != std::string::npos);
  auto content = read_whole(t.path("passwd"));
  REQUIRE(content);
  CHECK(*content == "root:x:0:0::/root:/bin/sh\n");
}

TEST_CASE(
    "systemd watch: a kernel PSI file is written and watched for POLLPRI") {
  // /proc/pressure/memory: procfs, where the payload is a trigger.
  // Its own ctest entry (unit_psi_write), which reports the skip.
  if (::access("/proc/pressure/memory", W_OK) != 0) {
    HEADROOM_SKIP_CASE(
        "/proc/pressure/memory is not writable here (no PSI, or not root)");
  }
  auto w = open_systemd_watch("/proc/pressure/memory",
                              "c29tZSAxNTAwMDAgMjAwMDAwMAA=");
  REQUIRE_MESSAGE(w, w.error().message());
  CHECK(w->type == systemd_watch::kind::psi_file);
  CHECK(w->wants_pollpri());
}

TEST_CASE("systemd watch: a FIFO is watched for POLLIN and drained") {
  headroom_test::fixture_tree t;
  const std::string fifo = t.path("pressure.fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto w = open_systemd_watch(fifo, nullptr);
  REQUIRE(w);
  CHECK(w->type == systemd_watch::kind::fifo);
  CHECK_FALSE(readable(w->fd.get(), POLLIN, 0));
  unique_fd writer(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
  REQUIRE(writer);
  REQUIRE(::write(writer.get(), "x", 1) == 1);
  CHECK(readable(w->fd.get(), POLLIN));
  CHECK(drain_stream(w->fd.get()));
  CHECK_FALSE(readable(w->fd.get(), POLLIN, 0));
}

TEST_CASE(
    "systemd watch: an AF_UNIX socket is connected, written, watched for "
    "POLLIN") {
  headroom_test::fixture_tree t;
  const std::string path = t.path("pressure.sock");
  unique_fd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(server);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr),
                 sizeof addr) == 0);
  REQUIRE(::listen(server.get(), 1) == 0);

  auto w = open_systemd_watch(path, "aGVsbG8=");  // "hello"
  REQUIRE(w);
  CHECK(w->type == systemd_watch::kind::socket);
  unique_fd conn(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(conn);
  char buf[16] = {};
  REQUIRE(readable(conn.get(), POLLIN));
  CHECK(::read(conn.get(), buf, sizeof buf) == 5);
  CHECK(std::string(buf) == "hello");
  CHECK_FALSE(readable(w->fd.get(), POLLIN, 0));
  REQUIRE(::write(conn.get(), "!", 1) == 1);
  CHECK(readable(w->fd.get(), POLLIN));
  CHECK(drain_stream(w->fd.get()));
  conn.reset();  // the peer goes away: EOF
  REQUIRE(readable(w->fd.get(), POLLIN));
  CHECK_FALSE(drain_stream(w->fd.get()));
}

TEST_CASE("v1 registration fails with an error where there is no cgroup") {
  headroom_test::fixture_tree t;
  t.file("memory.usage_in_bytes", "0\n");
  auto r = v1_register_event(t.root(), "memory.usage_in_bytes", "1000");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == std::errc::no_such_file_or_directory);
  CHECK(r.error().path == t.root() + "/cgroup.event_control");
  auto missing = v1_register_event(t.path("gone"), "memory.oom_control", "");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().path == t.path("gone") + "/memory.oom_control");
}

TEST_CASE(
    "a PSI trigger on a file that is not a PSI file is refused by the kernel, "
    "or not") {
  // /proc/pressure/memory is the real thing where PSI is on; whatever the
  // kernel says, the helper returns a descriptor or a clear error.
  auto r = open_psi_trigger("/proc/pressure/memory", false,
                            std::chrono::microseconds(200000),
                            std::chrono::microseconds(2000000));
  if (r) {
    CHECK(r->get() >= 0);
  } else {
    MESSAGE("PSI trigger on /proc/pressure/memory refused: "
            << r.error().message());
    CHECK(r.error().path == "/proc/pressure/memory");
  }
}
