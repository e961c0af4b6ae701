#!/bin/bash
# cpu-ss.sh prints a bench server's CPU per echoed message from the
# scheduler's own accounting: the run time in /proc/PID/task/*/schedstat
# (nanoseconds, every thread of the server) over 2.5 s inside a window
# of 64 B ping-pong, divided by the server's write calls over the same
# span (syscw in /proc/PID/io; an echo server writes each message back
# with one write or writev). Unlike cpu-split.sh's 10 ms clock ticks,
# the figure is exact to the nanosecond, so one sample holds no rounding
# of its own; what moves it is the machine. To compare two builds, run
# them alternately, pair by pair, and take the median of the ratios:
#
#   go -C bench build -o /tmp/bench-old . (at the old commit), then at the new:
#   go -C bench build -o /tmp/bench-new .
#   for i in 1 2 3 4 5 6; do
#     bench/scripts/cpu-ss.sh /tmp/bench-old upoll-echo 100
#     bench/scripts/cpu-ss.sh /tmp/bench-new upoll-echo 100
#   done
#
# A server that sends through io_uring makes no write call: use
# cpu-split.sh, which counts the load generator's messages then.
set -euo pipefail
bench=$1 target=$2 conns=$3
. "$(dirname "$0")/lib.sh"
start_pingpong "$bench" "$target" "$conns"
tot() { local s=0 a; for t in /proc/$pid/task/*/schedstat; do read -r a _ <"$t" 2>/dev/null && s=$((s + a)); done; echo $s; }
sample() { echo "$(tot) $(awk '/^syscw/ {print $2}' "/proc/$pid/io")"; }
sleep 1.5
read -r c0 w0 < <(sample)
sleep 2.5
read -r c1 w1 < <(sample)
finish_pingpong
awk -v t="$target" -v n="$conns" -v c=$((c1 - c0)) -v w=$((w1 - w0)) 'BEGIN {
	if (w <= 0) { print t ": no writes counted (an io_uring server? see cpu-split.sh)"; exit 1 }
	printf "%-17s %5d conns  %.3f µs per message (%d writes)\n", t, n, c / w / 1000, w
}'
