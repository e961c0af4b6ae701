# lib.sh: what the scripts here share. Sourced, not run:
#
#   . "$(dirname "$0")/lib.sh"
#   start_pingpong BENCH TARGET CONNS [UPOLL]
#
# start_pingpong makes a temporary directory ($d, removed on exit),
# starts the bench server TARGET in a process of its own (UPOLL set to
# the fourth argument when given, inherited otherwise; the server runs
# until its stdin, held open on fd 3, closes), waits for its READY line,
# and starts the load generator: 64 B ping-pong over CONNS connections,
# a 1 s warm-up and a 4 s window; with WORKLOAD=http in the environment,
# HTTP keep-alive requests instead (an http target: std-http, upoll-http,
# upoll-uring-http), one response written with one write each. It sets
# pid (the server's), srv and load (the two background jobs);
# finish_pingpong waits for the load generator, stops the server, and
# fails the script unless the load generator verified every echoed byte.
start_pingpong() {
	local bench=$1 target=$2 conns=$3 upoll=${4:-} addr wl
	wl=$(load_workload) || exit 1
	d=$(mktemp -d)
	trap 'rm -rf "$d"' EXIT
	mkfifo "$d/in"
	env ${upoll:+UPOLL=$upoll} "$bench" -role server -target "$target" -addr 127.0.0.1:0 <"$d/in" >"$d/srv.out" 2>"$d/srv.err" &
	srv=$!
	exec 3>"$d/in"
	for _ in $(seq 100); do grep -q READY "$d/srv.out" && break; sleep 0.1; done
	read -r _ pid addr < <(grep READY "$d/srv.out")
	"$bench" -role load $wl -addr "$addr" -n "$conns" -msg 64 -warmup 1s -duration 4s -server-pid "$pid" >"$d/load.out" 2>&1 &
	load=$!
}

# load_workload prints the load generator's workload flags for WORKLOAD
# (pingpong unless set).
load_workload() {
	case ${WORKLOAD:-pingpong} in
	pingpong) echo "-workload pingpong" ;;
	http) echo "-workload http -proto http" ;;
	*) echo "WORKLOAD=$WORKLOAD: want pingpong or http" >&2; return 1 ;;
	esac
}

finish_pingpong() {
	wait "$load"
	exec 3>&-
	wait "$srv" || true
	grep -q '"verified":true' "$d/load.out" || { echo "$target: the load generator did not verify the echo" >&2; exit 1; }
}
