#!/bin/sh
# bench/systemd-vm.sh: the systemd driver against systemd-run --scope (and,
# as root, rcon's cgroupfs driver) inside the systemd VM:
#   TESTVM_SCRIPT=bench/systemd-vm.sh make test-systemd
# Runs as root and as the lingering user (guest-systemd.sh); hyperfine -N
# (no shell), so each figure is one start-to-exit of the whole tool.
set -eu
cd /tmp
user=""
[ "$(id -u)" = 0 ] || user="--user"
set -- "rcon --driver systemd --cpu 50 --mem 200M --pids 100 -- /bin/true" \
	"systemd-run $user --scope --quiet -p CPUQuota=50% -p MemoryMax=200M -p TasksMax=100 /bin/true"
if [ "$(id -u)" = 0 ]; then
	set -- "$@" "rcon --driver cgroupfs --cpu 50 --mem 200M --pids 100 -- /bin/true"
fi
out=$(mktemp)
hyperfine -N --style basic --warmup 3 --runs 40 --export-markdown "$out" "$@" >/dev/null
cat "$out"
rm -f "$out"
