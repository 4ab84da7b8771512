// headroom: where is the process's memory cgroup?
//
// From /proc/<pid>/cgroup and /proc/<pid>/mountinfo (parsed by parse.hpp)
// this decides the hierarchy mode (v1, hybrid, v2, none), maps the memory
// cgroup's path to a directory through the right mount, and lists the chain
// of directories from the own cgroup up to the mount point. locate() is pure
// (texts in, location out); discover() does the reading, and on v2 checks
// cgroup.controllers to confirm that the memory controller is there.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/fs.hpp"
#include "error.hpp"
#include "mode.hpp"
#include "parse.hpp"

namespace headroom {

// How the cgroup path from /proc/<pid>/cgroup became a directory.
enum class path_mapping {
  none,              // nothing was mapped (mode none)
  mount_root,        // the mount shows the hierarchy's root: mount point + path
  below_mount_root,  // the path lies under the mount's root, which is stripped
                     // (Docker v1 with the host's cgroup namespace)
  // The fallbacks below use the mount point itself, and say so.
  outside_namespace,     // path starts with "/..": the process was moved out
                         // of its cgroup namespace's root after it was made
  not_under_mount_root,  // the path is not under the mount's root
  unsafe_path,           // the path has "." or ".." components inside it,
                         // or a symlink among its directories
};

constexpr const char* to_string(path_mapping m) noexcept {
  switch (m) {
    case path_mapping::mount_root:
      return "mount_root";
    case path_mapping::below_mount_root:
      return "below_mount_root";
    case path_mapping::outside_namespace:
      return "outside_namespace";
    case path_mapping::not_under_mount_root:
      return "not_under_mount_root";
    case path_mapping::unsafe_path:
      return "unsafe_path";
    case path_mapping::none:
      break;
  }
  return "none";
}

// True when the directory is the mount point because the path could not be
// mapped: the numbers may then belong to an ancestor of the real cgroup.
constexpr bool is_fallback(path_mapping m) noexcept {
  return m == path_mapping::outside_namespace ||
         m == path_mapping::not_under_mount_root ||
         m == path_mapping::unsafe_path;
}

// One cgroup or cgroup2 line of mountinfo, unescaped.
struct cgroup_mount {
  std::string mount_point;
  std::string root;
  std::string fs_type;  // "cgroup" or "cgroup2"
  std::string super_options;
};

// Which process to inspect, and through which root.
struct options {
  std::string root = "/";  // prefix of every path: "/" or a captured tree
  int pid = 0;             // 0: the calling process
  // Called with every file opened, as the process sees it (logical, always
  // /proc/self/... for proc files) and as it was opened (real). For capture.
  std::function<void(std::string_view logical, std::string_view real)> on_read;
  // Honour HEADROOM_MEMORY_LIMIT and HEADROOM_DETECT (see memory_reader).
  bool use_environment = true;
};

// Where the process's memory cgroup is. Directories are logical paths (as the
// process sees them), without the root prefix.
struct cgroup_location {
  hierarchy_mode mode = hierarchy_mode::none;
  error why_none;  // for mode none: why (code 0 otherwise)
  std::string path;  // the memory cgroup path as /proc/<pid>/cgroup prints it
  cgroup_mount mount;  // the mount it was mapped through
  path_mapping mapping = path_mapping::none;
  std::string dir;  // the own cgroup's directory
  std::vector<std::string> chain;  // dir, its parent, ..., the mount point
  // The process's cgroup2 directory (v2; the unified mount on hybrid), where
  // memory.pressure is. Empty when no cgroup2 hierarchy is mounted.
  std::string unified_dir;
  std::string unified_path;
  std::string unified_mount_point;
};

namespace detail {

// a + b where b is absolute ("/x"); "/" + "/x" is "/x", a + "/" is a.
inline std::string join_path(std::string_view a, std::string_view b) {
  if (b.empty() || b == "/") return std::string(a);
  if (a == "/") return std::string(b);
  return std::string(a) + std::string(b);
}

// True when an absolute path has "", "." or ".." components after the first
// character, e.g. "/a/../b": never printed by the kernel for a real cgroup.
inline bool has_unsafe_component(std::string_view path) {
  if (path == "/") return false;
  std::string_view rest = path.substr(1);
  for (;;) {
    const std::size_t slash = rest.find('/');
    const std::string_view c = rest.substr(0, slash);
    if (c.empty() || c == "." || c == "..") return true;  // "/a/" too
    if (slash == std::string_view::npos) return false;
    rest.remove_prefix(slash + 1);
  }
}

// The kernel formats cgroup paths into a PATH_MAX buffer: a longer one is
// not from a kernel (and would make a chain of thousands of directories).
inline constexpr std::size_t max_cgroup_path = 4095;

struct mapped_dir {
  std::string dir;
  path_mapping how = path_mapping::none;
};

// Maps a cgroup path (from /proc/<pid>/cgroup) to a directory under mount m.
inline mapped_dir map_cgroup_path(const cgroup_mount& m, std::string_view path) {
  if (path == "/.." || path.substr(0, 4) == "/../") {
    return {m.mount_point, path_mapping::outside_namespace};
  }
  if (has_unsafe_component(path)) {
    return {m.mount_point, path_mapping::unsafe_path};
  }
  if (m.root == "/") {
    return {join_path(m.mount_point, path), path_mapping::mount_root};
  }
  const std::string_view root = m.root;
  if (path == root) return {m.mount_point, path_mapping::below_mount_root};
  if (path.size() > root.size() && path.substr(0, root.size()) == root &&
      path[root.size()] == '/') {
    return {join_path(m.mount_point, path.substr(root.size())),
            path_mapping::below_mount_root};
  }
  return {m.mount_point, path_mapping::not_under_mount_root};
}

inline bool under_sys_fs_cgroup(std::string_view mount_point) {
  constexpr std::string_view base = "/sys/fs/cgroup";
  return mount_point.substr(0, base.size()) == base &&
         (mount_point.size() == base.size() || mount_point[base.size()] == '/');
}

// Picks the mount to map `path` through when a hierarchy is mounted more
// than once: one that maps without falling back, then one under
// /sys/fs/cgroup, then the first in mountinfo order. Deterministic.
inline const cgroup_mount* choose_mount(
    const std::vector<const cgroup_mount*>& candidates, std::string_view path) {
  const cgroup_mount* best = nullptr;
  int best_score = -1;
  for (const cgroup_mount* m : candidates) {
    const int score = (is_fallback(map_cgroup_path(*m, path).how) ? 0 : 2) +
                      (under_sys_fs_cgroup(m->mount_point) ? 1 : 0);
    if (score > best_score) {
      best = m;
      best_score = score;
    }
  }
  return best;
}

// The directories from dir up to mount_point, both included. dir is
// mount_point itself or below it (map_cgroup_path guarantees this).
inline std::vector<std::string> chain_to_mount(const std::string& dir,
                                               const std::string& mount_point) {
  std::vector<std::string> chain{dir};
  std::string cur = dir;
  while (cur.size() > mount_point.size()) {
    const std::size_t slash = cur.rfind('/');
    if (slash == std::string::npos || slash < mount_point.size()) break;
    cur.resize(slash == 0 ? 1 : slash);
    chain.push_back(cur);
  }
  if (chain.back() != mount_point) chain.push_back(mount_point);
  return chain;
}

}  // namespace detail

// Decides the layout of `controller` ("memory", "cpu", "cpuset") from the
// texts of /proc/<pid>/cgroup and /proc/<pid>/mountinfo. Pure. On v1 its
// cgroup is the line whose controller list holds it ("cpu" is often
// co-mounted as "cpu,cpuacct"), mapped through a cgroup mount whose super
// options hold it; else the 0:: line through a cgroup2 mount. A v2 result
// is a candidate: discover() then confirms that the controller is enabled
// (cgroup.controllers). Errors: malformed when a line of either file does
// not parse.
inline result<cgroup_location> locate(std::string_view cgroup_text,
                                      std::string_view mountinfo_text,
                                      std::string_view controller = "memory") {
  std::optional<cgroup_entry> v1_entry;
  std::optional<cgroup_entry> v2_entry;
  while (!cgroup_text.empty()) {
    const std::string_view line = detail::next_line(cgroup_text);
    if (line.empty()) continue;
    auto e = parse_cgroup_line(line);
    if (!e || e->path.size() > detail::max_cgroup_path) {
      return result<cgroup_location>(errc::malformed, "/proc/self/cgroup");
    }
    if (e->hierarchy_id == 0 && e->controllers.empty()) {
      v2_entry = *e;
    } else if (has_controller(e->controllers, controller)) {
      v1_entry = *e;
    }
  }

  std::vector<cgroup_mount> mounts;
  while (!mountinfo_text.empty()) {
    const std::string_view line = detail::next_line(mountinfo_text);
    if (line.empty()) continue;
    auto e = parse_mountinfo_line(line);
    if (!e) {
      return result<cgroup_location>(errc::malformed, "/proc/self/mountinfo");
    }
    if (e->fs_type != "cgroup" && e->fs_type != "cgroup2") continue;
    cgroup_mount m{unescape_mount_path(e->mount_point), unescape_mount_path(e->root),
                   std::string(e->fs_type), std::string(e->super_options)};
    // The kernel prints absolute, clean mount points; anything else would
    // put the chain outside the mount (and, under a root prefix, outside
    // the tree).
    if (m.mount_point.empty() || m.mount_point.front() != '/' ||
        detail::has_unsafe_component(m.mount_point)) {
      return result<cgroup_location>(errc::malformed, "/proc/self/mountinfo");
    }
    mounts.push_back(std::move(m));
  }
  std::vector<const cgroup_mount*> v1_mounts;
  std::vector<const cgroup_mount*> v2_mounts;
  for (const auto& m : mounts) {
    if (m.fs_type == "cgroup2") {
      v2_mounts.push_back(&m);
    } else if (has_controller(m.super_options, controller)) {
      v1_mounts.push_back(&m);
    }
  }

  cgroup_location loc;
  if (v2_entry && !v2_mounts.empty()) {
    const cgroup_mount* m = detail::choose_mount(v2_mounts, v2_entry->path);
    loc.unified_path = std::string(v2_entry->path);
    loc.unified_dir = detail::map_cgroup_path(*m, v2_entry->path).dir;
    loc.unified_mount_point = m->mount_point;
  }

  const cgroup_mount* chosen = nullptr;
  std::string_view path;
  if (v1_entry && !v1_mounts.empty()) {
    loc.mode =
        v2_mounts.empty() ? hierarchy_mode::v1 : hierarchy_mode::hybrid;
    path = v1_entry->path;
    chosen = detail::choose_mount(v1_mounts, path);
  } else if (!v1_entry && v2_entry && !v2_mounts.empty()) {
    loc.mode = hierarchy_mode::v2;
    path = v2_entry->path;
    chosen = detail::choose_mount(v2_mounts, path);
  } else {
    // The controller is bound to a v1 hierarchy that is not mounted, or
    // there is no cgroup at all.
    loc.why_none =
        make_error(make_error_code(v1_entry ? errc::controller_absent
                                            : errc::no_cgroup),
                   "/proc/self/mountinfo");
    return loc;
  }

  loc.path = std::string(path);
  loc.mount = *chosen;
  auto mapped = detail::map_cgroup_path(*chosen, path);
  loc.dir = std::move(mapped.dir);
  loc.mapping = mapped.how;
  loc.chain = detail::chain_to_mount(loc.dir, chosen->mount_point);
  return loc;
}

namespace detail {

// The two texts discovery starts from, as read through `fs`.
struct cgroup_texts {
  std::string cgroup;     // /proc/<pid>/cgroup
  std::string mountinfo;  // /proc/<pid>/mountinfo
};

// Reads them. Not Linux (no /proc): errc::not_supported; a kernel without
// cgroups (no /proc/<pid>/cgroup): errc::no_cgroup; a pid that is gone or
// a tree without mountinfo: the read's error.
inline result<cgroup_texts> read_cgroup_texts(const file_system& fs) {
  auto mountinfo = fs.read_proc("mountinfo");
  if (!mountinfo) return std::move(mountinfo).error();
  auto cgroups = fs.read_proc("cgroup");
  if (!cgroups) {
    if (cgroups.error().code == std::errc::no_such_file_or_directory) {
      return make_error(make_error_code(errc::no_cgroup), cgroups.error().path);
    }
    return std::move(cgroups).error();
  }
  return cgroup_texts{std::move(*cgroups), std::move(*mountinfo)};
}

// locate() for `controller`, then what only the files can say: a symlink
// among the directories below the mount point (the mount point is used
// instead, and the mapping says so), and on cgroup2 whether some directory
// on the chain lists the controller in cgroup.controllers (a leaf may not
// have it enabled; it is then charged to the nearest ancestor that has it).
inline result<cgroup_location> discover_in(const file_system& fs, const cgroup_texts& texts,
                                           std::string_view controller) {
  auto loc = locate(texts.cgroup, texts.mountinfo, controller);
  if (!loc || loc->mode == hierarchy_mode::none) return loc;

  if (fs.symlink_below(loc->mount.mount_point, loc->dir)) {
    loc->dir = loc->mount.mount_point;
    loc->mapping = path_mapping::unsafe_path;
    loc->chain = {loc->dir};
  }
  if (!loc->unified_dir.empty() && fs.symlink_below(loc->unified_mount_point, loc->unified_dir)) {
    loc->unified_dir = loc->unified_mount_point;
  }
  if (loc->mode != hierarchy_mode::v2) return loc;

  error unreadable;
  for (const auto& dir : loc->chain) {
    auto controllers = fs.read(detail::join_path(dir, "/cgroup.controllers"));
    if (controllers && has_word(*controllers, controller)) return loc;
    // Unreadable for another reason than absence (EMFILE, EACCES): it may
    // list the controller, so "absent" would be a guess.
    if (!controllers && !unreadable.code &&
        controllers.error().code != std::errc::no_such_file_or_directory) {
      unreadable = std::move(controllers).error();
    }
  }
  if (unreadable.code) return unreadable;
  loc->mode = hierarchy_mode::none;
  loc->why_none =
      make_error(make_error_code(errc::controller_absent),
                 fs.real_path(detail::join_path(loc->dir, "/cgroup.controllers")));
  return loc;
}

// A location with mode none, saying why.
inline cgroup_location nowhere(error why) {
  cgroup_location loc;
  loc.why_none = std::move(why);
  return loc;
}

}  // namespace detail

// HEADROOM_DETECT=off (also "0", "false") turns cgroup detection off: the
// readers then report mode none, host-wide. Ignored when
// options::use_environment is false.
inline constexpr const char* env_detect = "HEADROOM_DETECT";

// Why detection is off, or nothing when it is on.
inline std::optional<error> detection_disabled(const options& opt) {
  const char* detect = opt.use_environment ? std::getenv(env_detect) : nullptr;
  const std::string_view d = detect ? detect : "";
  if (d != "off" && d != "0" && d != "false") return std::nullopt;
  return make_error(make_error_code(errc::disabled), std::string(env_detect) + "=" + detect);
}

// Reads /proc/<pid>/cgroup and /proc/<pid>/mountinfo and locates the cgroup
// of `controller`. Fails only when mountinfo cannot be read or either file
// is malformed; "no cgroup" (a kernel without cgroups, or not Linux) is a
// location with mode none.
inline result<cgroup_location> discover(const detail::file_system& fs,
                                        std::string_view controller = "memory") {
  auto texts = detail::read_cgroup_texts(fs);
  if (!texts) {
    const auto& code = texts.error().code;
    if (code == errc::no_cgroup || code == errc::not_supported) {
      return detail::nowhere(std::move(texts).error());
    }
    return std::move(texts).error();
  }
  return detail::discover_in(fs, *texts, controller);
}

inline result<cgroup_location> discover(const options& opt = {},
                                        std::string_view controller = "memory") {
  return discover(detail::file_system(opt.root, opt.pid, opt.on_read), controller);
}

}  // namespace headroom
