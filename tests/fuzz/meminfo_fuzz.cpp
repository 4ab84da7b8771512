// SPDX-License-Identifier: MIT
// Fuzz target: /proc/meminfo (parse_meminfo).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

using namespace fuzz_support;

// The format restated: "Key:", spaces, a u64, optionally " kB" (KiB); the
// value in bytes, or nothing when the line does not have that shape.
std::optional<std::uint64_t> line_bytes(std::string_view line,
                                        std::string_view& key) {
  const std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
  key = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  std::uint64_t scale = 1;
  if (value.size() >= 3 && value.substr(value.size() - 3) == " kB") {
    value.remove_suffix(3);
    scale = 1024;
  }
  if (!is_u64_text(value)) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : value) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  if (n > UINT64_MAX / scale) return std::nullopt;
  return n * scale;
}

bool same(const headroom::meminfo& a, const headroom::meminfo& b) {
  return a.total == b.total && a.free == b.free && a.available == b.available;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view text = as_text(data, size);
  const auto m = headroom::parse_meminfo(text);

  bool lines_ok = true;
  std::optional<std::uint64_t> total;
  std::optional<std::uint64_t> free;
  std::optional<std::uint64_t> available;
  for (const auto line : non_empty_lines(text)) {
    std::string_view key;
    const auto bytes = line_bytes(line, key);
    if (!bytes) {
      lines_ok = false;
      break;
    }
    if (key == "MemTotal") total = bytes;
    if (key == "MemFree") free = bytes;
    if (key == "MemAvailable") available = bytes;
  }
  // Accepted exactly when every line has the shape, MemTotal (non-zero)
  // and MemFree are there, and neither MemFree nor MemAvailable is above
  // MemTotal; the values are the last ones given.
  const bool expect_ok = lines_ok && total && *total != 0 && free &&
                         *free <= *total &&
                         (!available || *available <= *total);
  HEADROOM_FUZZ_CHECK(m.has_value() == expect_ok);
  if (!m) {
    HEADROOM_FUZZ_CHECK(m.error().code == headroom::errc::malformed);
    return 0;
  }
  HEADROOM_FUZZ_CHECK(m->total == *total && m->free == *free &&
                      m->available == available);

  // A final newline more or less changes nothing.
  const auto nl = headroom::parse_meminfo(std::string(text) + "\n");
  HEADROOM_FUZZ_CHECK(nl.has_value() && same(*m, *nl));
  return 0;
}
