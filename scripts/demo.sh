#!/usr/bin/env bash
# A short, real demonstration: a busy loop held to 20% of one CPU, with
# the figures rcon reports, then a memory hog stopped by its limit.
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "make demo creates real cgroups and needs root: sudo make demo" >&2
	exit 1
fi
run() { printf '\n$ %s\n' "$*"; "$@"; printf '(exit status %d)\n' "$?"; }

echo "== 1. A busy loop for 3 seconds, held to 20% of one CPU"
run bin/rcon --cpu 20 --stats -- timeout 3 sh -c 'while :; do :; done'

echo
echo "== 2. A memory hog (tail buffers /dev/zero forever) under a 64M limit"
run bin/rcon --mem 64M --swap 0 --stats -- tail /dev/zero

echo
echo "== 3. Only the capability to bind low ports, as nobody"
run bin/capcon --keep net_bind_service --user nobody -- grep -E '^(Cap|NoNewPrivs)' /proc/self/status
