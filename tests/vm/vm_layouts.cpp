// SPDX-License-Identifier: MIT
// Container layouts on a real cgroup v2 kernel (run in the qemu guest of
// tests/vm: busybox has no `unshare -C`, so the namespaces are made here with
// unshare(2)). Each layout is built in a forked child: it joins its cgroup,
// makes its namespaces and mounts, then reads its limit with memory_reader;
// the parent, on the host's side, reads it again with options::pid. Both are
// compared with the limit the kernel enforces.
//
//   binds       a read-only bind of the container's cgroup over /sys/fs/cgroup
//   stacked     the same with the host's hierarchy bound over it
//   private-ns  a private cgroup namespace with a fresh cgroup2 mount
//   cgns-only   a cgroup namespace only, the host's mount kept: found by pid
//   pod         a pod limit, an unlimited container, no namespace
//   pod-ns      a namespace rooted below the limit cgroup: not visible, an
//   error pod-cgns    the same with the host's mount kept: found by pid
//   moved-ns    moved to a sibling outside its namespace root: an error
//   moved-cgns  the same with the host's mount kept: found by pid
//   changed     binds, the limit changed while it runs
//
// Exit: 0 all as expected, 1 a mismatch, 77 SKIP (not v2, not root).
#include <sched.h>
#include <sys/mount.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../live/live_cgroup.hpp"

using namespace headroom;
using headroom_live::read_file;
using headroom_live::write_file;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

std::string limit_text(const memory_snapshot& s) {
  if (!s.limit) return "error";
  if (!s.limit->has_value()) return "none";
  return std::to_string(**s.limit / MiB) + "MiB";
}

struct layout {
  const char* name;
  std::string cgroup;    // where the child starts
  std::string enforced;  // the cgroup whose memory.max the kernel enforces
  std::function<std::string()> setup;  // in the child: "" or what failed
  std::function<void(pid_t)> action;   // in the parent, before the child reads
  std::string expect_limit;            // "300MiB" or "error"
  path_mapping expect_mapping;
};

std::string join(const std::string& dir) {
  std::string err;
  return write_file(dir + "/cgroup.procs", std::to_string(::getpid()), &err)
             ? ""
             : err;
}

std::string sys(int rc, const char* what) {
  return rc == 0 ? "" : std::string(what) + ": " + std::strerror(errno);
}

std::string new_ns(int flags) {
  if (::unshare(flags) != 0)
    return std::string("unshare: ") + std::strerror(errno);
  if (flags & CLONE_NEWNS) {
    return sys(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr),
               "make-rprivate");
  }
  return "";
}

// A new cgroup2 mount, as runtimes make in a private cgroup namespace. The
// kernel refuses a superblock on a mount point where it already is the top
// (EBUSY), so a tmpfs goes between, as a new root's empty /sys/fs/cgroup
// would be; the host's mount stays underneath, covered.
std::string fresh_cgroup2() {
  std::string e =
      sys(::mount("tmpfs", "/sys/fs/cgroup", "tmpfs", 0, "mode=755"),
          "mount tmpfs");
  if (e.empty()) {
    e = sys(::mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, nullptr),
            "mount cgroup2");
  }
  if (e.empty()) {
    e = sys(::mount(nullptr, "/sys/fs/cgroup", nullptr,
                    MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr),
            "remount ro");
  }
  return e;
}

// The runtime's view, as after pivot_root: the host's mount kept aside at
// /tmp/hr-host, the container's cgroup bound read-only at /sys/fs/cgroup.
std::string runtime_bind(const std::string& rel, bool stack_host) {
  ::mkdir("/tmp/hr-host", 0755);
  std::string e = sys(::mount("/sys/fs/cgroup", "/tmp/hr-host", nullptr,
                              MS_BIND | MS_REC, nullptr),
                      "rbind host");
  if (e.empty())
    e = sys(::umount2("/sys/fs/cgroup", MNT_DETACH), "umount host");
  const std::string src = "/tmp/hr-host" + rel;
  if (e.empty())
    e = sys(::mount(src.c_str(), "/sys/fs/cgroup", nullptr, MS_BIND, nullptr),
            "bind");
  if (e.empty()) {
    e = sys(::mount(nullptr, "/sys/fs/cgroup", nullptr,
                    MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr),
            "remount ro");
  }
  if (e.empty() && stack_host) {
    e = sys(::mount("/tmp/hr-host", "/sys/fs/cgroup", nullptr, MS_BIND | MS_REC,
                    nullptr),
            "bind host over");
  }
  if (e.empty()) e = sys(::umount2("/tmp/hr-host", MNT_DETACH), "umount aside");
  return e;
}

// Makes the namespaces, then (only then) the mounts in them.
template <class F>
std::string in_ns(int flags, F&& mounts) {
  const std::string e = new_ns(flags);
  return e.empty() ? mounts() : e;
}

struct result_line {
  char text[256];
};

bool write_all(int fd, const void* p, std::size_t n) {
  return ::write(fd, p, n) == static_cast<ssize_t>(n);
}

}  // namespace

int main() {
  if (::geteuid() != 0) {
    std::puts("SKIP: needs root");
    return 77;
  }
  const auto host = headroom_live::probe_host();
  if (!host.v2()) {
    std::puts("SKIP: the memory controller is not on cgroup v2 here");
    return 77;
  }
  const std::string own = host.own_dir;
  std::string err;
  const std::string base_name =
      "headroom-vm-layouts-" + std::to_string(::getpid());
  auto base = headroom_live::cgroup_dir::make(host, own, base_name, &err);
  if (!base) {
    std::printf("SKIP: cannot make a child cgroup of %s: %s\n", own.c_str(),
                err.c_str());
    return 77;
  }
  std::vector<std::string> made{*base};
  const auto mk = [&](const std::string& parent, const std::string& name,
                      const char* max) -> std::string {
    auto d = headroom_live::cgroup_dir::make(host, parent, name, &err);
    if (!d) {
      std::printf("FAIL: mkdir %s/%s: %s\n", parent.c_str(), name.c_str(),
                  err.c_str());
      std::exit(1);
    }
    if (max) write_file(*d + "/memory.max", max);
    made.push_back(*d);
    return *d;
  };
  const auto rel = [&](const std::string& dir) {
    return dir.substr(std::string("/sys/fs/cgroup").size());
  };

  std::vector<layout> layouts;
  const auto container = [&](const std::string& n) {
    return mk(*base, n, "314572800");
  };
  {
    const std::string c = container("binds");
    layouts.push_back({"binds", c, c,
                       [=] {
                         return in_ns(CLONE_NEWNS, [=] {
                           return runtime_bind(rel(c), false);
                         });
                       },
                       nullptr, "300MiB", path_mapping::below_mount_root});
  }
  {
    const std::string c = container("stacked");
    layouts.push_back({"stacked", c, c,
                       [=] {
                         return in_ns(CLONE_NEWNS, [=] {
                           return runtime_bind(rel(c), true);
                         });
                       },
                       nullptr, "300MiB", path_mapping::mount_root});
  }
  {
    const std::string c = container("private-ns");
    layouts.push_back(
        {"private-ns", c, c,
         [] { return in_ns(CLONE_NEWNS | CLONE_NEWCGROUP, fresh_cgroup2); },
         nullptr, "300MiB", path_mapping::mount_root});
  }
  {
    const std::string c = container("cgns-only");
    layouts.push_back({"cgns-only", c, c,
                       [] { return new_ns(CLONE_NEWCGROUP); }, nullptr,
                       "300MiB", path_mapping::found_by_pid});
  }
  for (const char* n : {"pod", "pod-ns", "pod-cgns"}) {
    const std::string p = mk(*base, n, "419430400");
    const std::string ctr = mk(p, "ctr", nullptr);
    const std::string name = n;
    std::function<std::string()> setup = [] { return std::string(); };
    std::string expect = "400MiB";
    path_mapping how = path_mapping::mount_root;
    if (name == "pod-ns") {
      setup = [] {
        return in_ns(CLONE_NEWNS | CLONE_NEWCGROUP, fresh_cgroup2);
      };
      expect = "error";
    } else if (name == "pod-cgns") {
      setup = [] { return new_ns(CLONE_NEWCGROUP); };
      how = path_mapping::found_by_pid;
    }
    layouts.push_back({n, ctr, p, setup, nullptr, expect, how});
  }
  {
    const std::string c = container("moved-ns");
    const std::string s = mk(*base, "moved-ns-sib", "209715200");
    layouts.push_back(
        {"moved-ns", c, s,
         [] { return in_ns(CLONE_NEWNS | CLONE_NEWCGROUP, fresh_cgroup2); },
         [=](pid_t pid) {
           write_file(s + "/cgroup.procs", std::to_string(pid));
         },
         "error", path_mapping::outside_namespace});
  }
  {
    const std::string c = container("moved-cgns");
    const std::string s = mk(*base, "moved-cgns-sib", "209715200");
    layouts.push_back({"moved-cgns", c, s,
                       [] { return new_ns(CLONE_NEWCGROUP); },
                       [=](pid_t pid) {
                         write_file(s + "/cgroup.procs", std::to_string(pid));
                       },
                       "200MiB", path_mapping::found_by_pid});
  }
  {
    const std::string c = container("changed");
    layouts.push_back(
        {"changed", c, c,
         [=] {
           return in_ns(CLONE_NEWNS,
                        [=] { return runtime_bind(rel(c), false); });
         },
         [=](pid_t) { write_file(c + "/memory.max", "262144000"); }, "250MiB",
         path_mapping::below_mount_root});
  }

  int failures = 0;
  std::printf(
      "| layout | kernel's limit | inside | mapping | --pid from the host |\n");
  std::printf("| --- | --- | --- | --- | --- |\n");
  for (const auto& l : layouts) {
    int up[2];
    int go[2];
    if (::pipe(up) != 0 || ::pipe(go) != 0) return 1;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(up[0]);
      ::close(go[1]);
      result_line line{};
      std::string e = join(l.cgroup);
      if (e.empty()) e = l.setup();
      char c = e.empty() ? 'r' : 'f';
      write_all(up[1], &c, 1);
      if (!e.empty()) {
        std::snprintf(line.text, sizeof line.text, "setup: %s", e.c_str());
        write_all(up[1], &line, sizeof line);
        ::_exit(1);
      }
      if (::read(go[0], &c, 1) != 1) ::_exit(1);
      auto r = memory_reader::open();
      if (!r) {
        std::snprintf(line.text, sizeof line.text, "open: %s",
                      r.error().message().c_str());
      } else {
        const auto s = r->snapshot();
        std::snprintf(line.text, sizeof line.text, "%s %s",
                      limit_text(s).c_str(), to_string(r->location().mapping));
      }
      write_all(up[1], &line, sizeof line);
      ::pause();
      ::_exit(0);
    }
    ::close(up[1]);
    ::close(go[0]);
    char c = 0;
    result_line line{};
    const bool ready = ::read(up[0], &c, 1) == 1 && c == 'r';
    if (ready) {
      if (l.action) l.action(pid);
      write_all(go[1], "g", 1);
    }
    const bool got =
        ::read(up[0], &line, sizeof line) == static_cast<ssize_t>(sizeof line);
    std::string from_host = "error";
    std::string view;
    if (ready && got) {
      options o;
      o.pid = pid;
      auto r = memory_reader::open(o);
      if (r) {
        from_host = limit_text(r->snapshot());
        view = to_string(r->location().view);
      }
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(up[0]);
    ::close(go[1]);
    const std::string enforced = read_file(l.enforced + "/memory.max");
    const std::string kernel =
        std::to_string(std::strtoull(enforced.c_str(), nullptr, 10) / MiB) +
        "MiB";
    const std::string inside = got ? line.text : "no answer";
    const std::string want = l.expect_limit + " " + to_string(l.expect_mapping);
    const bool ok = inside == want && from_host == kernel && view == "reader" &&
                    (l.expect_limit == "error" || l.expect_limit == kernel);
    if (!ok) {
      ++failures;
      if (failures == 1)
        std::printf("mountinfo:\n%s\n",
                    read_file("/proc/self/mountinfo").c_str());
    }
    std::printf("| %s | %s | %s | %s | %s (%s) |%s\n", l.name, kernel.c_str(),
                inside.substr(0, inside.find(' ')).c_str(),
                inside.find(' ') == std::string::npos
                    ? ""
                    : inside.substr(inside.find(' ') + 1).c_str(),
                from_host.c_str(), view.c_str(),
                ok ? "" : (" FAIL, expected " + want).c_str());
  }
  for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
  std::printf("%zu passed, %d failed\n",
              layouts.size() - static_cast<std::size_t>(failures), failures);
  return failures == 0 ? 0 : 1;
}
