#!/usr/bin/env bash
# make test-package: install the package make deb built, use it as an
# operator would (version, man page, bash completion, one real limited
# run), purge it and check that nothing of it is left. Needs root; run by
# .ci/run on a machine where nothing else installed rcon.
set -euo pipefail
cd "$(dirname "$0")/../.."
deb=$(ls build/deb/rcon-capcon_*.deb)
name=rcon-capcon
fail() { echo "test-package: $*" >&2; exit 1; }

if dpkg-query -W -f='${Status}' rcon 2>/dev/null | grep -q "install ok installed"; then
	fail "Debian's rcon package is installed: it conflicts with ours (both ship /usr/bin/rcon)"
fi
apt-get install -y -qq "./$deb" >/dev/null
files=$(dpkg -L "$name")

# A private state directory and a group name of our own: nothing this
# test checks or removes can be another run's.
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
export RCON_STATE_DIR=$state

# Shown, then checked. Not with tee /dev/stderr: tee opens it anew with
# O_TRUNC, which empties a log file CI's stderr goes to.
version=$(/usr/bin/rcon --version)
printf '%s\n' "$version" >&2
grep -q '^cgroup: v[12]' <<<"$version" || fail "rcon --version names no cgroup mode"
/usr/bin/capcon --version | grep -q '^capcon ' || fail "capcon --version"
[ "$(man -w rcon)" = /usr/share/man/man1/rcon.1.gz ] || fail "man -w rcon: $(man -w rcon 2>&1)"
man -w rcon.toml >/dev/null || fail "man -w rcon.toml"
[ -r /usr/share/doc/rcon/examples/nightly.toml ] || fail "no example profiles under /usr/share/doc/rcon/examples"

# Bash completion as bash-completion loads it: from its directory, on
# first use, with the installed binary answering.
out=$(bash -c '
	. /usr/share/bash-completion/bash_completion
	_completion_loader rcon
	COMP_WORDS=(rcon --keep net_raw,sys_ad); COMP_CWORD=2
	COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
	complete -p rcon >/dev/null && _rcon_complete rcon net_raw,sys_ad --keep
	printf "%s\n" "${COMPREPLY[@]}"')
[ "$out" = net_raw,sys_admin ] || fail "bash completion of --keep net_raw,sys_ad gave: $out"

# One real limited run of the installed binary, in a group of our name.
group=pkgtest-$$
/usr/bin/rcon --name "$group" --cpu 50 --mem 100M --stats -- true || fail "rcon --cpu 50 --mem 100M -- true"
/usr/bin/capcon --keep none -- true || fail "capcon --keep none -- true"

apt-get purge -y -qq "$name" >/dev/null
dpkg-query -W "$name" >/dev/null 2>&1 && fail "$name still known to dpkg after purge"
left=
for f in $files; do
	# Directories such as /usr/bin are shared with other packages.
	if [ -e "$f" ] && [ ! -d "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
	case $f in */rcon | */rcon-capcon | */examples) [ -d "$f" ] && left="$left $f/" ;; esac
done
[ -z "$left" ] || fail "left after purge:$left"
groups=$(find /sys/fs/cgroup -maxdepth 6 -name "$group" 2>/dev/null || true)
[ -z "$groups" ] || fail "group left after the run: $groups"
[ -z "$(ls -A "$state")" ] || fail "records left in the state directory: $(ls -A "$state")"
echo "test-package: $deb installed, ran, purged; nothing left"
