#!/usr/bin/env bash
# make bench: rcon against bare /bin/true, the C lower bound and the
# libcgroup script a user would write, with hyperfine. cgroup v1 hosts
# (this project's machines); needs root. Results: bench/out/ and the table
# printed at the end, to be copied into docs/BENCHMARKS.md (the namespace
# part, `bench/bench.sh ns`, into docs/NAMESPACES.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench needs root (real cgroups)" >&2; exit 1; }
for p in hyperfine cgcreate cc; do
	command -v "$p" >/dev/null || { echo "bench needs $p: apt-get install hyperfine cgroup-tools gcc" >&2; exit 1; }
done
mkdir -p bench/out
cc -O2 -o bench/out/cgroup-min bench/cgroup-min.c
# The same job in Go with nothing else linked: Go's own floor; and with
# the libraries rcon links (-tags libs): the floor of any tool made of them.
CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags '-s -w' -o bench/out/go-min ./bench/go-min
CGO_ENABLED=0 ${GO:-go} build -tags libs -trimpath -ldflags '-s -w' -o bench/out/go-min-libs ./bench/go-min

# Our own cgroup in each hierarchy: groups go beneath it, never elsewhere.
own() { sed -n "s/^[0-9]*:\([^:]*,\)\{0,1\}$1\(,[^:]*\)\{0,1\}:\(.*\)/\3/p" /proc/self/cgroup | sed 's|^/$||'; }
name=rcon-bench-$$
cpu="$(own cpu)/$name" mem="$(own memory)/$name" pids="$(own pids)/$name"
root=/sys/fs/cgroup
cleanup() { rmdir "$root/cpu$cpu" "$root/memory$mem" "$root/pids$pids" 2>/dev/null || true; }
trap cleanup EXIT

# ratios JSON LABEL: the issue's targets, from a hyperfine export, by
# median (the issue's measure) and mean; go-min says how much of the
# ratio is Go's own before any library of rcon's.
ratios() {
	python3 - "$1" "$2" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = lambda n: statistics.median(r[n]["times"]) * 1000
mean = lambda n: r[n]["mean"] * 1000
label = sys.argv[2]
for a, b, target in (("rcon", "c-lower-bound", "target <= 2x back to back, <= 2.5x cold"),
                     ("go-lower-bound", "c-lower-bound", "Go's floor"),
                     ("go-with-rcons-libraries", "c-lower-bound", "the floor of rcon's libraries"),
                     ("rcon", "go-with-rcons-libraries", "rcon over that floor"),
                     ("libcgroup-script", "rcon", "target >= 4x")):
    if a in r and b in r:
        print(f"{label}{a} / {b}: median {med(a)/med(b):.2f}x, mean {mean(a)/mean(b):.2f}x ({target})")
PY
}

runs=${BENCH_RUNS:-300}
part=${1:-all} # all, startup, cold, footprint or ns (the namespace costs only)
case $part in all | startup | cold | footprint | ns) ;; *) echo "usage: bench/bench.sh [all|startup|cold|footprint|ns]" >&2; exit 2 ;; esac

# The waiting rcon (issue 15): what every running command pays beside it,
# read one second into `rcon -- sleep 3`.
if [ "$part" = all ] || [ "$part" = footprint ]; then
bin/rcon -- sleep 3 &
w=$!
sleep 1
echo "waiting rcon: $(grep -E '^(Rss|Private_Clean|Private_Dirty):' /proc/$w/smaps_rollup | tr -s ' ' | tr '\n' ' ')$(grep '^Threads:' /proc/$w/status)"
wait $w
fi

if [ "$part" = all ] || [ "$part" = startup ]; then
hyperfine -N --warmup 20 --runs "$runs" --export-markdown bench/out/startup.md --export-json bench/out/startup.json \
	-n bare '/bin/true' \
	-n c-lower-bound "bench/out/cgroup-min $root/cpu$cpu $root/memory$mem $root/pids$pids /bin/true" \
	-n go-lower-bound "bench/out/go-min $root/cpu$cpu $root/memory$mem $root/pids$pids /bin/true" \
	-n go-with-rcons-libraries "bench/out/go-min-libs $root/cpu$cpu $root/memory$mem $root/pids$pids /bin/true" \
	-n rcon 'bin/rcon --cpu 50 --mem 200M --pids 100 -- /bin/true' \
	-n 'rcon (no limits)' 'bin/rcon -- /bin/true' \
	-n 'capcon --keep none' 'bin/capcon --keep none -- /bin/true' \
	-n libcgroup-script "bench/libcgroup.sh $cpu $mem $pids /bin/true"

ratios bench/out/startup.json ""
fi

# Cold runs: one run after a pause, as a cron job or a CGI request meets
# rcon. Back-to-back runs hide costs that only a lone run pays, such as an
# RCU grace period the kernel waits for on some cgroup writes (it was
# 5-25 ms per run before the start thread wrote "0" to tasks).
if [ "$part" = all ] || [ "$part" = cold ]; then
cold=${BENCH_COLD_RUNS:-40}
hyperfine -N --prepare 'sleep 0.2' --warmup 3 --runs "$cold" --export-markdown bench/out/cold.md --export-json bench/out/cold.json \
	-n bare '/bin/true' \
	-n c-lower-bound "bench/out/cgroup-min $root/cpu$cpu $root/memory$mem $root/pids$pids /bin/true" \
	-n go-lower-bound "bench/out/go-min $root/cpu$cpu $root/memory$mem $root/pids$pids /bin/true" \
	-n go-with-rcons-libraries "bench/out/go-min-libs $root/cpu$cpu $root/memory$mem $root/pids$pids /bin/true" \
	-n rcon 'bin/rcon --cpu 50 --mem 200M --pids 100 -- /bin/true' \
	-n libcgroup-script "bench/libcgroup.sh $cpu $mem $pids /bin/true"
ratios bench/out/cold.json "cold: "
fi

# Each namespace's added cost (issue 4 point 8; docs/NAMESPACES.md "Cost"):
# every namespace alone, then all, against the same tool without --unshare.
[ "$part" = all ] || [ "$part" = ns ] || exit 0
ns=()
for n in pid mount net uts ipc user cgroup all; do
	ns+=(-n "rcon --unshare $n" "bin/rcon --unshare $n -- /bin/true")
done
hyperfine -N --warmup 20 --runs "$runs" --export-markdown bench/out/ns.md --export-json bench/out/ns.json \
	-n rcon 'bin/rcon -- /bin/true' "${ns[@]}" \
	-n 'rcon --unshare pid,mount' 'bin/rcon --unshare pid,mount -- /bin/true' \
	-n capcon 'bin/capcon -- /bin/true' \
	-n 'capcon --unshare net' 'bin/capcon --unshare net -- /bin/true' \
	-n 'capcon --unshare user' 'bin/capcon --unshare user -- /bin/true' \
	-n 'capcon --unshare pid,mount' 'bin/capcon --unshare pid,mount -- /bin/true'

python3 - <<'PY'
import json, statistics
res = json.load(open("bench/out/ns.json"))["results"]
med = {x["command"]: statistics.median(x["times"]) * 1000 for x in res}
print(f"\n| command | median ms | min ms | max ms | added (median) |\n|---|---:|---:|---:|---:|")
for x in res:
    c = x["command"]
    base = "capcon" if c.startswith("capcon") else "rcon"
    add = "—" if c == base else f"{med[c] - med[base]:+.1f}"
    print(f"| `{c}` | {med[c]:.1f} | {x['min']*1000:.1f} | {x['max']*1000:.1f} | {add} |")
PY
