#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The user's scenarios in real Docker containers, each judged by what Docker
# set (docker inspect) and what the kernel enforces (the container's cgroup
# read from the host: /proc/<pid>/cgroup, then /sys/fs/cgroup/...).
#
#   run-docker-tests.sh --info BIN --survival BIN --probe BIN [--runs N]
#                       [--only NAME[,NAME...]] [--list]
#
# BIN are static builds (-static) of headroom-info, headroom-survival and
# tests/docker/probe.cpp. Two images are built from them, no registry
# needed: the demo image from tests/docker/Dockerfile (FROM scratch), and a
# test image (docker import of a tar) with the probe. The JDK and Node of
# the host, when installed under /usr, are bind-mounted read-only into the
# test containers and asked too: second opinions, printed beside
# headroom's; the kernel's value is the judge.
#
# One line per scenario: PASS, FAIL (with what differed) or SKIP (why).
# Every container, image and cgroup made here is removed on exit. Exits 0
# when every scenario passed, 1 when one failed, 77 (SKIP: why) when no
# Docker engine answers or the scenarios cannot run on this host.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
info_bin= survival_bin= probe_bin= runs=3 only=
while (($#)); do
  case $1 in
    --info) info_bin=${2-}; shift 2 ;;
    --survival) survival_bin=${2-}; shift 2 ;;
    --probe) probe_bin=${2-}; shift 2 ;;
    --runs) runs=${2-}; shift 2 ;;
    --only) only=${2-}; shift 2 ;;
    --list) only=list; shift ;;
    -h|--help) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-docker-tests.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for b in "$info_bin" "$survival_bin" "$probe_bin"; do
  [[ -x $b ]] || { echo "run-docker-tests.sh: --info, --survival and --probe need executables" >&2; exit 2; }
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "run-docker-tests.sh: --runs needs a positive number" >&2; exit 2; }

skip() { echo "SKIP: $*"; exit 77; }

# ---------------------------------------------------------------- the host
command -v docker >/dev/null || skip "no docker command on this host"
command -v jq >/dev/null || skip "jq is not installed (Debian: apt-get install jq)"
[[ $(id -u) == 0 ]] || skip "run as root: the judge reads every container's cgroup and makes a pod cgroup"
server=$(timeout 20 docker info --format '{{.ServerVersion}} {{.CgroupVersion}} {{.CgroupDriver}}' 2>&1) ||
  skip "no Docker engine answers: $(tr '\n' ' ' <<<"$server" | sed 's/^ *//')"
read -r server_version cgroup_version cgroup_driver <<<"$server"
[[ $cgroup_version == 1 ]] ||
  skip "Docker runs on cgroup v$cgroup_version; these scenarios judge by the v1 files"
[[ $cgroup_driver == cgroupfs ]] ||
  skip "Docker's cgroup driver is $cgroup_driver; the pod scenario makes a cgroupfs parent"

# Where this host mounts a v1 controller (its mount root must be /: the
# judge maps the paths of /proc/<pid>/cgroup through it).
v1_mount() {
  awk -v c="$1" '$9 == "cgroup" && $4 == "/" {
    n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $5; exit } }' /proc/self/mountinfo
}
mem_mount=$(v1_mount memory)
cpu_mount=$(v1_mount cpu)
cpuset_mount=$(v1_mount cpuset)
[[ -n $mem_mount && -n $cpu_mount && -n $cpuset_mount ]] ||
  skip "this host has no v1 memory, cpu and cpuset mounts rooted at / to judge by"

tag=headroom-test-$$
prefix=headroom-$$
# What an earlier run that was killed (a ctest timeout) left behind: its
# pid is in every name, and that process is gone.
gone() { [[ ! -e /proc/$1 ]]; }
for c in $(timeout 30 docker ps -a --format '{{.Names}}'); do
  [[ $c =~ ^headroom-([0-9]+)- ]] && gone "${BASH_REMATCH[1]}" && timeout 30 docker rm -f "$c" >/dev/null 2>&1
done
for c in $(timeout 30 docker images --format '{{.Repository}}:{{.Tag}}'); do
  [[ $c =~ ^headroom-test-([0-9]+): ]] && gone "${BASH_REMATCH[1]}" && timeout 30 docker rmi -f "$c" >/dev/null 2>&1
done
for c in /sys/fs/cgroup/*/headroom-pod-*; do
  [[ $c =~ /headroom-pod-([0-9]+)$ ]] && gone "${BASH_REMATCH[1]}" && rmdir "$c" 2>/dev/null
done
work=$(mktemp -d "/tmp/headroom-docker-$$.XXXXXX")
containers=()
images=()
pod_cgroup=
cleanup() {
  local c
  for c in "${containers[@]}"; do timeout 30 docker rm -f "$c" >/dev/null 2>&1; done
  for c in "${images[@]}"; do timeout 30 docker rmi -f "$c" >/dev/null 2>&1; done
  if [[ -n $pod_cgroup ]]; then
    # Docker made the parent in every controller it uses: remove each.
    for c in /sys/fs/cgroup/*/"$pod_cgroup"; do [[ -d $c ]] && rmdir "$c" 2>/dev/null; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ------------------------------------------------------------------- images
# The test image: the static binaries, the probe, and what the host's JDK
# and Node need to run from a read-only bind of /usr (lib -> usr/lib...).
mkdir -p "$work/rootfs/usr" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/demo"
chmod 1777 "$work/rootfs/tmp"
cp "$info_bin" "$work/rootfs/headroom-info"
cp "$survival_bin" "$work/rootfs/headroom-survival"
cp "$probe_bin" "$work/rootfs/probe"
ln -s usr/lib "$work/rootfs/lib"
ln -s usr/lib64 "$work/rootfs/lib64"
ln -s usr/bin "$work/rootfs/bin"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" . || exit 1
timeout 120 docker import "$work/rootfs.tar" "$tag:probe" >/dev/null ||
  { echo "FAIL: docker import of the test image"; exit 1; }
images+=("$tag:probe")
# The demo image, as a user builds it: tests/docker/Dockerfile.
cp "$info_bin" "$work/demo/headroom-info"
cp "$survival_bin" "$work/demo/headroom-survival"
DOCKER_BUILDKIT=0 timeout 120 docker build -q -t "$tag:demo" -f "$here/Dockerfile" "$work/demo" \
  >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "FAIL: docker build of the demo image"; exit 1; }
images+=("$tag:demo")

# The peers, from the host's /usr, read-only.
java= node= peer_mounts=()
if j=$(readlink -f "$(command -v java 2>/dev/null)" 2>/dev/null) && [[ $j == /usr/* && -x $j ]]; then
  java=$j
  conf=$(readlink -f "$(dirname "$(dirname "$j")")/lib/jvm.cfg")
  [[ $conf != /usr/* ]] && peer_mounts+=(-v "$(dirname "$conf"):$(dirname "$conf"):ro")
fi
if n=$(readlink -f "$(command -v node 2>/dev/null)" 2>/dev/null) && [[ $n == /usr/* && -x $n ]]; then
  node=$n
fi
[[ -n $java || -n $node ]] && peer_mounts+=(-v /usr:/usr:ro)

# ------------------------------------------------------------------ helpers
passed=0 failed=0
why=()
expect() {  # expect WHAT ACTUAL EXPECTED
  [[ $2 == "$3" ]] || why+=("$1 $2, expected $3")
}
expect_near() {  # expect_near WHAT ACTUAL EXPECTED TOLERANCE (integers)
  if ! [[ $2 =~ ^[0-9]+$ && $3 =~ ^[0-9]+$ ]]; then
    why+=("$1 $2, expected about $3")
  elif (($2 > $3 + $4 || $2 + $4 < $3)); then
    why+=("$1 $2, expected $3 +- $4")
  fi
}
verdict() {  # verdict NAME FIGURES
  if ((${#why[@]} == 0)); then
    echo "PASS $1: $2"
    ((++passed))
  else
    echo "FAIL $1: $2"
    local w
    for w in "${why[@]}"; do echo "     $1: $w"; done
    ((++failed))
  fi
  why=()
}
wanted() { [[ -z $only || ",$only," == *",$1,"* ]]; }

mib() { [[ $1 =~ ^[0-9]+$ ]] && awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }' || echo "$1"; }

# start NAME [docker run options...] -- COMMAND...: a detached container.
start() {
  local name=$prefix-$1; shift
  local opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  containers+=("$name")
  timeout 60 docker run -d --name "$name" "${peer_mounts[@]}" "${opts[@]}" "$tag:probe" "$@" \
    >"$work/$name.run" 2>&1 || { cat "$work/$name.run" >&2; return 1; }
}
# wait_log NAME REGEX [SECONDS]: until the container's output matches.
wait_log() {
  local i
  for ((i = 0; i < ${3:-10} * 10; ++i)); do
    timeout 10 docker logs "$prefix-$1" 2>&1 | grep -qE "$2" && return 0
    sleep 0.1
  done
  return 1
}
cpid() { docker inspect -f '{{.State.Pid}}' "$prefix-$1"; }
inspect() { docker inspect -f "$2" "$prefix-$1"; }
in_c() { local n=$prefix-$1; shift; timeout 60 docker exec "$n" "$@"; }
# The container's cgroup directory of controller $2, on the host.
host_dir() {
  local path
  path=$(awk -F: -v c="$2" '{ n = split($2, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) print $3 }' \
    "/proc/$1/cgroup")
  echo "$3$path"
}
# The limit the kernel enforces on a v1 memory cgroup: its own
# hierarchical_memory_limit (the minimum over its ancestors).
kernel_limit() {
  local v
  v=$(awk '$1 == "hierarchical_memory_limit" { print $2 }' "$1/memory.stat")
  ((v >= 9223372036854771712)) && v=null
  echo "$v"
}
# The peers' numbers in container NAME.
java_says() {
  [[ -n $java ]] || { echo "java n/a"; return; }
  local out
  out=$(in_c "$1" "$java" -XX:-UsePerfData -XshowSettings:system -version 2>&1)
  local limit
  limit=$(sed -n 's/^ *Memory Limit: //p' <<<"$out" | head -n 1)
  if [[ -z $limit ]]; then
    echo "java failed: $(grep -m1 -E 'Exception|Error' <<<"$out" || head -n 1 <<<"$out")"
    return
  fi
  echo "java $limit cpus $(sed -n 's/^ *Effective CPU Count: //p' <<<"$out" | head -n 1)"
}
node_says() {
  [[ -n $node ]] || { echo "node n/a"; return; }
  in_c "$1" "$node" -e 'const v8 = require("v8"), os = require("os");
    console.log("node constrained " + process.constrainedMemory() + " heap_limit " +
      v8.getHeapStatistics().heap_size_limit + " cpus " + os.availableParallelism())' 2>&1 | head -n 1
}
# The mode the kernel shows the process: a cgroup2 mount in its mount
# namespace beside the v1 memory controller is hybrid.
kernel_mode() {
  if grep -q ' - cgroup2 ' "/proc/$1/mountinfo"; then echo hybrid; else echo v1; fi
}
# json FILE FILTER
json() { jq -r "$2 | if . == null then \"null\" else tostring end" "$1" 2>/dev/null || echo "unparsable"; }

# --------------------------------------------------------------- scenarios
# memory NAME DOCKER_OPTIONS...: a 128 MiB container holding 32 MiB; the
# limit, usage, working set and mode against the kernel's, then the same
# container read from the host with --pid.
memory() {
  local name=$1; shift
  wanted "$name" || wanted "pid_$name" || return 0
  if ! start "$name" -m 128m "$@" -- /probe hold 32 || ! wait_log "$name" '^held'; then
    why+=("the container did not start: $(tail -n 1 "$work/$prefix-$name.run")")
    verdict "$name" "docker run -m 128m $*"
    return
  fi
  local pid dir set k_limit k_usage f=$work/$name.json
  pid=$(cpid "$name")
  dir=$(host_dir "$pid" memory "$mem_mount")
  set=$(inspect "$name" '{{.HostConfig.Memory}}')
  in_c "$name" /headroom-info --json >"$f" 2>"$work/$name.err"
  k_usage=$(<"$dir/memory.usage_in_bytes")
  k_limit=$(kernel_limit "$dir")
  local h_limit h_usage h_ws h_mode mapping
  h_limit=$(json "$f" .memory.limit_bytes)
  h_usage=$(json "$f" .memory.usage_bytes)
  h_ws=$(json "$f" .memory.working_set_bytes)
  h_mode=$(json "$f" .cgroup.version)
  mapping=$(json "$f" .cgroup.path_mapping)
  expect "docker's limit" "$set" 134217728
  expect "the kernel's limit" "$k_limit" "$set"
  expect "headroom's limit" "$h_limit" "$k_limit"
  expect_near "headroom's usage" "$h_usage" "$k_usage" $((8 << 20))
  [[ $h_ws =~ ^[0-9]+$ && $h_usage =~ ^[0-9]+$ ]] && ((h_ws <= h_usage && h_ws >= 32 << 20)) ||
    why+=("working set $h_ws is not between the 32 MiB held and the usage $h_usage")
  expect "headroom's mode" "$h_mode" "$(kernel_mode "$pid")"
  expect "errors" "$(json "$f" '.errors | length')" 0
  verdict "$name" "docker -m $set, kernel $k_limit, headroom $h_limit ($mapping$(
    [[ $mapping == found_by_pid ]] && echo ", $(json "$f" .cgroup.dirs_searched) directories searched"), mode $h_mode, usage $(mib "$h_usage") against the kernel's $(mib "$k_usage"), working set $(mib "$h_ws")); $(java_says "$name"); $(node_says "$name")"

  wanted "pid_$name" || return 0
  local g=$work/pid_$name.json
  "$info_bin" --pid "$pid" --json >"$g" 2>"$work/pid_$name.err"
  k_usage=$(<"$dir/memory.usage_in_bytes")
  expect "--pid limit" "$(json "$g" .memory.limit_bytes)" "$k_limit"
  expect "--pid limit (inside)" "$(json "$g" .memory.limit_bytes)" "$h_limit"
  expect_near "--pid usage" "$(json "$g" .memory.usage_bytes)" "$k_usage" $((8 << 20))
  expect "--pid errors" "$(json "$g" '.errors | length')" 0
  # The host sees every container's cgroup: its own mountinfo maps it.
  expect "--pid cgroup.view" "$(json "$g" .cgroup.view)" reader
  verdict "pid_$name" "headroom-info --pid $pid from the host: limit $(json "$g" .memory.limit_bytes) ($(json "$g" .cgroup.path_mapping), view $(json "$g" .cgroup.view), $(json "$g" .cgroup.memory_dir)), usage $(mib "$(json "$g" .memory.usage_bytes)"); inside: $h_limit"
}

# A Kubernetes-shaped pod: a parent cgroup with a 192 MiB limit, two
# unlimited containers in it (32 and 48 MiB held).
pod() {
  local name=$1; shift
  wanted "$name" || wanted "pid_$name" || return 0
  if [[ -z $pod_cgroup ]]; then
    pod_cgroup=headroom-pod-$$
    mkdir "$mem_mount/$pod_cgroup" && echo $((192 << 20)) >"$mem_mount/$pod_cgroup/memory.limit_in_bytes" ||
      { why+=("could not make $mem_mount/$pod_cgroup"); verdict "$name" "a 192 MiB pod"; return; }
    start pod-sibling --cgroup-parent "/$pod_cgroup" -- /probe hold 48 && wait_log pod-sibling '^held' ||
      why+=("the sibling container did not start")
  fi
  if ! start "$name" --cgroup-parent "/$pod_cgroup" "$@" -- /probe hold 32 || ! wait_log "$name" '^held'; then
    why+=("the container did not start: $(tail -n 1 "$work/$prefix-$name.run")")
    verdict "$name" "a 192 MiB pod"
    return
  fi
  local pid dir f=$work/$name.json
  pid=$(cpid "$name")
  dir=$(host_dir "$pid" memory "$mem_mount")
  in_c "$name" /headroom-info --json >"$f" 2>"$work/$name.err"
  local k_limit k_usage k_pod_usage h_limit h_usage
  k_usage=$(<"$dir/memory.usage_in_bytes")
  k_pod_usage=$(<"$mem_mount/$pod_cgroup/memory.usage_in_bytes")
  k_limit=$(kernel_limit "$dir")
  h_limit=$(json "$f" .memory.limit_bytes)
  h_usage=$(json "$f" .memory.usage_bytes)
  expect "docker's limit on the container" "$(inspect "$name" '{{.HostConfig.Memory}}')" 0
  expect "the kernel's limit" "$k_limit" $((192 << 20))
  expect "headroom's limit" "$h_limit" "$k_limit"
  expect_near "headroom's usage (the container's)" "$h_usage" "$k_usage" $((8 << 20))
  # Inside, only the container's usage is visible, not the pod's (that the
  # kernel compares with the limit): the headroom is an upper bound.
  expect "memory.usage_scope" "$(json "$f" .memory.usage_scope)" below_limit_cgroup
  expect "memory.headroom_is_bound" "$(json "$f" .memory.headroom_is_bound)" true
  verdict "$name" "--cgroup-parent /$pod_cgroup $*: kernel $k_limit, headroom $h_limit ($(json "$f" .memory.limit_source)); usage $(mib "$h_usage") ($(json "$f" .memory.usage_scope), headroom_is_bound $(json "$f" .memory.headroom_is_bound)) against the container's $(mib "$k_usage") and the pod's $(mib "$k_pod_usage"); $(java_says "$name"); $(node_says "$name")"

  # From the host the pod cgroup is visible: its usage is the one that
  # counts, and the headroom is exact.
  local g=$work/pid_$name.json
  "$info_bin" --pid "$pid" --json >"$g" 2>"$work/pid_$name.err"
  k_pod_usage=$(<"$mem_mount/$pod_cgroup/memory.usage_in_bytes")
  expect "--pid limit" "$(json "$g" .memory.limit_bytes)" "$k_limit"
  expect "--pid cgroup.view" "$(json "$g" .cgroup.view)" reader
  expect "--pid memory.usage_scope" "$(json "$g" .memory.usage_scope)" limit_cgroup
  expect "--pid memory.headroom_is_bound" "$(json "$g" .memory.headroom_is_bound)" false
  expect_near "--pid usage (the pod's)" "$(json "$g" .memory.usage_bytes)" "$k_pod_usage" $((8 << 20))
  verdict "pid_$name" "headroom-info --pid $pid from the host: limit $(json "$g" .memory.limit_bytes) of $(json "$g" .memory.limit_cgroup), view $(json "$g" .cgroup.view), usage $(mib "$(json "$g" .memory.usage_bytes)") ($(json "$g" .memory.usage_scope)) against the pod's $(mib "$k_pod_usage")"
}

# docker update --memory while headroom-info --watch --json runs.
update() {
  wanted update || return 0
  if ! start update -m 128m -- /headroom-info --watch --json --interval 200 ||
    ! wait_log update '"kind":"sources"'; then
    why+=("the watch did not start")
    verdict update "docker update --memory"
    return
  fi
  local pid dir steps=() old=128 new
  pid=$(cpid update)
  dir=$(host_dir "$pid" memory "$mem_mount")
  for new in 192 96; do
    local t0=$EPOCHREALTIME
    timeout 30 docker update --memory ${new}m "$prefix-update" >/dev/null ||
      { why+=("docker update --memory ${new}m failed"); break; }
    local k
    k=$(<"$dir/memory.limit_in_bytes")
    expect "the kernel's limit after docker update" "$k" $((new << 20))
    local line
    if wait_log update "\"kind\":\"limit_changed\".*\"new_limit_bytes\":$((new << 20))" 5; then
      local t1=$EPOCHREALTIME
      line=$(docker logs "$prefix-update" 2>&1 | grep '"kind":"limit_changed"' |
        grep "\"new_limit_bytes\":$((new << 20))" | head -n 1)
      expect "old_limit_bytes" "$(jq -r .old_limit_bytes <<<"$line")" $((old << 20))
      steps+=("${old}m -> ${new}m: limit_changed $(jq -r '"\(.old_limit_bytes) -> \(.new_limit_bytes)"' <<<"$line") within $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms")
    else
      why+=("no limit_changed to $((new << 20)) within 5 s")
    fi
    old=$new
  done
  local IFS=';'
  verdict update "docker run -m 128m, then docker update --memory 192m and 96m; kernel $(<"$dir/memory.limit_in_bytes");${steps[*]}"
}

# survival MODE: N fresh 128 MiB containers of the demo image. A run has
# 30 s (a healthy one takes 1-3 s); one still running then is stopped and
# counted as stuck when its usage is at the limit: thrashing, neither
# killed nor done. The image's files are charged to the container, so at
# its limit the kernel can keep reclaiming the program's own text and
# faulting it back in (major faults) instead of killing it.
survival() {
  local mode=$1 name=survival_$1
  wanted "$name" || return 0
  local i killed=0 survived=0 stuck=0 rates=() peak=0 codes=()
  for ((i = 1; i <= runs; ++i)); do
    local c=$prefix-$name-$i t0=$SECONDS
    containers+=("$c")
    if ! timeout 60 docker run -d --name "$c" -m 128m "$tag:demo" "$mode" --seed $((1000 + i)) \
      >/dev/null 2>"$work/$c.err"; then
      codes+=("not started: $(tail -n 1 "$work/$c.err")")
      continue
    fi
    if ! timeout 30 docker wait "$c" >/dev/null 2>&1; then
      local d usage limit faults
      d=$(host_dir "$(docker inspect -f '{{.State.Pid}}' "$c")" memory "$mem_mount")
      usage=$(<"$d/memory.usage_in_bytes")
      limit=$(<"$d/memory.limit_in_bytes")
      faults=$(awk '$1 == "total_pgmajfault" { print $2 }' "$d/memory.stat")
      if ((usage + (1 << 20) >= limit)); then
        ((++stuck))
        codes+=("stuck(usage $(mib "$usage"), $faults major faults)")
      else
        codes+=("still running after 30 s at $(mib "$usage")")
      fi
      timeout 30 docker rm -f "$c" >/dev/null 2>&1
      continue
    fi
    docker logs "$c" >"$work/$c.out" 2>&1
    local code oom
    code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
    oom=$(docker inspect -f '{{.State.OOMKilled}}' "$c")
    codes+=("$code/$oom/$((SECONDS - t0))s")
    [[ $code == 137 && $oom == true ]] && ((++killed))
    if [[ $code == 0 && $oom == false ]]; then
      ((++survived))
      rates+=("$(awk '$2 == "in_place" && $3 == "hit_rate_pct" { print $4 }' "$work/$c.out")")
      local p
      p=$(awk '$2 == "in_place" && $3 == "peak_ws_bytes" { print $4 }' "$work/$c.out")
      ((p > peak)) && peak=$p
    fi
    timeout 30 docker rm "$c" >/dev/null 2>&1
  done
  local figures="exit/OOMKilled/time per run: ${codes[*]}"
  if [[ $mode == naive ]]; then
    # The naive cache never completes: the kernel kills it, or it thrashes
    # at its limit.
    expect "killed (137, OOMKilled true) or stuck at the limit" "$((killed + stuck)) of $runs" "$runs of $runs"
    verdict "$name" "killed $killed/$runs, stuck at the limit $stuck/$runs; $figures"
  else
    expect "survived (0, OOMKilled false)" "$survived of $runs" "$runs of $runs"
    local mean
    mean=$(printf '%s\n' "${rates[@]}" | awk 'NF { s += $1; n++ } END { if (n) printf "%.1f%%", s / n; else print "-" }')
    verdict "$name" "survived $survived/$runs, stuck $stuck/$runs, mean hit rate $mean, peak working set $(mib "$peak"); $figures"
  fi
}

# Locked down: nobody, read-only root, no capabilities. The report, the
# sources --watch lists, and pressure before a kill of a growing process.
locked() {
  wanted locked || return 0
  if ! start locked -m 128m --user 65534 --read-only --cap-drop ALL -- /probe hold 0 ||
    ! wait_log locked '^held'; then
    why+=("the container did not start")
    verdict locked "--user 65534 --read-only --cap-drop ALL"
    return
  fi
  local pid dir f=$work/locked.json w=$work/locked.watch
  pid=$(cpid locked)
  dir=$(host_dir "$pid" memory "$mem_mount")
  in_c locked /headroom-info --json >"$f" 2>"$work/locked.err"
  expect "headroom's limit" "$(json "$f" .memory.limit_bytes)" "$(kernel_limit "$dir")"
  expect_near "headroom's usage" "$(json "$f" .memory.usage_bytes)" "$(<"$dir/memory.usage_in_bytes")" $((8 << 20))
  expect "errors" "$(json "$f" '.errors | length')" 0
  timeout 60 docker exec "$prefix-locked" /headroom-info --watch --json >"$w" 2>&1 &
  local i
  for ((i = 0; i < 100; ++i)); do grep -q '"kind":"sources"' "$w" && break; sleep 0.1; done
  local sources
  sources=$(grep -m1 '"kind":"sources"' "$w")
  # Honest sources: an active one has no error, an inactive one says why;
  # with the memory cgroup mounted read-only in the container nothing that
  # must write cgroup.event_control is active.
  local ro=no
  awk '$5 == "/sys/fs/cgroup/memory" { split($6, o, ","); if (o[1] == "ro") found = 1 } END { exit !found }' \
    "/proc/$pid/mountinfo" && ro=yes
  expect "the container's memory cgroup mount read-only" "$ro" yes
  local dishonest
  dishonest=$(jq -r '.sources[] | select((.active and .error != null) or ((.active | not) and .error == null)) | .source' <<<"$sources" 2>&1)
  expect "sources active with an error, or inactive without one" "${dishonest:-none}" none
  local writers
  writers=$(jq -r '.sources[] | select(.active and (.source == "v1_pressure_level" or .source == "v1_oom_control" or (.source == "usage_bands" and (.detail | test("sampler|poll") | not)))) | .source' <<<"$sources" 2>&1)
  expect "sources needing cgroup.event_control active on a read-only mount" "${writers:-none}" none
  # The container sees no cgroup2 mount: PSI is /proc/pressure/memory, the
  # host's, which must not raise levels by default and must say its scope.
  if ! grep -q ' - cgroup2 ' "/proc/$pid/mountinfo"; then
    local psi
    psi=$(jq -r '.sources[] | select(.source == "psi") | "\(.active) \(.detail)"' <<<"$sources" 2>&1)
    [[ $psi == "false "*"scope host"* ]] ||
      why+=("psi source \"$psi\": expected inactive, naming its host scope")
  fi
  # Grow 2 MiB every 100 ms until the kernel kills the probe.
  local kills0 kills1 code
  kills0=$(awk '$1 == "oom_kill" { print $2 }' "$dir/memory.oom_control")
  in_c locked /probe grow 2 100 >"$work/locked.grow" 2>&1
  code=$?
  kills1=$(awk '$1 == "oom_kill" { print $2 }' "$dir/memory.oom_control")
  expect "the growing probe's exit" "$code" 137
  expect "the kernel's oom_kill count" "$kills1" $((kills0 + 1))
  for ((i = 0; i < 40; ++i)); do grep -q '"kind":"oom_kill"' "$w" && break; sleep 0.1; done
  local before
  before=$(awk '/"kind":"oom_kill"/ { exit } /"kind":"pressure"/ { print }' "$w" | jq -r .level | sort -u | tr '\n' ' ')
  [[ $before == *critical* ]] || why+=("pressure levels before the kill: ${before:-none}, expected critical among them")
  grep -q '"kind":"oom_kill"' "$w" || why+=("no oom_kill event")
  local listed
  listed=$(jq -r '[.sources[] | "\(.source) \(.state)"] | join(", ")' <<<"$sources" 2>&1)
  verdict locked "--user 65534 --read-only --cap-drop ALL -m 128m: limit $(json "$f" .memory.limit_bytes); sources: $listed; levels before the kill: ${before% }; kernel oom_kill $kills0 -> $kills1; $(java_says locked); $(node_says locked)"
}

# cpu NAME UP DOWN DOCKER_OPTIONS...: quota and cpuset against the kernel's.
cpu() {
  local name=$1; shift
  wanted "$name" || return 0
  if ! start "$name" "$@" -- /probe hold 0 || ! wait_log "$name" '^held'; then
    why+=("the container did not start")
    verdict "$name" "$*"
    return
  fi
  local pid f=$work/$name.json cdir sdir quota period cpus affinity
  pid=$(cpid "$name")
  cdir=$(host_dir "$pid" cpu "$cpu_mount")
  sdir=$(host_dir "$pid" cpuset "$cpuset_mount")
  in_c "$name" /headroom-info --json >"$f" 2>"$work/$name.err"
  quota=$(<"$cdir/cpu.cfs_quota_us")
  period=$(<"$cdir/cpu.cfs_period_us")
  cpus=$(<"$sdir/cpuset.effective_cpus")
  # Count a cpu list such as 0-3,5.
  count() { awk -v l="$1" 'BEGIN { n = split(l, r, ","); for (i = 1; i <= n; i++) { m = split(r[i], b, "-"); c += m == 2 ? b[2] - b[1] + 1 : 1 } print c + 0 }'; }
  affinity=$(count "$(awk '$1 == "Cpus_allowed_list:" { print $2 }' "/proc/$pid/status")")
  local q_cpus min up down
  q_cpus=$(awk -v q="$quota" -v p="$period" 'BEGIN { printf "%.2f", q / p }')
  min=$affinity
  (($(count "$cpus") < min)) && min=$(count "$cpus")
  up=$(awk -v q="$quota" -v p="$period" -v m="$min" 'BEGIN { c = int((q + p - 1) / p); print c < m ? c : m }')
  down=$(awk -v q="$quota" -v p="$period" -v m="$min" 'BEGIN { c = int(q / p); if (c < 1) c = 1; print c < m ? c : m }')
  expect "docker's NanoCpus" "$(inspect "$name" '{{.HostConfig.NanoCpus}}')" 1500000000
  expect "the kernel's quota" "$quota/$period" 150000/100000
  expect "headroom's quota" "$(json "$f" .cpu.quota_us)/$(json "$f" .cpu.period_us)" "$quota/$period"
  expect "headroom's quota_cpus" "$(json "$f" '.cpu.quota_cpus | . * 100 | round / 100 | tostring')" "$(awk -v c="$q_cpus" 'BEGIN { print c + 0 }')"
  expect "headroom's cpuset count" "$(json "$f" .cpu.cpuset_count)" "$(count "$cpus")"
  expect "headroom's affinity count" "$(json "$f" .cpu.affinity_count)" "$affinity"
  expect "headroom's count rounded up" "$(json "$f" .cpu.effective_count_up)" "$up"
  expect "headroom's count rounded down" "$(json "$f" .cpu.effective_count_down)" "$down"
  expect "cpu errors" "$(json "$f" '.cpu.errors | length')" 0
  [[ $(json "$f" .cpu.path_mapping) =~ ^(mount_root|below_mount_root|found_by_pid)$ ]] ||
    why+=("cpu.path_mapping $(json "$f" .cpu.path_mapping): not a mapping of the cpu cgroup")
  expect "cpu.path_fallback" "$(json "$f" .cpu.path_fallback)" false
  verdict "$name" "$*: kernel quota $quota/$period, cpuset $cpus; headroom quota $(json "$f" .cpu.quota_cpus) ($(json "$f" .cpu.path_mapping)), cpuset $(json "$f" .cpu.cpuset_count), up $(json "$f" .cpu.effective_count_up), down $(json "$f" .cpu.effective_count_down); $(java_says "$name"); $(node_says "$name")"
}

# ---------------------------------------------------------------- the list
scenarios=(m128_host pid_m128_host m128_private pid_m128_private gooom_rw pid_gooom_rw
  gooom_ro pid_gooom_ro gooom_rw_private pid_gooom_rw_private gooom_ro_private pid_gooom_ro_private
  pod pid_pod pod_private pid_pod_private update survival_naive survival_headroom survival_shared locked cpu_quota
  cpu_cpuset)
if [[ $only == list ]]; then printf '%s\n' "${scenarios[@]}"; exit 0; fi

echo "Docker $server_version, cgroup v$cgroup_version, driver $cgroup_driver; peers: ${java:-no java}, ${node:-no node}; $runs run(s) each way"
t0=$SECONDS
memory m128_host --cgroupns=host
memory m128_private --cgroupns=private
memory gooom_rw -v /sys/fs/cgroup:/sys/fs/cgroup
memory gooom_ro -v /sys/fs/cgroup:/sys/fs/cgroup:ro
memory gooom_rw_private --cgroupns=private -v /sys/fs/cgroup:/sys/fs/cgroup
memory gooom_ro_private --cgroupns=private -v /sys/fs/cgroup:/sys/fs/cgroup:ro
pod pod --cgroupns=host
pod pod_private --cgroupns=private
update
survival naive
survival headroom
survival shared
locked
cpu cpu_quota --cpus 1.5
cpu cpu_cpuset --cpus 1.5 --cpuset-cpus 0

echo "docker scenarios: $passed passed, $failed failed in $((SECONDS - t0)) s"
((failed == 0 && passed > 0))
