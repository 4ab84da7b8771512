// SPDX-License-Identifier: MIT
// Fuzz target: pressure stall information (parse_psi), the format of
// memory.pressure and /proc/pressure/memory.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

using namespace fuzz_support;

bool is_percent(double v) { return std::isfinite(v) && v >= 0 && v <= 100; }

std::string format_line(const char* kind, const headroom::psi_line& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "%s avg10=%.6f avg60=%.6f avg300=%.6f total=", kind, p.avg10,
                p.avg60, p.avg300);
  return buf + std::to_string(p.total_us) + "\n";
}

bool same_line(const headroom::psi_line& a, const headroom::psi_line& b) {
  const auto near = [](double x, double y) { return std::fabs(x - y) < 1e-9; };
  return near(a.avg10, b.avg10) && near(a.avg60, b.avg60) &&
         near(a.avg300, b.avg300) && a.total_us == b.total_us;
}

bool same_stats(const headroom::psi_stats& a, const headroom::psi_stats& b) {
  if (!same_line(a.some, b.some) || a.full.has_value() != b.full.has_value()) {
    return false;
  }
  return !a.full || same_line(*a.full, *b.full);
}

// parse_psi's contract: a key a newer kernel adds is ignored, whatever its
// value looks like (a count, a time), not only when it reads as a percentage.
void check_fixed_facts() {
  const auto future = headroom::parse_psi(
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0 stalls=1000\n");
  HEADROOM_FUZZ_CHECK(future.has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const bool facts_checked = (check_fixed_facts(), true);
  (void)facts_checked;

  const std::string_view text = as_text(data, size);
  const auto p = headroom::parse_psi(text);
  if (!p) {
    HEADROOM_FUZZ_CHECK(p.error().code == headroom::errc::malformed);
    return 0;
  }

  // Only "some" and "full" lines, a "some" line among them; "full" is
  // reported exactly when the text has it.
  bool some = false;
  bool full = false;
  for (const auto line : non_empty_lines(text)) {
    const std::string_view kind = line.substr(0, line.find(' '));
    HEADROOM_FUZZ_CHECK(kind == "some" || kind == "full");
    some = some || kind == "some";
    full = full || kind == "full";
  }
  HEADROOM_FUZZ_CHECK(some);
  HEADROOM_FUZZ_CHECK(p->full.has_value() == full);

  // Averages are percentages of wall time (the kernel caps them at 100).
  for (const auto* l : {&p->some, p->full ? &*p->full : &p->some}) {
    HEADROOM_FUZZ_CHECK(is_percent(l->avg10) && is_percent(l->avg60) &&
                        is_percent(l->avg300));
  }

  // What was read prints back and reads again as the same values.
  std::string again = format_line("some", p->some);
  if (p->full) again += format_line("full", *p->full);
  const auto q = headroom::parse_psi(again);
  HEADROOM_FUZZ_CHECK(q.has_value() && same_stats(*p, *q));

  // A final newline more or less changes nothing.
  const auto nl = headroom::parse_psi(std::string(text) + "\n");
  HEADROOM_FUZZ_CHECK(nl.has_value() && same_stats(*p, *nl));

  return 0;
}
