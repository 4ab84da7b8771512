#!/bin/sh
# SPDX-License-Identifier: MIT
# The single header stands alone: every example (headroom-info, the survival
# demo, the pressure cache, the arena and heap-tuning sizing examples, the
# metrics server and the textfile collector) builds against it (their include
# path has no other headroom header), and headroom-info built so answers
# --version and --help as the one built from the headers does.
# Usage: check-single.sh CMAKE BUILD_DIR HEADROOM_INFO HEADROOM_INFO_SINGLE
set -eu
cmake=$1 build=$2 info=$3 single=$4
"$cmake" --build "$build" --target headroom-info-single headroom-survival-single \
  headroom-pressure-cache-single headroom-arena-single headroom-heap-tuning-single \
  headroom-metrics-server-single headroom-textfile-single
for arg in --version --help; do
  a=$("$info" "$arg" 2>&1) || true
  b=$("$single" "$arg" 2>&1) || true
  if [ "$a" != "$b" ]; then
    echo "FAIL: headroom-info $arg differs when built from the single header"
    printf '%s\n---\n%s\n' "$a" "$b"
    exit 1
  fi
done
n=$(grep -c '^#include "' "$build/single_include/headroom.hpp" || true)
[ "$n" -eq 0 ] || { echo "FAIL: $n project includes left in the single header"; exit 1; }
echo "the 7 examples built from single_include/headroom.hpp"
