// SPDX-License-Identifier: MIT
// Fuzz target: the flat keyed files (for_each_key_value, parse_keyed) with
// the keys headroom looks up in memory.stat (v1 and v2), memory.events and
// memory.oom_control.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

using namespace fuzz_support;

using pairs = std::vector<std::pair<std::string_view, std::uint64_t>>;

// A "key value" line as the format allows it: a non-empty key without
// spaces, one space, a u64 (a leading '-' reads as 0).
bool is_key_value_line(std::string_view line) {
  const std::size_t sp = line.find(' ');
  if (sp == 0 || sp == std::string_view::npos) return false;
  std::string_view value = line.substr(sp + 1);
  if (!value.empty() && value.front() == '-') value.remove_prefix(1);
  return is_u64_text(value);
}

// Fills the slots, set to stale values first: a key the text does not hold
// must come back empty, not keep a previous value.
template <std::size_t N>
void check_slots(std::string_view text, std::array<headroom::key_slot, N> slots,
                 const pairs& seen, bool ok) {
  for (auto& s : slots) s.value = 12345;
  const auto r = headroom::parse_keyed(text, slots);
  HEADROOM_FUZZ_CHECK(r.has_value() == ok);
  // Each slot holds the last value given for its key, among the lines read
  // before a malformed one.
  std::map<std::string_view, std::uint64_t> last;
  for (const auto& [k, v] : seen) last[k] = v;
  for (const auto& s : slots) {
    const auto it = last.find(s.key);
    if (it == last.end()) {
      HEADROOM_FUZZ_CHECK(!s.value.has_value());
    } else {
      HEADROOM_FUZZ_CHECK(s.value == std::optional<std::uint64_t>{it->second});
    }
  }
}

pairs read_pairs(std::string_view text, bool& ok) {
  pairs seen;
  const auto r = headroom::for_each_key_value(
      text, [&](std::string_view key, std::uint64_t v) {
        seen.emplace_back(key, v);
      });
  ok = r.has_value();
  if (!ok) HEADROOM_FUZZ_CHECK(r.error().code == headroom::errc::malformed);
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view text = as_text(data, size);
  bool ok = false;
  const pairs seen = read_pairs(text, ok);

  // One call per non-empty line, in order, each the line's key and value;
  // it stops exactly at the first line that is not "key value".
  const auto lines = non_empty_lines(text);
  std::size_t good = 0;
  while (good < lines.size() && is_key_value_line(lines[good])) ++good;
  HEADROOM_FUZZ_CHECK(ok == (good == lines.size()));
  HEADROOM_FUZZ_CHECK(seen.size() == good);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto& [key, v] = seen[i];
    const std::string_view line = lines[i];
    HEADROOM_FUZZ_CHECK(is_view_into(key, text) && key.data() == line.data());
    HEADROOM_FUZZ_CHECK(!key.empty() &&
                        key.find(' ') == std::string_view::npos);
    HEADROOM_FUZZ_CHECK(line.size() > key.size() && line[key.size()] == ' ');
    const std::string_view value = line.substr(key.size() + 1);
    if (value.front() == '-') {
      HEADROOM_FUZZ_CHECK(v == 0);
    } else {
      HEADROOM_FUZZ_CHECK(std::to_string(v) == strip_leading_zeros(value));
    }
  }

  // A final newline more or less changes nothing.
  bool ok_nl = false;
  const std::string with_newline = std::string(text) + "\n";
  const pairs seen_nl = read_pairs(with_newline, ok_nl);
  HEADROOM_FUZZ_CHECK(ok_nl == ok && seen_nl.size() == seen.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    HEADROOM_FUZZ_CHECK(seen_nl[i].first == seen[i].first &&
                        seen_nl[i].second == seen[i].second);
  }

  check_slots<6>(text,
                 {{{"anon", {}},
                   {"file", {}},
                   {"inactive_file", {}},
                   {"active_file", {}},
                   {"kernel", {}},
                   {"shmem", {}}}},
                 seen, ok);
  check_slots<5>(text,
                 {{{"total_rss", {}},
                   {"total_cache", {}},
                   {"total_inactive_file", {}},
                   {"hierarchical_memory_limit", {}},
                   {"hierarchical_memsw_limit", {}}}},
                 seen, ok);
  check_slots<6>(text,
                 {{{"low", {}},
                   {"high", {}},
                   {"max", {}},
                   {"oom", {}},
                   {"oom_kill", {}},
                   {"oom_group_kill", {}}}},
                 seen, ok);
  // The same key twice in the slots: both are filled.
  check_slots<4>(text,
                 {{{"oom_kill_disable", {}},
                   {"under_oom", {}},
                   {"oom_kill", {}},
                   {"oom_kill", {}}}},
                 seen, ok);
  return 0;
}
