package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/bench/internal/proc"
)

// echoBackToBack writes 32 MiB to addr (far more than the socket buffers
// of both ends hold) and reads only once ready says the server has had to
// keep output: every byte must still come back, in order.
func echoBackToBack(t *testing.T, addr string, ready func() bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	want := make([]byte, 32<<20)
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		wrote <- err
	}()
	for i := 0; i < 200 && !ready(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !ready() {
		t.Fatal("the server never found the client's socket full")
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal("read: ", err)
	}
	if err := <-wrote; err != nil {
		t.Fatal("write: ", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echoed bytes differ")
	}
}

// TestFloorEchoBackpressure: a client that writes far more than the
// socket buffers hold before it reads makes floor-echo keep refused
// output and wait for EPOLLOUT; every byte must still come back in
// order.
func TestFloorEchoBackpressure(t *testing.T) {
	srv, addr, err := newFloorEcho("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	echoBackToBack(t, addr.String(), func() bool { return srv.stalls.Load() > 0 })
	if _, err := startFloorEcho("localhost:0", ""); err == nil {
		t.Error("startFloorEcho accepted a host name")
	}
}

// TestFloorCBackpressure: the same for the C floor. Its stalls are not
// visible from here, so the client reads after a pause long enough for
// the server to fill the client's receive buffer.
func TestFloorCBackpressure(t *testing.T) {
	if err := floorCAvailable(); err != nil {
		t.Skip(err)
	}
	addr, err := startFloorC("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	echoBackToBack(t, addr.String(), func() bool { return time.Since(t0) > 500*time.Millisecond })
	if _, err := startFloorC("localhost:0", ""); err == nil {
		t.Error("startFloorC accepted a host name")
	}
}

// TestFloorCUringBackpressure: the io_uring floor, in both of its modes,
// gives every byte back in order to a client that writes 32 MiB before
// it reads: the receive takes the provided buffers until they run out
// (ENOBUFS) behind a send the client's full socket holds up, and is armed
// again as the sends complete and give them back.
func TestFloorCUringBackpressure(t *testing.T) {
	if err := floorCUringAvailable(); err != nil {
		t.Skip(err)
	}
	for _, start := range []func(string, string) (net.Addr, error){startFloorCUring, startFloorCUringPlain} {
		addr, err := start("127.0.0.1:0", "")
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		echoBackToBack(t, addr.String(), func() bool { return time.Since(t0) > 500*time.Millisecond })
	}
	if _, err := startFloorCUring("localhost:0", ""); err == nil {
		t.Error("startFloorCUring accepted a host name")
	}
}

// TestFloorCUringCountsItsEnters: the io_uring floor answers the
// control protocol's "stats" with its own count of io_uring_enter calls
// (backend c-uring, as waits), and the count follows its traffic: a
// ping-pong over one connection makes at least one enter per message
// (each pass waits for the next message) and a few at most.
func TestFloorCUringCountsItsEnters(t *testing.T) {
	if err := floorCUringAvailable(); err != nil {
		t.Skip(err)
	}
	in, w := io.Pipe()
	var out lineWriter
	out.lines = make(chan string, 4)
	done := make(chan error, 1)
	go func() { done <- Run("floor-c-uring", "127.0.0.1:0", "", "", in, &out) }()
	line := func(what string) string {
		t.Helper()
		select {
		case l := <-out.lines:
			return l
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s line from Run", what)
		}
		return ""
	}
	var pid int
	var addr string
	if _, err := fmt.Sscanf(line("READY"), "READY %d %s", &pid, &addr); err != nil || pid == os.Getpid() {
		t.Fatalf("READY: pid %d (this process %d), %v", pid, os.Getpid(), err)
	}
	stats := func() Counters {
		t.Helper()
		w.Write([]byte("stats\n"))
		l := line("STATS")
		var c Counters
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "STATS ")), &c); err != nil || !strings.HasPrefix(l, "STATS ") {
			t.Fatalf("stats line %q: %v", l, err)
		}
		if c.Backend != floorCUringBackend || c.At == 0 || c.Reads != 0 || c.Writes != 0 {
			t.Fatalf("floor-c-uring's counters %+v: want backend %s, a time, waits only", c, floorCUringBackend)
		}
		return c
	}
	before := stats()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	const msgs = 500
	pingPong(t, c, msgs)
	after := stats()
	d := after.Sub(before)
	t.Logf("%d io_uring_enter calls for %d messages", d.Waits, msgs)
	if d.Waits < msgs || d.Waits > 4*msgs+16 || d.At <= 0 {
		t.Fatalf("%d io_uring_enter calls over %d messages (%d ns): want one to a few per message", d.Waits, msgs, d.At)
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFloorCShort: floor-c-short echoes what floor-c echoes, keeps
// refused output as floor-c does, and reads each ping-pong message with
// one read where floor-c makes two (the second sees EAGAIN), as the
// kernel counts them for its process.
func TestFloorCShort(t *testing.T) {
	if err := floorCAvailable(); err != nil {
		t.Skip(err)
	}
	addr, err := startFloorCShort("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	echoBackToBack(t, addr.String(), func() bool { return time.Since(t0) > 500*time.Millisecond })

	long, err := startFloorC("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	const msgs = 2000
	perMsg := func(a net.Addr) float64 {
		t.Helper()
		pid := a.(externalAddr).pid
		c, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		before, err := proc.ReadIO(pid)
		if err != nil {
			t.Fatal(err)
		}
		pingPong(t, c, msgs)
		after, err := proc.ReadIO(pid)
		if err != nil {
			t.Fatal(err)
		}
		return float64(after.SysR-before.SysR) / msgs
	}
	s, l := perMsg(addr), perMsg(long)
	t.Logf("reads per message: floor-c-short %.2f, floor-c %.2f", s, l)
	if s > 1.3 || l < 1.5 {
		t.Fatalf("reads per message: floor-c-short %.2f (want about 1), floor-c %.2f (want about 2)", s, l)
	}
}

// TestFloorEchoShort: floor-echo-short echoes what floor-echo echoes,
// keeps refused output as floor-echo does, and reads each ping-pong
// message with one read where floor-echo makes two (the second sees
// EAGAIN), as the kernel counts them for each loop's thread.
func TestFloorEchoShort(t *testing.T) {
	short, addr, err := newFloorEcho("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	echoBackToBack(t, addr.String(), func() bool { return short.stalls.Load() > 0 })

	long, longAddr, err := newFloorEcho("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	const msgs = 2000
	perMsg := func(s *floorEcho, a net.Addr) float64 {
		t.Helper()
		c, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		pingPong(t, c, 1) // the loop has accepted and runs
		tid := int(s.tid.Load())
		if tid == 0 {
			t.Fatal("the loop's thread is not known")
		}
		before := threadReads(t, tid)
		pingPong(t, c, msgs)
		return float64(threadReads(t, tid)-before) / msgs
	}
	s, l := perMsg(short, addr), perMsg(long, longAddr)
	t.Logf("reads per message: floor-echo-short %.2f, floor-echo %.2f", s, l)
	if s > 1.3 || l < 1.5 {
		t.Fatalf("reads per message: floor-echo-short %.2f (want about 1), floor-echo %.2f (want about 2)", s, l)
	}
}

// threadReads is the read calls the kernel counted for thread tid of
// this process (syscr of /proc/self/task/TID/io).
func threadReads(t *testing.T, tid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/io", tid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			var n uint64
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no syscr in %s", b)
	return 0
}

// TestFloorCNoCompiler: without a C compiler floor-c is not available, and
// says why.
func TestFloorCNoCompiler(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, err := buildFloorC()
	if err == nil || !strings.Contains(err.Error(), "no C compiler") {
		t.Fatalf("build without cc: %v", err)
	}
	if _, err := startFloorC("127.0.0.1:0", ""); err == nil {
		t.Fatal("floor-c started without a C compiler")
	}
}

// TestFloorCRunReportsItsProcess: the control protocol names the C
// server's process, not the harness's, so that its CPU is the one
// measured.
func TestFloorCRunReportsItsProcess(t *testing.T) {
	if err := floorCAvailable(); err != nil {
		t.Skip(err)
	}
	tg, _ := Lookup("floor-c")
	addr, err := tg.start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	x, ok := addr.(externalAddr)
	if !ok || x.pid == os.Getpid() || x.pid <= 0 {
		t.Fatalf("floor-c address %#v names no process of its own", addr)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", x.pid))
	if err != nil || strings.TrimSpace(string(comm)) != "floor" {
		t.Fatalf("pid %d is %q (%v), want the C server", x.pid, comm, err)
	}
	if _, err := proc.ReadCPU(x.pid); err != nil {
		t.Fatal(err)
	}

	// Through Run, which must name the C server in READY and read its
	// memory. (The C server outlives Run here, until the test binary
	// exits; TestFloorCExitsAtEOF shows why it ends then.)
	in, w := io.Pipe()
	var out lineWriter
	out.lines = make(chan string, 4)
	done := make(chan error, 1)
	go func() { done <- Run("floor-c", "127.0.0.1:0", "", "", in, &out) }()
	var ready string
	select {
	case ready = <-out.lines:
	case <-time.After(20 * time.Second):
		t.Fatal("no READY from Run")
	}
	var pid int
	var a string
	if _, err := fmt.Sscanf(ready, "READY %d %s", &pid, &a); err != nil || pid == os.Getpid() {
		t.Fatalf("READY line %q: pid %d (this process %d), %v", ready, pid, os.Getpid(), err)
	}
	w.Write([]byte("mem\n"))
	select {
	case m := <-out.lines:
		if !strings.HasPrefix(m, "MEM {") || !strings.Contains(m, `"rss":`) || strings.Contains(m, `"rss":0`) {
			t.Fatalf("mem line %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no MEM line")
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFloorCExitsAtEOF: the C servers exit once their stdin reaches EOF,
// which is what the harness's exit brings them.
func TestFloorCExitsAtEOF(t *testing.T) {
	if err := floorCAvailable(); err != nil {
		t.Skip(err)
	}
	exitsAtEOF(t, buildFloorC)
}

func TestFloorCUringExitsAtEOF(t *testing.T) {
	if err := floorCUringAvailable(); err != nil {
		t.Skip(err)
	}
	exitsAtEOF(t, buildFloorCUring)
}

func exitsAtEOF(t *testing.T, build func() (string, string, error)) {
	dir, exe, err := build()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(exe, "127.0.0.1:0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l, err := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(l, "READY 127.0.0.1:") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("first line %q, %v", l, err)
	}
	stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatal("exit: ", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatal("the C server did not exit at EOF on stdin")
	}
}

// lineWriter hands each line written to it to a channel.
type lineWriter struct {
	buf   []byte
	lines chan string
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines <- string(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

// pingPong sends msgs 64-byte messages on c one at a time, each after
// the echo of the one before, and checks every echo byte for byte.
func pingPong(t *testing.T, c net.Conn, msgs int) {
	t.Helper()
	msg, got := make([]byte, 64), make([]byte, 64)
	for i := range msgs {
		msg[0] = byte(i)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d: echoed bytes differ", i)
		}
	}
}
