#!/bin/bash
# thread-cpu.sh splits a bench server's CPU per echo message by thread:
# utime+stime of each thread over 3 s of a 4 s ping-pong window, from
# /proc/<pid>/task/<tid>/stat, divided by the messages the load generator
# counted in its window (scaled to the 3 s). It names the runtime's sysmon
# thread (the one found in nanosleep, if it slept there while looked at)
# and the main thread; the rest are
# the Ms that ran goroutines. Linux only; needs no privileges.
#
#   go -C bench build -o /tmp/bench . && bench/scripts/thread-cpu.sh /tmp/bench upoll-echo 10
#
# A second argument list after the connection count is put in UPOLL for
# the server (e.g. wait=block).
set -euo pipefail
bench=$1 target=$2 conns=$3 upoll=${4:-}
. "$(dirname "$0")/lib.sh"
start_pingpong "$bench" "$target" "$conns" "$upoll"
ticks() { for f in /proc/"$pid"/task/*/stat; do awk '{print FILENAME, $14 + $15}' "$f"; done; }
sleep 1.2
ticks >"$d/a"
# sysmon is the thread that sleeps in nanosleep (between its deep sleeps,
# which are futex waits like an idle M's): look 30 times, 0.1 s apart.
for _ in $(seq 30); do
	for t in /proc/"$pid"/task/*; do
		if [ "$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" = 35 ]; then basename "$t" >"$d/sysmon"; fi
	done
	sleep 0.1
done
ticks >"$d/b"
finish_pingpong
ops=$(grep -o '"ops":[0-9]*' "$d/load.out" | cut -d: -f2)
win=$(grep -o '"window_sec":[0-9.]*' "$d/load.out" | cut -d: -f2)
hz=$(getconf CLK_TCK)
awk -v ops="$ops" -v win="$win" -v hz="$hz" -v pid="$pid" -v sysmon="$(cat "$d/sysmon" 2>/dev/null || true)" \
	-v t="$target" -v n="$conns" -v u="$upoll" '
	FNR == NR { a[$1] = $2; next }
	{
		split($1, p, "/"); tid = p[5]
		us = ($2 - a[$1]) / hz * 1e6 / (ops * 3 / win)
		total += us
		name = tid == pid ? "main" : tid == sysmon ? "sysmon" : "m" tid
		if (us >= 0.005) line = line sprintf("  %s %.2f", name, us)
	}
	END { printf "%-15s %5d conns %s  total %.2f us/msg:%s\n", t, n, u, total, line }' "$d/a" "$d/b"
