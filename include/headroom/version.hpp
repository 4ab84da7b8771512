// SPDX-License-Identifier: MIT
// headroom: the one source of the version number. CMake reads these three
// lines.
#pragma once

// The major version: a new major version may break the API.
#define HEADROOM_VERSION_MAJOR 0
// The minor version (see README, "Versioning").
#define HEADROOM_VERSION_MINOR 2
// The patch version (see README, "Versioning").
#define HEADROOM_VERSION_PATCH 0

#define HEADROOM_DETAIL_STR2(x) #x
#define HEADROOM_DETAIL_STR(x) HEADROOM_DETAIL_STR2(x)
// "MAJOR.MINOR.PATCH", a string literal.
#define HEADROOM_VERSION_STRING                                            \
  HEADROOM_DETAIL_STR(HEADROOM_VERSION_MAJOR)                              \
  "." HEADROOM_DETAIL_STR(HEADROOM_VERSION_MINOR) "." HEADROOM_DETAIL_STR( \
      HEADROOM_VERSION_PATCH)
