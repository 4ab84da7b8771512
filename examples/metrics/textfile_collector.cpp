// SPDX-License-Identifier: MIT
// Writes headroom's metrics for node-exporter's textfile collector
// (--collector.textfile.directory): DIR/NAME, replaced atomically so the
// collector never reads half a file. The new content goes to a temporary
// file in DIR (its name does not end in .prom, so the collector skips it),
// is flushed to disk, then renamed over the old one.
//
//   headroom-textfile --dir DIR [--name headroom.prom] [--interval SECONDS]
//
// Without --interval it writes once and exits; with it, it rewrites the file
// every SECONDS until SIGINT or SIGTERM.
#include <headroom/export.hpp>
#include <headroom/parse.hpp>

#include <fcntl.h>
#include <signal.h>
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

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "headroom-textfile: %s\n"
               "usage: headroom-textfile --dir DIR [--name headroom.prom] "
               "[--interval SECONDS]\n",
               why);
  std::exit(2);
}

// Writes `text` to dir/name through a temporary file and rename(2): a reader
// sees the old file or the new one, never a part. Returns 0 or an errno.
int write_atomically(int dir, const std::string& name,
                     const std::string& text) {
  const std::string tmp =
      "." + name + "." + std::to_string(::getpid()) + ".tmp";
  const int fd =
      ::openat(dir, tmp.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int err = 0;
  for (std::size_t done = 0; done < text.size() && !err;) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && ::renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) err = errno;
  if (err) ::unlinkat(dir, tmp.c_str(), 0);
  return err;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir_path;
  std::string name = "headroom.prom";
  unsigned long long interval = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage("every option needs a value");
    const std::string v = argv[++i];
    if (arg == "--dir") {
      dir_path = v;
    } else if (arg == "--name") {
      if (v.empty() || v.find('/') != std::string::npos || v[0] == '.')
        usage("bad name");
      name = v;
    } else if (arg == "--interval") {
      const auto n = headroom::parse_u64(v);
      if (!n || *n == 0 || *n > 86400) usage("bad interval");
      interval = *n;
    } else {
      usage("unknown option");
    }
  }
  if (dir_path.empty()) usage("--dir is required");

  const int dir = ::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    std::fprintf(stderr, "headroom-textfile: %s: %s\n", dir_path.c_str(),
                 std::strerror(errno));
    return 1;
  }
  auto ex = headroom::exporter::open();
  if (!ex) {
    std::fprintf(stderr, "headroom-textfile: %s\n",
                 ex.error().message().c_str());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  do {
    const int err =
        write_atomically(dir, name, headroom::to_prometheus(ex->read()));
    if (err) {
      std::fprintf(stderr, "headroom-textfile: %s/%s: %s\n", dir_path.c_str(),
                   name.c_str(), std::strerror(err));
      return 1;
    }
    for (unsigned long long s = 0; interval && s < interval && !stopping; ++s)
      ::sleep(1);
  } while (interval && !stopping);
  ::close(dir);
  return 0;
}
