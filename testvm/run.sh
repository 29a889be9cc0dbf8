#!/usr/bin/env bash
# testvm/run.sh: boot a small cgroup v2 VM (Debian kernel under qemu TCG,
# busybox initramfs) and run a static binary in it as root.
#
# Usage: testvm/run.sh [OPTIONS] BINARY [ARGS...]
#   --timeout SEC   whole-run limit, boot included (default 240)
#   --mem MB        guest memory (default 512)
#   --smp N         guest CPUs (default 1)
#   --disk-mb MB    size of the raw virtio disk /dev/vda (default 64)
#   --add FILE      also put FILE into the guest's /bin (repeatable)
#   --env K=V       set K=V for BINARY (repeatable)
#   --cwd DIR       run BINARY in DIR of the guest (default /)
#   --quiet         do not echo the console (the exit status still counts)
#   --no-prepare    do not run prepare.sh first
#   --rootfs IMG    boot IMG (an ext4 image, e.g. prepare-systemd.sh's) as the
#                   root, copy-on-write (qemu snapshot=on: IMG is never
#                   changed), with its own /sbin/init (systemd) as PID 1;
#                   BINARY runs as root in a unit (init-rootfs.sh)
#   --initrd CPIO   append CPIO (4-byte padded) to the initramfs, e.g. the
#                   modules the root needs (prepare-systemd.sh's modules.cpio)
#   --append ARGS   add ARGS to the kernel command line
#
# BINARY goes to /bin/$(basename BINARY) in the guest and runs with ARGS; the
# guest's console is streamed to stdout. Exit status: BINARY's exit status, or
# 125 if the VM did not boot, did not report, or the timeout expired.
# The guest gives BINARY: PATH=/bin:/sbin:/usr/bin:/usr/sbin, TESTVM=1,
# RCON_TEST_DISK=/dev/vda, RCON_TEST_DISK_DEVNO=MAJ:MIN, RCON_TEST_USER=rcontest,
# RCON_TEST_UID=1000, RCON_TEST_GID=1000, plus the --env values.
# Env: TESTVM_CACHE (cache dir), TESTVM_KERNEL (kernel image to boot),
#      TESTVM_QEMU_ARGS (extra qemu arguments, split on spaces).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TESTVM_CACHE:-$here/cache}
timeout=240
mem=512
smp=1
disk_mb=64
quiet=0
prepare=1
cwd=/
adds=()
envs=()
rootfs=
initrds=()
append=

usage() {
	sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 125
}
need() { [[ $# -ge 2 ]] || {
	echo "run.sh: $1 needs a value" >&2
	exit 125
}; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--timeout) need "$@"; timeout=$2; shift 2 ;;
	--mem) need "$@"; mem=$2; shift 2 ;;
	--smp) need "$@"; smp=$2; shift 2 ;;
	--disk-mb) need "$@"; disk_mb=$2; shift 2 ;;
	--add) need "$@"; adds+=("$2"); shift 2 ;;
	--env) need "$@"; envs+=("$2"); shift 2 ;;
	--cwd) need "$@"; cwd=$2; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--no-prepare) prepare=0; shift ;;
	--rootfs) need "$@"; rootfs=$2; shift 2 ;;
	--initrd) need "$@"; initrds+=("$2"); shift 2 ;;
	--append) need "$@"; append+=" $2"; shift 2 ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) echo "run.sh: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[[ $# -ge 1 ]] || usage
bin=$1
shift
for n in "$timeout" "$mem" "$smp" "$disk_mb"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: not a positive number: $n" >&2; exit 125; }
done
for f in "$bin" "${adds[@]}" "${initrds[@]}" ${rootfs:+"$rootfs"}; do
	[[ -f $f ]] || { echo "run.sh: no such file: $f" >&2; exit 125; }
done
for e in "${envs[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || { echo "run.sh: --env wants K=V, got: $e" >&2; exit 125; }
done

if [[ $prepare == 1 ]]; then
	"$here/prepare.sh" --quiet || { echo "run.sh: prepare.sh failed" >&2; exit 125; }
fi
kernel=${TESTVM_KERNEL:-$cache/kernel}
[[ -s $kernel && -s $cache/base.cpio ]] || { echo "run.sh: cache incomplete; run testvm/prepare.sh" >&2; exit 125; }

# --- cleanup: only our temp dir and our qemu pid ----------------------------
tmp=
qpid=
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$qpid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	exec 3<&- 2>/dev/null || true
	if [[ -n $tmp ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 125' INT TERM HUP

tmp=$(mktemp -d "${TMPDIR:-/tmp}/testvm-run.XXXXXX")

# --- per-run initramfs layer --------------------------------------------------
q() { # single-quote for sh
	local s=${1//\'/\'\\\'\'}
	printf "'%s'" "$s"
}
layer=$tmp/layer
mkdir -p "$layer/bin" "$layer/testvm"
if [[ -n $rootfs ]]; then
	# The busybox stage only mounts the root and hands it to its init;
	# BINARY runs from a unit that rootfs-runner.sh is the ExecStart of.
	install -m 0755 "$here/init-rootfs.sh" "$layer/init"
	install -m 0644 "$here/rootfs-runner.sh" "$layer/testvm/runner"
	for f in "${adds[@]}" "$bin"; do basename "$f"; done >"$layer/testvm/adds"
else
	install -m 0755 "$here/init.sh" "$layer/init"
fi
for f in "${adds[@]}" "$bin"; do
	install -m 0755 "$f" "$layer/bin/$(basename "$f")"
done
marker="TESTVM-EXIT-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n'):"
printf '%s\n' "$marker" >"$layer/testvm/marker"
{
	for e in "${envs[@]}"; do
		printf 'export %s=%s\n' "${e%%=*}" "$(q "${e#*=}")"
	done
} >"$layer/testvm/env"
{
	printf 'cd %s && ' "$(q "$cwd")"
	printf '%s' "$(q "/bin/$(basename "$bin")")"
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	printf '\n'
} >"$layer/testvm/cmd"
(cd "$layer" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0) >"$tmp/layer.cpio"
# base.cpio is padded to 4 bytes by prepare.sh; check anyway.
base_size=$(stat -c %s "$cache/base.cpio")
{
	cat "$cache/base.cpio"
	if ((base_size % 4)); then head -c $((4 - base_size % 4)) /dev/zero; fi
	for f in "${initrds[@]}"; do
		cat "$f"
		s=$(stat -c %s "$f")
		if ((s % 4)); then head -c $((4 - s % 4)) /dev/zero; fi
	done
	cat "$tmp/layer.cpio"
} >"$tmp/initrd"
rm -rf "$layer" "$tmp/layer.cpio"
truncate -s "${disk_mb}M" "$tmp/disk.img"

# --- boot -----------------------------------------------------------------------
extra=()
if [[ -n ${TESTVM_QEMU_ARGS:-} ]]; then read -r -a extra <<<"$TESTVM_QEMU_ARGS"; fi
# The root comes after the scratch disk, which stays /dev/vda as the tests
# expect (a PCI slot above the automatic ones: probed last); the guest finds
# the root by its serial, not by its name.
if [[ -n $rootfs ]]; then
	extra+=(-drive "file=$rootfs,format=raw,if=none,id=testvm-root,snapshot=on"
		-device "virtio-blk-pci,drive=testvm-root,serial=testvm-root,addr=0x10")
fi
mkfifo "$tmp/console"
start=$SECONDS
t_start=${EPOCHREALTIME/,/.}
t_run=
qemu-system-x86_64 -M q35 -accel tcg -cpu qemu64 -smp "$smp" -m "$mem" \
	-nodefaults -no-user-config -display none -no-reboot \
	-serial stdio \
	-kernel "$kernel" -initrd "$tmp/initrd" \
	-drive "file=$tmp/disk.img,format=raw,if=virtio" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init$append" \
	"${extra[@]}" </dev/null >"$tmp/console" 2>&1 &
qpid=$!
exec 3<"$tmp/console"

rc=
deadline=$((start + timeout))
line=
while :; do
	left=$((deadline - SECONDS))
	if ((left <= 0)); then
		echo "run.sh: timeout after ${timeout} s" >&2
		break
	fi
	if IFS= read -r -t "$left" line <&3; then
		:
	else
		st=$?
		if ((st > 128)); then # read timed out
			[[ $quiet == 1 ]] || printf '%s\n' "${line%$'\r'}"
			echo "run.sh: timeout after ${timeout} s" >&2
			break
		fi
		[[ -z $line ]] && break # EOF: qemu exited
	fi
	line=${line%$'\r'}
	if [[ -z $t_run && $line == "testvm: running "* ]]; then t_run=${EPOCHREALTIME/,/.}; fi
	if [[ $line == *"$marker "* ]]; then
		r=${line##*"$marker "}
		if [[ $r =~ ^([0-9]+) ]]; then rc=${BASH_REMATCH[1]}; fi
		t_marker=${EPOCHREALTIME/,/.}
		# The guest powers off now; drain what is left for a little while.
		deadline=$((SECONDS + 15 < deadline ? SECONDS + 15 : deadline))
		continue
	fi
	[[ $quiet == 1 ]] || printf '%s\n' "$line"
	line=
done

if [[ -z $rc ]]; then
	echo "run.sh: the VM did not report an exit status (boot failure or timeout) after $((SECONDS - start)) s" >&2
	exit 125
fi
if [[ $quiet == 0 ]]; then
	awk -v s="$t_start" -v b="${t_run:-$t_start}" -v m="$t_marker" -v rc="$rc" 'BEGIN {
		printf "run.sh: exit status %d; boot %.1f s, binary %.1f s, boot-to-marker %.1f s\n", rc, b - s, m - b, m - s }' >&2
fi
exit "$rc"
