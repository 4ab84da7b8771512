#!/bin/bash
# SPDX-License-Identifier: MIT
# Container layouts built live on this kernel (cgroup v1 or hybrid), the way
# runtimes, orchestrators and node agents make them, each compared with the
# limit the kernel enforces:
#
#   binds         runtime-style read-only binds, the container's cgroup as mount root
#   stacked       the same with the host's hierarchy bound over it (-v /sys/fs/cgroup:...)
#   private-ns    a private cgroup namespace with a fresh cgroupfs
#   cgns-only     a cgroup namespace only, the host's mounts kept
#   pod           a pod limit with an unlimited container, no namespace
#   pod-binds     the same with runtime binds (the pod is above the mount)
#   pod-ns        the same in a private cgroup namespace with a fresh cgroupfs
#   moved-ns      moved to a sibling outside its namespace root (fresh cgroupfs):
#                 not visible, so an error and no number
#   moved-cgns    the same with the host's mounts kept: found by pid
#   changed       binds, the limit changed while it runs
#
# For each, headroom-info runs inside, and from the host with --pid. With
# PEERS=1 the JDK (-XshowSettings:system) and Node.js
# (process.constrainedMemory()) run inside too, and a markdown table of all
# figures is printed.
#
# Usage: container_layouts.sh HEADROOM_INFO
# Needs root, unshare(1), jq, and the memory and cpu controllers on cgroup
# v1; otherwise it prints SKIP and exits 77. Every cgroup it makes is a
# child of its own cgroup named with its pid, and is removed at the end.
set -u

info=${1:?usage: container_layouts.sh HEADROOM_INFO}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (mount and cgroup namespaces, cgroup writes)"
command -v unshare >/dev/null || skip "no unshare(1)"
command -v jq >/dev/null || skip "no jq"
mem_root=/sys/fs/cgroup/memory
cpu_root=/sys/fs/cgroup/cpu
[ -f $mem_root/memory.limit_in_bytes ] || skip "no cgroup v1 memory controller at $mem_root"
[ -f $cpu_root/cpu.cfs_quota_us ] || skip "no cgroup v1 cpu controller at $cpu_root"
unshare -m -C true 2>/dev/null || skip "unshare -m -C is not permitted here"

own_mem=$(sed -n 's/^[0-9]*:\(.*,\)\{0,1\}memory\(,.*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
own_cpu=$(sed -n 's/^[0-9]*:\(.*,\)\{0,1\}cpu\(,.*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
[ -n "$own_mem" ] && [ -n "$own_cpu" ] || skip "cannot tell the own memory and cpu cgroups"
own_mem=${own_mem%/}
own_cpu=${own_cpu%/}
base=$own_mem/headroom-layouts-$$       # cgroup paths as the host sees them
cbase=$own_cpu/headroom-layouts-$$
work=$(mktemp -d /tmp/headroom-layouts-XXXXXX)
mib=$((1024 * 1024))
failures=0
pids=()

cleanup() {
  { for p in "${pids[@]}"; do kill -9 "$p"; done; wait; } 2>/dev/null
  for root in $mem_root$base $cpu_root$cbase; do
    [ -d "$root" ] || continue
    # Move what is left to the parent, then remove the tree leaves first.
    find "$root" -depth -type d | while read -r d; do
      while read -r p; do echo "$p" > "$root/../cgroup.procs" 2>/dev/null; done < "$d/cgroup.procs"
      rmdir "$d" 2>/dev/null
    done
  done
  if [ -n "${KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

mk() {  # mk HIERARCHY_ROOT PATH [FILE VALUE]...
  local dir=$1$2
  shift 2
  mkdir -p "$dir" || exit 1
  while [ $# -ge 2 ]; do echo "$2" > "$dir/$1" || exit 1; shift 2; done
}

# Setup snippets run by sh inside the new namespaces. $1 of each: the
# memory cgroup path, $2: the cpu cgroup path, as the host sees them.
# The runtime's view only, as after pivot_root: the host's cgroup mounts are
# kept aside at /run/hr-host (and dropped when done), not left underneath.
keep_host='mkdir -p /run/hr-host && mount --rbind /sys/fs/cgroup /run/hr-host && umount -l /sys/fs/cgroup'
runtime_binds='mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup &&
  mkdir /sys/fs/cgroup/memory /sys/fs/cgroup/cpu &&
  mount --bind /run/hr-host/memory$1 /sys/fs/cgroup/memory &&
  mount -o remount,ro,bind /sys/fs/cgroup/memory &&
  mount --bind /run/hr-host/cpu$2 /sys/fs/cgroup/cpu &&
  mount -o remount,ro,bind /sys/fs/cgroup/cpu'
fresh_cgroupfs='mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup &&
  mkdir /sys/fs/cgroup/memory /sys/fs/cgroup/cpu &&
  mount -t cgroup -o ro,memory cgroup /sys/fs/cgroup/memory &&
  mount -t cgroup -o ro,cpu cgroup /sys/fs/cgroup/cpu'
drop_host='umount -l /run/hr-host'

# Peers, when asked for: their view of the limit, one line each.
peers='
  if [ "${PEERS:-0}" = 1 ]; then
    java -XshowSettings:system -version > "$out.java.raw" 2>&1 || true
    grep -m3 -E "Memory Limit|Provider|containerized|rror|Exception in" "$out.java.raw" | sed "s/^ *//" | tr "\n" " " > "$out.java"
    node -e "console.log(process.constrainedMemory())" > "$out.node" 2>&1
  fi'

# layout NAME UNSHARE_FLAGS MEM_CGROUP CPU_CGROUP SETUP HOST_ACTION
# Starts sh in the cgroups, then in the namespaces; it sets up, says ready,
# waits for the host's action, measures, and sleeps for --pid.
layout() {
  local name=$1 flags=$2 mcg=$3 ccg=$4 setup=$5 action=$6
  local out=$work/$name
  local script="set -e; $setup
    touch '$out.ready'; while [ ! -e '$out.go' ]; do sleep 0.05; done
    out='$out'
    grep -E ' - (cgroup2?|tmpfs) ' /proc/self/mountinfo > '$out.mountinfo' || true
    cat /proc/self/cgroup > '$out.cgroup'
    '$info' --json > '$out.json' 2> '$out.err' || true
    $peers
    touch '$out.done'; exec sleep 300"
  (
    echo "$BASHPID" > "$mem_root$mcg/cgroup.procs" && echo "$BASHPID" > "$cpu_root$ccg/cgroup.procs" || exit 1
    if [ -n "$flags" ]; then
      exec unshare $flags sh -c "$script" layout "$mcg" "$ccg"
    else
      exec sh -c "$script" layout "$mcg" "$ccg"
    fi
  ) > "$out.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do [ -e "$out.ready" ] && break; sleep 0.05; done
  [ -e "$out.ready" ] || { echo "FAIL $name: setup did not finish: $(cat "$out.log")"; failures=$((failures + 1)); return; }
  eval "$action"
  touch "$out.go"
  for _ in $(seq 600); do [ -e "$out.done" ] && break; sleep 0.05; done
  "$info" --json --pid "$pid" > "$out.pid.json" 2> "$out.pid.err" || true
  echo "$pid" > "$out.pid"
}

j() { jq -r "$2" "$1" 2>/dev/null; }

# check NAME KERNEL_LIMIT_BYTES EXPECT_INSIDE(bytes|error) MAPPING CPU(1.5|-) [SCOPE]
check() {
  local name=$1 kernel=$2 expect=$3 mapping=$4 cpu=$5 scope=${6:-}
  local out=$work/$name ok=1 why=""
  local lim map pid_lim view headroom cpus pid_cpus
  lim=$(j "$out.json" '.memory.limit_bytes')
  map=$(j "$out.json" '.cgroup.path_mapping')
  headroom=$(j "$out.json" '.memory.headroom_bytes')
  cpus=$(j "$out.json" '.cpu.quota_cpus')
  pid_lim=$(j "$out.pid.json" '.memory.limit_bytes')
  pid_cpus=$(j "$out.pid.json" '.cpu.quota_cpus')
  view=$(j "$out.pid.json" '.cgroup.view')
  if [ "$expect" = error ]; then
    [ "$lim" = null ] || { ok=0; why+=" limit $lim, expected none"; }
    [ "$headroom" = null ] || { ok=0; why+=" headroom $headroom, expected none"; }
    [ "$(j "$out.json" '[.errors[] | select(.field == "memory.limit_bytes")] | length')" = 1 ] ||
      { ok=0; why+=" no error for memory.limit_bytes"; }
  else
    [ "$lim" = "$kernel" ] || { ok=0; why+=" limit $lim, kernel $kernel"; }
  fi
  [ "$map" = "$mapping" ] || { ok=0; why+=" mapping $map, expected $mapping"; }
  [ -z "$scope" ] || [ "$(j "$out.json" '.memory.usage_scope')" = "$scope" ] ||
    { ok=0; why+=" usage_scope $(j "$out.json" '.memory.usage_scope'), expected $scope"; }
  if [ "$scope" = below_limit_cgroup ]; then
    [ "$(j "$out.json" '.memory.headroom_is_bound')" = true ] || { ok=0; why+=" headroom not marked a bound"; }
  fi
  if [ "$cpu" != - ]; then
    [ "$cpus" = "$cpu" ] || { ok=0; why+=" cpu quota $cpus, kernel $cpu"; }
    [ "$pid_cpus" = "$cpu" ] || { ok=0; why+=" --pid cpu quota $pid_cpus, kernel $cpu"; }
  fi
  # From the host the cgroup is always visible: the reader's own view.
  [ "$pid_lim" = "$kernel" ] || { ok=0; why+=" --pid limit $pid_lim, kernel $kernel"; }
  [ "$view" = reader ] || { ok=0; why+=" --pid view $view"; }
  if [ $ok = 1 ]; then
    echo "ok   $name: kernel $((kernel / mib)) MiB, inside $lim ($map), --pid $pid_lim ($view)"
  else
    echo "FAIL $name:$why"
    echo "     inside: $(cat "$out.json" "$out.err" "$out.log" 2>/dev/null | head -c 3000)"
    failures=$((failures + 1))
  fi
  rows+=("$name|$((kernel / mib)) MiB|$(fmt "$lim")|$(fmt "$headroom")|$map|$(fmt "$pid_lim") ($view)|$(cat "$out.java" 2>/dev/null)|$(node_fmt "$out.node")")
}
# Node prints 2^64 (as a double) for "no constraint".
node_fmt() {
  local v
  v=$(cat "$1" 2>/dev/null)
  case $v in 18446744073709552000) echo "unlimited (2^64)" ;; ''|*[!0-9]*) echo "$v" ;; *) echo "$((v / mib)) MiB" ;; esac
}
fmt() { case $1 in null|"") echo "error/none" ;; *) echo "$(($1 / mib)) MiB" ;; esac; }
rows=()

# The cgroups: a container C (300 MiB, 1.5 CPUs), a pod P (400 MiB) with an
# unlimited container, a sibling S (200 MiB) to be moved to.
for n in binds stacked private-ns cgns-only changed moved-ns moved-cgns; do
  mk $mem_root "$base/$n" memory.limit_in_bytes $((300 * mib))
  mk $mem_root "$base/$n-sib" memory.limit_in_bytes $((200 * mib))
  mk $cpu_root "$cbase/$n" cpu.cfs_period_us 100000 cpu.cfs_quota_us 150000
done
for n in pod pod-binds pod-ns; do
  mk $mem_root "$base/$n" memory.limit_in_bytes $((400 * mib))
  mk $mem_root "$base/$n/ctr"
  mk $cpu_root "$cbase/$n" cpu.cfs_period_us 100000 cpu.cfs_quota_us 150000
  mk $cpu_root "$cbase/$n/ctr"
done

layout binds "-m --propagation private" "$base/binds" "$cbase/binds" \
  "$keep_host && $runtime_binds && $drop_host" ""
layout stacked "-m --propagation private" "$base/stacked" "$cbase/stacked" \
  "$keep_host && $runtime_binds && mount --rbind /run/hr-host /sys/fs/cgroup && $drop_host" ""
layout private-ns "-m -C --propagation private" "$base/private-ns" "$cbase/private-ns" \
  "$fresh_cgroupfs" ""
layout cgns-only "-C" "$base/cgns-only" "$cbase/cgns-only" "true" ""
layout pod "" "$base/pod/ctr" "$cbase/pod/ctr" "true" ""
layout pod-binds "-m --propagation private" "$base/pod-binds/ctr" "$cbase/pod-binds/ctr" \
  "$keep_host && $runtime_binds && $drop_host" ""
layout pod-ns "-m -C --propagation private" "$base/pod-ns/ctr" "$cbase/pod-ns/ctr" \
  "$fresh_cgroupfs" ""
layout moved-ns "-m -C --propagation private" "$base/moved-ns" "$cbase/moved-ns" \
  "$fresh_cgroupfs" 'echo $pid > $mem_root$base/moved-ns-sib/cgroup.procs'
layout moved-cgns "-C" "$base/moved-cgns" "$cbase/moved-cgns" \
  "true" 'echo $pid > $mem_root$base/moved-cgns-sib/cgroup.procs'
layout changed "-m --propagation private" "$base/changed" "$cbase/changed" \
  "$keep_host && $runtime_binds && $drop_host" \
  'echo $((250 * mib)) > $mem_root$base/changed/memory.limit_in_bytes'

k() { cat "$mem_root$1/memory.limit_in_bytes"; }
check binds "$(k "$base/binds")" bytes below_mount_root 1.5 limit_cgroup
check stacked "$(k "$base/stacked")" bytes mount_root 1.5 limit_cgroup
check private-ns "$(k "$base/private-ns")" bytes mount_root 1.5 limit_cgroup
check cgns-only "$(k "$base/cgns-only")" bytes found_by_pid 1.5 limit_cgroup
check pod "$(k "$base/pod")" bytes mount_root 1.5 limit_cgroup
check pod-binds "$(k "$base/pod-binds")" bytes below_mount_root - below_limit_cgroup
check pod-ns "$(k "$base/pod-ns")" bytes mount_root - below_limit_cgroup
check moved-ns "$(k "$base/moved-ns-sib")" error outside_namespace 1.5
check moved-cgns "$(k "$base/moved-cgns-sib")" bytes found_by_pid 1.5 limit_cgroup
check changed "$(k "$base/changed")" bytes below_mount_root 1.5 limit_cgroup

# A node agent that cannot see the cgroup itself (its own cgroup mounts are
# covered by a tmpfs) reads another process through that process's view.
agent_pid=$(cat "$work/binds.pid")
unshare -m --propagation private sh -c \
  "mount -t tmpfs tmpfs /sys/fs/cgroup && exec '$info' --json --pid $agent_pid" \
  > "$work/agent.json" 2> "$work/agent.err"
agent_view=$(j "$work/agent.json" '.cgroup.view')
agent_lim=$(j "$work/agent.json" '.memory.limit_bytes')
if [ "$agent_view" = target ] && [ "$agent_lim" = "$(k "$base/binds")" ]; then
  echo "ok   agent-blind: --pid through the target's view (target), $agent_lim"
else
  echo "FAIL agent-blind: view $agent_view, limit $agent_lim, kernel $(k "$base/binds"): $(cat "$work/agent.err")"
  failures=$((failures + 1))
fi
rows+=("agent-blind (--pid, own mounts covered)|$(($(k "$base/binds") / mib)) MiB|$(fmt "$agent_lim")|$(fmt "$(j "$work/agent.json" '.memory.headroom_bytes')")|$(j "$work/agent.json" '.cgroup.path_mapping')|view $agent_view||")

if [ "${PEERS:-0}" = 1 ] || [ -n "${TABLE:-}" ]; then
  echo
  echo "| layout | kernel's limit | headroom-info limit | headroom | mapping | --pid from the host | java -XshowSettings:system | node constrainedMemory() |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
fi

echo "$((${#rows[@]} - failures)) passed, $failures failed"
[ $failures = 0 ]
