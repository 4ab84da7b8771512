// SPDX-License-Identifier: MIT
// Shared by the fuzz targets: a check that stops the run when a property
// fails, small independent helpers (written apart from the library's own, so
// they can disagree with it), and the property check of locate() that the
// mountinfo and cgroup targets both use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <headroom/discover.hpp>
#include <headroom/parse.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// A violated property must end the run the way a crash does, so libFuzzer
// keeps the input, and the replay test fails on it in every build.
#define HEADROOM_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0)  \
          : ::fuzz_support::property_failed(#cond, __FILE__, __LINE__))

namespace fuzz_support {

[[noreturn]] inline void property_failed(const char* what, const char* file,
                                         int line) {
  std::fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", what, file,
               line);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// True when `part` is a view into `whole` (same memory, not a copy): the
// parsers promise fields that point into the text they were given.
inline bool is_view_into(std::string_view part, std::string_view whole) {
  const auto w = reinterpret_cast<std::uintptr_t>(whole.data());
  const auto p = reinterpret_cast<std::uintptr_t>(part.data());
  return p >= w && p + part.size() <= w + whole.size();
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// The lines of a text as the kernel writes them: split at '\n', a last line
// without '\n' included, empty lines kept.
inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

inline std::vector<std::string_view> non_empty_lines(std::string_view text) {
  std::vector<std::string_view> out;
  for (const auto line : split(text, '\n')) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

inline std::string_view trim_newlines(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

inline bool all_digits(std::string_view s) {
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// What the kernel prints for a u64: 1 to 20 digits, at most
// 18446744073709551615. (Equal-length digit strings compare like numbers.)
inline bool is_u64_text(std::string_view s) {
  if (s.empty() || s.size() > 20 || !all_digits(s)) return false;
  return s.size() < 20 || s <= "18446744073709551615";
}

inline std::string_view strip_leading_zeros(std::string_view s) {
  while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);
  return s;
}

// A comma- (or space-) separated list holds `word` as one of its items.
inline bool list_holds(std::string_view list, std::string_view word, char sep) {
  const std::string padded = std::string(1, sep) + std::string(list) + sep;
  const std::string needle = std::string(1, sep) + std::string(word) + sep;
  return padded.find(needle) != std::string::npos;
}

// The kernel's mountinfo escaping (fs/proc_namespace.c, mangle(): space, tab,
// newline and backslash as three octal digits).
inline std::string kernel_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
      const auto u = static_cast<unsigned char>(c);
      out += '\\';
      out += static_cast<char>('0' + ((u >> 6) & 7));
      out += static_cast<char>('0' + ((u >> 3) & 7));
      out += static_cast<char>('0' + (u & 7));
    } else {
      out += c;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// locate(): the layout rules of DESIGN.md and KERNEL-NOTES.md, restated here
// independently, and the safety of the chain (the library reads files in the
// chain's directories, and on v1 writes their cgroup.event_control: none may
// lie outside the cgroup mount).

// A path component that never names a real cgroup below the mount point.
inline bool is_unsafe_component(std::string_view c) {
  return c.empty() || c == "." || c == "..";
}

// Calls f(component) for each '/'-separated piece of `path`, empty ones
// included; stops early when f returns true, and says whether it did.
template <class F>
bool any_component(std::string_view path, F&& f) {
  while (true) {
    const std::size_t at = path.find('/');
    if (f(path.substr(0, at))) return true;
    if (at == std::string_view::npos) return false;
    path.remove_prefix(at + 1);
  }
}

// "/a/b" is safe, "/" is safe; "/a//b", "/a/./b", "/a/../b", "/a/" are not.
inline bool has_unsafe_components(std::string_view absolute_path) {
  if (absolute_path == "/") return false;
  return any_component(absolute_path.substr(1), is_unsafe_component);
}

inline bool has_dot_dot_component(std::string_view path) {
  return any_component(path, [](std::string_view c) { return c == ".."; });
}

struct mount_line {
  std::string mount_point;
  std::string root;
  std::string fs_type;
  std::string super_options;
  std::size_t node = 0;  // its index among all mountinfo lines
};

// The '/'-separated components of an absolute path ("/" has none).
inline std::vector<std::string_view> components(
    std::string_view absolute_path) {
  std::vector<std::string_view> out;
  if (absolute_path == "/") return out;
  absolute_path.remove_prefix(1);
  any_component(absolute_path, [&](std::string_view c) {
    out.push_back(c);
    return false;
  });
  return out;
}

// KERNEL-NOTES.md: the path and the mount root are both relative to the
// reader's cgroup namespace. The path is under the root when the root's
// components are a prefix of its own and what is left names no "..":
// root "/../../.." and path "/../../../init.scope" map to
// MOUNTPOINT/init.scope; path "/../sib" under root "/" does not map.
inline headroom::path_mapping expected_mapping(const mount_line& m,
                                               std::string_view path) {
  using headroom::path_mapping;
  if (path.empty() || path.front() != '/') return path_mapping::malformed_path;
  const auto p = components(path);
  // A kernel prints "." nowhere and ".." only as leading components.
  bool climbing = true;
  for (const auto c : p) {
    if (c.empty() || c == ".") return path_mapping::malformed_path;
    if (c == ".." && !climbing) return path_mapping::malformed_path;
    climbing = climbing && c == "..";
  }
  const auto not_under = !p.empty() && p.front() == ".."
                             ? path_mapping::outside_namespace
                             : path_mapping::not_under_mount_root;
  if (m.root.empty() || m.root.front() != '/') return not_under;
  const auto r = components(m.root);
  if (r.size() > p.size()) return not_under;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r[i] != p[i]) return not_under;
  }
  for (std::size_t i = r.size(); i < p.size(); ++i) {
    if (p[i] == "..") return not_under;
  }
  return r.empty() ? path_mapping::mount_root : path_mapping::below_mount_root;
}

inline bool under_sys_fs_cgroup(std::string_view p) {
  return p == "/sys/fs/cgroup" || starts_with(p, "/sys/fs/cgroup/");
}

// DESIGN.md: among the visible mounts, one that maps the path first, then
// one under /sys/fs/cgroup, then mountinfo order.
inline const mount_line* expected_mount(const std::vector<mount_line>& mounts,
                                        std::string_view path) {
  const mount_line* best = nullptr;
  int best_score = -1;
  for (const auto& m : mounts) {
    const int score =
        (headroom::is_unmapped(expected_mapping(m, path)) ? 0 : 2) +
        (under_sys_fs_cgroup(m.mount_point) ? 1 : 0);
    if (score > best_score) {
      best = &m;
      best_score = score;
    }
  }
  return best;
}

inline bool same_mount(const headroom::cgroup_mount& a, const mount_line& b) {
  return a.mount_point == b.mount_point && a.root == b.root &&
         a.fs_type == b.fs_type && a.super_options == b.super_options;
}

// A directory at or below the mount point, reached without any "", "." or
// ".." component, and absolute: the root prefix is prepended to it as is.
inline void check_dir_inside(std::string_view dir,
                             std::string_view mount_point) {
  // The kernel prints mount points as canonical absolute paths; one that is
  // not would take every directory derived from it out of the mount (and out
  // of a replayed tree's root prefix).
  HEADROOM_FUZZ_CHECK(!mount_point.empty() && mount_point.front() == '/' &&
                      !has_unsafe_components(mount_point));
  HEADROOM_FUZZ_CHECK(!dir.empty() && dir.front() == '/');
  HEADROOM_FUZZ_CHECK(starts_with(dir, mount_point));
  HEADROOM_FUZZ_CHECK(!has_dot_dot_component(dir));
  std::string_view below = dir.substr(mount_point.size());
  if (below.empty()) return;
  if (mount_point.back() != '/') {
    HEADROOM_FUZZ_CHECK(below.front() == '/');
    below.remove_prefix(1);
  }
  HEADROOM_FUZZ_CHECK(!any_component(below, is_unsafe_component));
}

inline void check_chain(const headroom::cgroup_location& loc) {
  const std::string& mp = loc.mount.mount_point;
  HEADROOM_FUZZ_CHECK(!loc.chain.empty());
  HEADROOM_FUZZ_CHECK(loc.chain.front() == loc.dir);
  HEADROOM_FUZZ_CHECK(loc.chain.back() == mp);
  // The own cgroup lies inside the mount; every other entry is a prefix of
  // it that ends at a component boundary, so it lies inside the mount too
  // (checked once: the chain can be 2049 long).
  check_dir_inside(loc.chain.front(), mp);
  for (std::size_t i = 1; i < loc.chain.size(); ++i) {
    // Each entry is the parent directory of the one before it: one component
    // shorter, nothing skipped, nothing repeated.
    const std::string& child = loc.chain[i - 1];
    const std::string& parent = loc.chain[i];
    HEADROOM_FUZZ_CHECK(!parent.empty() && parent.size() < child.size());
    HEADROOM_FUZZ_CHECK(starts_with(child, parent));
    std::string_view last = std::string_view(child).substr(parent.size());
    if (parent.back() != '/') {
      HEADROOM_FUZZ_CHECK(last.front() == '/');
      last.remove_prefix(1);
    }
    HEADROOM_FUZZ_CHECK(!last.empty() &&
                        last.find('/') == std::string_view::npos);
  }
}

// Runs locate() and checks its answer against the rules, restated.
inline void check_locate(std::string_view cgroup_text,
                         std::string_view mountinfo_text) {
  using headroom::hierarchy_mode;
  using headroom::path_mapping;
  const auto loc = headroom::locate(cgroup_text, mountinfo_text);

  // What a correct answer is, from the parsers and the design's rules.
  bool cgroup_ok = true;
  // A path the kernel cannot print (see the chain's bound below): locate()
  // may call the file malformed.
  bool long_path = false;
  std::optional<headroom::cgroup_entry> v1_memory;
  std::optional<headroom::cgroup_entry> v2_entry;
  for (const auto line : non_empty_lines(cgroup_text)) {
    const auto e = headroom::parse_cgroup_line(line);
    if (!e) {
      cgroup_ok = false;
      break;
    }
    long_path = long_path || e->path.size() >= 4096;
    if (e->hierarchy_id == 0 && e->controllers.empty()) {
      v2_entry = *e;
    } else if (list_holds(e->controllers, "memory", ',')) {
      v1_memory = *e;
    }
  }
  bool mountinfo_ok = true;
  // A cgroup mount whose mount point (or root) is no canonical absolute
  // path: the kernel never prints one, so locate() may call the file
  // malformed; it must never map a path through it (check_dir_inside).
  bool odd_mount = false;
  std::vector<mount_line> v1_mounts;
  std::vector<mount_line> v2_mounts;
  // Every line, for the mount tree: which mounts are covered by later ones.
  // Covering has its own table of cases in tests/unit/discover_test.cpp;
  // here the library's rule decides it, and the rest is checked against it.
  std::vector<headroom::detail::mount_node> nodes;
  bool v1_covered = false;
  bool v2_covered = false;
  for (const auto line : non_empty_lines(mountinfo_text)) {
    const auto e = headroom::parse_mountinfo_line(line);
    if (!e) {
      mountinfo_ok = false;
      break;
    }
    nodes.push_back({e->mount_id, e->parent_id,
                     headroom::unescape_mount_path(e->mount_point)});
    mount_line m{headroom::unescape_mount_path(e->mount_point),
                 headroom::unescape_mount_path(e->root),
                 std::string(e->fs_type), std::string(e->super_options),
                 nodes.size() - 1};
    if (m.fs_type == "cgroup" || m.fs_type == "cgroup2") {
      // The root may climb ("/../.."): it is relative to the reader's
      // cgroup namespace.
      const std::string& p = m.mount_point;
      odd_mount = odd_mount || p.empty() || p.front() != '/' ||
                  has_unsafe_components(p);
    }
    if (m.fs_type == "cgroup2") {
      v2_mounts.push_back(std::move(m));
    } else if (m.fs_type == "cgroup" &&
               list_holds(m.super_options, "memory", ',')) {
      v1_mounts.push_back(std::move(m));
    }
  }
  if (mountinfo_ok) {
    const auto drop_covered = [&](std::vector<mount_line>& ms, bool& any) {
      std::vector<mount_line> visible;
      for (auto& m : ms) {
        if (headroom::detail::is_covered(nodes, m.node)) {
          any = true;
        } else {
          visible.push_back(std::move(m));
        }
      }
      ms = std::move(visible);
    };
    drop_covered(v1_mounts, v1_covered);
    drop_covered(v2_mounts, v2_covered);
  }

  if (!loc) {
    HEADROOM_FUZZ_CHECK(loc.error().code == headroom::errc::malformed);
    HEADROOM_FUZZ_CHECK(!cgroup_ok || !mountinfo_ok || odd_mount || long_path);
    // The cgroup file is read first; either file may be named after that.
    const std::string& file = loc.error().path;
    HEADROOM_FUZZ_CHECK(file == "/proc/self/cgroup" ||
                        (cgroup_ok && file == "/proc/self/mountinfo"));
    return;
  }
  HEADROOM_FUZZ_CHECK(cgroup_ok && mountinfo_ok);

  // The cgroup2 directory (memory.pressure lives there).
  if (v2_entry && !v2_mounts.empty()) {
    HEADROOM_FUZZ_CHECK(loc->unified_path == v2_entry->path);
    const mount_line* m = expected_mount(v2_mounts, v2_entry->path);
    HEADROOM_FUZZ_CHECK(loc->unified_mount_point == m->mount_point);
    if (headroom::is_unmapped(expected_mapping(*m, v2_entry->path))) {
      // Not visible: no directory, never the mount point's.
      HEADROOM_FUZZ_CHECK(loc->unified_dir.empty());
    } else {
      check_dir_inside(loc->unified_dir, m->mount_point);
    }
  } else {
    HEADROOM_FUZZ_CHECK(loc->unified_dir.empty() && loc->unified_path.empty());
  }

  hierarchy_mode mode = hierarchy_mode::none;
  const std::vector<mount_line>* candidates = nullptr;
  std::string_view path;
  if (v1_memory && !v1_mounts.empty()) {
    mode = v2_mounts.empty() ? hierarchy_mode::v1 : hierarchy_mode::hybrid;
    candidates = &v1_mounts;
    path = v1_memory->path;
  } else if (!v1_memory && v2_entry && !v2_mounts.empty()) {
    mode = hierarchy_mode::v2;
    candidates = &v2_mounts;
    path = v2_entry->path;
  }
  // Mounted, but every mount of it covered: the mode is known, nothing can
  // be read.
  if (mode == hierarchy_mode::none &&
      ((v1_memory && v1_covered) || (!v1_memory && v2_entry && v2_covered))) {
    HEADROOM_FUZZ_CHECK(loc->mapping == path_mapping::hidden_mount);
    HEADROOM_FUZZ_CHECK(loc->mode != hierarchy_mode::none);
    HEADROOM_FUZZ_CHECK(loc->why_unmapped.code && loc->chain.empty() &&
                        loc->dir.empty());
    return;
  }
  HEADROOM_FUZZ_CHECK(loc->mode == mode);
  if (mode == hierarchy_mode::none) {
    HEADROOM_FUZZ_CHECK(loc->why_none.code ==
                        (v1_memory ? headroom::errc::controller_absent
                                   : headroom::errc::no_cgroup));
    HEADROOM_FUZZ_CHECK(loc->chain.empty() && loc->dir.empty() &&
                        loc->path.empty());
    HEADROOM_FUZZ_CHECK(loc->mapping == path_mapping::none);
    return;
  }

  HEADROOM_FUZZ_CHECK(!loc->why_none.code);
  HEADROOM_FUZZ_CHECK(loc->path == path);
  const mount_line* m = expected_mount(*candidates, path);
  HEADROOM_FUZZ_CHECK(same_mount(loc->mount, *m));
  const path_mapping how = expected_mapping(*m, path);
  HEADROOM_FUZZ_CHECK(loc->mapping == how);
  if (headroom::is_unmapped(how)) {
    // No directory and no chain: the values are errors saying why, never
    // the mount point's numbers (discover() may still find it by pid).
    HEADROOM_FUZZ_CHECK(loc->dir.empty() && loc->chain.empty());
    HEADROOM_FUZZ_CHECK(loc->why_unmapped.code &&
                        !loc->unmapped_reason.empty());
    return;
  }
  check_chain(*loc);
  // Never more levels than the path has components (plus the mount point).
  std::size_t slashes = 0;
  for (const char c : path) slashes += c == '/' ? 1 : 0;
  HEADROOM_FUZZ_CHECK(loc->chain.size() <= slashes + 1);
  // The kernel prints no cgroup path of PATH_MAX (4096) bytes or more: it
  // formats it into a PATH_MAX buffer (kernel/cgroup/cgroup.c), so no real
  // chain holds more than 2048 directories plus the mount point. Every chain
  // entry is a copy of an ancestor path, so memory grows with the square of
  // the path's length: 64 KiB of "/a" take 1 GiB.
  HEADROOM_FUZZ_CHECK(loc->chain.size() <= 4096 / 2 + 1);
}

}  // namespace fuzz_support
