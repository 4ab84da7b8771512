#!/bin/bash
# SPDX-License-Identifier: MIT
# Runtime settings against the real runtimes, on this kernel (cgroup v1):
#
#   memory  Node.js and the JDK in an unlimited child of a 256 MiB cgroup,
#           started plainly and through `headroom-info --exec`: V8's
#           heap_size_limit and the JVM's MaxHeapSize without and with. With,
#           both must fit inside the limit by the presets' rules (V8: half
#           the limit for the old generation plus the young generation; the
#           JVM: its own percentages of MaxRAM, half below 499 MiB).
#   cpu     a cgroup with a quota of one CPU of the affinity's N > 1:
#           GOMAXPROCS, MALLOC_ARENA_MAX and the JVM's ActiveProcessorCount
#           and Runtime.availableProcessors (-XshowSettings:system) through
#           `headroom-info --exec`.
#
# Prints a markdown table of the figures. Usage: runtime_settings.sh
# HEADROOM_INFO. Needs root, cgroup v1 memory and cpu controllers, node and
# java (PATH, or $NODE and $JAVA); otherwise SKIP and exit 77. Its cgroups
# are children of its own, named with its pid, removed at the end.
set -u

info=${1:?usage: runtime_settings.sh HEADROOM_INFO}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (cgroup writes)"
mem_root=/sys/fs/cgroup/memory
cpu_root=/sys/fs/cgroup/cpu
[ -f $mem_root/memory.limit_in_bytes ] || skip "no cgroup v1 memory controller at $mem_root"
[ -f $cpu_root/cpu.cfs_quota_us ] || skip "no cgroup v1 cpu controller at $cpu_root"
node=${NODE:-$(command -v node)}
java=${JAVA:-$(command -v java)}
[ -x "$node" ] || skip "no node in PATH (Debian: nodejs), or set NODE"
[ -x "$java" ] || skip "no java in PATH (Debian: openjdk-17-jre-headless), or set JAVA"
ncpu=$(nproc)
[ "$ncpu" -gt 1 ] || skip "the affinity allows one CPU: a quota of one changes nothing"

own_mem=$(sed -n 's/^[0-9]*:\(.*,\)\{0,1\}memory\(,.*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
own_cpu=$(sed -n 's/^[0-9]*:\(.*,\)\{0,1\}cpu\(,.*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
[ -n "$own_mem" ] && [ -n "$own_cpu" ] || skip "cannot tell the own memory and cpu cgroups"
mem=$mem_root${own_mem%/}/headroom-runtime-$$
cpu=$cpu_root${own_cpu%/}/headroom-runtime-$$
mib=$((1024 * 1024))
limit=$((256 * mib))
failures=0

cleanup() {
  for d in "$mem/child" "$mem" "$cpu"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
}
trap cleanup EXIT
mkdir -p "$mem/child" "$cpu" || skip "cannot create cgroups under $mem_root$own_mem"
echo $limit > "$mem/memory.limit_in_bytes"
echo 100000 > "$cpu/cpu.cfs_period_us"
echo 100000 > "$cpu/cpu.cfs_quota_us"

# run_in MEMDIR CPUDIR COMMAND...: runs COMMAND inside both (empty: stay).
run_in() {
  local m=$1 c=$2
  shift 2
  sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs"; [ -z "$2" ] || echo $$ > "$2/cgroup.procs"
         shift 2; exec "$@"' sh "$m" "$c" "$@"
}
check() {  # check WHAT CONDITION...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}
v8_heap() { "$@" "$node" -e 'console.log(require("v8").getHeapStatistics().heap_size_limit)'; }
jvm_flag() {  # jvm_flag FLAG COMMAND-PREFIX...
  local flag=$1
  shift
  "$@" "$java" -XX:+PrintFlagsFinal -version 2>/dev/null | awk -v f="$flag" '$2 == f { print $4 }'
}

echo "== memory: unlimited child of a $((limit / mib)) MiB cgroup"
node_plain=$(v8_heap run_in "$mem/child" "")
node_with=$(v8_heap run_in "$mem/child" "" "$info" --exec --runtime node --)
java_plain=$(jvm_flag MaxHeapSize run_in "$mem/child" "")
java_with=$(jvm_flag MaxHeapSize run_in "$mem/child" "" "$info" --exec --runtime jvm --)
node_opts=$(run_in "$mem/child" "" "$info" --exec --runtime node -- sh -c 'echo "$NODE_OPTIONS"')
java_opts=$(run_in "$mem/child" "" "$info" --exec --runtime jvm -- sh -c 'echo "$JAVA_TOOL_OPTIONS"')
echo "NODE_OPTIONS=$node_opts"
echo "JAVA_TOOL_OPTIONS=$java_opts"
for v in node_plain node_with java_plain java_with; do
  check "$v is a number (${!v})" test -n "${!v}" -a "${!v}" -eq "${!v}" 2>/dev/null
done
old=$((limit / 2 / mib))
check "NODE_OPTIONS carries half the limit" test "$node_opts" = "--max-old-space-size=$old"
check "JAVA_TOOL_OPTIONS carries the limit" test "$java_opts" = "-XX:MaxRAM=$limit"
# V8: the old generation asked for plus at most 48 MiB of young generation.
check "V8's heap with headroom fits the limit ($node_with <= $limit)" \
  test "${node_with:-0}" -le $limit -a "${node_with:-0}" -ge $((old * mib))
# HotSpot on 256 MiB: MinRAMPercentage, half, below 124.8 MiB -> 126 MiB
# aligned (presets::jvm(), policy tests).
check "the JVM's heap with headroom is half the limit or less ($java_with)" \
  test "${java_with:-0}" -le $((limit / 2)) -a "${java_with:-0}" -gt 0

echo "== cpu: a quota of 1 CPU of $ncpu"
env_line=$(run_in "" "$cpu" "$info" --exec -- sh -c 'echo "$GOMAXPROCS $MALLOC_ARENA_MAX"')
apc_plain=$(jvm_flag ActiveProcessorCount run_in "" "$cpu")
apc_with=$(jvm_flag ActiveProcessorCount run_in "" "$cpu" "$info" --exec --runtime jvm --)
avail_plain=$(run_in "" "$cpu" "$java" -XshowSettings:system -version 2>&1 | sed -n 's/.*Effective CPU Count: //p')
avail_with=$(run_in "" "$cpu" "$info" --exec --runtime jvm -- "$java" -XshowSettings:system -version 2>&1 |
  sed -n 's/.*Effective CPU Count: //p')
echo "GOMAXPROCS MALLOC_ARENA_MAX: $env_line"
check "GOMAXPROCS=1 MALLOC_ARENA_MAX=8" test "$env_line" = "1 8"
check "ActiveProcessorCount with headroom is 1 ($apc_with)" test "$apc_with" = 1
check "the JVM's effective CPU count with headroom is 1 ($avail_with)" test "$avail_with" = 1
# Outside any limit: nothing changes what the runtimes pick.
none=$(run_in "" "" "$info" --exec -- sh -c 'echo "${GOMAXPROCS-unset} ${MALLOC_ARENA_MAX-unset}"')
check "no quota: GOMAXPROCS and MALLOC_ARENA_MAX left unset ($none)" test "$none" = "unset unset"

echo
echo "| runtime | limit | without headroom | with headroom |"
echo "| --- | --- | --- | --- |"
echo "| Node $("$node" --version) heap_size_limit | $limit | $node_plain | $node_with |"
echo "| $("$java" -version 2>&1 | head -n 1 | tr -d '"') MaxHeapSize | $limit | $java_plain | $java_with |"
echo "| JVM ActiveProcessorCount (quota 1 of $ncpu) | 1 CPU | $apc_plain | $apc_with |"
echo "| JVM Effective CPU Count (quota 1 of $ncpu) | 1 CPU | $avail_plain | $avail_with |"
echo "| GOMAXPROCS MALLOC_ARENA_MAX (quota 1 of $ncpu) | 1 CPU | unset unset | $env_line |"
[ $failures = 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
