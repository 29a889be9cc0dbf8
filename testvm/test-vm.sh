#!/usr/bin/env bash
# testvm/test-vm.sh [v2|v1|systemd]: run the integration suite inside the
# test VM, with cgroup v2 mounted (v2, the default) or the co-mounted v1
# hybrid layout of a stock systemd host (v1: cpu,cpuacct as one hierarchy),
# or on a Debian root with systemd as PID 1 (systemd: prepare-systemd.sh's
# image; the suite runs as root, then as the lingering user rcontest,
# through guest-systemd.sh).
#   - builds bin/rcon and bin/capcon with `make build` (if the Makefile has it)
#   - builds ./integration with `go test -c` into a directory of its own
#     run (several VMs may run at once: `make -j2 test`)
#   - boots the VM (testvm/run.sh) and runs it with RCON_BIN_DIR=/bin -test.v
# Without ./integration it runs testvm/probe (--delegated) instead.
# Exit status: the suite's (125: the VM did not boot or timed out).
#
# Env: TESTVM_TIMEOUT (s, default 600), TESTVM_MEM (MB, default 512),
#      TESTVM_SMP (default 1), TESTVM_TEST_ARGS (extra test flags, split on
#      spaces, e.g. "-test.run TestCPU -test.count=1"), GO (default go),
#      TESTVM_NO_BUILD (1: use bin/ as it is, no `make build`).
# systemd only: TESTVM_SCRIPT (a script to run instead of the suite, as
#      root and as the user, with bin/rcon, bin/capcon in /bin), TESTVM_AS
#      (both, root, user), TESTVM_USER_VIA (session: runuser -l; service:
#      systemd-run --user), TESTVM_DIAG (0: skip the host-shape checks).
set -euo pipefail

layout=${1:-v2}
case $layout in
v1 | v2 | systemd) ;;
*)
	echo "usage: $0 [v2|v1|systemd]" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cache=${TESTVM_CACHE:-$here/cache}
go=${GO:-go}
cd "$top"

# The guest CPU is qemu64: x86-64-v1 code only; and the guest has no libc.
export CGO_ENABLED=0 GOAMD64=v1

"$here/prepare.sh"
mkdir -p "$cache"

run=("$here/run.sh" --timeout "${TESTVM_TIMEOUT:-600}" --mem "${TESTVM_MEM:-512}" --smp "${TESTVM_SMP:-1}")
if [[ $layout == systemd ]]; then
	"$here/prepare-systemd.sh"
	run+=(--rootfs "$cache/systemd/root.img" --initrd "$cache/systemd/modules.cpio"
		--append "systemd.unified_cgroup_hierarchy=1")
	for k in TESTVM_AS TESTVM_USER_VIA TESTVM_DIAG; do
		if [[ -n ${!k:-} ]]; then run+=(--env "$k=${!k}"); fi
	done
fi

if [[ ! -d integration && $layout != systemd ]]; then
	echo "test-v2: no ./integration yet; running the testvm probe instead"
	"$go" build -trimpath -o "$cache/probe" ./testvm/probe
	exec "${run[@]}" "$cache/probe" --delegated
fi

adds=()
if [[ -f Makefile ]] && make -n build >/dev/null 2>&1; then
	# TESTVM_NO_BUILD=1: the caller built them, and other VMs may be
	# reading them now (make test runs two at once; a build rewrites).
	[[ ${TESTVM_NO_BUILD:-} == 1 ]] || make build
	for b in bin/rcon bin/capcon; do
		if [[ -f $b ]]; then adds+=(--add "$b"); else echo "test-v2: make build made no $b"; fi
	done
else
	echo "test-v2: no Makefile target 'build'; not building bin/rcon, bin/capcon"
fi

suite=$(mktemp -d "${TMPDIR:-/tmp}/testvm-suite.XXXXXX")
trap 'rm -rf "$suite"' EXIT
extra=()
if [[ -n ${TESTVM_TEST_ARGS:-} ]]; then read -r -a extra <<<"$TESTVM_TEST_ARGS"; fi
if [[ $layout == systemd ]]; then
	# guest-systemd.sh is the VM's command; it runs the suite (or the
	# script) twice, as root and as the user.
	# The suite's binary is there for a script too (/bin/integration.test:
	# a script may run it in another way, e.g. with RCON_DRIVER set).
	"$go" test -c -trimpath -o "$suite/integration.test" ./integration
	adds+=(--add "$suite/integration.test")
	if [[ -n ${TESTVM_SCRIPT:-} ]]; then
		[[ -f $TESTVM_SCRIPT ]] || { echo "test-vm: no such TESTVM_SCRIPT: $TESTVM_SCRIPT" >&2; exit 2; }
		cmd=("$here/guest-systemd.sh" "/bin/$(basename "$TESTVM_SCRIPT")" "${extra[@]}")
		adds+=(--add "$TESTVM_SCRIPT")
	else
		cmd=("$here/guest-systemd.sh" /bin/integration.test -test.v "${extra[@]}")
	fi
else
	"$go" test -c -trimpath -o "$suite/integration.test" ./integration
	cmd=("$suite/integration.test" -test.v "${extra[@]}")
fi
start=$SECONDS
set +e
"${run[@]}" "${adds[@]}" --env RCON_BIN_DIR=/bin --env TESTVM_CGROUP="$layout" "${cmd[@]}"
rc=$?
set -e
echo "test-vm $layout: exit status $rc, VM wall time $((SECONDS - start)) s"
exit "$rc"
