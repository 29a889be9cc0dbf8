#!/usr/bin/env bash
# make bench: rcon against bare /bin/true, the C lower bound and the
# libcgroup script a user would write, with hyperfine. cgroup v1 hosts
# (this project's machines); needs root. Results: bench/out/ and the table
# printed at the end, to be copied into docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench needs root (real cgroups)" >&2; exit 1; }
for p in hyperfine cgcreate cc; do
	command -v "$p" >/dev/null || { echo "bench needs $p: apt-get install hyperfine cgroup-tools gcc" >&2; exit 1; }
done
mkdir -p bench/out
cc -O2 -o bench/out/cgroup-min bench/cgroup-min.c

# Our own cgroup in each hierarchy: groups go beneath it, never elsewhere.
own() { sed -n "s/^[0-9]*:\([^:]*,\)\{0,1\}$1\(,[^:]*\)\{0,1\}:\(.*\)/\3/p" /proc/self/cgroup | sed 's|^/$||'; }
name=rcon-bench-$$
cpu="$(own cpu)/$name" mem="$(own memory)/$name" pids="$(own pids)/$name"
root=/sys/fs/cgroup
cleanup() { rmdir "$root/cpu$cpu" "$root/memory$mem" "$root/pids$pids" 2>/dev/null || true; }
trap cleanup EXIT

runs=${BENCH_RUNS:-300}
hyperfine -N --warmup 20 --runs "$runs" --export-markdown bench/out/startup.md --export-json bench/out/startup.json \
	-n bare '/bin/true' \
	-n c-lower-bound "bench/out/cgroup-min $root/cpu$cpu $root/memory$mem $root/pids$pids /bin/true" \
	-n rcon 'bin/rcon --cpu 50 --mem 200M --pids 100 -- /bin/true' \
	-n 'rcon (no limits)' 'bin/rcon -- /bin/true' \
	-n 'capcon --keep none' 'bin/capcon --keep none -- /bin/true' \
	-n libcgroup-script "bench/libcgroup.sh $cpu $mem $pids /bin/true"

python3 - <<'PY'
import json
r = {x["command"]: x for x in json.load(open("bench/out/startup.json"))["results"]}
m = lambda n: r[n]["mean"] * 1000
print(f"\nrcon / C lower bound : {m('rcon')/m('c-lower-bound'):.2f}x (target <= 2x)")
print(f"libcgroup / rcon     : {m('libcgroup-script')/m('rcon'):.2f}x (target >= 4x)")
PY
