#!/bin/sh
# The ExecStart of testvm.service in a VM booted with run.sh --rootfs (see
# init-rootfs.sh): runs /testvm/cmd as root once the boot has settled, with
# the environment init.sh gives in the busybox VM, then prints the run's
# marker with the status for run.sh. The unit powers the VM off when this
# ends. Runs under the image's /bin/sh (dash).
set -u

# The run's settings (run.sh --env) first, then the defaults, then the
# settings again so they override the defaults (as init.sh does).
# shellcheck disable=SC1091
[ -f /testvm/env ] && . /testvm/env

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export TESTVM=1 HOME=/root TERM=dumb
export RCON_TEST_USER=rcontest RCON_TEST_UID=1000 RCON_TEST_GID=1000
# The scratch disk is the virtio disk that is not the root.
for b in /sys/block/vd*; do
	[ "$(cat "$b/serial" 2>/dev/null)" = testvm-root ] && continue
	RCON_TEST_DISK=/dev/${b##*/}
	RCON_TEST_DISK_DEVNO=$(cat "$b/dev")
	export RCON_TEST_DISK RCON_TEST_DISK_DEVNO
	break
done
# shellcheck disable=SC1091
[ -f /testvm/env ] && . /testvm/env

# Type=exec: the boot job ends while we run; wait for it so the command
# starts on a settled system (running, or degraded: say which units failed).
state=$(systemctl is-system-running --wait 2>/dev/null)
if [ "$state" != running ]; then
	echo "testvm: system is $state; failed units:"
	systemctl --failed --no-legend --plain 2>&1 | sed 's/^/testvm:   /'
fi

rc=127
cd /
if [ -f /testvm/cmd ]; then
	echo "testvm: running $(cat /testvm/cmd) (kernel $(uname -r), $(nproc) CPU, systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1, system $state, cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers))"
	# shellcheck disable=SC1091
	. /testvm/cmd
	rc=$?
else
	echo "testvm/runner: no /testvm/cmd"
fi
sync
echo
echo "$(cat /testvm/marker) $rc"
# testvm.service's SuccessAction powers off now.
exit 0
