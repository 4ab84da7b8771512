#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets with clang++ in BUILD_DIR and fuzzes each for
# SECONDS (the fuzz_<target> tests), as many at a time as there are CPUs.
# Prints one line per target:
#
#   TARGET  executions N  exec/s N  corpus N  ok | CRASH <input that crashed>
#
# and exits non-zero when any target crashed (or the build failed). The
# configure/build/test output goes to BUILD_DIR/run-fuzzers.log. The working
# corpora live in BUILD_DIR/tests/fuzz/work/<target>/ and grow from run to
# run when the build directory is kept.
#
#   tests/fuzz/run-fuzzers.sh BUILD_DIR SECONDS
#
# FUZZ_CXX names the clang++ to use (default: clang++).
set -uo pipefail

if (($# != 2)) || ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mkdir -p "$1" && cd "$1" && pwd)
seconds=$2
log=$build/run-fuzzers.log
targets=(mountinfo cgroup number keyed psi meminfo escape tree)
jobs=$(nproc 2>/dev/null || echo 2)

: >"$log"
fail() {
  echo "run-fuzzers.sh: $1 (log: $log)" >&2
  tail -n 30 "$log" >&2
  exit 2
}

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}" -DHEADROOM_FUZZ=ON \
  -DHEADROOM_FUZZ_SECONDS="$seconds" -DHEADROOM_VM_TESTS=OFF >>"$log" 2>&1 ||
  fail "configure failed"
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "headroom-fuzz-$t"); done
cmake --build "$build" -j "$jobs" "${build_targets[@]}" >>"$log" 2>&1 ||
  fail "build failed"

# The fuzz tests only (not the replays, which every build runs).
rm -f "$build"/tests/fuzz/work/*/summary.txt
ctest --test-dir "$build" -L fuzz -R '^fuzz_' -E '^fuzz_replay_' -j "$jobs" \
  --output-on-failure >>"$log" 2>&1
ctest_rc=$?

failed=0
for t in "${targets[@]}"; do
  summary=$build/tests/fuzz/work/$t/summary.txt
  if [[ ! -f $summary ]]; then
    printf '%-10s FAIL (the fuzzer did not report; see %s)\n' "$t" "$log"
    failed=1
    continue
  fi
  declare -A s=()
  while read -r key value; do s[$key]=$value; done <"$summary"
  if [[ ${s[result]-} == ok ]]; then
    result=ok
  else
    result="CRASH ${s[artifact]:-(no input saved; see $build/tests/fuzz/work/$t/fuzz.log)}"
    failed=1
  fi
  printf '%-10s executions %-11s exec/s %-7s corpus %-5s %s\n' "$t" "${s[executions]-?}" \
    "${s[per_second]-?}" "${s[corpus]-?}" "$result"
  unset s
done
if ((ctest_rc != 0 && failed == 0)); then
  echo "run-fuzzers.sh: ctest failed (see $log)" >&2
  failed=1
fi
exit "$failed"
