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

# cgroup v2, controllers enabled for the root's children.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "mount cgroup2 failed"
for c in cpu memory pids io cpuset; do
	if grep -qw "$c" /sys/fs/cgroup/cgroup.controllers; then
		echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || fail "cannot enable $c"
	elif [ "$c" != cpuset ]; then
		fail "controller $c not available"
	fi
done

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
# shellcheck disable=SC1091
[ -f /testvm/env ] && . /testvm/env
cd /
rc=127
if [ -f /testvm/cmd ]; then
	echo "testvm: running $(cat /testvm/cmd) (kernel $(uname -r), $(nproc) CPU, cgroup2 subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control))"
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
