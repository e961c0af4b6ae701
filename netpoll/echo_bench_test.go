package netpoll

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkEcho compares upoll's echo server (the handler of
// examples/echo, default configuration as changed by UPOLL) with a
// goroutine-per-connection echo on the standard library, under the same
// load generator: conns connections on 127.0.0.1, each doing ping-pong
// (write size bytes, read them back, check every byte) for its share of
// b.N messages. The server runs in a child process, so its CPU time is
// measured alone:
//
//	msgs/s          messages echoed per second of the measured window
//	p99-µs          99th percentile round trip seen by the client
//	srv-cpu-µs/msg  server CPU time (user+system, all threads) per message
//	srv-switches/msg  times a server thread was put on a CPU, per message
//	                (schedstat's third field: the cost of hand-offs)
//
// Sub-benchmarks alternate the two servers at each size and connection
// count, so both are measured in the same run. Use a fixed count:
//
//	go test -run '^$' -bench BenchmarkEcho -benchtime 20000x -count 3 ./netpoll
//
// The upoll child inherits UPOLL, so one run can sweep its switches
// (UPOLL=dispatch=inline ...). UPOLL_BENCH_CPUPROFILE=/tmp/echo makes
// each child write a CPU profile of its measured window to
// /tmp/echo.<server>-<conns>-<size>.pprof, and UPOLL_BENCH_STATS=1 makes
// each child print what its runtime allocated and collected over the
// window and the upoll child its poller counters per message, to stderr.
func BenchmarkEcho(b *testing.B) {
	for _, conns := range []int{100, 1000} {
		for _, size := range []int{64, 4096} {
			for _, kind := range []string{"upoll", "stdnet"} {
				name := fmt.Sprintf("server=%s/conns=%d/size=%d", kind, conns, size)
				b.Run(name, func(b *testing.B) { benchEcho(b, kind, conns, size) })
			}
		}
	}
}

// benchWindow bounds the measured window (and each connection's I/O).
const benchWindow = 3 * time.Minute

func benchEcho(b *testing.B, kind string, nconns, size int) {
	profile := ""
	if p := os.Getenv(benchProfileEnv); p != "" {
		profile = fmt.Sprintf("%s.%s-%d-%d.pprof", p, kind, nconns, size)
	}
	child := startBenchChild(b, kind, profile)
	conns := dialBench(b, child.addr, nconns)
	clients := make([]*echoClientState, nconns)
	for i, c := range conns {
		quota := b.N / nconns
		if i < b.N%nconns {
			quota++
		}
		clients[i] = newEchoClientState(c, uint64(i), size, quota)
	}
	// One round trip each before the window: every connection is
	// accepted and has its buffers.
	if err := runClients(clients, func(e *echoClientState) error { return e.roundTrip(nil) }); err != nil {
		b.Fatal("warm-up: ", err)
	}

	child.send(b, benchCmdStart)
	cpu0 := child.cpu(b)
	b.ResetTimer()
	start := time.Now()
	err := runClients(clients, (*echoClientState).run)
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1 := child.cpu(b)
	child.send(b, benchCmdStop)
	if err != nil {
		b.Fatal(err)
	}

	lat := make([]time.Duration, 0, b.N)
	for _, e := range clients {
		lat = append(lat, e.lat...)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(percentile(lat, 0.99))/1e3, "p99-µs")
	b.ReportMetric(cpu1.sub(cpu0, b).Seconds()*1e6/float64(b.N), "srv-cpu-µs/msg")
	b.ReportMetric(float64(cpu1.switches-cpu0.switches)/float64(b.N), "srv-switches/msg")
}

// percentile returns the q-quantile of sorted d (nearest rank).
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*q+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// echoClientState is one load-generating connection.
type echoClientState struct {
	c       net.Conn
	id      uint64
	out, in []byte
	quota   int
	seq     uint64
	lat     []time.Duration
}

func newEchoClientState(c net.Conn, id uint64, size, quota int) *echoClientState {
	e := &echoClientState{c: c, id: id, out: make([]byte, size), in: make([]byte, size),
		quota: quota, lat: make([]time.Duration, 0, quota)}
	rng := rand.New(rand.NewPCG(id, 42))
	for i := range e.out {
		e.out[i] = byte(rng.Uint32())
	}
	return e
}

// run does the connection's share of the measured messages.
func (e *echoClientState) run() error {
	for range e.quota {
		if err := e.roundTrip(&e.lat); err != nil {
			return err
		}
	}
	return nil
}

// roundTrip sends one message (stamped with the connection and a
// sequence number, so that a misrouted or stale echo cannot pass),
// reads it back and checks every byte.
func (e *echoClientState) roundTrip(lat *[]time.Duration) error {
	e.seq++
	var stamp [16]byte
	binary.LittleEndian.PutUint64(stamp[:], e.id)
	binary.LittleEndian.PutUint64(stamp[8:], e.seq)
	copy(e.out, stamp[:])
	t0 := time.Now()
	if _, err := e.c.Write(e.out); err != nil {
		return fmt.Errorf("conn %d msg %d: write: %w", e.id, e.seq, err)
	}
	if _, err := io.ReadFull(e.c, e.in); err != nil {
		return fmt.Errorf("conn %d msg %d: read: %w", e.id, e.seq, err)
	}
	if lat != nil {
		*lat = append(*lat, time.Since(t0))
	}
	if !bytes.Equal(e.in, e.out) {
		return fmt.Errorf("conn %d msg %d: echoed bytes differ", e.id, e.seq)
	}
	return nil
}

// runClients runs f on every client concurrently and returns the first
// error.
func runClients(clients []*echoClientState, f func(*echoClientState) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for _, e := range clients {
		wg.Go(func() {
			if err := f(e); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// dialBench opens n connections to addr (a few dials at a time, so the
// accept backlog never overflows) with a deadline covering the window.
func dialBench(b *testing.B, addr string, n int) []net.Conn {
	conns := make([]net.Conn, n)
	b.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			c.SetDeadline(time.Now().Add(benchWindow))
			conns[i] = c
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal("dial: ", err)
	}
	return conns
}

// benchChild is a running server process.
type benchChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	pid   int
}

// startBenchChild runs this test binary as a server of the given kind
// and waits for its address; the child ends with the benchmark.
func startBenchChild(b *testing.B, kind, profile string) *benchChild {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1", "-test.timeout=15m")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+kind)
	if profile != "" {
		cmd.Env = append(cmd.Env, benchProfileEnv+"="+profile)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ch := &benchChild{cmd: cmd, stdin: stdin, pid: cmd.Process.Pid}
	exited := make(chan struct{})
	b.Cleanup(func() { ch.stop(b, exited) })

	addrc := make(chan string, 1)
	var rest bytes.Buffer // the child's other output, shown if it fails
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), benchAddrPrefix); ok {
				addrc <- a
				continue
			}
			rest.WriteString(sc.Text() + "\n")
		}
		cmd.Wait()
		if !cmd.ProcessState.Success() {
			fmt.Fprintf(os.Stderr, "bench child %s: %v\n%s", kind, cmd.ProcessState, rest.String())
		}
	}()
	select {
	case ch.addr = <-addrc:
	case <-exited:
		b.Fatalf("bench child %s exited before listening", kind)
	case <-time.After(30 * time.Second):
		b.Fatalf("bench child %s did not listen within 30 s", kind)
	}
	return ch
}

func (ch *benchChild) send(b *testing.B, cmd string) {
	if _, err := io.WriteString(ch.stdin, cmd+"\n"); err != nil {
		b.Error("bench child: ", err)
	}
}

// stop closes the child's stdin (it exits) and kills it if it lingers.
func (ch *benchChild) stop(b *testing.B, exited chan struct{}) {
	ch.stdin.Close()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		b.Error("bench child did not exit within 10 s of EOF; killing it")
		ch.cmd.Process.Kill()
		<-exited
	}
}

// cpuTime is a process's CPU time read two ways: sched is the sum of
// its threads' run time in ns (/proc/PID/task/*/schedstat, precise but
// blind to threads that exited), ticks is utime+stime from
// /proc/PID/stat (whole thread group, 10 ms resolution). switches sums
// schedstat's count of times a thread was run on a CPU.
type cpuTime struct {
	sched    time.Duration
	ticks    time.Duration
	switches int64
}

// cpu reads the child's CPU time.
func (ch *benchChild) cpu(b *testing.B) cpuTime {
	var t cpuTime
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", ch.pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesized command name; utime and stime are
	// fields 14 and 15 of the whole line.
	_, after, ok := bytes.Cut(stat, []byte(") "))
	f := strings.Fields(string(after))
	if !ok || len(f) < 13 {
		b.Fatalf("/proc/%d/stat: unexpected format", ch.pid)
	}
	const ticksPerSec = 100 // USER_HZ, fixed at 100 in the Linux ABI
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %v", ch.pid, err)
		}
		t.ticks += time.Duration(n) * time.Second / ticksPerSec
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", ch.pid))
	for _, p := range tasks {
		s, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(s))
		if len(f) < 3 {
			b.Fatalf("%s: unexpected format %q", p, s)
		}
		n, err1 := strconv.ParseInt(f[0], 10, 64)
		k, err2 := strconv.ParseInt(f[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			b.Fatalf("%s: %v", p, err)
		}
		t.sched += time.Duration(n)
		t.switches += k
	}
	return t
}

// sub returns the CPU time between u and t: from schedstat, unless a
// thread exited in between (the tick count then exceeds it by more
// than its resolution) or schedstat is missing.
func (t cpuTime) sub(u cpuTime, b *testing.B) time.Duration {
	sched, ticks := t.sched-u.sched, t.ticks-u.ticks
	if sched <= 0 || ticks > sched+30*time.Millisecond {
		if sched > 0 {
			b.Logf("schedstat %v < stat %v: using stat", sched, ticks)
		}
		return ticks
	}
	return sched
}
