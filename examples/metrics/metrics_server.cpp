// SPDX-License-Identifier: MIT
// A service that serves its own /metrics: headroom's Prometheus text over a
// plain TCP socket on 127.0.0.1, no HTTP library. Point a Prometheus scrape
// job (or `curl 127.0.0.1:9464/metrics`) at it.
//
//   headroom-metrics-server [--port N] [--requests N] [--root DIR]
//
// --port 0 picks a free port. The first line on stdout says where it
// listens ("listening on 127.0.0.1:PORT"). --requests N exits after
// answering N requests (0, the default: until SIGINT or SIGTERM). Each scrape
// reads the cgroup files again: one exporter, opened once, read per request.
#include <headroom/export.hpp>
#include <headroom/parse.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

volatile sig_atomic_t stopping = 0;
void on_signal(int) { stopping = 1; }

struct args {
  unsigned port = 9464;  // the port the Prometheus wiki lists for exporters
  unsigned long long requests = 0;
  std::string root = "/";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "headroom-metrics-server: %s\n"
      "usage: headroom-metrics-server [--port N] [--requests N] [--root DIR]\n",
      why);
  std::exit(2);
}

args parse_args(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage("every option needs a value");
    const std::string_view v = argv[++i];
    if (arg == "--root") {
      a.root = std::string(v);
      continue;
    }
    const auto n = headroom::parse_u64(v);
    if (!n) usage("not a number");
    if (arg == "--port" && *n <= 65535) {
      a.port = static_cast<unsigned>(*n);
    } else if (arg == "--requests") {
      a.requests = *n;
    } else {
      usage("unknown option or bad value");
    }
  }
  return a;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads the request head (up to the blank line, at most 8 KiB) and returns
// its path: "GET /metrics HTTP/1.1" -> "/metrics". Empty when malformed.
std::string request_path(int fd) {
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  if (head.compare(0, 4, "GET ") != 0) return {};
  const std::size_t end = head.find(' ', 4);
  return end == std::string::npos ? std::string() : head.substr(4, end - 4);
}

void answer(int fd, const headroom::exporter& ex) {
  const std::string path = request_path(fd);
  std::string status = "200 OK";
  std::string type = "text/plain; version=0.0.4; charset=utf-8";
  std::string body;
  if (path == "/metrics") {
    body = headroom::to_prometheus(ex.read());
  } else if (path.empty()) {
    status = "400 Bad Request";
    body = "only GET\n";
  } else {
    status = "404 Not Found";
    body = "try /metrics\n";
  }
  const std::string head =
      "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
      "\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n";
  if (send_all(fd, head)) send_all(fd, body);
}

}  // namespace

int main(int argc, char** argv) {
  const args a = parse_args(argc, argv);
  headroom::options opt;
  opt.root = a.root;
  auto ex = headroom::exporter::open(opt);
  if (!ex) {
    std::fprintf(stderr, "headroom-metrics-server: %s\n",
                 ex.error().message().c_str());
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: accept() returns EINTR
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  const int srv = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (srv < 0) {
    std::perror("headroom-metrics-server: socket");
    return 1;
  }
  const int yes = 1;
  ::setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(a.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only
  socklen_t len = sizeof addr;
  if (::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(srv, 16) != 0 ||
      ::getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("headroom-metrics-server: bind");
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n",
              static_cast<unsigned>(ntohs(addr.sin_port)));
  std::fflush(stdout);

  for (unsigned long long served = 0;
       !stopping && (a.requests == 0 || served < a.requests);) {
    const int fd = ::accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;   // EINTR (a signal), or a client that went away
    timeval timeout{5, 0};  // a client that sends nothing does not hold us
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    answer(fd, *ex);
    ::close(fd);
    ++served;
  }
  ::close(srv);
  return 0;
}
