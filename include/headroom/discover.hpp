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
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/fs.hpp"
#include "error.hpp"
#include "parse.hpp"

namespace headroom {

// How memory is controlled on this host.
enum class hierarchy_mode {
  none,    // no memory controller visible
  v1,      // memory controller on a cgroup v1 hierarchy, no cgroup2 mount
  hybrid,  // memory controller on cgroup v1, and a cgroup2 mount exists
  v2,      // memory controller on cgroup2
};

constexpr const char* to_string(hierarchy_mode m) noexcept {
  switch (m) {
    case hierarchy_mode::v1:
      return "v1";
    case hierarchy_mode::hybrid:
      return "hybrid";
    case hierarchy_mode::v2:
      return "v2";
    case hierarchy_mode::none:
      break;
  }
  return "none";
}

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
  unsafe_path,           // the path has "." or ".." components inside it
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
  while (true) {
    const std::string_view c = next_field(rest, '/');
    if (c.empty() || c == "." || c == "..") return true;
    if (rest.empty()) return false;
  }
}

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

// Decides the layout from the texts of /proc/<pid>/cgroup and
// /proc/<pid>/mountinfo. Pure. A v2 result is a candidate: discover() then
// confirms that the memory controller is enabled (cgroup.controllers).
// Errors: malformed when a line of either file does not parse.
inline result<cgroup_location> locate(std::string_view cgroup_text,
                                      std::string_view mountinfo_text) {
  std::optional<cgroup_entry> v1_memory;
  std::optional<cgroup_entry> v2_entry;
  while (!cgroup_text.empty()) {
    const std::string_view line = detail::next_line(cgroup_text);
    if (line.empty()) continue;
    auto e = parse_cgroup_line(line);
    if (!e) return result<cgroup_location>(errc::malformed, "/proc/self/cgroup");
    if (e->hierarchy_id == 0 && e->controllers.empty()) {
      v2_entry = *e;
    } else if (has_controller(e->controllers, "memory")) {
      v1_memory = *e;
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
    mounts.push_back({unescape_mount_path(e->mount_point),
                      unescape_mount_path(e->root), std::string(e->fs_type),
                      std::string(e->super_options)});
  }
  std::vector<const cgroup_mount*> v1_memory_mounts;
  std::vector<const cgroup_mount*> v2_mounts;
  for (const auto& m : mounts) {
    if (m.fs_type == "cgroup2") {
      v2_mounts.push_back(&m);
    } else if (has_controller(m.super_options, "memory")) {
      v1_memory_mounts.push_back(&m);
    }
  }

  cgroup_location loc;
  if (v2_entry && !v2_mounts.empty()) {
    const cgroup_mount* m = detail::choose_mount(v2_mounts, v2_entry->path);
    loc.unified_path = std::string(v2_entry->path);
    loc.unified_dir = detail::map_cgroup_path(*m, v2_entry->path).dir;
  }

  const cgroup_mount* chosen = nullptr;
  std::string_view path;
  if (v1_memory && !v1_memory_mounts.empty()) {
    loc.mode =
        v2_mounts.empty() ? hierarchy_mode::v1 : hierarchy_mode::hybrid;
    path = v1_memory->path;
    chosen = detail::choose_mount(v1_memory_mounts, path);
  } else if (!v1_memory && v2_entry && !v2_mounts.empty()) {
    loc.mode = hierarchy_mode::v2;
    path = v2_entry->path;
    chosen = detail::choose_mount(v2_mounts, path);
  } else {
    // The memory controller is bound to a v1 hierarchy that is not mounted,
    // or there is no cgroup at all.
    loc.why_none =
        make_error(make_error_code(v1_memory ? errc::controller_absent
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

// Reads /proc/<pid>/cgroup and /proc/<pid>/mountinfo and locates the memory
// cgroup. Fails only when mountinfo cannot be read or either file is
// malformed; "no cgroup" is a location with mode none.
inline result<cgroup_location> discover(const detail::file_system& fs) {
  auto mountinfo = fs.read_proc("mountinfo");
  if (!mountinfo) {
    // Not Linux: no cgroups to find, a report with mode none.
    if (mountinfo.error().code == errc::not_supported) {
      cgroup_location loc;
      loc.why_none = std::move(mountinfo).error();
      return loc;
    }
    return std::move(mountinfo).error();
  }
  auto cgroups = fs.read_proc("cgroup");
  if (!cgroups) {
    // A kernel without cgroups has no such file: a report with mode none.
    if (cgroups.error().code != std::errc::no_such_file_or_directory) {
      return std::move(cgroups).error();
    }
    cgroup_location loc;
    loc.why_none = make_error(make_error_code(errc::no_cgroup),
                              cgroups.error().path);
    return loc;
  }
  auto loc = locate(*cgroups, *mountinfo);
  if (!loc || loc->mode != hierarchy_mode::v2) return loc;

  // On cgroup2 the memory controller is there when some directory on the
  // chain lists it in cgroup.controllers (a leaf may not have it enabled;
  // its memory is then charged to the nearest ancestor that has it).
  for (const auto& dir : loc->chain) {
    auto controllers = fs.read(detail::join_path(dir, "/cgroup.controllers"));
    if (controllers && has_word(*controllers, "memory")) return loc;
  }
  loc->mode = hierarchy_mode::none;
  loc->why_none =
      make_error(make_error_code(errc::controller_absent),
                 fs.real_path(detail::join_path(loc->dir, "/cgroup.controllers")));
  return loc;
}

inline result<cgroup_location> discover(const options& opt = {}) {
  return discover(detail::file_system(opt.root, opt.pid, opt.on_read));
}

}  // namespace headroom
