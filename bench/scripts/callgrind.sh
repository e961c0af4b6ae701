#!/bin/bash
# callgrind.sh counts the instructions a bench server executes in user
# space per echo message, by function, under valgrind's callgrind: a
# count, not a timing, so it does not move with the machine's load (this
# VM has no hardware counters, and perf samples on a timer). The server
# runs under valgrind (about 50 times slower, so the message rate is
# valgrind's, not the server's); 64 B ping-pong over CONNS connections;
# instrumentation is on for 5 s after a 4 s warm-up. Messages are the
# server's write calls in that window (an echo server writes each message
# back with one write or writev: perf-syscalls.sh). The system calls'
# kernel time is not counted, and Go's syscall bookkeeping (entersyscall,
# exitsyscall, sysmon retaking Ps) runs more under valgrind than outside.
#
#   go -C bench build -o /tmp/bench . && bench/scripts/callgrind.sh /tmp/bench upoll-echo 10 /tmp/upoll.cg
#   callgrind_annotate /tmp/upoll.cg | head -60
#
# WORKLOAD=http drives an http target (std-http, upoll-http,
# upoll-uring-http) with keep-alive requests instead: each response is
# one write call (perf-syscalls.sh), so the count is per request.
#
# Counted for servers that write with syscall.write (Go's net, nbio) or
# upoll's sysWritev or sysWrite (Conn.Write's direct path; the sysWrite
# calls that sysWritev makes are not counted twice); others (gnet, the
# floors) show 0 messages.
#
# Not for a server on io_uring (the upoll-uring-* targets, or UPOLL or
# OPTS naming backend=uring): the script refuses one at once. Valgrind
# runs one thread of the server at a time, under a lock that a thread
# gives up only in a system call that valgrind marks as one that may
# block, and valgrind 3.19 does not mark io_uring_enter so
# (--trace-syscalls=yes shows it [sync], read and futex [async]). A
# poller waiting in io_uring_enter for a completion holds the lock, and
# every other thread of the server waits on valgrind's lock, not the
# kernel, until a completion comes: the server serves (slowly) while the
# load runs, but once it stops, the poller waits with no timeout, the
# server never reads its stdin close, and the script waited for it for
# ever (the READY wait had passed long before). Not even SIGTERM ends
# such a server (valgrind keeps signals blocked outside the calls it
# marks as blocking): the script kills its server with SIGKILL.
#
# Needs valgrind (3.19 here). Go's asynchronous preemption signals trip
# callgrind's signal handling and valgrind does not decode RDTSCP, so the
# server runs with GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off. UPOLL, when set,
# reaches the server (UPOLL=dispatch=inline ... callgrind.sh ...), and OPTS
# is the server's -opts (OPTS=echo=write ... callgrind.sh ... upoll-echo ...).
#
# It also counts the locked instructions per message (LOCK-prefixed, and
# XCHG with memory, which is locked without the prefix: Go's atomic
# Store on amd64): each costs about 5 ns here back to back (a Go
# benchmark of atomic.Int64.Add), where most instructions cost a fraction
# of one, so a count of instructions alone underweights them. Needs
# objdump, and an amd64 server binary.
set -euo pipefail
bench=$1 target=$2 conns=$3 out=$4
. "$(dirname "$0")/lib.sh"
wl=$(load_workload)
opts=${UPOLL:-},${OPTS:-}
opts=${opts,,}
case "$target ,${opts//[[:space:]]/}," in
upoll-uring-* | *,backend=uring,*)
	echo "$target: not under valgrind: a poller waiting in io_uring_enter stops every thread of the server (the header of $0)" >&2
	exit 1
	;;
esac
unit=message
[ "${WORKLOAD:-pingpong}" = http ] && unit=request
d=$(mktemp -d)
srv=
trap '[ -z "$srv" ] || kill -KILL "$srv" 2>/dev/null; rm -rf "$d"' EXIT
mkfifo "$d/in"
GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --instr-atstart=no --dump-instr=yes --callgrind-out-file="$out" \
	"$bench" -role server -target "$target" -opts "${OPTS:-}" -addr 127.0.0.1:0 <"$d/in" >"$d/srv.out" 2>"$d/srv.err" &
srv=$!
exec 3>"$d/in"
for _ in $(seq 300); do grep -q READY "$d/srv.out" && break; sleep 0.1; done
grep -q READY "$d/srv.out" || { echo "$target: the server did not start under valgrind" >&2; tail -5 "$d/srv.err" >&2; exit 1; }
read -r _ pid addr < <(grep READY "$d/srv.out")
"$bench" -role load $wl -addr "$addr" -n "$conns" -msg 64 -warmup 3s -duration 8s -server-pid "$pid" >"$d/load.out" 2>&1 &
load=$!
sleep 4
callgrind_control -i on "$pid" >/dev/null 2>&1
sleep 5
callgrind_control -i off "$pid" >/dev/null 2>&1
wait "$load"
exec 3>&-
# The server exits once its stdin closes and valgrind has written the
# profile: bounded, so that a server that cannot exit fails the script.
for _ in $(seq 600); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$srv" 2>/dev/null; then
	echo "$target: the server did not exit within 60 s of its stdin closing" >&2
	tail -5 "$d/srv.err" >&2
	exit 1
fi
wait "$srv" || true
srv=
grep -q '"verified":true' "$d/load.out" || { echo "$target: the load generator did not verify the echo" >&2; tail -5 "$d/srv.err" >&2; exit 1; }
# The write calls: calls= lines under the functions that make them. A
# function that callgrind finds in a cycle of calls (a goroutine's loop
# that calls itself through the handler) is named with a suffix, 'N, per
# context: the suffix is dropped.
msgs=$(awk '
	/^c?fn=\(/ { n = $0; sub(/^c?fn=\([0-9]+\) ?/, "", n); sub(/\047[0-9]+$/, "", n); id = $0; sub(/^c?fn=\(/, "", id); sub(/\).*/, "", id)
		if (n != "") name[id] = n; if ($0 ~ /^cfn=/) callee = name[id]; else caller = name[id] }
	/^calls=/ && (callee == "syscall.write" || callee ~ /netpoll\.sysWritev$/ ||
		callee ~ /netpoll\.sysWrite$/ && caller !~ /netpoll\.sysWritev$/) { split($0, a, /[= ]/); s += a[2] }
	END { print s + 0 }' "$out")
if [ "$msgs" -eq 0 ]; then
	echo "$target: no write call counted (the script counts syscall.write, netpoll.sysWritev and netpoll.sysWrite)" >&2
	exit 1
fi
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
# Locked instructions: their addresses from the disassembly, their counts
# from the per-instruction lines of the profile (an address is absolute,
# or +/- the previous one, or * for the same). The line after calls= is
# the call's inclusive cost, not an instruction's, and its address does
# not move the count on: read so, every address of a profiled function
# lands on an instruction of Go's disassembly, and read otherwise a
# fifth do not.
objdump -d --no-show-raw-insn "$bench" | awk '
	/^ +[0-9a-f]+:\t(lock |xchg[a-z]* [^,]*\(|xchg[a-z]* .*,.*\()/ { a = $1; sub(/:$/, "", a); print a }' >"$d/locked"
locked=$(awk '
	function hex(h,   i, v) { v = 0; h = tolower(h); sub(/^0x/, "", h); for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
	function num(x) { return x ~ /^0x/ ? hex(x) : x + 0 }
	NR == FNR { want[hex($1)] = 1; next }
	/^calls=/ { skip = 1; next }
	/^[-+*0]/ {
		if (skip) { skip = 0; next }
		a = $1
		if (a == "*") {} else if (a ~ /^\+/) cur += num(substr(a, 2)); else if (a ~ /^-/) cur -= num(substr(a, 2)); else cur = hex(a)
		if ((cur in want) && NF >= 3) s += $3
	}
	END { print s + 0 }' "$d/locked" "$out")
awk -v t="$target" -v n="$conns" -v ir="$total" -v m="$msgs" -v lk="$locked" -v u="$unit" 'BEGIN {
	printf "%-17s %5d conns  %.0f instructions per %s in user space, %.1f of them locked (%d %ss)\n", t, n, ir / m, u, lk / m, m, u
}'
