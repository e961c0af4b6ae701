#!/bin/bash
# cachesim.sh: callgrind.sh with valgrind's cache simulation: D1 and LL
# misses per message in user space (LL simulated as this host's 2 MiB
# L2 unless LL=size,assoc,line is set), for any target (messages are the
# server's write calls in the instrumented window, from /proc/PID/io
# syscw, so gnet counts too).
#
#   bench/scripts/cachesim.sh /tmp/bench upoll-echo 1000 /tmp/upoll.cs
#   callgrind_annotate --show=Ir,Dr,Dw,D1mr,D1mw,DLmr,DLmw /tmp/upoll.cs | head
set -euo pipefail
bench=$1 target=$2 conns=$3 out=$4
. "$(dirname "$0")/lib.sh"
wl=$(load_workload)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkfifo "$d/in"
GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --cache-sim=yes --LL=${LL:-2097152,16,64} --instr-atstart=no --dump-instr=yes --callgrind-out-file="$out" \
	"$bench" -role server -target "$target" -opts "${OPTS:-}" -addr 127.0.0.1:0 <"$d/in" >"$d/srv.out" 2>"$d/srv.err" &
srv=$!
exec 3>"$d/in"
for _ in $(seq 300); do grep -q READY "$d/srv.out" && break; sleep 0.1; done
grep -q READY "$d/srv.out" || { echo "$target: the server did not start under valgrind" >&2; tail -5 "$d/srv.err" >&2; exit 1; }
read -r _ pid addr < <(grep READY "$d/srv.out")
"$bench" -role load $wl -addr "$addr" -n "$conns" -msg 64 -warmup 3s -duration ${DUR:-10}s -server-pid "$pid" >"$d/load.out" 2>&1 &
load=$!
sleep ${WARM:-5}
callgrind_control -i on "$pid" >/dev/null 2>&1
sleep ${WIN:-5}
callgrind_control -i off "$pid" >/dev/null 2>&1
wait "$load"
exec 3>&-
wait "$srv" || true
grep -q '"verified":true' "$d/load.out" || { echo "$target: the load generator did not verify the echo" >&2; tail -5 "$d/srv.err" >&2; exit 1; }
# Messages: the calls that write (callgrind.sh's count, plus gnet's
# unix.Write and writev), not /proc/PID/io syscw: valgrind's own lock is a
# pipe, written at each switch of threads, which triples syscw.
msgs=$(awk '
	/^c?fn=\(/ { n = $0; sub(/^c?fn=\([0-9]+\) ?/, "", n); sub(/\047[0-9]+$/, "", n); id = $0; sub(/^c?fn=\(/, "", id); sub(/\).*/, "", id)
		if (n != "") name[id] = n; if ($0 ~ /^cfn=/) callee = name[id]; else caller = name[id] }
	/^calls=/ && (callee == "syscall.write" || callee ~ /netpoll\.sysWritev$/ || callee ~ /x\/sys\/unix\.(write|Writev)$/ ||
		callee ~ /netpoll\.sysWrite$/ && caller !~ /netpoll\.sysWritev$/) { split($0, a, /[= ]/); s += a[2] }
	END { print s + 0 }' "$out")
callgrind_annotate --show=Ir,Dr,Dw,D1mr,D1mw,DLmr,DLmw "$out" 2>/dev/null | awk -v t="$target" -v n="$conns" -v m="$msgs" '
	/PROGRAM TOTALS/ { for (i = 1; i <= 7; i++) { v[i] = $(2 * i - 1); gsub(",", "", v[i]) }
		printf "%-12s %5d conns  per message: Ir %.0f  Dr %.0f  Dw %.0f  D1mr %.2f  D1mw %.2f  LLmr %.3f  LLmw %.3f  (%d writes)\n", t, n, v[1]/m, v[2]/m, v[3]/m, v[4]/m, v[5]/m, v[6]/m, v[7]/m, m }'
