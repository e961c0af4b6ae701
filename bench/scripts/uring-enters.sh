#!/bin/bash
# uring-enters.sh counts the io_uring_enter calls (and all system calls)
# a bench server makes per echo message, by perf's syscall tracepoints,
# for servers that send through a ring and so make no write call that
# perf-syscalls.sh could count messages by: upoll-uring-echo and the C
# floor floor-c-uring alike, so that the two are counted the same way.
# Messages are the load generator's, its window's rate times perf's
# interval (2 s inside the 4 s window); the tracepoints slow every
# system call on the machine while perf runs, so this is not part of
# the suite. Needs perf and the right to trace, as perf-syscalls.sh.
# WORKLOAD=http drives an http target with keep-alive requests instead
# (lib.sh), and the counts are per request.
#
#   go -C bench build -o /tmp/bench . && bench/scripts/uring-enters.sh /tmp/bench floor-c-uring 1000
set -euo pipefail
bench=$1 target=$2 conns=$3
. "$(dirname "$0")/lib.sh"
start_pingpong "$bench" "$target" "$conns"
sleep 2
# floor-c-uring's server is a C process that the bench server starts;
# its READY line names the C process, which perf then watches.
perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter -p "$pid" -- sleep 2 2>"$d/perf.out"
finish_pingpong
ops=$(grep -o '"ops":[0-9]*' "$d/load.out" | head -1 | cut -d: -f2)
win=$(grep -o '"window_sec":[0-9.]*' "$d/load.out" | head -1 | cut -d: -f2)
unit=message
[ "${WORKLOAD:-pingpong}" = http ] && unit=request
awk -F, -v t="$target" -v n="$conns" -v ops="$ops" -v win="$win" -v u="$unit" '
	$1 ~ /^[0-9.]+$/ { split($3, a, ":"); name = a[2]; sub(/^sys_enter_?/, "", name); c[name] = $1 }
	END {
		if (ops == 0 || win == 0) { print t ": the load generator counted no messages"; exit 1 }
		m = ops / win * 2
		printf "%-17s %5d conns  io_uring_enter %.3f  all %.3f system calls per %s  (%.0f %ss in 2 s)\n", t, n, c["io_uring_enter"] / m, c[""] / m, u, m, u
	}' "$d/perf.out"
