#!/bin/sh
# What a user writes with libcgroup's tools to do rcon's job: create,
# limit, run inside, delete. usage: libcgroup.sh CPUREL MEMREL PIDSREL CMD...
# (group paths relative to each hierarchy's root, under the caller's own
# cgroups; bench.sh computes them)
set -e
cpu=$1 mem=$2 pids=$3
shift 3
cgcreate -g "cpu:$cpu" -g "memory:$mem" -g "pids:$pids"
cgset -r cpu.cfs_quota_us=50000 "$cpu"
cgset -r memory.limit_in_bytes=200M "$mem"
cgset -r pids.max=100 "$pids"
st=0
cgexec -g "cpu:$cpu" -g "memory:$mem" -g "pids:$pids" "$@" || st=$?
cgdelete -g "cpu:$cpu" -g "memory:$mem" -g "pids:$pids"
exit $st
