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
# one write or writev (perf-syscalls.sh). Clock ticks are 10 ms, so a
# sample holds a few hundred of them at 1000 connections: run it several
# times, alternating the servers compared.
set -euo pipefail
bench=$1 target=$2 conns=$3
. "$(dirname "$0")/lib.sh"
start_pingpong "$bench" "$target" "$conns"
sample() { echo "$(awk '{print $14, $15}' "/proc/$pid/stat") $(awk '/^syscw/ {print $2}' "/proc/$pid/io")"; }
sleep 2
read -r u0 s0 w0 < <(sample)
sleep 2
read -r u1 s1 w1 < <(sample)
finish_pingpong
hz=$(getconf CLK_TCK)
awk -v t="$target" -v n="$conns" -v hz="$hz" -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v w=$((w1 - w0)) 'BEGIN {
	if (w <= 0) { print t ": no writes counted"; exit 1 }
	us = 1e6 / hz / w
	printf "%-15s %5d conns  user %.2f  sys %.2f  total %.2f µs per message  (%d writes, %d+%d ticks)\n", t, n, du * us, ds * us, (du + ds) * us, w, du, ds
}'
