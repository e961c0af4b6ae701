package nethttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// BenchmarkHello measures hello-world keep-alive requests per second, the
// 99th percentile latency and the server's CPU per request with 50 and
// 1,000 connections, for each stack in the same run (with -count the
// stacks alternate). The clients run in a child process (this test
// binary, see loadClientEnv), as in the bench harness: in the server's
// process they would compete with it for the same Ps, and its CPU time
// would include theirs. They are the same minimal keep-alive client for
// both stacks, so only the server differs.
func BenchmarkHello(b *testing.B) {
	for _, conns := range []int{50, 1000} {
		for _, st := range stacks() {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, st.name), func(b *testing.B) {
				benchHello(b, st, conns)
			})
		}
	}
}

var helloBody = []byte("Hello, World!")

func benchHello(b *testing.B, st stack, conns int) {
	ln, err := st.listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(helloBody)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	measureLoad(b, fmt.Sprintf("%s,%d,%d", ln.Addr(), conns, b.N))
}

// measureLoad runs the client helper on spec (see runLoadClients) for
// b.N requests and reports requests/s, the 99th percentile latency and
// this process's CPU per request.
func measureLoad(b *testing.B, spec string) {
	stdin, out, stop := startClients(b, loadClientEnv, spec)
	defer stop()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	io.WriteString(stdin, "go\n")
	line, err := out.ReadString('\n')
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	var elapsed, p99 time.Duration
	if _, serr := fmt.Sscanf(line, "done %d %d\n", &elapsed, &p99); err != nil || serr != nil || elapsed <= 0 {
		b.Fatalf("load client helper: %q, %v", line, err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkServeFile measures http.FileServer sending a 256 KiB file
// over 10 keep-alive connections, on each stack in the same run, with
// BenchmarkHello's clients and metrics: net/http passes the file to the
// conn's ReadFrom, which both stacks serve with sendfile on Linux.
func BenchmarkServeFile(b *testing.B) {
	const size = 256 << 10
	dir := b.TempDir()
	if err := os.WriteFile(dir+"/f.bin", bytes.Repeat([]byte("0123456789abcdef"), size/16), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, st := range stacks() {
		b.Run(st.name, func(b *testing.B) {
			ln, err := st.listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
			go srv.Serve(ln)
			defer srv.Close()
			measureLoad(b, fmt.Sprintf("%s,%d,%d,/f.bin,%d", ln.Addr(), 10, b.N, size))
		})
	}
}

// startClients re-executes the test binary as a client helper (env set to
// spec; see TestMain), waits for its "ready" line and returns its stdin
// and stdout. stop closes its stdin and waits for it to exit.
func startClients(b *testing.B, env, spec string) (stdin io.Writer, out *bufio.Reader, stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+spec)
	in, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		in.Close()
		cmd.Wait()
	}
	out = bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		stop()
		b.Fatalf("%s helper: %q, %v", env, line, err)
	}
	return in, out, stop
}

// loadClientEnv, when set to "addr,conns,n", turns the test binary into
// the load generator of BenchmarkHello (see TestMain).
const loadClientEnv = "UPOLL_NETHTTP_LOAD_CLIENTS"

// runLoadClients dials conns keep-alive connections and warms each up
// with one request, says "ready", waits for a line on stdin, then makes n
// requests over all of them and says "done <elapsed ns> <p99 ns>".
func runLoadClients(spec string) error {
	f := strings.Split(spec, ",")
	if len(f) != 3 && len(f) != 5 {
		return errors.New("bad spec " + spec)
	}
	addr, conns, n := f[0], atoiOr(f[1], 0), atoiOr(f[2], 0)
	req, want := benchRequest, len(helloBody)
	if len(f) == 5 { // path and body length: BenchmarkServeFile
		req, want = []byte("GET "+f[3]+" HTTP/1.1\r\nHost: bench\r\n\r\n"), atoiOr(f[4], -1)
	}
	if conns <= 0 || n < 0 || want < 0 {
		return errors.New("bad spec " + spec)
	}
	clients := make([]*benchClient, conns)
	for i := range clients {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		clients[i] = &benchClient{c: c, br: bufio.NewReader(c), req: req, want: want}
		if err := clients[i].do(); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	start := time.Now()
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				if err := cl.do(); err != nil {
					errc <- err
					return
				}
				cl.lat = append(cl.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errc:
		return err
	default:
	}
	var all []time.Duration
	for _, cl := range clients {
		all = append(all, cl.lat...)
	}
	if len(all) == 0 {
		return errors.New("no request made")
	}
	slices.Sort(all)
	fmt.Printf("done %d %d\n", elapsed.Nanoseconds(), all[len(all)*99/100].Nanoseconds())
	return nil
}

// cpuTime is the user plus system CPU time of the process so far. Per
// request it shows the cost of a stack even when other processes compete
// for the cores (then req/s mostly shows who gets scheduled).
func cpuTime(b *testing.B) time.Duration {
	d, err := testutil.SelfCPU()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// benchClient is a minimal keep-alive HTTP/1.1 client: a canned request,
// and a response parser that only looks for Content-Length.
type benchClient struct {
	c    net.Conn
	br   *bufio.Reader
	req  []byte // the request it repeats
	want int    // its response's Content-Length
	lat  []time.Duration
}

var benchRequest = []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")

func (cl *benchClient) do() error {
	cl.c.SetDeadline(time.Now().Add(testDeadline))
	if _, err := cl.c.Write(cl.req); err != nil {
		return err
	}
	n := -1
	for {
		line, err := cl.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n != cl.want {
		return fmt.Errorf("Content-Length %d, want %d", n, cl.want)
	}
	_, err := cl.br.Discard(n)
	return err
}

// idleConns is how many idle keep-alive conns BenchmarkIdleConnMemory holds.
const idleConns = 5000

// BenchmarkIdleConnMemory reports the server's heap plus stack bytes per
// idle keep-alive connection (after one request each). The clients live in
// a child process, so only the server side is counted.
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, st := range httpStacks() {
		b.Run(st.name, func(b *testing.B) {
			var perConn float64
			for range b.N {
				perConn = idleConnMemory(b, st)
			}
			b.ReportMetric(perConn, "B/conn")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func idleConnMemory(b *testing.B, st stack) float64 {
	ln, err := st.listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var idle atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(hello),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateIdle {
				idle.Add(1)
			}
		},
	}
	if st.park {
		if err := EnableParking(srv, ln); err != nil {
			b.Fatal(err)
		}
	}
	go srv.Serve(ln)
	defer srv.Close()
	before := liveBytes()

	_, _, stop := startClients(b, idleClientEnv, fmt.Sprintf("%s,%d", ln.Addr(), idleConns))
	defer stop()
	if !testutil.WaitFor(30*time.Second, func() bool { return idle.Load() >= idleConns }) {
		b.Fatalf("only %d of %d conns idle", idle.Load(), idleConns)
	}
	if st.park && !testutil.WaitFor(30*time.Second, func() bool {
		ps, _ := Parking(ln)
		return ps.Parked >= idleConns
	}) {
		ps, _ := Parking(ln)
		b.Fatalf("only %d of %d conns parked", ps.Parked, idleConns)
	}
	time.Sleep(100 * time.Millisecond)
	after := liveBytes()
	return float64(after-before) / idleConns
}

// liveBytes is the heap in use after a full collection plus goroutine stacks.
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc) + int64(ms.StackInuse)
}

// idleClientEnv, when set to "addr,n", turns the test binary into the
// idle-client helper of BenchmarkIdleConnMemory (see TestMain).
const idleClientEnv = "UPOLL_NETHTTP_IDLE_CLIENTS"

// runIdleClients dials n conns, makes one request on each, says "ready" and
// holds them until stdin closes.
func runIdleClients(spec string) error {
	var addr string
	var n int
	i := bytes.LastIndexByte([]byte(spec), ',')
	if i < 0 {
		return errors.New("bad spec " + spec)
	}
	addr, n = spec[:i], atoiOr(spec[i+1:], 0)
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		cl := &benchClient{c: c, br: bufio.NewReaderSize(c, 256)}
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: idle\r\n\r\n")); err != nil {
			return err
		}
		resp, err := http.ReadResponse(cl.br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

func atoiOr(s string, def int) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return v
}
