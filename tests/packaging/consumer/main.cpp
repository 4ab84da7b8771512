// SPDX-License-Identifier: MIT
// Uses the public API end to end; exits 0 when a report could be made.
#include <headroom/headroom.hpp>

#include <cstdio>

int main() {
  auto reader = headroom::memory_reader::open();
  if (!reader) {
    std::fprintf(stderr, "consumer: %s\n", reader.error().message().c_str());
    return 1;
  }
  const auto s = reader->snapshot();
  std::printf("headroom %s: mode %s, effective limit %llu bytes\n",
              HEADROOM_VERSION_STRING, headroom::to_string(reader->mode()),
              static_cast<unsigned long long>(s.effective_limit.value_or(0)));
  return s.effective_limit ? 0 : 1;
}
