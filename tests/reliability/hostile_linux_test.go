package reliability

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
	"golang.org/x/sys/unix"
)

// The never-reading peers test runs each server (upoll's echo with its
// defaults, and a goroutine-per-connection echo on Go's net) in a child
// process of its own, so that the child's RSS is the server's alone; the
// peers are raw sockets of the test process.
const (
	hostileChildEnv = "RELTEST_HOSTILE" // "upoll" or "std": TestHostileChild serves it
	hostileAddr     = "haddr "
	hostileStats    = "hstats "
)

// TestHostileChild is the server of TestHostilePeers; it does nothing
// in a normal run.
func TestHostileChild(t *testing.T) {
	role := os.Getenv(hostileChildEnv)
	if role == "" {
		t.Skip(hostileChildEnv + " unset: only TestHostilePeers runs this, as its server process")
	}
	var (
		addr  string
		stats func() string
	)
	switch role {
	case "upoll":
		ln, err := netpoll.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := netpoll.NewServer(echoHandler)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()
		addr = ln.Addr().String()
		stats = func() string {
			st := srv.Stats()
			return fmt.Sprintf("live=%d bufin=%d bufout=%d pbound=%d pbudget=%d",
				st.LiveConns, st.BufferedIn, st.BufferedOut, st.PausedByBound, st.PausedByBudget)
		}
	case "std":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var live atomic.Int64
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					time.Sleep(5 * time.Millisecond)
					continue
				}
				live.Add(1)
				go func() {
					defer live.Add(-1)
					stdEcho(c)
				}()
			}
		}()
		addr = ln.Addr().String()
		stats = func() string { return fmt.Sprintf("live=%d", live.Load()) }
	default:
		t.Fatalf("unknown role %q", role)
	}
	fmt.Printf("%s%s\n", hostileAddr, addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("%s%s goroutines=%d heap=%d\n", hostileStats, stats(), runtime.NumGoroutine(), ms.HeapInuse)
		}
	}
}

// stdEcho is the usual goroutine-per-connection echo, with a 16 KiB read
// buffer per connection (not io.Copy: between two TCP sockets it would
// splice, which is not what a server does with its bytes).
func stdEcho(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hostileChild is a running TestHostileChild.
type hostileChild struct {
	*testutil.Child
	addr string
}

func startHostileChild(t *testing.T, role string, env ...string) *hostileChild {
	t.Helper()
	c := testutil.StartChild(t, "^TestHostileChild$", append([]string{hostileChildEnv + "=" + role}, env...)...)
	return &hostileChild{Child: c, addr: c.Expect(t, hostileAddr, 60*time.Second)}
}

// stats asks the child for its counters.
func (h *hostileChild) stats(t *testing.T) map[string]int64 {
	t.Helper()
	h.Send(t, "stats")
	return parseChildStats(h.Expect(t, hostileStats, 30*time.Second))
}

// parseChildStats parses the child's "k=v k=v ..." counters.
func parseChildStats(line string) map[string]int64 {
	m := map[string]int64{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		m[k], _ = strconv.ParseInt(v, 10, 64)
	}
	return m
}

// hostilePeers opens n sockets that send and never read. Their receive
// buffer is the smallest the kernel allows, so the echoed bytes pile up
// on the server's side.
func hostilePeers(t *testing.T, addr string, n int) []int {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	fds := make([]int, 0, n)
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			t.Fatal(err)
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<10)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10)
		if err := unix.Connect(fd, sa); err != nil {
			unix.Close(fd)
			closeAll(fds)
			t.Fatal(err)
		}
		unix.SetNonblock(fd, true)
		fds = append(fds, fd)
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// push makes every peer send until the kernel refuses more or each has
// sent perPeer bytes, in rounds, until a round takes (almost) nothing
// or the time is up. It returns the bytes sent.
func push(fds []int, perPeer int, d time.Duration) int64 {
	chunk := make([]byte, 64<<10)
	sent := make([]int, len(fds))
	var total int64
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var round int64
		for i, fd := range fds {
			for sent[i] < perPeer {
				m, err := unix.Write(fd, chunk[:min(len(chunk), perPeer-sent[i])])
				if m > 0 {
					sent[i] += m
					round += int64(m)
				}
				if err != nil || m <= 0 {
					break
				}
			}
		}
		total += round
		if round < int64(len(fds))*1024 {
			break
		}
		time.Sleep(100 * time.Millisecond) // let the server read and echo
	}
	return total
}

// pingPong runs conns connections of rounds 64-byte round trips each and
// returns the 99th percentile round trip; every exchange must succeed.
func pingPong(t *testing.T, addr string, conns, rounds int) time.Duration {
	t.Helper()
	var (
		mu   sync.Mutex
		rtts []time.Duration
		wg   sync.WaitGroup
		errs = make(chan error, conns)
	)
	for range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			msg := make([]byte, 64)
			got := make([]byte, 64)
			mine := make([]time.Duration, 0, rounds)
			for i := range rounds {
				msg[0] = byte(i)
				start := time.Now()
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(start))
				if got[0] != byte(i) {
					errs <- fmt.Errorf("round %d echoed %d", i, got[0])
					return
				}
			}
			mu.Lock()
			rtts = append(rtts, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("well-behaved connection: %v", err)
	}
	slices.Sort(rtts)
	return rtts[len(rtts)*99/100]
}

type hostileResult struct {
	growth       int64 // RSS growth with the hostile peers connected
	sent         int64 // bytes the hostile peers sent
	p99, p99base time.Duration
}

// hostileRun serves n never-reading peers and then well-behaved ones on
// the role's server, and checks that the server comes back to its
// baseline once the peers close.
func hostileRun(t *testing.T, role string, n int, env ...string) hostileResult {
	h := startHostileChild(t, role, env...)
	var r hostileResult
	r.p99base = pingPong(t, h.addr, 100, 20) // warms the server up too
	base := h.stats(t)
	rss0 := h.RSS(t)
	fds := hostilePeers(t, h.addr, n)
	defer closeAll(fds)
	r.sent = push(fds, 1<<20, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	r.growth = h.RSS(t) - rss0
	r.p99 = pingPong(t, h.addr, 100, 20)
	during := h.stats(t)
	t.Logf("%s: %d peers sent %d MiB; RSS %d -> %+d MiB; ping-pong p99 %v (%v without them); stats %v",
		role, n, r.sent>>20, rss0>>20, r.growth>>20, r.p99, r.p99base, during)
	closeAll(fds)
	fds = nil
	st, ok := settleStats(h, t, func(st map[string]int64) bool {
		return st["live"] == base["live"] && st["goroutines"] <= base["goroutines"]+5 &&
			st["heap"] <= base["heap"]+8<<20 && st["bufin"] == 0 && st["bufout"] == 0
	})
	if !ok {
		t.Errorf("%s after the peers closed: %v, baseline %v", role, st, base)
	}
	return r
}

func settleStats(h *hostileChild, t *testing.T, f func(map[string]int64) bool) (map[string]int64, bool) {
	var st map[string]int64
	ok := testutil.WaitFor(20*time.Second, func() bool {
		st = h.stats(t)
		return f(st)
	})
	return st, ok
}

// TestHostilePeers: never-reading peers against upoll's echo with its
// defaults grow the server's RSS by at most twice what they grow a
// goroutine-per-connection echo on Go's net, well-behaved connections
// are served meanwhile, and everything returns to baseline once the
// peers close. 1,000 peers; 200 with -short or -race, against a budget
// scaled down with them.
func TestHostilePeers(t *testing.T) {
	n := 1000
	var env []string
	if testing.Short() || raceBuild {
		// A fifth of the peers, and of the default budget, which is
		// sized for the 1,000 of the full run (docs/memory.md). Under
		// -race RSS is not compared (see below).
		n = 200
		env = append(env, netpoll.EnvVar+"=budget=2m")
	}
	std := hostileRun(t, "std", n)
	up := hostileRun(t, "upoll", n, env...)
	t.Logf("RSS growth with %d never-reading peers: upoll %d MiB, std %d MiB (%.2fx)",
		n, up.growth>>20, std.growth>>20, float64(up.growth)/float64(max(std.growth, 1)))
	// 4 MiB of slack: RSS moves by a few MiB between samples anyway.
	if raceBuild {
		t.Log("race build: RSS growth not compared (the detector's shadow memory dominates it)")
	} else if up.growth > 2*std.growth+4<<20 {
		t.Errorf("upoll grew %d MiB, more than twice std's %d MiB", up.growth>>20, std.growth>>20)
	}
	// Served meanwhile, not stalled: a stall would be seconds. The bound
	// is loose because upoll's tail under this push is: its p99 ranged
	// from 4.7 to 237 ms over 12 runs on 2026-12-07 (std's 11 to 65 ms
	// in the 8 of them where it was logged),
	// the longest a well-behaved message waits behind the hostile
	// connections' reads on one poller (docs/RELIABILITY.md, Known open).
	if up.p99 > 20*up.p99base+500*time.Millisecond {
		t.Errorf("well-behaved p99 %v with the peers, %v without", up.p99, up.p99base)
	}
}
