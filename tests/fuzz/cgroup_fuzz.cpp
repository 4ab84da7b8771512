// SPDX-License-Identifier: MIT
// Fuzz target: /proc/<pid>/cgroup lines and the controller lists in them
// (parse_cgroup_line, has_controller, has_word), and the input as the cgroup
// text of locate() against fixed mountinfo texts of every layout, so the
// path mapping and the chain see arbitrary cgroup paths.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

using namespace fuzz_support;

void check_list_lookups(std::string_view list, char sep) {
  const auto holds = [&](std::string_view word) {
    return sep == ',' ? headroom::has_controller(list, word)
                      : headroom::has_word(list, word);
  };
  const std::string_view items =
      sep == ',' ? list : trim_newlines(list);  // has_word ignores a final '\n'
  for (const std::string_view word :
       {"memory", "cpu", "cpuacct", "name=systemd"}) {
    HEADROOM_FUZZ_CHECK(holds(word) == list_holds(items, word, sep));
  }
  // Items of the list are found in it (the first few and the last: each
  // lookup walks the list).
  const auto all = split(items, sep);
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i >= 8 && i + 1 != all.size()) continue;
    if (!all[i].empty()) HEADROOM_FUZZ_CHECK(holds(all[i]));
  }
}

void check_line(std::string_view line) {
  const auto e = headroom::parse_cgroup_line(line);
  // Accepted exactly when the documented shape is there: ID:LIST:/PATH,
  // split at the first two colons, ID a 32-bit number.
  const std::string_view trimmed = trim_newlines(line);
  const std::size_t c1 = trimmed.find(':');
  const std::size_t c2 =
      c1 == std::string_view::npos ? c1 : trimmed.find(':', c1 + 1);
  bool shape = c2 != std::string_view::npos;
  if (shape) {
    const std::string_view id = trimmed.substr(0, c1);
    const std::string_view path = trimmed.substr(c2 + 1);
    const std::string_view digits = strip_leading_zeros(id);
    const bool fits_u32 =
        digits.size() < 10 || (digits.size() == 10 && digits <= "4294967295");
    shape = is_u64_text(id) && fits_u32 && !path.empty() && path.front() == '/';
  }
  HEADROOM_FUZZ_CHECK(e.has_value() == shape);
  if (!e) {
    HEADROOM_FUZZ_CHECK(e.error().code == headroom::errc::malformed);
    return;
  }
  HEADROOM_FUZZ_CHECK(is_view_into(e->controllers, line) &&
                      is_view_into(e->path, line));
  HEADROOM_FUZZ_CHECK(e->controllers.find(':') == std::string_view::npos);
  HEADROOM_FUZZ_CHECK(e->controllers.data() == trimmed.data() + c1 + 1);
  HEADROOM_FUZZ_CHECK(e->path.data() == trimmed.data() + c2 + 1);
  HEADROOM_FUZZ_CHECK(e->path.data() + e->path.size() ==
                      trimmed.data() + trimmed.size());
  HEADROOM_FUZZ_CHECK(std::to_string(e->hierarchy_id) ==
                      strip_leading_zeros(trimmed.substr(0, c1)));
  check_list_lookups(e->controllers, ',');
}

// Mounts of every layout: v1 with mount root /, Docker v1 with a mount root
// below the hierarchy's root, hybrid, v2, v2 with a namespace root, and a
// duplicate bind mount.
constexpr std::string_view fixed_mountinfos[] = {
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup "
    "rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:18 - cgroup2 "
    "cgroup2 rw,nsdelegate\n",
    "1290 1282 0:29 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid master:15 "
    "- cgroup cgroup rw,memory\n",
    "26 23 0:23 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate\n",
    "61 23 0:30 /system.slice/container.scope /sys/fs/cgroup rw - cgroup2 "
    "cgroup2 rw\n"
    "70 27 0:30 / /run/bind rw - cgroup2 cgroup2 rw\n",
    "70 27 0:32 / / rw - cgroup cgroup rw,memory\n",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view input = as_text(data, size);
  check_line(input);
  for (const auto line : split(input, '\n')) check_line(line);
  check_list_lookups(input, ',');
  check_list_lookups(input, ' ');
  for (const auto mountinfo : fixed_mountinfos) check_locate(input, mountinfo);
  return 0;
}
