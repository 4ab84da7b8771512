// SPDX-License-Identifier: MIT
// headroom: the environment as a setuid or setgid program must read it.
#pragma once

#include <cstdlib>  // secure_getenv, std::getenv

namespace headroom::detail {

// An environment variable, ignored in a setuid or setgid program or one
// that gained file capabilities (secure execution, AT_SECURE): its caller
// must not steer what it reads, reports or writes. As systemd's sd-event
// reads $MEMORY_PRESSURE_WATCH, and glibc its own variables.
inline const char* secure_env(const char* name) noexcept {
#if defined(__GLIBC__) || defined(__linux__)
  return ::secure_getenv(name);
#else
  return std::getenv(name);
#endif
}

}  // namespace headroom::detail
