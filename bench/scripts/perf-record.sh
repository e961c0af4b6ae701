#!/bin/bash
# perf-record.sh records a CPU profile of a bench server serving 64 B
# ping-pong (perf record -F 2000 -g, 3 s inside a 4 s window) and prints
# the server's CPU per message and how its samples split between the
# kernel and user space (perf report --sort dso). Needs perf and the right
# to profile another process (kernel.perf_event_paranoid <= 1, or root).
#
#   go -C bench build -o /tmp/bench . && bench/scripts/perf-record.sh /tmp/bench upoll-echo 100 /tmp/upoll.data
#   perf report -i /tmp/upoll.data --no-children --sort sym
#
# A fifth argument is put in UPOLL for the server (e.g. backend=uring).
# On a machine without hardware counters (a VM) perf samples on a timer:
# a sample that falls due inside a system call or a locked instruction
# lands on the first user instruction after it, so read the split, and
# symbols just after a system call, with that in mind (docs/tuning.md).
set -euo pipefail
bench=$1 target=$2 conns=$3 out=$4 upoll=${5:-}
. "$(dirname "$0")/lib.sh"
start_pingpong "$bench" "$target" "$conns" "$upoll"
sleep 1.5
perf record -F 2000 -g -p "$pid" -o "$out" -- sleep 3 >"$d/perf.out" 2>&1
finish_pingpong
ops=$(grep -o '"ops":[0-9]*' "$d/load.out" | cut -d: -f2)
cpu=$(grep -o '"server_cpu_sec":[0-9.e-]*' "$d/load.out" | cut -d: -f2)
awk -v t="$target" -v n="$conns" -v ops="$ops" -v cpu="$cpu" 'BEGIN {
	printf "%-17s %5d conns  %.2f µs per message (the load generator'"'"'s window)\n", t, n, cpu / ops * 1e6
}'
perf report -i "$out" --no-children --sort dso -g none 2>/dev/null | grep -E '^ +[0-9.]+%' | head -4
