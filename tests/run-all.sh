#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every test headroom has, in every configuration we support, and
# prints one summary line per configuration:
#
#   gcc-c++17      g++, C++17: everything. The tests that depend on the
#                  compiler and its flags (unit, faults, portable, sizing,
#                  release and allocator, CLI, live tests on this kernel,
#                  concurrency, soak, examples under a real limit, fuzz
#                  replays); the live tests in a qemu guest on cgroup v2
#                  and on a hybrid layout, the runtimes' settings and the
#                  Docker scenarios; and, with HEADROOM_ONCE_TESTS, the
#                  tests that do not depend on this build's compiler or
#                  flags: format, header_includes, spdx, docs, strict_warnings
#                  (g++ and clang++, C++17 and C++20), readme_snippets,
#                  single_header, packaging_*, cli_promtool, run_all_args,
#                  example_arena, example_heap_tuning* and example_metrics
#                  (and the programs only those run). The benchmarks
#                  are compiled here (and in clang-c++17).
#   clang-c++17    the compiler-dependent tests only, clang++
#   gcc-c++20      the same in C++20, unoptimized (-O0): gcc-c++17 runs
#                  the same compiler's optimized code
#   no-exceptions  the same, g++ -fno-exceptions, unoptimized
#   asan-ubsan     the same, clang++ C++20 -fsanitize=address,undefined
#                  (clang++'s C++20 build: run under the sanitizers, not
#                  once more without them), -O1
#   tsan           the same, clang++ C++17 -fsanitize=thread, -O1
#   fuzz           each parser's libFuzzer target for a bounded time
#                  (HEADROOM_FUZZ_SECONDS, default 30 s per target)
#   bench          every benchmark briefly, from gcc-c++17's build
#                  (benchmarks/run-benchmarks.sh --quick): they run and
#                  their figures parse; no timing is judged. Then the
#                  compile cost of headroom.hpp and memory.hpp.
#
# Every configuration builds with line tables (-g1) instead of full debug
# info: enough for a backtrace and the sanitizers' reports, and a quarter
# less compile time with g++.
#
# A configuration's tests run while the next one builds (they mostly wait
# on the kernel); gcc-c++17 builds last and is tested alone.
#
# On a fresh Debian 12 machine, run it as root: it installs what it needs
# with apt-get first. Exits non-zero when any configuration fails.
#
#   tests/run-all.sh [--only NAME[,NAME...]] [--jobs N]
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

only=
jobs=$(nproc 2>/dev/null || echo 2)
while (($#)); do
  case $1 in
    --only|--jobs)
      if (($# < 2)) || [[ -z $2 ]]; then echo "run-all.sh: $1 needs a value" >&2; exit 2; fi
      if [[ $1 == --only ]]; then only=$2; else jobs=$2; fi
      shift 2 ;;
    -h|--help) sed -n '3,45p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-all.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# ------------------------------------------------------------------ packages
# What the configurations need, as Debian 12 names them.
packages=(
  g++ clang libclang-rt-14-dev cmake make ninja-build pkg-config doctest-dev
  qemu-system-x86 busybox-static cpio file util-linux
  # allocators release_free_memory() is tested under, and libuv, a peer
  libjemalloc2 libtcmalloc-minimal4 libgoogle-perftools4 libuv1-dev
  # the Docker scenarios read docker inspect and headroom-info --json
  jq
  # promtool: a second opinion on the exposition text (cli_promtool)
  prometheus
  # the format check (ctest format)
  clang-format
  # the API reference (ninja docs, ctest docs)
  doxygen
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "run-all.sh: missing packages: ${missing[*]}" >&2
    echo "run-all.sh: run as root to install them, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "run-all.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null &&
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { echo "run-all.sh: apt-get install failed" >&2; exit 1; }
fi

# ------------------------------------------------------------ configurations
# name | compiler | C++ standard | extra flags | optimization | VM,
# Docker and once-only tests (ON/OFF) | benchmarks compiled (ON/OFF) |
# runner. Most of a build's time is the optimizer's: -O0 compiles three
# (g++) to four (clang++) times faster than -O2 (-g1, a unit test file).
# The sanitizer builds use -O1, as ASan and TSan's documentation advise:
# fast enough to run, and cheaper to build than -O2.
configs=(
  "gcc-c++20|g++|20||-O0|OFF|OFF|"
  "clang-c++17|clang++|17||-O2|OFF|ON|"
  "no-exceptions|g++|17|-fno-exceptions|-O0|OFF|OFF|"
  "asan-ubsan|clang++|20|-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer|-O1|OFF|OFF|"
  # TSan needs an address layout without high-entropy randomisation on some
  # kernels; setarch -R gives it one.
  "tsan|clang++|17|-fsanitize=thread|-O1|OFF|OFF|setarch $(uname -m) -R"
  "gcc-c++17|g++|17||-O2|ON|ON|"
)
# Ninja where there is one (the package list above installs it): it keeps
# both jobs busy across targets.
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

summary=()
failed=0
started=$SECONDS
# The bench stage reuses gcc-c++17's build when this run made one.
bench_build=$top/build-ci/bench

# A configuration's tests run while the next configuration builds: most of
# their time is spent waiting on the kernel (cgroups filling, OOM kills,
# PSI windows) and the rest shares the CPUs with the compiler. The last
# configuration, gcc-c++17 with the qemu guest and Docker, is tested alone.
# Each run writes its console output and summary line to files, printed
# when the run is collected.
run_tests() { # name dir log runner
  local name=$1 dir=$2 log=$3 runner=$4 t1=$SECONDS rc counts skipped status
  # shellcheck disable=SC2086 # runner is a command prefix
  $runner ctest --test-dir "$dir" --output-on-failure -j "$jobs" >"$dir.ctest" 2>&1
  rc=$?
  cat "$dir.ctest" >>"$log"
  counts=$(grep -aE '^[0-9]+% tests passed' "$dir.ctest" | tail -n 1)
  skipped=$(grep -aE '\(Skipped\)' "$dir.ctest" | sed -E 's/.*- ([^ ]+) \(Skipped\).*/\1/' | sort -u | tr '\n' ' ')
  # A skipped test says why on a "SKIP:" line; ctest keeps it in its log.
  if [[ -n $skipped ]]; then
    grep -ah '^SKIP:' "$dir"/Testing/Temporary/LastTest*.log 2>/dev/null | sort -u | sed "s/^/   $name: /" >>"$dir.ctest"
  fi
  status=PASS
  if ((rc != 0)); then status=FAIL; fi
  printf '%s  tests %3ds  %s%s\n' "$status" $((SECONDS - t1)) \
    "${counts:-no ctest summary}" "${skipped:+; skipped: $skipped}" >"$dir.result"
}
testing_pid= testing_name= testing_dir= testing_build_s=
collect_tests() {
  [[ -n $testing_pid ]] || return 0
  wait "$testing_pid"
  echo "== $testing_name: tests"
  cat "$testing_dir.ctest"
  local result
  result=$(cat "$testing_dir.result" 2>/dev/null || echo "FAIL  tests did not report")
  [[ $result == PASS* ]] || failed=1
  summary+=("$(printf '%-14s %s' "$testing_name" "${result%%  *}  build $(printf '%3d' "$testing_build_s")s  ${result#*  }")")
  testing_pid=
}

for c in "${configs[@]}"; do
  IFS='|' read -r name cxx std flags opt first bench runner <<<"$c"
  if [[ -n $only && ",$only," != *",$name,"* ]]; then continue; fi
  dir=$top/build-ci/$name
  log=$dir.log
  mkdir -p "$top/build-ci"
  # A directory left by an earlier run with another generator starts anew.
  if [[ -f $dir/CMakeCache.txt ]] &&
     ! grep -qx "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  echo "== $name: configuring and building (log: ${log#"$top"/})"
  t0=$SECONDS
  if ! { cmake "${generator[@]}" -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
           -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_STANDARD="$std" \
           -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt -g1 -DNDEBUG" \
           -DHEADROOM_VM_TESTS="$first" -DHEADROOM_DOCKER_TESTS="$first" \
           -DHEADROOM_ONCE_TESTS="$first" -DHEADROOM_BUILD_BENCHMARKS="$bench" &&
         cmake --build "$dir" -j "$jobs"; } >"$log" 2>&1; then
    tail -n 40 "$log"
    collect_tests
    summary+=("$(printf '%-14s FAIL  build failed after %ds (see %s)' "$name" $((SECONDS - t0)) "${log#"$top"/}")")
    failed=1
    continue
  fi
  build_s=$((SECONDS - t0))
  [[ $name == gcc-c++17 ]] && bench_build=$dir
  collect_tests
  echo "== $name: testing"
  run_tests "$name" "$dir" "$log" "$runner" &
  testing_pid=$! testing_name=$name testing_dir=$dir testing_build_s=$build_s
  # The configuration with the guest and Docker is tested alone.
  [[ $first == ON ]] && collect_tests
done
collect_tests

# Fuzzing: clang, libFuzzer, every parser for a bounded time. The replay
# of the seeds and of every crash ever found runs in each configuration
# above (fuzz_replay_* tests).
if [[ -z $only || ",$only," == *",fuzz,"* ]]; then
  echo "== fuzz: building and fuzzing (log: build-ci/fuzz/run-fuzzers.log)"
  t0=$SECONDS
  fuzz_out=$(tests/fuzz/run-fuzzers.sh "$top/build-ci/fuzz" "${HEADROOM_FUZZ_SECONDS:-30}" 2>&1)
  rc=$?
  printf '%s\n' "$fuzz_out" | sed 's/^/   /'
  execs=$(printf '%s\n' "$fuzz_out" | awk '/executions/ {n += $3} END {print n + 0}')
  if ((rc == 0)); then status=PASS; else status=FAIL; failed=1; fi
  summary+=("$(printf '%-14s %s  %3ds in all  %s targets, %s executions' fuzz "$status" $((SECONDS - t0)) "$(printf '%s\n' "$fuzz_out" | grep -c executions)" "$execs")")
fi

if [[ -z $only || ",$only," == *",bench,"* ]]; then
  echo "== bench: the benchmarks, briefly (log: ${bench_build#"$top"/}/bench-results/)"
  t0=$SECONDS
  if benchmarks/run-benchmarks.sh --quick "$bench_build" 2>&1 | sed 's/^/   /'; then
    status=PASS
  else
    status=FAIL
    failed=1
  fi
  summary+=("$(printf '%-14s %s  %3ds in all  every benchmark ran, its figures parsed' bench "$status" $((SECONDS - t0)))")
  # What including a public header costs, as a ratio to <string> and
  # <vector> (printed, not judged: see the README's figures): the two
  # headers that have a target, to show the script works.
  echo "   compile cost (benchmarks/compile-cost.sh, RUNS=1, headroom.hpp and memory.hpp):"
  RUNS=1 HEADERS="headroom.hpp memory.hpp" benchmarks/compile-cost.sh 2>&1 | sed 's/^/     /' || true
fi

echo
echo "== summary ($((SECONDS - started))s in all)"
printf '%s\n' "${summary[@]}"
exit "$failed"
