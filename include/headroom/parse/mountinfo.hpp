// SPDX-License-Identifier: MIT
// headroom: /proc/<pid>/mountinfo lines and their escaped paths.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t
#include <string>       // unescape_mount_path returns one
#include <string_view>  // fields are views into the text

#include "../error.hpp"  // result<T>
#include "numbers.hpp"   // parse_u64
#include "text.hpp"      // next_field, trim_trailing_newline

namespace headroom {

// /proc/<pid>/mountinfo
//
// Format (man 5 proc, "/proc/[pid]/mountinfo";
// Documentation/filesystems/proc.rst, "3.5 /proc/<pid>/mountinfo"):
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root
//   rw,errors=continue (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9) (10)
//   (11)
//  (1) mount ID  (2) parent ID  (3) major:minor  (4) root: the directory of
//  the filesystem mounted here  (5) mount point  (6) mount options
//  (7) zero or more optional fields "tag[:value]"  (8) the separator "-"
//  (9) filesystem type  (10) source  (11) super options (for cgroup v1 they
//  hold the controllers: "rw,memory", "rw,cpu,cpuacct", "rw,name=systemd").
// Root and mount point escape space, tab, newline and backslash as octal
// (\040 \011 \012 \134); see unescape_mount_path. Lines can be very long
// (overlay mounts with many layers): nothing here limits their length.

struct mountinfo_entry {
  // (1) unique ID of the mount.
  std::uint32_t mount_id = 0;
  // (2) ID of the parent mount.
  std::uint32_t parent_id = 0;
  // (3) st_dev, "major:minor".
  std::string_view major_minor;
  std::string_view root;         // escaped
  std::string_view mount_point;  // escaped
  // (6) per-mount options.
  std::string_view mount_options;
  std::string_view optional_fields;  // space-separated, maybe empty
  // (9) filesystem type: "cgroup", "cgroup2", ...
  std::string_view fs_type;
  // (10) mount source.
  std::string_view source;
  // (11) per-superblock options.
  std::string_view super_options;
};

inline result<mountinfo_entry> parse_mountinfo_line(
    std::string_view line) noexcept {
  line = detail::trim_trailing_newline(line);
  mountinfo_entry e;
  std::string_view rest = line;
  auto id = parse_u64(detail::next_field(rest, ' '));
  auto parent = parse_u64(detail::next_field(rest, ' '));
  if (!id || !parent || *id > UINT32_MAX || *parent > UINT32_MAX) {
    return errc::malformed;
  }
  e.mount_id = static_cast<std::uint32_t>(*id);
  e.parent_id = static_cast<std::uint32_t>(*parent);
  e.major_minor = detail::next_field(rest, ' ');
  e.root = detail::next_field(rest, ' ');
  e.mount_point = detail::next_field(rest, ' ');
  e.mount_options = detail::next_field(rest, ' ');
  if (e.major_minor.find(':') == std::string_view::npos || e.root.empty() ||
      e.mount_point.empty() || e.mount_options.empty()) {
    return errc::malformed;
  }
  // The optional fields end at the separator " - " (a field of its own).
  std::size_t sep;
  if (rest.substr(0, 2) == "- ") {
    sep = 0;
  } else {
    sep = rest.find(" - ");
    if (sep == std::string_view::npos) return errc::malformed;
    e.optional_fields = rest.substr(0, sep);
    sep += 1;
  }
  rest.remove_prefix(sep + 2);
  e.fs_type = detail::next_field(rest, ' ');
  e.source = detail::next_field(rest, ' ');
  e.super_options = detail::next_field(rest, ' ');
  if (e.fs_type.empty()) return errc::malformed;
  return e;
}

// Undoes mountinfo's octal escapes ("\040" -> ' '). A backslash that does not
// start a three-digit octal escape is kept as it is.
inline std::string unescape_mount_path(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto octal = [&](std::size_t at, char max) {
      return at < s.size() && s[at] >= '0' && s[at] <= max;
    };
    if (s[i] == '\\' && octal(i + 1, '3') && octal(i + 2, '7') &&
        octal(i + 3, '7')) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 +
                                      (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace headroom
