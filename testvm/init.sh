#!/bin/busybox sh
# /init of the test VM (busybox sh). testvm/run.sh puts it, with the binary to
# run and /testvm/{cmd,env,marker}, into a per-run initramfs layer.
# shellcheck shell=sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The kernel found no /dev/console in the archive; take the console now.
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
ln -sf /proc/self/fd /dev/fd 2>/dev/null

fail() {
	echo "testvm/init: $*"
}

# The run's settings (run.sh --env) come first: TESTVM_CGROUP picks the
# cgroup layout below.
# shellcheck disable=SC1091
[ -f /testvm/env ] && . /testvm/env

# TESTVM_CGROUP=v1: the hybrid layout systemd mounts on a stock v1 Debian
# or Ubuntu host (what this project's own machines do not have): a
# read-only tmpfs with one directory per hierarchy, cpu,cpuacct and
# net_cls,net_prio co-mounted with their single names as symlinks, a
# name=systemd hierarchy, and cgroup2 at unified without controllers.
mount_v1() {
	mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup || fail "mount cgroup tmpfs failed"
	mkdir -p /sys/fs/cgroup/unified /sys/fs/cgroup/systemd
	mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup/unified || fail "mount unified failed"
	mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd || fail "mount name=systemd failed"
	for h in cpu,cpuacct net_cls,net_prio memory pids blkio cpuset devices freezer perf_event hugetlb; do
		mkdir -p "/sys/fs/cgroup/$h"
		mount -t cgroup -o "nosuid,nodev,noexec,$h" cgroup "/sys/fs/cgroup/$h" || fail "mount v1 $h failed"
	done
	ln -s cpu,cpuacct /sys/fs/cgroup/cpu
	ln -s cpu,cpuacct /sys/fs/cgroup/cpuacct
	ln -s net_cls,net_prio /sys/fs/cgroup/net_cls
	ln -s net_cls,net_prio /sys/fs/cgroup/net_prio
	mount -o remount,ro /sys/fs/cgroup || fail "remount cgroup tmpfs read-only failed"
}

# cgroup v2 (the default), controllers enabled for the root's children.
mount_v2() {
	mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "mount cgroup2 failed"
	for c in cpu memory pids io cpuset; do
		if grep -qw "$c" /sys/fs/cgroup/cgroup.controllers; then
			echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || fail "cannot enable $c"
		elif [ "$c" != cpuset ]; then
			fail "controller $c not available"
		fi
	done
}

case ${TESTVM_CGROUP:-v2} in
v1) mount_v1 ;;
v2) mount_v2 ;;
*) fail "unknown TESTVM_CGROUP=$TESTVM_CGROUP" ;;
esac

# Users: root, nobody, and an unprivileged test user.
mkdir -p /home/rcontest
chown 1000:1000 /home/rcontest
cat >/etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
rcontest:x:1000:1000:rcon test user:/home/rcontest:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >/etc/group <<'EOF'
root:x:0:
rcontest:x:1000:
nogroup:x:65534:
EOF
echo testvm >/etc/hostname
hostname testvm
ip link set lo up 2>/dev/null

# Virtio block disk as /dev/vda.
if [ -f /lib/modules/testvm/modules.order ]; then
	while read -r m; do
		insmod "/lib/modules/testvm/$m" 2>/dev/null || [ -d "/sys/module/${m%.ko}" ] || fail "insmod $m failed"
	done </lib/modules/testvm/modules.order
fi
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
if [ -b /dev/vda ]; then
	export RCON_TEST_DISK=/dev/vda
	RCON_TEST_DISK_DEVNO=$(cat /sys/class/block/vda/dev)
	export RCON_TEST_DISK_DEVNO
else
	fail "no /dev/vda"
fi

export TESTVM=1 HOME=/root TERM=dumb
export RCON_TEST_USER=rcontest RCON_TEST_UID=1000 RCON_TEST_GID=1000
# Again: the run's settings override the defaults just set.
# shellcheck disable=SC1091
[ -f /testvm/env ] && . /testvm/env
cd /
rc=127
if [ -f /testvm/cmd ]; then
	if [ "${TESTVM_CGROUP:-v2}" = v1 ]; then
		layout="cgroup v1 hybrid: $(cd /sys/fs/cgroup && echo *)"
	else
		layout="cgroup2 subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
	fi
	echo "testvm: running $(cat /testvm/cmd) (kernel $(uname -r), $(nproc) CPU, $layout)"
	# shellcheck disable=SC1091
	. /testvm/cmd
	rc=$?
else
	fail "no /testvm/cmd"
fi
sync
echo
echo "$(cat /testvm/marker) $rc"
poweroff -f
# If poweroff did not work, init exits: panic=-1 + qemu -no-reboot end it.
sleep 5
exit "$rc"
