#!/usr/bin/env bash
# testvm/prepare-systemd.sh: prepare (once) what the systemd test VM needs
# beyond what prepare.sh makes (the kernel, the busybox initramfs), from
# Debian packages only:
#   - host tools: mmdebstrap, e2fsprogs (mkfs.ext4 -d: no loop mount, no
#     mount at all on the host)
#   - cache/systemd/root.img: an ext4 image of a minbase Debian of the host's
#     release with systemd as /sbin/init, dbus, libpam-systemd and the user
#     bus, a user rcontest (uid 1000) lingering (user@1000.service starts at
#     boot), cgroup v2 only; units that only slow the boot are masked
#   - cache/systemd/modules.cpio: the ext4 modules of prepare.sh's kernel, an
#     initramfs layer run.sh --initrd appends to base.cpio (the kernel has
#     ext4 as a module, so the busybox stage mounts the root: init-rootfs.sh)
# The image holds no test plumbing (init-rootfs.sh adds it to each run's
# copy-on-write view), so changing the harness never rebuilds the image.
# Idempotent; when the cache is complete it only checks a stamp. Safe to run
# concurrently (flock).
#
# Usage: testvm/prepare-systemd.sh [--quiet] [--force]
# Env:   TESTVM_CACHE (default: testvm/cache next to this script),
#        TESTVM_SUITE (Debian release of the image; default: the host's)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TESTVM_CACHE:-$here/cache}
sd=$cache/systemd
quiet=0
force=0
for a in "$@"; do
	case $a in
	--quiet) quiet=1 ;;
	--force) force=1 ;;
	-h | --help)
		sed -n '2,22p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "prepare-systemd.sh: unknown argument: $a" >&2
		exit 2
		;;
	esac
done

log() { if [[ $quiet == 0 ]]; then echo "testvm/prepare-systemd: $*" >&2; fi; }
die() {
	echo "testvm/prepare-systemd: ERROR: $*" >&2
	exit 1
}
# shellcheck source=testvm/prepare-lib.sh
. "$here/prepare-lib.sh"

# The kernel (whose modules we need) and base.cpio come from prepare.sh; it
# takes its own lock, so it runs before ours (one lock file each: no
# deadlock between the two).
pargs=()
if [[ $quiet == 1 ]]; then pargs+=(--quiet); fi
"$here/prepare.sh" "${pargs[@]}" || die "prepare.sh failed"
read -r kver _ <"$cache/ready" || die "no kernel version in $cache/ready"

# Debian packages in the image. minbase is essential + apt; systemd-sysv
# makes systemd /sbin/init; libpam-systemd registers PAM sessions with logind
# (runuser -l, su -l, systemd-run -M user@); dbus-user-session gives the user
# manager its bus ($XDG_RUNTIME_DIR/bus), which a backend talking to the user
# manager needs; procps, libcap2-bin and iproute2 for looking at processes,
# capability sets and network namespaces (the suite uses ps, getpcaps, ip);
# hyperfine (1.2 MB) for issue 10's benchmark.
pkgs=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,procps,libcap2-bin,iproute2,hyperfine
# shellcheck disable=SC1091 # the host's, read at run time
suite=${TESTVM_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
[[ -n $suite ]] || die "cannot tell the host's Debian release (/etc/os-release); set TESTVM_SUITE"

# Two stamps: the image's names the suite and the hash of this script; the
# modules' the kernel, so a new kernel from prepare.sh --force only remakes
# modules.cpio, not the image.
stamp=$sd/ready
self_hash=$(cat "${BASH_SOURCE[0]}" "$here/prepare-lib.sh" | sha256sum | cut -c1-16)
want="$suite $self_hash"

have_tools() { command -v mmdebstrap >/dev/null && command -v mkfs.ext4 >/dev/null; }
image_ok() { [[ -f $stamp && $(cat "$stamp") == "$want" && -s $sd/root.img ]]; }
modules_ok() { [[ -s $sd/modules.cpio && -f $sd/modules.kver && $(cat "$sd/modules.kver") == "$kver" ]]; }
cache_ok() { image_ok && modules_ok; }

if [[ $force == 0 ]] && cache_ok; then
	exit 0
fi

mkdir -p "$sd"
exec 9>"$sd/.lock"
flock 9
if [[ $force == 0 ]] && cache_ok; then
	exit 0
fi

t0=$SECONDS
start_work testvm-prepare-systemd

# --- host tools ------------------------------------------------------------
if ! have_tools; then
	[[ $(id -u) == 0 ]] || die "need root to install mmdebstrap e2fsprogs (or install them yourself)"
	hp=(mmdebstrap e2fsprogs)
	log "installing ${hp[*]}"
	if ! apt-get install -y -qq --no-install-recommends "${hp[@]}" >"$work/apt.log" 2>&1; then
		apt_update
		apt-get install -y -qq --no-install-recommends "${hp[@]}" >"$work/apt.log" 2>&1 || {
			tail -n 30 "$work/apt.log" >&2
			die "apt-get install ${hp[*]} failed"
		}
	fi
	have_tools || die "mmdebstrap/mkfs.ext4 still missing after install"
fi
[[ $(id -u) == 0 ]] || die "need root to build the image (mmdebstrap, file owners in mkfs.ext4 -d)"

# --- ext4 modules of the kernel prepare.sh chose -----------------------------

if [[ $force == 1 ]] || ! modules_ok; then
	kpkg=linux-image-$kver
	log "downloading $kpkg (for its ext4 modules)"
	(cd "$dl" && apt-get download -qq "$kpkg" >&2) || {
		apt_update
		(cd "$dl" && apt-get download -qq "$kpkg" >&2) || die "apt-get download $kpkg failed (run testvm/prepare.sh --force if the mirror dropped it)"
	}
	debs=("$dl/${kpkg}"_*.deb)
	[[ -f ${debs[0]} ]] || die "no .deb for $kpkg"
	dpkg -x "${debs[0]}" "$work/k"
	rm -f "${debs[0]}"
	mdir=$(module_dir "$work/k") || die "no lib/modules in $kpkg"
	# crc32c_generic is ext4's and jbd2's softdep (crypto-crc32c): nothing
	# in the initramfs would request_module it, and metadata checksums
	# need it.
	mroot=$work/mroot
	copy_modules "$mdir" "$mroot/lib/modules/testvm-rootfs" crc32c_generic ext4
	(cd "$mroot" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible) >"$work/modules.cpio"
	# Padded to 4 bytes like base.cpio, so archives can simply be appended.
	size=$(stat -c %s "$work/modules.cpio")
	if ((size % 4)); then head -c $((4 - size % 4)) /dev/zero >>"$work/modules.cpio"; fi
	mv "$work/modules.cpio" "$sd/modules.cpio"
	echo "$kver" >"$sd/modules.kver"
	rm -rf "$work/k" "$mroot"
fi

# --- the root file system ---------------------------------------------------
if [[ $force == 0 ]] && image_ok; then
	log "ready: modules for $kver; the image was up to date"
	exit 0
fi
# What the image gets after the packages are installed (mmdebstrap runs it
# with the root directory as $1). Kept in this script so its hash covers it.
cat >"$work/customize.sh" <<'EOF'
#!/bin/sh
set -eu
r=$1
# The unprivileged test user (the integration suite's RCON_TEST_USER), and
# linger: logind starts user@1000.service at boot, no login needed.
chroot "$r" useradd --create-home --uid 1000 --user-group --shell /bin/bash \
	--comment "rcon test user" rcontest
mkdir -p "$r/var/lib/systemd/linger"
: >"$r/var/lib/systemd/linger/rcontest"
# A root login on the console for debugging by hand (getty is masked below;
# systemd.unit=emergency.target or unmasking gives one).
chroot "$r" passwd --delete root >/dev/null
echo testvm >"$r/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 testvm\n::1 localhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
# A fixed machine id: an empty one means "first boot" to systemd (presets,
# firstboot), and the root is copy-on-write per run, so nothing would stick.
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$r/etc/machine-id"
echo >>"$r/etc/machine-id"
# Nothing of the journal needs to survive a run; keep it in /run.
mkdir -p "$r/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$r/etc/systemd/journald.conf.d/testvm.conf"
# The root is mounted by the initramfs (init-rootfs.sh); no fstab entries.
: >"$r/etc/fstab"
# Masked: what only slows a boot under TCG or cannot work here. getty: the
# console belongs to the test's output. timers: apt, dpkg backups, fstrim,
# tmpfiles cleaning. binfmt/autofs, debug and tracing mounts, fuse, configfs,
# modprobe@: no module tree in the image (kmod is not even installed).
# ldconfig, catalog, hwdb and update-done run "when /usr is newer than /etc";
# on a copy-on-write root their stamp never sticks, so they would run every
# boot. fsck/remount: the initramfs mounted the root read-write already.
# e2scrub_reap (2.7 s under TCG): no LVM snapshots to reap. sysusers: the
# users were made when the packages were installed. hugepages: unused.
for u in getty.target serial-getty@ttyS0.service console-getty.service \
	timers.target apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
	fstrim.timer systemd-tmpfiles-clean.timer e2scrub_all.timer \
	systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
	sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
	sys-fs-fuse-connections.mount modprobe@.service systemd-modules-load.service \
	kmod-static-nodes.service ldconfig.service systemd-journal-catalog-update.service \
	systemd-hwdb-update.service systemd-update-done.service \
	systemd-fsck-root.service systemd-remount-fs.service systemd-pstore.service \
	systemd-firstboot.service systemd-machine-id-commit.service systemd-random-seed.service \
	e2scrub_reap.service systemd-sysusers.service dev-hugepages.mount; do
	ln -sfn /dev/null "$r/etc/systemd/system/$u"
done
ln -sfn /lib/systemd/system/multi-user.target "$r/etc/systemd/system/default.target"
EOF
chmod 755 "$work/customize.sh"

log "building the root file system ($suite, minbase + $pkgs) with mmdebstrap"
t1=$SECONDS
# The merged-usr hook makes the /usr-merged layout itself and installs
# usr-is-merged, so the essential init-system-helpers does not pull in
# usrmerge and with it perl (≈45 MB). unshare mode: the build's mounts (proc, sys, dev for maintainer scripts)
# live in a namespace of their own, never on the shared host.
if ! mmdebstrap --mode=unshare --variant=minbase --include="$pkgs" \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook="$work/customize.sh \"\$1\"" \
	--quiet "$suite" "$work/root" >"$work/mmdebstrap.log" 2>&1; then
	tail -n 40 "$work/mmdebstrap.log" >&2
	die "mmdebstrap failed"
fi
log "mmdebstrap: $((SECONDS - t1)) s, $(du -sh --apparent-size "$work/root" | cut -f1)"

# ext4 image, sparse: the used size plus 512 MiB free for what the tests
# write (/tmp is on the root; writes go to qemu's per-run overlay anyway).
# No journal: the root is copy-on-write per run and thrown away, so there is
# nothing to keep consistent, and no journal commits under TCG.
used_mb=$(du -sm "$work/root" | cut -f1)
img_mb=$((used_mb + used_mb / 4 + 512))
rm -f "$work/root.img"
truncate -s "${img_mb}M" "$work/root.img"
mkfs.ext4 -q -F -L testvm-root -O ^has_journal -E root_owner=0:0 -d "$work/root" "$work/root.img" ||
	die "mkfs.ext4 -d failed"
mv "$work/root.img" "$sd/root.img"
du -sh "$work/root" | cut -f1 >"$sd/root.size"
echo "$want" >"$stamp"
log "ready: $sd/root.img (${img_mb} MiB sparse, $(du -sh "$sd/root.img" | cut -f1) used; tree $(cat "$sd/root.size")) in $((SECONDS - t0)) s"
