#!/bin/bash
# cpu-split.sh splits a bench server's CPU per echo message into user and
# system time, from /proc: the report gives their sum, and a difference
# between two servers that make the same system calls (std-echo and
# upoll-std-echo) is then user time, which this shows without a profiler.
#
#   go -C bench build -o /tmp/bench . && bench/scripts/cpu-split.sh /tmp/bench upoll-std-echo 1000
#
# It samples utime, stime (/proc/PID/stat) and the write calls (syscw,
# /proc/PID/io) 2 s apart inside a 4 s window of 64 B ping-pong, and
# divides by the writes: an echo server writes each message back with
# one write or writev (perf-syscalls.sh). A server that sends through
# io_uring (upoll-uring-echo, floor-c-uring) makes no write call: when
# the writes are fewer than a tenth of the messages, the messages are
# the load generator's, its window's rate times the span between the
# two samples, as uring-enters.sh counts them; the last column says
# which count was used. Clock ticks are 10 ms, so a sample holds a few
# hundred of them at 1000 connections: run it several times,
# alternating the servers compared.
set -euo pipefail
bench=$1 target=$2 conns=$3
. "$(dirname "$0")/lib.sh"
start_pingpong "$bench" "$target" "$conns"
sample() { echo "$(date +%s%N) $(awk '{print $14, $15}' "/proc/$pid/stat") $(awk '/^syscw/ {print $2}' "/proc/$pid/io")"; }
sleep 2
read -r t0 u0 s0 w0 < <(sample)
sleep 2
read -r t1 u1 s1 w1 < <(sample)
finish_pingpong
ops=$(grep -o '"ops":[0-9]*' "$d/load.out" | head -1 | cut -d: -f2)
win=$(grep -o '"window_sec":[0-9.]*' "$d/load.out" | head -1 | cut -d: -f2)
hz=$(getconf CLK_TCK)
awk -v t="$target" -v n="$conns" -v hz="$hz" -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v w=$((w1 - w0)) \
	-v ops="$ops" -v win="$win" -v span=$((t1 - t0)) 'BEGIN {
	m = win > 0 ? ops / win * span / 1e9 : 0
	by = "writes"
	if (w < m / 10) { w = m; by = "load\x27s messages" }
	if (w <= 0) { print t ": no writes or messages counted"; exit 1 }
	us = 1e6 / hz / w
	printf "%-17s %5d conns  user %.2f  sys %.2f  total %.2f µs per message  (%d %s, %d+%d ticks)\n", t, n, du * us, ds * us, (du + ds) * us, w, by, du, ds
}'
