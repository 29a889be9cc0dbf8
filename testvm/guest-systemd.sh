#!/bin/sh
# testvm/guest-systemd.sh PROGRAM [ARGS...]: what `testvm/test-vm.sh systemd`
# runs inside the systemd VM, as root, from testvm.service (rootfs-runner.sh):
#   1. unless TESTVM_DIAG=0, shows that the host shape is the real thing:
#      the system and the lingering user's manager running, the controllers
#      delegated to user@UID.service, a transient scope with CPUQuota and
#      MemoryMax in force (read back from its cgroup), hyperfine present;
#   2. runs PROGRAM ARGS as root (in testvm.service, under system.slice);
#   3. runs it again as RCON_TEST_USER (rcontest), talking to that user's
#      manager: TESTVM_USER_VIA=session (default) through `runuser -l`, a PAM
#      login session registered with logind (session-N.scope, as over ssh),
#      where pam_systemd sets XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS;
#      TESTVM_USER_VIA=service as a transient service of the user manager
#      (`systemd-run --user -M USER@ --wait --pipe`, under user@UID.service).
# TESTVM_AS=root or user runs only one of the two (default both). The user
# gets TESTVM, RCON_BIN_DIR, RCON_TEST_* and every run.sh --env variable.
# Exit status: root's if it failed, else the user's.
# Runs under the image's /bin/sh (dash).
set -u

user=${RCON_TEST_USER:-rcontest}
uid=${RCON_TEST_UID:-1000}
as=${TESTVM_AS:-both}
via=${TESTVM_USER_VIA:-session}
say() { echo "testvm-systemd: $*"; }

case $as in root | user | both) ;; *) say "unknown TESTVM_AS=$as" && exit 2 ;; esac
case $via in session | service) ;; *) say "unknown TESTVM_USER_VIA=$via" && exit 2 ;; esac
[ $# -ge 1 ] || { say "usage: guest-systemd.sh PROGRAM [ARGS...]" && exit 2; }

q() { # single-quote for sh
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# logind starts the lingering user's manager at boot, without ordering it
# before anything; starting it again waits for it (Type=notify) and is a
# no-op once it runs.
user_manager() {
	systemctl start "user@$uid.service" || say "cannot start user@$uid.service"
}

# The script the user part runs: the variables the suite reads, then
# PROGRAM ARGS, from the user's home.
userscript=/run/testvm-user.sh
write_userscript() {
	names="TESTVM|RCON_BIN_DIR|RCON_TEST_[A-Z_]*|TESTVM_[A-Z_]*"
	if [ -f /testvm/env ]; then
		while read -r n; do
			names="$names|$n"
		done <<-EOF
			$(sed -n 's/^export \([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' /testvm/env)
		EOF
	fi
	{
		echo '#!/bin/sh'
		export -p | grep -E "^export ($names)=" | grep -Ev '^export (HOME|USER|LOGNAME)='
		# shellcheck disable=SC2016 # expanded by the user's sh
		echo 'cd "$HOME" || exit 125'
		printf 'exec'
		for a in "$@"; do printf ' %s' "$(q "$a")"; done
		echo
	} >"$userscript"
	chmod 0755 "$userscript"
}

as_user() { # command line for sh -c, run as the user the chosen way
	case $via in
	session) runuser -l "$user" -c "$1" ;;
	service) systemd-run --user -M "$user@" --wait --pipe --quiet --collect \
		-p WorkingDirectory=~ /bin/sh -c "$1" ;;
	esac
}

diag() {
	t0=$(date +%s.%N)
	say "systemctl is-system-running: $(systemctl is-system-running)"
	systemctl --failed --no-legend --plain | sed 's/^/testvm-systemd:   failed: /'
	user_manager
	say "systemctl --user -M $user@ is-system-running: $(systemctl --user -M "$user@" is-system-running --wait 2>&1)"
	say "linger: $(ls /var/lib/systemd/linger/)"
	d=/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service
	say "$d/cgroup.controllers: $(cat "$d/cgroup.controllers")"
	say "$d/cgroup.subtree_control: $(cat "$d/cgroup.subtree_control")"
	say "/sys/fs/cgroup/cgroup.subtree_control (systemd's): $(cat /sys/fs/cgroup/cgroup.subtree_control)"
	say "TasksMax: $(for u in testvm.service "user-$uid.slice" "user@$uid.service"; do
		printf '%s=%s ' "$u" "$(systemctl show -P TasksMax "$u")"
	done)"
	# The transient scope's own files: the limits are in force.
	# shellcheck disable=SC2016 # expanded by the scope's sh
	out=$(systemd-run --scope --quiet -p CPUQuota=50% -p MemoryMax=200M \
		sh -c 'g=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); echo "$g cpu.max=$(cat "$g/cpu.max") memory.max=$(cat "$g/memory.max")"' 2>&1)
	say "systemd-run --scope -p CPUQuota=50% -p MemoryMax=200M: exit $?: $out"
	# shellcheck disable=SC2016 # expanded by the user's sh
	out=$(as_user 'echo "uid $(id -u), XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-unset}, DBUS_SESSION_BUS_ADDRESS=${DBUS_SESSION_BUS_ADDRESS:-unset}, cgroup $(cut -d: -f3 /proc/self/cgroup)"; systemctl --user is-system-running' 2>&1 | tr '\n' ' ')
	say "as $user ($via): $out"
	say "$(hyperfine --version 2>&1 || echo 'no hyperfine')"
	say "checks took $(echo "$t0 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }') s"
}

[ "${TESTVM_DIAG:-1}" = 0 ] || diag

rc_root=0
rc_user=0
if [ "$as" != user ]; then
	say "as root: $*"
	"$@"
	rc_root=$?
	say "as root: exit status $rc_root"
fi
if [ "$as" != root ]; then
	user_manager
	write_userscript "$@"
	say "as $user ($via, uid $uid): $*"
	as_user "$userscript"
	rc_user=$?
	say "as $user: exit status $rc_user"
fi
if [ "$rc_root" != 0 ]; then exit "$rc_root"; fi
exit "$rc_user"
