// SPDX-License-Identifier: MIT
// headroom: the one source of the version number. CMake reads these three
// lines.
#pragma once

#define HEADROOM_VERSION_MAJOR 0
#define HEADROOM_VERSION_MINOR 2
#define HEADROOM_VERSION_PATCH 0

#define HEADROOM_DETAIL_STR2(x) #x
#define HEADROOM_DETAIL_STR(x) HEADROOM_DETAIL_STR2(x)
#define HEADROOM_VERSION_STRING                                            \
  HEADROOM_DETAIL_STR(HEADROOM_VERSION_MAJOR)                              \
  "." HEADROOM_DETAIL_STR(HEADROOM_VERSION_MINOR) "." HEADROOM_DETAIL_STR( \
      HEADROOM_VERSION_PATCH)
