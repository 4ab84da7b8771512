#!/bin/sh
# SPDX-License-Identifier: MIT
# What including headroom costs a translation unit: the compile time of a
# file that includes a header, as a ratio to a file that includes only
# <string> and <vector>, measured side by side (alternated runs, so a busy
# machine slows both alike). Prints median and max of the ratios per
# header and compiler, -O0 -fsyntax-only off (a real object is made).
#   benchmarks/compile-cost.sh [INCLUDE_DIR]
#   RUNS=N (default 5), STD=c++20 (default c++17), HEADERS="memory.hpp ..."
# Targets: headroom.hpp <= 4x, memory.hpp <= 2.5x.
set -eu
inc=${1:-$(cd "$(dirname "$0")/.." && pwd)/include}
runs=${RUNS:-5}
std=${STD:-c++17}
work=$(mktemp -d /tmp/headroom-compile-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '#include <string>\n#include <vector>\nint main() { std::string s; std::vector<int> v; return static_cast<int>(s.size() + v.size()); }\n' >"$work/base.cpp"
# CPU time (user + sys) when GNU time is there: the machine may be shared,
# and waiting for a core is not what the header costs. Else wall time.
if /usr/bin/time -f '%U %S' -o "$work/t" true 2>/dev/null; then
  clock=cpu
else
  clock=wall
fi
now() { date +%s%N; }
# compile CXX FILE: nanoseconds of CPU time (or elapsed, see clock)
compile() {
  if [ "$clock" = cpu ]; then
    /usr/bin/time -f '%U %S' -o "$work/t" \
      "$1" -std="$std" -I"$inc" -c "$2" -o "$work/out.o"
    awk '{ printf "%d", ($1 + $2) * 1000000000 }' "$work/t"
    return
  fi
  t0=$(now)
  "$1" -std="$std" -I"$inc" -c "$2" -o "$work/out.o"
  t1=$(now)
  echo $((t1 - t0))
}
headers=${HEADERS:-$(cd "$inc/headroom" && ls *.hpp)}
echo "# $std, $clock time, $runs alternated runs"
printf '%-10s %-16s %8s %8s %8s\n' compiler header median max base_ms
for cxx in g++ clang++; do
  command -v "$cxx" >/dev/null 2>&1 || continue
  for h in $headers; do
    printf '#include <headroom/%s>\n#include <string>\n#include <vector>\nint main() { std::string s; std::vector<int> v; return static_cast<int>(s.size() + v.size()); }\n' "$h" >"$work/h.cpp"
    ratios=""
    base_sum=0
    i=0
    while [ $i -lt "$runs" ]; do
      b=$(compile "$cxx" "$work/base.cpp")
      t=$(compile "$cxx" "$work/h.cpp")
      base_sum=$((base_sum + b))
      ratios="$ratios $(awk -v t="$t" -v b="$b" 'BEGIN { printf "%.3f", t / b }')"
      i=$((i + 1))
    done
    echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk -v cxx="$cxx" -v h="$h" -v base="$((base_sum / runs / 1000000))" '
      { r[NR] = $1 }
      END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
            printf "%-10s %-16s %7.2fx %7.2fx %8d\n", cxx, h, m, r[NR], base }'
  done
done
