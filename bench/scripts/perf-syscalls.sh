#!/bin/bash
# perf-syscalls.sh counts every system call a bench server makes per echo
# message, by perf's syscall tracepoints: a cross-check, by hand, of the
# report's "system calls per operation" table, whose /proc and netpoll.Stats
# counts leave epoll_wait (outside upoll), futex and the like out. The
# tracepoints slow every system call on the machine while perf runs, so
# this is not part of the suite. Needs perf and the right to trace (root,
# or kernel.perf_event_paranoid <= -1).
#
#   go -C bench build -o /tmp/bench . && bench/scripts/perf-syscalls.sh /tmp/bench upoll-echo 1000
#
# Counts are per write call of the server: an echo server writes each
# 64 B ping-pong message back with exactly one write or writev (the
# report's kernel counts and upoll's counters both say 1.00), which aligns
# perf's interval with the messages better than the load generator's
# window does. WORKLOAD=http drives an http target (std-http, upoll-http,
# upoll-uring-http) with keep-alive requests instead; each response is
# one write too.
#
# futex_restarted counts the futex sleeps that a task work interrupted
# and the kernel restarted (ERESTARTSYS, never seen by Go): a thread of
# the runtime woken only to run the task work of an io_uring request it
# had submitted (docs/uring.md, net/http under uring).
set -euo pipefail
bench=$1 target=$2 conns=$3
. "$(dirname "$0")/lib.sh"
start_pingpong "$bench" "$target" "$conns"
sleep 2
ev=raw_syscalls:sys_enter
for s in read readv write writev epoll_wait epoll_pwait epoll_ctl futex nanosleep sched_yield accept4; do
	ev=$ev,syscalls:sys_enter_$s
done
perf stat -x, -e "$ev" -e syscalls:sys_exit_futex --filter 'ret == -512' -p "$pid" -- sleep 2 2>"$d/perf.out"
finish_pingpong
awk -F, -v t="$target" -v n="$conns" '
	$1 ~ /^[0-9.]+$/ { split($3, a, ":"); name = a[2]; sub(/^sys_enter_?/, "", name); sub(/^sys_exit_futex$/, "futex_restarted", name); c[name] = $1 }
	END {
		w = c["write"] + c["writev"]
		if (w == 0) { print t ": no writes counted"; exit 1 }
		printf "%-15s %5d conns  all %.2f", t, n, c[""] / w
		split("read readv write writev epoll_wait epoll_pwait epoll_ctl futex futex_restarted nanosleep sched_yield accept4", k, " ")
		for (i = 1; i in k; i++) if (c[k[i]] > 0) printf "  %s %.2f", k[i], c[k[i]] / w
		printf "  (per write; %d writes)\n", w
	}' "$d/perf.out"
