// SPDX-License-Identifier: MIT
// headroom: flat keyed files ("key value" lines): memory.stat,
// memory.events, memory.oom_control.
#pragma once

#include <array>        // parse_keyed fills a std::array of slots
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t
#include <optional>     // a key absent from the file
#include <string_view>  // keys are views into the text

#include "../error.hpp"  // result<void>
#include "numbers.hpp"   // parse_u64
#include "text.hpp"      // next_line

namespace headroom {

// Keyed files: memory.stat, memory.events, memory.events.local (v2),
// memory.stat and memory.oom_control (v1).
//
// Format (cgroup-v2.rst "Format": flat keyed; cgroup-v1/memory.rst 5.2):
// one "key value" pair per line, value a decimal number. Keys can be added
// anywhere by newer kernels, so look them up by name, never by position.
// Every line must have that shape, or the whole file is malformed: garbage
// must not yield a number. A negative value (an old kernel's transiently
// negative per-CPU sum) is accepted and reads as 0.

// Calls f(key, value) for every line; stops at the first malformed line.
template <class F>
result<void> for_each_key_value(std::string_view text, F&& f) {
  while (!text.empty()) {
    std::string_view line = detail::next_line(text);
    if (line.empty()) continue;
    const std::size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string_view::npos) return errc::malformed;
    const std::string_view key = line.substr(0, sp);
    std::string_view value = line.substr(sp + 1);
    const bool negative = !value.empty() && value.front() == '-';
    if (negative) value.remove_prefix(1);
    auto n = parse_u64(value);
    if (!n) return errc::malformed;
    f(key, negative ? std::uint64_t{0} : *n);
  }
  return {};
}

// One key to look up in a keyed file, and what was found for it.
struct key_slot {
  // The key to find.
  std::string_view key;
  std::optional<std::uint64_t> value;  // nullopt: the key is not in the file
};

// Fills each slot's value in one pass over `text`.
template <std::size_t N>
result<void> parse_keyed(std::string_view text,
                         std::array<key_slot, N>& slots) {
  for (auto& s : slots) s.value.reset();
  return for_each_key_value(text, [&](std::string_view key, std::uint64_t v) {
    for (auto& s : slots) {
      if (s.key == key) s.value = v;
    }
  });
}

}  // namespace headroom
