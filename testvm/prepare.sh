#!/usr/bin/env bash
# testvm/prepare.sh: prepare (once) what testvm/run.sh needs to boot a small
# cgroup v2 VM under qemu TCG, from Debian packages only:
#   - host tools: qemu-system-x86 (--no-install-recommends), cpio, xz-utils
#   - the kernel of the current linux-image-amd64 dependency: the uncompressed
#     vmlinux (booted through its PVH entry, ~2.6 s faster) or, if extracting
#     or booting it fails, the bzImage; plus the virtio block modules
#   - a base initramfs: busybox-static and those modules
# Everything is cached under testvm/cache/ (git-ignored). Idempotent; when the
# cache is complete it only checks a stamp. Safe to run concurrently (flock).
#
# Usage: testvm/prepare.sh [--quiet] [--force]
# Env:   TESTVM_CACHE (default: testvm/cache next to this script)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TESTVM_CACHE:-$here/cache}
quiet=0
force=0
for a in "$@"; do
	case $a in
	--quiet) quiet=1 ;;
	--force) force=1 ;;
	-h | --help)
		sed -n '2,14p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "prepare.sh: unknown argument: $a" >&2
		exit 2
		;;
	esac
done

log() { if [[ $quiet == 0 ]]; then echo "testvm/prepare: $*" >&2; fi; }
die() {
	echo "testvm/prepare: ERROR: $*" >&2
	exit 1
}
# shellcheck source=testvm/prepare-lib.sh
. "$here/prepare-lib.sh"

# The layout of a complete cache; the stamp names the kernel and the hash of
# this script, so changing the script rebuilds.
stamp=$cache/ready
self_hash=$(cat "${BASH_SOURCE[0]}" "$here/prepare-lib.sh" | sha256sum | cut -c1-16)

have_tools() {
	command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null &&
		command -v xz >/dev/null
}

cache_ok() {
	[[ -f $stamp ]] || return 1
	local k h
	read -r k h <"$stamp" || return 1
	[[ $h == "$self_hash" && -s $cache/kernel && -s $cache/base.cpio && -s $cache/busybox ]] || return 1
	# A newer kernel in the apt lists is picked up only when asked (--force)
	# or when the stamp is from another version of this script: the cached
	# path must not need apt or the network.
	[[ -n $k ]]
}

if [[ $force == 0 ]] && cache_ok && have_tools; then
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
# Someone else may have finished while we waited for the lock.
if [[ $force == 0 ]] && cache_ok && have_tools; then
	exit 0
fi

t0=$SECONDS
start_work testvm-prepare

# --- host tools ------------------------------------------------------------
if ! have_tools; then
	[[ $(id -u) == 0 ]] || die "need root to install qemu-system-x86 cpio xz-utils (or install them yourself)"
	pkgs=(qemu-system-x86 cpio xz-utils)
	log "installing ${pkgs[*]}"
	if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$work/apt.log" 2>&1; then
		apt_update
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$work/apt.log" 2>&1 || {
			tail -n 30 "$work/apt.log" >&2
			die "apt-get install ${pkgs[*]} failed"
		}
	fi
	have_tools || die "qemu-system-x86_64/cpio/xz still missing after install"
fi

# --- kernel version: the current dependency of linux-image-amd64 ----------
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}
kpkg=$(kernel_pkg || true)
if [[ -z $kpkg ]]; then
	apt_update
	kpkg=$(kernel_pkg || true)
fi
[[ -n $kpkg ]] || die "cannot resolve the dependency of linux-image-amd64 (apt-cache depends)"
kver=${kpkg#linux-image-}
log "kernel package $kpkg"

download() { # package -> path of the .deb in $work
	local p=$1
	local debs=("$dl/${p}"_*.deb)
	if [[ -f ${debs[0]} ]]; then
		printf '%s\n' "${debs[0]}"
		return 0
	fi
	(cd "$dl" && apt-get download -qq "$p" >&2) || {
		apt_update
		(cd "$dl" && apt-get download -qq "$p" >&2) || die "apt-get download $p failed"
	}
	debs=("$dl/${p}"_*.deb)
	[[ -f ${debs[0]} ]] || die "no .deb for $p"
	printf '%s\n' "${debs[0]}"
}


kdir=$cache/kernel-$kver
if [[ ! -s $kdir/vmlinuz || ! -s $kdir/modules.order || $force == 1 ]]; then
	log "downloading $kpkg"
	if ! (cd "$dl" && apt-get download -qq "$kpkg" >&2); then
		# Stale apt lists name a kernel the mirror no longer has: update and
		# take the dependency again.
		apt_update
		kpkg=$(kernel_pkg || true)
		[[ -n $kpkg ]] || die "cannot resolve the dependency of linux-image-amd64"
		kver=${kpkg#linux-image-}
		kdir=$cache/kernel-$kver
		log "downloading $kpkg"
	fi
	rm -rf "$kdir"
	mkdir -p "$kdir/modules"
	deb=$(download "$kpkg")
	dpkg -x "$deb" "$work/k"
	rm -f "$deb"
	vmlinuzs=("$work"/k/boot/vmlinuz-*)
	vmlinuz=${vmlinuzs[0]}
	[[ -s $vmlinuz ]] || die "no boot/vmlinuz-* in $kpkg"
	cp "$vmlinuz" "$kdir/vmlinuz"
	mdir=$(module_dir "$work/k") || die "no lib/modules in $kpkg"
	# The virtio block stack (the cache's modules/ holds them; its
	# modules.order is what init.sh loads).
	copy_modules "$mdir" "$kdir/modules" virtio_pci virtio_mmio virtio_blk
	mv "$kdir/modules/modules.order" "$kdir/modules.order"
	rm -rf "$work/k"
fi

# Uncompressed vmlinux: find the xz stream inside the bzImage and decompress it.
if [[ ! -s $kdir/vmlinux && ! -f $kdir/vmlinux.failed ]]; then
	log "extracting vmlinux"
	ok=0
	while IFS=: read -r off _; do
		# (xz stops reading at the end of the stream: no pipe, no SIGPIPE)
		if xz -dc --single-stream < <(tail -c +$((off + 1)) "$kdir/vmlinuz" 2>/dev/null) >"$work/vmlinux" 2>/dev/null &&
			[[ $(head -c4 "$work/vmlinux" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
			mv "$work/vmlinux" "$kdir/vmlinux"
			ok=1
			break
		fi
	done < <(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$kdir/vmlinuz" || true)
	if [[ $ok == 0 ]]; then
		log "could not extract vmlinux; will boot the bzImage"
		touch "$kdir/vmlinux.failed"
	fi
	rm -f "$work/vmlinux"
fi

# --- busybox-static ----------------------------------------------------------
if [[ ! -x $cache/busybox || $force == 1 ]]; then
	log "downloading busybox-static"
	deb=$(download busybox-static)
	dpkg -x "$deb" "$work/bb"
	rm -f "$deb"
	cp "$work/bb/bin/busybox" "$cache/busybox.new"
	chmod 755 "$cache/busybox.new"
	mv "$cache/busybox.new" "$cache/busybox"
	rm -rf "$work/bb"
fi

# --- base initramfs: busybox + modules (the /init comes with each run) -------
log "building base initramfs"
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,root,lib/modules/testvm}
cp "$cache/busybox" "$root/bin/busybox"
cp "$kdir"/modules/*.ko "$kdir/modules.order" "$root/lib/modules/testvm/"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) >"$work/base.cpio"
# Pad to a 4-byte boundary so the per-run archive can simply be appended.
size=$(stat -c %s "$work/base.cpio")
if ((size % 4)); then head -c $((4 - size % 4)) /dev/zero >>"$work/base.cpio"; fi
mv "$work/base.cpio" "$cache/base.cpio"

# --- choose the kernel: smoke-boot vmlinux (PVH), else the bzImage -----------
smoke() { # kernel image -> 0 if a guest boots and sees cgroup2 controllers
	TESTVM_KERNEL=$1 "$here/run.sh" --no-prepare --timeout 180 --quiet \
		"$cache/busybox" sh -c 'grep -qw memory /sys/fs/cgroup/cgroup.controllers' >&2
}
chosen=
if [[ -s $kdir/vmlinux ]]; then
	log "smoke-booting vmlinux (PVH)"
	if smoke "$kdir/vmlinux"; then chosen=$kdir/vmlinux; else log "vmlinux did not boot; trying the bzImage"; fi
fi
if [[ -z $chosen ]]; then
	log "smoke-booting bzImage"
	smoke "$kdir/vmlinuz" || die "the kernel did not boot (see the console output above)"
	chosen=$kdir/vmlinuz
fi
ln -sfn "${chosen#"$cache"/}" "$cache/kernel.new"
mv -T "$cache/kernel.new" "$cache/kernel"

# Drop other kernel versions.
for d in "$cache"/kernel-*; do
	[[ $d == "$kdir" || ! -d $d ]] || rm -rf "$d"
done

echo "$kver $self_hash" >"$stamp"
log "ready: $(basename "$chosen") of $kver in $((SECONDS - t0)) s"
