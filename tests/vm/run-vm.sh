#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run a statically linked test binary as the only program inside a real Linux
# kernel under qemu, with the cgroup filesystems laid out like a v2 host or like
# a hybrid (v1 + v2) host, and turn its exit code into ours.
#
# Usage:
#   run-vm.sh --mode v2|hybrid --binary PATH [--cache DIR] [--timeout SECONDS]
#             [--memory MiB] [--log FILE] [--] [ARGS passed to the binary...]
#
# Exit status:
#   the binary's exit code (0 = pass; 77 from the binary also means skip),
#   1   the guest ended without reporting an exit code (timeout, panic, crash),
#   2   bad usage or an unusable binary (missing, dynamically linked),
#   77  SKIP: qemu, a static busybox, cpio, gzip or a kernel is not available.
#
# Environment:
#   HEADROOM_VM_CACHE    default for --cache (${TMPDIR:-/tmp}/headroom-vm-cache)
#   HEADROOM_VM_KERNEL   use this kernel image instead of the cached Debian one
#   HEADROOM_VM_QEMU     qemu binary (default qemu-system-x86_64)
#   HEADROOM_VM_BUSYBOX  static busybox to put in the guest (default: from PATH)
#   HEADROOM_VM_VERBOSE  1 = print the whole guest log on success too
#
# Inside the guest the binary runs as root (pid 1's child) with
# HEADROOM_VM_MODE=v2|hybrid, HOME=/tmp, TMPDIR=/tmp and the busybox PATH.
# Exit codes the guest's /init reports itself: 125 = cgroup setup failed,
# 126 = binary cannot be executed, 127 = binary missing.

set -euo pipefail

prog=${0##*/}
marker=HEADROOM_VM_EXIT

usage() {
    sed -n '7,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
die()  { echo "$prog: error: $*" >&2; exit 2; }
skip() { echo "SKIP: $*"; exit 77; }
note() { echo "$prog: $*" >&2; }

# ---------------------------------------------------------------- arguments
mode=
binary=
cache=${HEADROOM_VM_CACHE:-${TMPDIR:-/tmp}/headroom-vm-cache}
timeout_s=300
memory_mib=1024
log_copy=
while (($#)); do
    case $1 in
        --mode)    mode=${2-};       shift 2 || usage ;;
        --binary)  binary=${2-};     shift 2 || usage ;;
        --cache)   cache=${2-};      shift 2 || usage ;;
        --timeout) timeout_s=${2-};  shift 2 || usage ;;
        --memory)  memory_mib=${2-}; shift 2 || usage ;;
        --log)     log_copy=${2-};   shift 2 || usage ;;
        --)        shift; break ;;
        -h|--help) usage ;;
        -*)        echo "$prog: unknown option: $1" >&2; usage ;;
        *)         break ;;
    esac
done
# Whatever is left goes to the binary.
binary_args=("$@")

case $mode in
    v2|hybrid) ;;
    '') echo "$prog: --mode is required" >&2; usage ;;
    *)  die "--mode must be v2 or hybrid, not '$mode'" ;;
esac
[[ -n $binary ]] || { echo "$prog: --binary is required" >&2; usage; }
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ $memory_mib =~ ^[1-9][0-9]*$ ]] || die "--memory must be a positive number of MiB"
[[ -n $cache ]] || die "--cache must not be empty"

# ---------------------------------------------------------------- helpers
# True if PATH is a static ELF executable. `file` names static-pie binaries
# "static-pie linked"; older versions call them "dynamically linked", so a
# "dynamic" verdict is double-checked with ldd, which knows better.
is_static() {
    local path=$1 desc
    if command -v file >/dev/null 2>&1; then
        desc=$(file -bL -- "$path")
        [[ $desc == ELF* ]] || return 1
        [[ $desc == *"dynamically linked"* ]] || return 0
    fi
    if command -v ldd >/dev/null 2>&1; then
        local out
        out=$(LC_ALL=C ldd -- "$path" 2>&1) || true
        [[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]]
        return
    fi
    # Neither tool: look for the ELF magic and hope for the best.
    [[ $(head -c 4 -- "$path" | od -An -c | tr -d ' ') == '177ELF' ]]
}

# Quote a string for a POSIX shell: 'it'\''s'.
shell_quote() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

# ---------------------------------------------------------------- the binary
[[ -e $binary ]] || die "test binary not found: $binary"
[[ -f $binary && -r $binary ]] || die "test binary is not a readable file: $binary"
# The guest is x86-64; busybox sh would try to run a foreign ELF as a script.
if command -v file >/dev/null 2>&1 && [[ $(file -bL -- "$binary") != *x86-64* ]]; then
    die "test binary is not an x86-64 executable: $binary
  file says: $(file -bL -- "$binary")"
fi
if ! is_static "$binary"; then
    die "test binary must be a statically linked ELF executable (link with -static): $binary
  file says: $(file -bL -- "$binary" 2>/dev/null || echo '?')"
fi

# ---------------------------------------------------------------- host tools
# Anything missing here is an environment limitation, not a test failure.
[[ $(uname -m) == x86_64 ]] || skip "host is $(uname -m); the guest kernel and binary must be x86_64"
qemu=${HEADROOM_VM_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null 2>&1 || skip "$qemu not found (install qemu-system-x86)"
command -v cpio >/dev/null 2>&1 || skip "cpio not found"
command -v gzip >/dev/null 2>&1 || skip "gzip not found"
command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) not found"
busybox=${HEADROOM_VM_BUSYBOX:-$(command -v busybox 2>/dev/null || true)}
[[ -n $busybox && -x $busybox ]] || skip "busybox not found (install busybox-static)"
is_static "$busybox" || skip "$busybox is not statically linked (install busybox-static)"

# ---------------------------------------------------------------- the kernel
# Debian's stock kernel has everything the guest needs built in (ttyS0 console,
# gzip initramfs, devtmpfs, memcg for v1 and v2, PSI), so no modules are needed.
# It is fetched once into the cache and reused; only the vmlinuz is kept.
newest_cached_kernel() {
    local k found=()
    for k in "$cache"/vmlinuz-*; do
        # Skip half-written files of a download in progress.
        [[ -f $k && $k != *.part.* ]] && found+=("$k")
    done
    ((${#found[@]})) || return 1
    printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}

resolve_kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image/ {print $2; exit}'
}

fetch_kernel() {
    local tool
    for tool in apt-get apt-cache dpkg; do
        command -v "$tool" >/dev/null 2>&1 ||
            skip "no kernel in $cache and no $tool to fetch one (or set HEADROOM_VM_KERNEL)"
    done
    local pkg
    pkg=$(resolve_kernel_package) || true
    if [[ -z $pkg && $(id -u) == 0 ]]; then
        # A fresh machine may have empty package lists.
        apt-get update -qq >/dev/null 2>&1 || true
        pkg=$(resolve_kernel_package) || true
    fi
    [[ -n $pkg ]] || skip "cannot resolve linux-image-amd64 with apt-cache (no package lists?)"

    mkdir -p "$cache" 2>/dev/null || skip "cannot create kernel cache $cache"
    # Work in a private directory inside the cache and publish the result with
    # a rename, which is atomic: two runs starting at once both download, and
    # whichever renames last wins with an identical file.
    local dl
    dl=$(mktemp -d "$cache/download.XXXXXX") || skip "cannot write to kernel cache $cache"
    # apt-get download drops privileges to _apt when it can; let it write here.
    chmod 755 "$dl"
    # A skip prints one line only, so the tool's last error goes into it.
    local why
    if ! (cd "$dl" && apt-get download "$pkg") >"$dl/apt.log" 2>&1; then
        why=$(grep -a '^E:' "$dl/apt.log" | tail -n 1) || true
        rm -rf "$dl"
        skip "apt-get download $pkg failed (no network?)${why:+: $why}"
    fi
    if ! dpkg -x "$dl"/*.deb "$dl/root" 2>"$dl/dpkg.log"; then
        why=$(tail -n 1 "$dl/dpkg.log") || true
        rm -rf "$dl"
        skip "dpkg -x could not unpack $pkg${why:+: $why}"
    fi
    local img
    for img in "$dl"/root/boot/vmlinuz-*; do break; done
    if [[ ! -f $img ]]; then
        rm -rf "$dl"
        skip "$pkg contains no /boot/vmlinuz-*"
    fi
    local name=${img##*/}
    mv -f "$img" "$cache/$name.part.$$"
    mv -f "$cache/$name.part.$$" "$cache/$name"
    rm -rf "$dl"
    note "cached kernel $name from $pkg in $cache"
}

if [[ -n ${HEADROOM_VM_KERNEL:-} ]]; then
    kernel=$HEADROOM_VM_KERNEL
    [[ -r $kernel ]] || skip "HEADROOM_VM_KERNEL=$kernel is not readable"
else
    kernel=$(newest_cached_kernel) || true
    if [[ -z $kernel ]]; then
        fetch_kernel
        kernel=$(newest_cached_kernel) || true
        [[ -n $kernel ]] || skip "no kernel image in $cache after download"
    fi
fi

# ---------------------------------------------------------------- work dir
work=$(mktemp -d "${TMPDIR:-/tmp}/headroom-vm.XXXXXX")
qemu_pid=
# On exit, stop only the timeout/qemu pair this script started (by its pid)
# and remove the work dir.
trap 'if [[ -n $qemu_pid ]]; then
          kill -TERM "$qemu_pid" 2>/dev/null || true
          wait "$qemu_pid" 2>/dev/null || true
      fi
      rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- initramfs
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc}
cp -- "$busybox" "$root/bin/busybox"
cp -- "$binary" "$root/test-binary"
chmod 0755 "$root/bin/busybox" "$root/test-binary"

quoted_args=
for a in ${binary_args[@]+"${binary_args[@]}"}; do
    quoted_args+=" $(shell_quote "$a")"
done

# The /init script runs as pid 1 under busybox sh. It must always end with the
# marker line and a power-off: if pid 1 exits instead, the kernel panics and
# the host only learns "no marker".
{
    printf '#!/bin/busybox sh\n'
    printf 'MODE=%s\n' "$mode"
    printf 'set -- %s\n' "$quoted_args"
    cat <<'INIT'
# The kernel may start us with no stdio when the initramfs lacks /dev/console,
# so mount devtmpfs first and point stdio at the console.
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp TMPDIR=/tmp
umask 022

finish() {
    # Leading newline: the binary's output may not end with one. The marker is
    # also written to the kernel log, whose console output is synchronous, in
    # case the tty has not drained by the time we power off.
    printf '\nHEADROOM_VM_EXIT %s\n' "$1"
    printf '<2>HEADROOM_VM_EXIT %s\n' "$1" >/dev/kmsg 2>/dev/null
    sync
    poweroff -f
    # Should not get here; a sysrq power-off is the fallback.
    echo o >/proc/sysrq-trigger
    sleep 5
}

setup_failed() {
    echo "headroom-vm: setup failed: $*"
    finish 125
}

mnt() {  # mnt FSTYPE SOURCE DIR [OPTIONS]
    mkdir -p "$3" || setup_failed "mkdir $3"
    if [ -n "${4-}" ]; then
        mount -t "$1" -o "$4" "$2" "$3" || setup_failed "mount -t $1 -o $4 $2 $3"
    else
        mount -t "$1" "$2" "$3" || setup_failed "mount -t $1 $2 $3"
    fi
}

mnt proc proc /proc nosuid,nodev,noexec
mnt sysfs sysfs /sys nosuid,nodev,noexec
mnt tmpfs tmpfs /tmp mode=1777

# mount_cgroup2 DIR OPTIONS: cgroup2 with the options systemd uses, falling
# back to none if this kernel does not know them.
mount_cgroup2() {
    mkdir -p "$1" || setup_failed "mkdir $1"
    mount -t cgroup2 -o "$2" cgroup2 "$1" 2>/dev/null ||
        mount -t cgroup2 cgroup2 "$1" || setup_failed "mount -t cgroup2 $1"
}

case $MODE in
v2)
    mount_cgroup2 /sys/fs/cgroup nosuid,nodev,noexec,nsdelegate,memory_recursiveprot
    ctrls=
    for c in memory cpu cpuset; do
        if grep -qw "$c" /sys/fs/cgroup/cgroup.controllers; then
            ctrls="$ctrls +$c"
        elif [ "$c" != cpuset ]; then
            setup_failed "cgroup2 has no $c controller: $(cat /sys/fs/cgroup/cgroup.controllers)"
        fi
    done
    echo "$ctrls" >/sys/fs/cgroup/cgroup.subtree_control ||
        setup_failed "cannot enable$ctrls in cgroup.subtree_control"
    ;;
hybrid)
    # What systemd builds on a hybrid host: a tmpfs with one directory per v1
    # hierarchy, cpu and cpuacct as symlinks to the joint hierarchy, its own
    # named hierarchy, and cgroup2 (no controllers left for it) at unified/.
    V1=nosuid,nodev,noexec
    mnt tmpfs tmpfs /sys/fs/cgroup nosuid,nodev,noexec,mode=755
    mnt cgroup cgroup /sys/fs/cgroup/memory $V1,memory
    mnt cgroup cgroup /sys/fs/cgroup/cpu,cpuacct $V1,cpu,cpuacct
    ln -s cpu,cpuacct /sys/fs/cgroup/cpu || setup_failed "symlink cpu"
    ln -s cpu,cpuacct /sys/fs/cgroup/cpuacct || setup_failed "symlink cpuacct"
    mnt cgroup cgroup /sys/fs/cgroup/cpuset $V1,cpuset
    mnt cgroup cgroup /sys/fs/cgroup/systemd $V1,none,name=systemd
    mount_cgroup2 /sys/fs/cgroup/unified nosuid,nodev,noexec,nsdelegate
    ;;
*)
    setup_failed "unknown mode $MODE"
    ;;
esac

echo "headroom-vm: mode=$MODE kernel=$(uname -r) cpus=$(nproc) mem=$(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

if [ ! -e /test-binary ]; then
    echo "headroom-vm: /test-binary is missing"
    finish 127
fi
cd /
# stdin is /dev/null: the console has no input, a read would hang.
HEADROOM_VM_MODE=$MODE /test-binary "$@" </dev/null
rc=$?
finish "$rc"
INIT
} >"$root/init"
chmod 0755 "$root/init"

# Owner root in the archive, whoever builds it.
(cd "$root" && find . -print | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -1 >"$work/initrd.gz"

# ---------------------------------------------------------------- boot
raw_log=$work/console.raw
log=$work/console.log
: >"$raw_log"

# No terminal is involved: the serial port writes to a file, there is no
# display and no monitor, and stdin is /dev/null. -nodefaults drops the
# default NIC and VGA, which the guest would only spend time probing.
# qemu runs in the work dir with short relative file names, because its
# option syntax treats commas in paths specially.
ln -s "$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")" "$work/vmlinuz"
qemu_cmd=(
    "$qemu" -accel tcg -cpu max -m "$memory_mib" -smp 2
    -nodefaults -display none -monitor none -no-reboot
    -serial file:console.raw
    -kernel vmlinuz -initrd initrd.gz
    -append "console=ttyS0 quiet panic=-1 8250.nr_uarts=1"
)

start=$EPOCHREALTIME
# In the background so that a signal to this script reaches the trap (and so
# qemu) at once instead of after qemu finishes.
(cd "$work" && exec timeout -k 10 "$timeout_s" "${qemu_cmd[@]}") </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
end=$EPOCHREALTIME
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

# Serial output comes with \r\n line ends, and firmware may emit escape
# sequences and NULs; keep the log plain text.
tr -d '\000\r' <"$raw_log" |
    sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[()][A-Za-z0-9]//g' -e 's/\x1b[=>c]//g' >"$log"
[[ -z $log_copy ]] || cp -- "$log" "$log_copy" || note "could not copy the log to $log_copy"

# A marker is a whole line, optionally with the "[    1.234567] " prefix of
# its kernel-log copy; the last one wins.
code=$(grep -aE "^(\[ *[0-9.]+\] )?$marker [0-9]+\$" "$log" | tail -n 1 | awk '{print $NF}') || true
kver=$(grep -aoE 'headroom-vm: mode=[^ ]+ kernel=[^ ]+' "$log" | tail -n 1 | sed 's/.*kernel=//') || true
[[ -n $kver ]] || kver=${kernel##*/vmlinuz-}

show_log() {
    local n
    n=$(wc -l <"$log")
    {
        if ((n > 200)); then
            echo "----- guest console log (last 200 of $n lines) -----"
            tail -n 200 "$log"
        else
            echo "----- guest console log ($n lines) -----"
            cat "$log"
        fi
        echo "----- end of guest console log -----"
        if [[ -s $work/qemu.out ]]; then
            echo "----- qemu output -----"
            cat "$work/qemu.out"
        fi
    } >&2
}

summary="mode=$mode kernel=$kver boot+run=${elapsed}s"
if [[ -z $code ]]; then
    if ((qemu_rc == 124 || qemu_rc == 137)); then
        reason="guest did not finish within ${timeout_s}s (timeout; hang?)"
    elif grep -aq 'Kernel panic' "$log"; then
        reason="kernel panic: $(grep -a 'Kernel panic' "$log" | head -n 1)"
    elif ((qemu_rc != 0)); then
        reason="qemu exited with status $qemu_rc"
    else
        reason="guest powered off without the $marker marker"
    fi
    echo "FAIL: no exit code from the guest: $reason ($summary)" >&2
    show_log
    exit 1
fi

code=$((10#$code))
if ((code == 0)); then
    echo "PASS: $summary"
    [[ ${HEADROOM_VM_VERBOSE:-0} != 1 ]] || cat "$log"
    exit 0
fi
if ((code == 77)); then
    echo "SKIP: the test binary asked to be skipped ($summary)"
else
    echo "FAIL: test binary exited with code $code ($summary)" >&2
fi
show_log
# Exit codes are 8 bits; anything above (not expected) is reported as 1.
((code <= 255)) || code=1
exit "$code"
