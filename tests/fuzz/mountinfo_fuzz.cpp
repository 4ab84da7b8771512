// SPDX-License-Identifier: MIT
// Fuzz target: /proc/<pid>/mountinfo lines, the unescaping of their paths,
// and locate() (mode decision, path mapping, chain).
//
// Input: "CGROUP-TEXT \0 MOUNTINFO-TEXT". Without a NUL byte the whole input
// is the mountinfo text, located with a few fixed /proc/self/cgroup texts,
// so a plain mountinfo file (a seed taken from a real machine) is a useful
// input as it is.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

using namespace fuzz_support;

void check_entry(std::string_view line) {
  const auto e = headroom::parse_mountinfo_line(line);
  if (!e) {
    HEADROOM_FUZZ_CHECK(e.error().code == headroom::errc::malformed);
    return;
  }
  // Every field is a view into the line, in the line's order (an empty
  // optional-fields view need not point anywhere).
  const std::string_view fields[] = {
      e->major_minor,     e->root,    e->mount_point, e->mount_options,
      e->optional_fields, e->fs_type, e->source,      e->super_options};
  for (const auto f : fields)
    HEADROOM_FUZZ_CHECK(f.empty() || is_view_into(f, line));
  HEADROOM_FUZZ_CHECK(is_view_into(e->fs_type, line));
  HEADROOM_FUZZ_CHECK(e->major_minor.find(':') != std::string_view::npos);
  HEADROOM_FUZZ_CHECK(!e->root.empty() && !e->mount_point.empty());
  HEADROOM_FUZZ_CHECK(!e->mount_options.empty() && !e->fs_type.empty());
  for (const auto f :
       {e->major_minor, e->root, e->mount_point, e->mount_options, e->fs_type,
        e->source, e->super_options}) {
    HEADROOM_FUZZ_CHECK(f.find(' ') == std::string_view::npos);
  }
  HEADROOM_FUZZ_CHECK(e->root.data() > e->major_minor.data());
  HEADROOM_FUZZ_CHECK(e->mount_point.data() > e->root.data());
  HEADROOM_FUZZ_CHECK(e->mount_options.data() > e->mount_point.data());
  HEADROOM_FUZZ_CHECK(e->fs_type.data() >
                      e->mount_options.data() + e->mount_options.size());
  // The fields after the separator follow " - ".
  const std::size_t fs_at =
      static_cast<std::size_t>(e->fs_type.data() - line.data());
  HEADROOM_FUZZ_CHECK(fs_at >= 3 && line.substr(fs_at - 3, 3) == " - ");
  if (!e->optional_fields.empty()) {
    HEADROOM_FUZZ_CHECK(e->optional_fields.data() > e->mount_options.data());
    HEADROOM_FUZZ_CHECK(e->optional_fields.data() + e->optional_fields.size() <
                        e->fs_type.data());
  }
  // The IDs are the first two fields, read back.
  const auto ids = split(line, ' ');
  HEADROOM_FUZZ_CHECK(ids.size() >= 2);
  HEADROOM_FUZZ_CHECK(std::to_string(e->mount_id) ==
                      strip_leading_zeros(ids[0]));
  HEADROOM_FUZZ_CHECK(std::to_string(e->parent_id) ==
                      strip_leading_zeros(ids[1]));

  for (const auto escaped : {e->root, e->mount_point}) {
    const std::string plain = headroom::unescape_mount_path(escaped);
    // Unescaping only ever shortens (4 bytes become 1).
    HEADROOM_FUZZ_CHECK(plain.size() <= escaped.size());
    HEADROOM_FUZZ_CHECK((plain.size() == escaped.size()) ==
                        (plain == std::string(escaped)));
    if (escaped.find('\\') == std::string_view::npos) {
      HEADROOM_FUZZ_CHECK(plain == escaped);
    }
    // The kernel's escaping of any path reads back as that path.
    HEADROOM_FUZZ_CHECK(headroom::unescape_mount_path(kernel_escape(plain)) ==
                        plain);
    HEADROOM_FUZZ_CHECK(headroom::unescape_mount_path(kernel_escape(escaped)) ==
                        escaped);
  }
}

// /proc/self/cgroup texts for inputs that carry only mountinfo: v2, v1 or
// hybrid, a Docker v1 path below a mount root.
constexpr std::string_view fixed_cgroups[] = {
    "0::/system.slice/app.service\n",
    "4:memory:/docker/0123abcd/worker\n"
    "1:name=systemd:/user.slice\n"
    "0::/user.slice\n",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view input = as_text(data, size);
  const std::size_t nul = input.find('\0');
  const std::string_view mountinfo =
      nul == std::string_view::npos ? input : input.substr(nul + 1);

  // The whole input as one line too: nothing limits a line's length or
  // content.
  check_entry(input);
  for (const auto line : split(mountinfo, '\n')) check_entry(line);

  if (nul == std::string_view::npos) {
    for (const auto cgroup : fixed_cgroups) check_locate(cgroup, mountinfo);
  } else {
    check_locate(input.substr(0, nul), mountinfo);
  }
  return 0;
}
