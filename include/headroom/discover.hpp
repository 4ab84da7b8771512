// SPDX-License-Identifier: MIT
// headroom: where is the process's memory cgroup?
//
// From /proc/<pid>/cgroup and /proc/<pid>/mountinfo (parsed by parse.hpp)
// this decides the hierarchy mode (v1, hybrid, v2, none), maps the memory
// cgroup's path to a directory through the right mount, and lists the chain
// of directories from the own cgroup up to the mount point. locate() is pure
// (texts in, location out); discover() does the reading, and on v2 checks
// cgroup.controllers to confirm that the memory controller is there.
#pragma once

#include <algorithm>    // std::find
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t
#include <memory>       // std::shared_ptr
#include <optional>     // std::optional, std::nullopt
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view
#include <utility>      // std::move, std::pair
#include <vector>       // std::vector

#include "capture_record.hpp"     // capture_record
#include "detail/fs.hpp"          // cgroup_view, file_system
#include "detail/secure_env.hpp"  // secure_env
#include "error.hpp"              // error, result, errc
#include "mode.hpp"               // hierarchy_mode
#include "parse/mountinfo.hpp"    // parse_mountinfo_line
#include "parse/proc_cgroup.hpp"  // cgroup_entry, parse_cgroup_line
#include "parse/text.hpp"         // next_line

namespace headroom {

// The version of the controller's hierarchy: "v1" (v1 and hybrid hosts),
// "v2" or "none". The host's mode is to_string(hierarchy_mode).
constexpr const char* controller_version(hierarchy_mode m) noexcept {
  switch (m) {
    case hierarchy_mode::v1:
    case hierarchy_mode::hybrid:
      return "v1";
    case hierarchy_mode::v2:
      return "v2";
    case hierarchy_mode::none:
      break;
  }
  return "none";
}

// How the cgroup path from /proc/<pid>/cgroup became a directory.
//
// The path and the mount root are both printed relative to the reader's
// cgroup namespace; a path is mapped when it lies under the root
// component by component, leading "/.." components included (root
// "/../../..", path "/../../../init.scope" -> MOUNTPOINT/init.scope). A path
// that is not under the root of any visible mount is looked for: the
// directory whose cgroup.procs lists the process (found_by_pid). When that
// fails too there is no directory: the values are errors, never those of
// another cgroup.
enum class path_mapping {
  none,              // nothing was mapped (mode none)
  mount_root,        // the mount shows the namespace's root: mount point + path
  below_mount_root,  // the path lies under the mount's root, which is stripped
                     // (Docker v1 with the host's cgroup namespace)
  found_by_pid,      // not under the mount's root; found by searching the
                     // visible hierarchy for the cgroup.procs that lists the
                     // process
  unsafe_path,       // a symlink among the directories below the mount
                     // point: the mount point, an ancestor, is used instead
  // No directory: the values are unknown and reported as errors.
  outside_namespace,     // path starts with "/.." and is not under the mount
                         // root: moved out of its namespace's root, not found
  not_under_mount_root,  // the path is not under the mount's root, not found
  malformed_path,        // "." or ".." inside the path: never printed by a
                         // kernel
  hidden_mount,          // every mount of the controller is covered by a
                         // later mount (a tmpfs over /sys/fs/cgroup)
};

// The name of a path_mapping, as JSON and Prometheus write it.
constexpr const char* to_string(path_mapping m) noexcept {
  switch (m) {
    case path_mapping::mount_root:
      return "mount_root";
    case path_mapping::below_mount_root:
      return "below_mount_root";
    case path_mapping::found_by_pid:
      return "found_by_pid";
    case path_mapping::unsafe_path:
      return "unsafe_path";
    case path_mapping::outside_namespace:
      return "outside_namespace";
    case path_mapping::not_under_mount_root:
      return "not_under_mount_root";
    case path_mapping::malformed_path:
      return "malformed_path";
    case path_mapping::hidden_mount:
      return "hidden_mount";
    case path_mapping::none:
      break;
  }
  return "none";
}

// True when the path gave no directory: limit, usage and quota are errors.
constexpr bool is_unmapped(path_mapping m) noexcept {
  return m == path_mapping::outside_namespace ||
         m == path_mapping::not_under_mount_root ||
         m == path_mapping::malformed_path || m == path_mapping::hidden_mount;
}

// True when the directory is not the one the path names: an ancestor of it
// (unsafe_path), or none at all (is_unmapped). found_by_pid is not a
// fallback: cgroup.procs of that directory lists the process.
constexpr bool is_fallback(path_mapping m) noexcept {
  return m == path_mapping::unsafe_path || is_unmapped(m);
}

// One cgroup or cgroup2 line of mountinfo, unescaped.
struct cgroup_mount {
  // Where it is mounted, as the process sees it (unescaped).
  std::string mount_point;
  // The directory of the hierarchy mounted there (unescaped).
  std::string root;
  std::string fs_type;  // "cgroup" or "cgroup2"
  // Mountinfo's super options (v1: the controllers, "rw,memory").
  std::string super_options;
  // Mountinfo's mount ID.
  std::uint32_t mount_id = 0;
  // The mount ID of the parent mount.
  std::uint32_t parent_id = 0;
};

// Which process to inspect, and through which root.
struct options {
  std::string root = "/";  // prefix of every path: "/" or a captured tree
  int pid = 0;             // 0: the calling process
  // When set, every file opened is listed in it, as the process sees it
  // (logical, always /proc/self/... for proc files) and as it was opened
  // (real), with the bytes read; each is read once: later reads return the
  // same bytes (see capture_record). For a capture that replays byte for
  // byte.
  std::shared_ptr<capture_record> record;
  // Honour HEADROOM_MEMORY_LIMIT and HEADROOM_DETECT (see memory_reader).
  bool use_environment = true;
  // Bounds of the search for the process's cgroup when its path cannot be
  // mapped (path_mapping::found_by_pid): directories read, and depth below
  // the mount point.
  std::size_t search_max_dirs = 4096;
  // Directories below the mount point the search descends at most.
  std::size_t search_max_depth = 32;
};

// Where the process's memory cgroup is. Directories are logical paths (as the
// process sees them), without the root prefix.
struct cgroup_location {
  // How memory is controlled (none: no memory controller visible).
  hierarchy_mode mode = hierarchy_mode::none;
  error why_none;      // for mode none: why (code 0 otherwise)
  std::string path;    // the memory cgroup path as /proc/PID/cgroup prints it
  cgroup_mount mount;  // the mount it was mapped through
  // How path was mapped to dir.
  path_mapping mapping = path_mapping::none;
  // When is_unmapped(mapping): the error every value of the controller
  // then is (dir and chain are empty), and in words why there is no
  // directory: which path, which mount, what the search read.
  error why_unmapped;
  // For a person.
  std::string unmapped_reason;
  std::string dir;                 // the own cgroup's directory
  std::vector<std::string> chain;  // dir, its parent, ..., the mount point
  // Directories the search for the process's cgroup read (0: no search).
  std::size_t dirs_searched = 0;
  // Another process's path mapped through the reader's own mountinfo, or
  // through the target's (/proc/<pid>/root).
  cgroup_view view = cgroup_view::reader;
  // The process's cgroup2 directory (v2; the unified mount on hybrid), where
  // memory.pressure is. Empty when no cgroup2 hierarchy is mounted, or when
  // the process's cgroup2 directory is not visible.
  std::string unified_dir;
  // The cgroup2 path as /proc/PID/cgroup prints it (the "0::" line).
  std::string unified_path;
  // The mount point of the cgroup2 hierarchy it was mapped through.
  std::string unified_mount_point;
};

namespace detail {

// a + b where b is absolute ("/x"); "/" + "/x" is "/x", a + "/" is a.
inline std::string join_path(std::string_view a, std::string_view b) {
  if (b.empty() || b == "/") return std::string(a);
  if (a == "/") return std::string(b);
  return std::string(a) + std::string(b);
}

// The components of an absolute cgroup path, or nullopt when it is not one
// a kernel prints: "", "." or a ".." after a normal component ("/a/../b",
// "/a//b", "/a/"). Leading ".." components are legal: an ancestor outside
// the reader's cgroup namespace.
inline std::optional<std::vector<std::string_view>> cgroup_components(
    std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string_view> out;
  if (path == "/") return out;
  std::string_view rest = path.substr(1);
  bool climbing = true;
  for (;;) {
    const std::size_t slash = rest.find('/');
    const std::string_view c = rest.substr(0, slash);
    if (c.empty() || c == ".") return std::nullopt;
    if (c == "..") {
      if (!climbing) return std::nullopt;
    } else {
      climbing = false;
    }
    out.push_back(c);
    if (slash == std::string_view::npos) return out;
    rest.remove_prefix(slash + 1);
  }
}

// True when an absolute path has "", "." or ".." components after the first
// character, e.g. "/a/../b": never printed by the kernel for a mount point.
inline bool has_unsafe_component(std::string_view path) {
  auto c = cgroup_components(path);
  return !c || (!c->empty() && c->front() == "..");
}

// The kernel formats cgroup paths into a PATH_MAX buffer: a longer one is
// not from a kernel (and would make a chain of thousands of directories).
inline constexpr std::size_t max_cgroup_path = 4095;

struct mapped_dir {
  std::string dir;  // empty when is_unmapped(how)
  path_mapping how = path_mapping::none;
};

// Maps a cgroup path (from /proc/<pid>/cgroup) to a directory under mount m,
// by the kernel's rule: the path is under the mount's root when the root's
// components are a prefix of the path's and the rest climbs nowhere.
inline mapped_dir map_cgroup_path(const cgroup_mount& m,
                                  std::string_view path) {
  const auto p = cgroup_components(path);
  if (!p) return {{}, path_mapping::malformed_path};
  const auto r = cgroup_components(m.root);
  const bool outside = !p->empty() && p->front() == "..";
  const auto not_under = outside ? path_mapping::outside_namespace
                                 : path_mapping::not_under_mount_root;
  if (!r || r->size() > p->size()) return {{}, not_under};
  for (std::size_t i = 0; i < r->size(); ++i) {
    if ((*r)[i] != (*p)[i]) return {{}, not_under};
  }
  std::string dir = m.mount_point;
  for (std::size_t i = r->size(); i < p->size(); ++i) {
    if ((*p)[i] == "..") return {{}, not_under};
    if (dir != "/") dir += '/';
    dir += (*p)[i];
  }
  return {std::move(dir), r->empty() ? path_mapping::mount_root
                                     : path_mapping::below_mount_root};
}

inline bool under_sys_fs_cgroup(std::string_view mount_point) {
  constexpr std::string_view base = "/sys/fs/cgroup";
  return mount_point.substr(0, base.size()) == base &&
         (mount_point.size() == base.size() || mount_point[base.size()] == '/');
}

// Picks the mount to map `path` through among the visible mounts of a
// hierarchy, in this order of preference: one that maps the path, then one
// under /sys/fs/cgroup, then the first in mountinfo order. Deterministic.
inline const cgroup_mount* choose_mount(
    const std::vector<const cgroup_mount*>& candidates, std::string_view path) {
  const cgroup_mount* best = nullptr;
  int best_score = -1;
  for (const cgroup_mount* m : candidates) {
    const int score = (is_unmapped(map_cgroup_path(*m, path).how) ? 0 : 2) +
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

// One line of mountinfo, as much as the mount tree needs.
struct mount_node {
  std::uint32_t id = 0;
  std::uint32_t parent = 0;
  std::string mount_point;  // unescaped
};

// True when `outer` is `inner` or one of its ancestor directories.
inline bool encloses(std::string_view outer, std::string_view inner) {
  if (outer == "/") return true;
  return inner.substr(0, outer.size()) == outer &&
         (inner.size() == outer.size() || inner[outer.size()] == '/');
}

// Whether mount `m` of `nodes` is covered, by the ids (listing order says
// nothing about stacking). A mount N covers M when N's mount point is M's or
// encloses it and N hangs on M or on one of M's ancestor mounts A at a point
// that the next mount down M's line (the one on A that leads to M) does not
// shadow: N on M at M's own mount point (stacked); N on A at a point that
// encloses that next mount's point (a tmpfs over /sys/fs/cgroup). Two mounts
// on the same parent at the same point (made by propagation) stack in id
// order. Mounts whose parent is not listed (the namespace's root, or a
// partial fixture) end the line of ancestors.
inline bool is_covered(const std::vector<mount_node>& nodes, std::size_t m) {
  std::vector<std::size_t> line{m};  // m, its parent, its grandparent, ...
  while (line.size() <= nodes.size()) {
    const mount_node& cur = nodes[line.back()];
    std::size_t parent = nodes.size();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].id == cur.parent && i != line.back()) parent = i;
    }
    if (parent == nodes.size()) break;
    if (std::find(line.begin(), line.end(), parent) != line.end())
      break;  // a cycle
    line.push_back(parent);
  }
  const std::string& target = nodes[m].mount_point;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    if (std::find(line.begin(), line.end(), n) != line.end()) continue;
    const mount_node& cover = nodes[n];
    if (!encloses(cover.mount_point, target)) continue;
    for (std::size_t k = 0; k < line.size(); ++k) {
      if (nodes[line[k]].id != cover.parent) continue;
      if (k == 0) {
        if (cover.mount_point == target) return true;
        continue;
      }
      const mount_node& next = nodes[line[k - 1]];
      if (cover.mount_point == next.mount_point) {
        if (cover.id > next.id) return true;
      } else if (encloses(cover.mount_point, next.mount_point)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace detail

// Decides the layout of `controller` ("memory", "cpu", "cpuset") from the
// texts of /proc/<pid>/cgroup and /proc/<pid>/mountinfo. Pure. On v1 its
// cgroup is the line whose controller list holds it ("cpu" is often
// co-mounted as "cpu,cpuacct"), mapped through a visible cgroup mount whose
// super options hold it; else the 0:: line through a visible cgroup2 mount.
// Mounts covered by later mounts are not used (detail::is_covered). A path
// that no visible mount maps leaves the location unmapped (dir empty);
// discover() then looks for the process's cgroup. A v2 result is a
// candidate: discover() confirms that the controller is enabled
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

  // Every line is read, even once a mount of the controller is found: a
  // later line can cover it (mounted at the same point, or over an
  // ancestor: a tmpfs over /sys/fs/cgroup), listing order says nothing
  // about stacking (is_covered goes by ids), the mode depends on whether a
  // cgroup2 mount is listed anywhere, and choose_mount picks among all the
  // visible mounts. Stopping early would map through a hidden mount.
  std::vector<detail::mount_node> nodes;
  std::vector<std::pair<cgroup_mount, std::size_t>> mounts;  // and its node
  while (!mountinfo_text.empty()) {
    const std::string_view line = detail::next_line(mountinfo_text);
    if (line.empty()) continue;
    auto e = parse_mountinfo_line(line);
    if (!e) {
      return result<cgroup_location>(errc::malformed, "/proc/self/mountinfo");
    }
    nodes.push_back(
        {e->mount_id, e->parent_id, unescape_mount_path(e->mount_point)});
    if (e->fs_type != "cgroup" && e->fs_type != "cgroup2") continue;
    cgroup_mount m{nodes.back().mount_point,
                   unescape_mount_path(e->root),
                   std::string(e->fs_type),
                   std::string(e->super_options),
                   e->mount_id,
                   e->parent_id};
    // The kernel prints absolute, clean mount points; anything else would
    // put the chain outside the mount (and, under a root prefix, outside
    // the tree).
    if (m.mount_point.empty() || m.mount_point.front() != '/' ||
        detail::has_unsafe_component(m.mount_point)) {
      return result<cgroup_location>(errc::malformed, "/proc/self/mountinfo");
    }
    mounts.emplace_back(std::move(m), nodes.size() - 1);
  }
  std::vector<const cgroup_mount*> v1_mounts;
  std::vector<const cgroup_mount*> v2_mounts;
  bool v1_covered = false;
  bool v2_covered = false;
  for (const auto& [m, node] : mounts) {
    const bool v2 = m.fs_type == "cgroup2";
    if (!v2 && !has_controller(m.super_options, controller)) continue;
    const bool covered = detail::is_covered(nodes, node);
    (v2 ? v2_covered : v1_covered) |= covered;
    if (!covered) (v2 ? v2_mounts : v1_mounts).push_back(&m);
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
    loc.mode = v2_mounts.empty() ? hierarchy_mode::v1 : hierarchy_mode::hybrid;
    path = v1_entry->path;
    chosen = detail::choose_mount(v1_mounts, path);
  } else if (!v1_entry && v2_entry && !v2_mounts.empty()) {
    loc.mode = hierarchy_mode::v2;
    path = v2_entry->path;
    chosen = detail::choose_mount(v2_mounts, path);
  } else if ((v1_entry && v1_covered) ||
             (!v1_entry && v2_entry && v2_covered)) {
    // Mounted, but every mount of it is covered: the controller limits the
    // process and nothing here can read it.
    loc.mode = v1_entry ? (v2_mounts.empty() ? hierarchy_mode::v1
                                             : hierarchy_mode::hybrid)
                        : hierarchy_mode::v2;
    loc.path = std::string(v1_entry ? v1_entry->path : v2_entry->path);
    loc.mapping = path_mapping::hidden_mount;
    loc.why_unmapped =
        make_error(make_error_code(errc::not_visible), "/proc/self/mountinfo");
    loc.unmapped_reason = "every " + std::string(controller) +
                          " mount is covered by a later mount";
    return loc;
  } else {
    // The controller is bound to a v1 hierarchy that is not mounted, or
    // there is no cgroup at all.
    loc.why_none = make_error(
        make_error_code(v1_entry ? errc::controller_absent : errc::no_cgroup),
        "/proc/self/mountinfo");
    return loc;
  }

  loc.path = std::string(path);
  loc.mount = *chosen;
  auto mapped = detail::map_cgroup_path(*chosen, path);
  loc.dir = std::move(mapped.dir);
  loc.mapping = mapped.how;
  if (is_unmapped(loc.mapping)) {
    loc.why_unmapped =
        make_error(make_error_code(errc::not_visible), "/proc/self/cgroup");
    loc.unmapped_reason = loc.path + " is not under the root " + chosen->root +
                          " of the mount at " + chosen->mount_point;
  } else {
    loc.chain = detail::chain_to_mount(loc.dir, chosen->mount_point);
  }
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
  auto mountinfo = fs.read_mountinfo();
  if (!mountinfo) return std::move(mountinfo).error();
  auto cgroups = fs.read_proc("cgroup");
  if (!cgroups) {
    if (is_missing(cgroups.error())) {
      return make_error(make_error_code(errc::no_cgroup), cgroups.error().path);
    }
    return std::move(cgroups).error();
  }
  return cgroup_texts{std::move(*cgroups), std::move(*mountinfo)};
}

// True when a line of a cgroup.procs text is `pid`.
inline bool lists_pid(std::string_view procs, std::string_view pid) {
  while (!procs.empty()) {
    if (next_line(procs) == pid) return true;
  }
  return false;
}

struct search_bounds {
  std::size_t max_dirs = 4096;
  std::size_t max_depth = 32;
};

struct found_dir {
  std::optional<std::string> dir;  // logical
  std::size_t dirs_read = 0;
  bool bounded = false;  // stopped by a bound before the whole tree was read
};

// Looks under mount_point, breadth first, for the directory whose
// cgroup.procs lists `pid` (as the reader's pid namespace numbers it).
// Reads at most b.max_dirs directories, b.max_depth levels deep, and never
// follows a symlink (directories are opened with O_NOFOLLOW).
inline found_dir find_by_pid(const file_system& fs,
                             const std::string& mount_point, long pid,
                             const search_bounds& b) {
  found_dir out;
  if (pid <= 0) return out;
  const std::string wanted = std::to_string(pid);
  std::vector<std::pair<std::string, std::size_t>> queue{{mount_point, 0}};
  for (std::size_t at = 0; at < queue.size(); ++at) {
    if (out.dirs_read >= b.max_dirs) {
      out.bounded = true;
      return out;
    }
    const auto [dir, depth] = queue[at];
    ++out.dirs_read;
    auto procs = fs.read(join_path(dir, "/cgroup.procs"));
    if (procs && lists_pid(*procs, wanted)) {
      out.dir = dir;
      return out;
    }
    if (depth >= b.max_depth) {
      out.bounded = true;
      continue;
    }
    for (auto& name : fs.subdirectories(dir)) {
      queue.emplace_back(join_path(dir, "/" + name), depth + 1);
    }
  }
  return out;
}

// When the path gave no directory: the cgroup whose cgroup.procs lists the
// process, searched under the chosen mount.
inline void search_unmapped(const file_system& fs, cgroup_location& loc,
                            const search_bounds& b) {
  if (!is_unmapped(loc.mapping) || loc.mapping == path_mapping::hidden_mount)
    return;
  auto found = find_by_pid(fs, loc.mount.mount_point, fs.reader_pid(), b);
  loc.dirs_searched = found.dirs_read;
  if (found.dir) {
    loc.dir = std::move(*found.dir);
    loc.mapping = path_mapping::found_by_pid;
    loc.why_unmapped = {};
    loc.unmapped_reason.clear();
    loc.chain = chain_to_mount(loc.dir, loc.mount.mount_point);
    return;
  }
  loc.unmapped_reason += "; no cgroup.procs of the " +
                         std::to_string(found.dirs_read) +
                         " directories searched under it lists pid " +
                         std::to_string(fs.reader_pid()) +
                         (found.bounded ? " (search bounded)" : "");
}

// locate() for `controller`, then what only the files can say: the cgroup
// of a path no mount maps (searched by pid), a symlink among the directories
// below the mount point (the mount point is used instead, and the mapping
// says so), and on cgroup2 whether some directory on the chain lists the
// controller in cgroup.controllers (a leaf may not have it enabled; it is
// then charged to the nearest ancestor that has it).
inline result<cgroup_location> discover_in(const file_system& fs,
                                           const cgroup_texts& texts,
                                           std::string_view controller,
                                           const search_bounds& bounds = {}) {
  auto loc = locate(texts.cgroup, texts.mountinfo, controller);
  if (!loc || loc->mode == hierarchy_mode::none) return loc;
  loc->view = fs.view();
  search_unmapped(fs, *loc, bounds);
  // The cgroup2 directory (PSI) is found the same way: on v2 it is the one
  // just found; on hybrid hosts it is searched for in the unified mount.
  if (loc->unified_dir.empty() && !loc->unified_mount_point.empty()) {
    if (loc->mode == hierarchy_mode::v2) {
      loc->unified_dir = loc->dir;
    } else {
      auto found =
          find_by_pid(fs, loc->unified_mount_point, fs.reader_pid(), bounds);
      if (found.dir) loc->unified_dir = std::move(*found.dir);
    }
  }

  // Only a captured tree can have a symlink there: below a cgroup mount
  // point of the live system every directory is the kernel's, and cgroupfs
  // makes no symlinks.
  const bool captured = !fs.root().empty();
  if (captured && !loc->dir.empty() &&
      fs.symlink_below(loc->mount.mount_point, loc->dir)) {
    loc->dir = loc->mount.mount_point;
    loc->mapping = path_mapping::unsafe_path;
    loc->chain = {loc->dir};
  }
  if (captured && !loc->unified_dir.empty() &&
      fs.symlink_below(loc->unified_mount_point, loc->unified_dir)) {
    loc->unified_dir = loc->unified_mount_point;
  }
  if (loc->mode != hierarchy_mode::v2 || is_unmapped(loc->mapping)) return loc;

  error unreadable;
  for (const auto& dir : loc->chain) {
    auto controllers = fs.read(detail::join_path(dir, "/cgroup.controllers"));
    if (controllers && has_word(*controllers, controller)) return loc;
    // Unreadable for another reason than absence (EMFILE, EACCES): it may
    // list the controller, so "absent" would be a guess.
    if (!controllers && !unreadable.code && !is_missing(controllers.error())) {
      unreadable = std::move(controllers).error();
    }
  }
  if (unreadable.code) return unreadable;
  loc->mode = hierarchy_mode::none;
  loc->why_none = make_error(
      make_error_code(errc::controller_absent),
      fs.real_path(detail::join_path(loc->dir, "/cgroup.controllers")));
  return loc;
}

// A location with mode none, saying why.
inline cgroup_location nowhere(error why) {
  cgroup_location loc;
  loc.why_none = std::move(why);
  return loc;
}

// The texts discovery reads first: through the reader's own mounts when
// another mount namespace gives a choice of two (choose_view), else the
// only ones.
inline result<cgroup_texts> read_first_texts(file_system& fs) {
  fs.set_view(cgroup_view::reader);  // without a choice, a no-op
  return read_cgroup_texts(fs);
}

// For another process (fs.pid() > 0) in another mount namespace: its path
// (/proc/<pid>/cgroup, printed relative to the reader's cgroup namespace)
// mapped through the reader's own mountinfo when that maps it or finds it,
// else through the target's view (/proc/<pid>/root). `first` is what
// read_first_texts(fs) read; only the target's view is read here. Sets fs's
// view to the one used and returns the texts read through it.
inline result<cgroup_texts> choose_view(file_system& fs,
                                        result<cgroup_texts> first,
                                        std::string_view controller,
                                        const search_bounds& bounds) {
  if (!fs.can_use_reader_view()) return first;
  fs.set_view(cgroup_view::reader);
  if (first) {
    auto loc = discover_in(fs, *first, controller, bounds);
    if (loc && loc->mode != hierarchy_mode::none && !is_unmapped(loc->mapping))
      return first;
  }
  fs.set_view(cgroup_view::target);
  return read_cgroup_texts(fs);
}

// The location of `controller` from the texts read_first_texts(fs) read
// (see discover()).
inline result<cgroup_location> discover_from(file_system& fs,
                                             result<cgroup_texts> first,
                                             std::string_view controller,
                                             const search_bounds& bounds) {
  auto texts = choose_view(fs, std::move(first), controller, bounds);
  if (!texts) {
    const auto& code = texts.error().code;
    if (code == errc::no_cgroup || code == errc::not_supported) {
      return nowhere(std::move(texts).error());
    }
    return std::move(texts).error();
  }
  return discover_in(fs, *texts, controller, bounds);
}

}  // namespace detail

// HEADROOM_DETECT=off (also "0", "false") turns cgroup detection off: the
// readers then report mode none, host-wide. Ignored when
// options::use_environment is false.
inline constexpr const char* env_detect = "HEADROOM_DETECT";

// Why detection is off, or nothing when it is on.
inline std::optional<error> detection_disabled(const options& opt) {
  const char* detect =
      opt.use_environment ? detail::secure_env(env_detect) : nullptr;
  const std::string_view d = detect ? detect : "";
  if (d != "off" && d != "0" && d != "false") return std::nullopt;
  return make_error(make_error_code(errc::disabled),
                    std::string(env_detect) + "=" + detect);
}

// Reads /proc/<pid>/cgroup and /proc/<pid>/mountinfo and locates the cgroup
// of `controller`. Fails only when mountinfo cannot be read or either file
// is malformed; "no cgroup" (a kernel without cgroups, or not Linux) is a
// location with mode none. For another process, fs's view becomes the one
// the path was mapped through (see cgroup_location::view).
inline result<cgroup_location> discover(
    detail::file_system& fs, std::string_view controller = "memory",
    const detail::search_bounds& bounds = {}) {
  return detail::discover_from(fs, detail::read_first_texts(fs), controller,
                               bounds);
}

// The search bounds of opt (search_max_dirs, search_max_depth).
inline detail::search_bounds search_bounds_of(const options& opt) {
  return {opt.search_max_dirs, opt.search_max_depth};
}

// Where the process opt names has its controller's cgroup (memory by
// default), read through opt.root. An error when mountinfo or the
// process's cgroup file cannot be read or parsed; mode none (with
// why_none) when the controller is not mounted.
inline result<cgroup_location> discover(
    const options& opt = {}, std::string_view controller = "memory") {
  detail::file_system fs(opt.root, opt.pid, opt.record);
  return discover(fs, controller, search_bounds_of(opt));
}

// What /proc/<pid>/cgroup and /proc/<pid>/mountinfo said, read once for
// every reader opened from it (memory_reader::open(d), cpu_reader::open(d)):
// each locates its controllers in the same texts, so a program that opens
// both reads mountinfo once, the bulk of an open() on a node with thousands
// of mounts. The texts are not read again: they say where the cgroups were
// when read() ran. Another process in another mount namespace is the one
// exception (cgroup_location::view): a reader whose cgroup the reader's own
// mounts do not show reads the target's texts itself, as open(opt) does.
//
// A copyable value. Thread-safety: readers may be opened from one discovery
// in many threads at once (it is only read).
class discovery {
 public:
  // Reads the two files of the process opt names, through opt.root (the
  // reader's own mountinfo first when it is in another mount namespace);
  // nothing when HEADROOM_DETECT turns detection off. Never fails: an error
  // reading them is the error, or the mode none, of every reader opened from
  // it, as their open(opt) would return it.
  static discovery read(const options& opt = {}) {
    discovery d;
    d.opt_ = opt;
    d.fs_ = detail::file_system(opt.root, opt.pid, opt.record);
    d.disabled_ = detection_disabled(opt);
    if (!d.disabled_) {
      detail::file_system reading = d.fs_;  // fs_ stays as a reader starts
      d.texts_ = detail::read_first_texts(reading);
    }
    return d;
  }

  // The options it was read with; the readers opened from it use them
  // (root, pid, record, environment, search bounds).
  const options& opts() const noexcept { return opt_; }
  // Why detection is off (HEADROOM_DETECT), or nothing when it is on.
  const std::optional<error>& disabled() const noexcept { return disabled_; }
  // The texts as read, or the error reading them (errc::disabled when
  // detection is off). For the readers: they pass it to detail::discover_from.
  const result<detail::cgroup_texts>& texts() const noexcept { return texts_; }
  // The files' access (root, pid, mount namespace, record), for the readers
  // to start from a copy: whether another process shares this mount
  // namespace is then asked once, not once more for each reader.
  const detail::file_system& fs() const noexcept { return fs_; }

 private:
  discovery() = default;

  options opt_;
  detail::file_system fs_;
  std::optional<error> disabled_;
  result<detail::cgroup_texts> texts_{errc::disabled};
};

}  // namespace headroom
