#!/bin/busybox sh
# /init of the test VM with a root file system (run.sh --rootfs; busybox sh):
# the kernel has virtio_blk and ext4 as modules, so this stage loads them,
# mounts the root disk (found by its serial, testvm-root) read-write (it is
# qemu's copy-on-write view of the cached image), adds the run's files and
# a unit that runs them, and hands over to the root's own /sbin/init
# (systemd). run.sh put into this initramfs: /testvm/{cmd,env,marker,adds,
# runner} and the binaries (--add and BINARY) in /bin.
# shellcheck shell=sh
/bin/busybox mkdir -p /proc /sys /dev /usr/bin /usr/sbin /sbin /newroot
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

# Nothing can run without the root: report 125 (run.sh's "did not boot")
# through the marker at once instead of letting run.sh wait for its timeout.
die() {
	echo "testvm/init-rootfs: $*"
	echo "$(cat /testvm/marker) 125"
	poweroff -f
	sleep 5
	exit 1
}

for d in testvm testvm-rootfs; do
	[ -f "/lib/modules/$d/modules.order" ] || continue
	while read -r m; do
		insmod "/lib/modules/$d/$m" 2>/dev/null || [ -d "/sys/module/${m%.ko}" ] || die "insmod $m failed"
	done <"/lib/modules/$d/modules.order"
done

root=
i=0
while [ -z "$root" ] && [ $i -lt 100 ]; do
	for b in /sys/block/vd*; do
		if [ "$(cat "$b/serial" 2>/dev/null)" = testvm-root ]; then root=/dev/${b##*/}; fi
	done
	[ -n "$root" ] || sleep 0.05
	i=$((i + 1))
done
[ -n "$root" ] || die "no virtio disk with serial testvm-root"
mount -t ext4 -o rw,noatime "$root" /newroot || die "cannot mount $root"
chroot /newroot test -x /sbin/init || die "no /sbin/init on $root" # (an absolute symlink)

# The run's files. /bin of a merged-/usr root is a symlink to usr/bin, so
# the binaries land in /usr/bin and RCON_BIN_DIR=/bin finds them.
mkdir -p /newroot/testvm
cp /testvm/* /newroot/testvm/ || die "cannot copy /testvm"
while read -r f; do
	cp "/bin/$f" "/newroot/bin/$f" || die "cannot copy $f"
	chmod 0755 "/newroot/bin/$f"
done </testvm/adds

# The unit: after the boot's basic services, the command runs as root and
# its output goes to the console; whatever happens, the VM powers off when
# it ends (poweroff-force: no orderly stop of every unit; the root is thrown
# away). Type=exec: the boot completes while it runs, so the runner can wait
# for "systemctl is-system-running" to settle.
cat >/newroot/etc/systemd/system/testvm.service <<'EOF'
[Unit]
Description=testvm: the run's command (testvm/run.sh --rootfs)
Wants=dbus.service systemd-logind.service
After=dbus.service systemd-logind.service systemd-user-sessions.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=exec
ExecStart=/bin/sh /testvm/runner
StandardInput=null
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
TimeoutStartSec=infinity
# The suite's storms run hundreds of rcons at once, each a Go process with
# threads, all counted here (their commands live in rcon's own groups);
# systemd's DefaultTasksMax (15% of the VM's threads-max) is far below.
TasksMax=infinity
EOF
mkdir -p /newroot/etc/systemd/system/multi-user.target.wants
ln -sfn ../testvm.service /newroot/etc/systemd/system/multi-user.target.wants/testvm.service

mount --move /dev /newroot/dev
mount --move /sys /newroot/sys
mount --move /proc /newroot/proc
exec switch_root /newroot /sbin/init
