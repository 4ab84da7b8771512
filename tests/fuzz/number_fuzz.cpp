// SPDX-License-Identifier: MIT
// Fuzz target: the single-value files (parse_u64, parse_counter,
// parse_number_or_max for memory.max and friends, parse_v1_limit for
// memory.limit_in_bytes and friends).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

using namespace fuzz_support;

// Fixed facts: "max" is no limit; v1's page-rounded LONG_MAX (4 KiB and
// 64 KiB pages) is no limit; a real limit stays one.
void check_fixed_facts() {
  const auto max = headroom::parse_number_or_max("max");
  HEADROOM_FUZZ_CHECK(max.has_value() && !max->has_value());
  const auto max_nl = headroom::parse_number_or_max("max\n");
  HEADROOM_FUZZ_CHECK(max_nl.has_value() && !max_nl->has_value());
  for (const char* unlimited :
       {"9223372036854771712\n", "9223372036854710272\n",
        "9223372036854775807\n"}) {
    const auto v = headroom::parse_v1_limit(unlimited);
    HEADROOM_FUZZ_CHECK(v.has_value() && !v->has_value());
  }
  const auto real = headroom::parse_v1_limit("268435456\n");
  HEADROOM_FUZZ_CHECK(real.has_value() &&
                      *real == std::optional<std::uint64_t>{268435456});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const bool facts_checked = (check_fixed_facts(), true);
  (void)facts_checked;

  const std::string_view input = as_text(data, size);

  // parse_u64 accepts exactly the kernel's u64 text, and what it accepts
  // prints back the same (leading zeros aside).
  const auto n = headroom::parse_u64(input);
  HEADROOM_FUZZ_CHECK(n.has_value() == is_u64_text(input));
  if (n) {
    HEADROOM_FUZZ_CHECK(std::to_string(*n) == strip_leading_zeros(input));
  } else {
    HEADROOM_FUZZ_CHECK(n.error().code == headroom::errc::malformed);
  }

  // The file parsers see one line: the number and its trailing newline.
  const std::string_view value = trim_newlines(input);
  const auto u = headroom::parse_u64(value);

  const auto counter = headroom::parse_counter(input);
  HEADROOM_FUZZ_CHECK(counter.has_value() == u.has_value());
  if (counter) HEADROOM_FUZZ_CHECK(*counter == *u);

  const auto v2 = headroom::parse_number_or_max(input);
  if (value == "max") {
    HEADROOM_FUZZ_CHECK(v2.has_value() && !v2->has_value());
  } else {
    HEADROOM_FUZZ_CHECK(v2.has_value() == u.has_value());
    if (v2) HEADROOM_FUZZ_CHECK(v2->has_value() && **v2 == *u);
  }
  if (!v2) HEADROOM_FUZZ_CHECK(v2.error().code == headroom::errc::malformed);

  const auto v1 = headroom::parse_v1_limit(input);
  HEADROOM_FUZZ_CHECK(v1.has_value() == u.has_value());
  if (v1) {
    // Unlimited is a state, never a number close to 8 EiB.
    if (*u >= headroom::v1_unlimited_threshold) {
      HEADROOM_FUZZ_CHECK(!v1->has_value());
    } else {
      HEADROOM_FUZZ_CHECK(v1->has_value() && **v1 == *u);
    }
  } else {
    HEADROOM_FUZZ_CHECK(v1.error().code == headroom::errc::malformed);
  }
  return 0;
}
