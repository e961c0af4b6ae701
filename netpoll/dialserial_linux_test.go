package netpoll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// multiHost is a name that hostsResolver resolves.
const multiHost = "multi.upoll.test."

// loopback4 returns 127.0.0.x.
func loopback4(x byte) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, x}) }

// hostsResolver returns a resolver whose every A query is answered with
// ips, in that order, and every other query with no records, by a DNS
// server on 127.0.0.1 that stops when t ends.
func hostsResolver(t *testing.T, ips ...netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		// Bounded; the read fails once t's cleanup closes pc.
		for range 1000 {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, err := dnsAnswer(buf[:n], ips); err == nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", server)
		},
	}
}

// dnsAnswer answers the DNS query q: A records of ips for an A
// question, none for any other.
func dnsAnswer(q []byte, ips []netip.Addr) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, err
	}
	question, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		Authoritative:      true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
	})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(question); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if question.Type == dnsmessage.TypeA {
		for _, ip := range ips {
			rh := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}
			if err := b.AResource(rh, dnsmessage.AResource{A: ip.As4()}); err != nil {
				return nil, err
			}
		}
	}
	return b.Finish()
}

// hangingAddrs returns n addresses 127.0.0.1:port … 127.0.0.n:port, of
// one port, whose connects hang (see fillQueue). It skips t where the
// kernel completes handshakes despite a full queue.
func hangingAddrs(t *testing.T, n int) []netip.AddrPort {
	t.Helper()
	var aps []netip.AddrPort
	for i := range n {
		ap := netip.AddrPortFrom(loopback4(byte(i+1)), 0)
		if i > 0 {
			ap = netip.AddrPortFrom(ap.Addr(), aps[0].Port())
		}
		ap = rawListenAt(t, ap, 0)
		if !fillQueue(t, ap.String()) {
			t.Skipf("kernel completed the handshakes to %v despite the full queue", ap)
		}
		aps = append(aps, ap)
	}
	return aps
}

// dialMulti dials multiHost, resolved to the addresses of aps (all of
// one port), with d, and returns the connection, the time the dial
// took and its error.
func dialMulti(t *testing.T, d *Dialer, aps ...netip.AddrPort) (*Conn, time.Duration, error) {
	t.Helper()
	var ips []netip.Addr
	for _, ap := range aps {
		ips = append(ips, ap.Addr())
	}
	d.Resolver = hostsResolver(t, ips...)
	addr := net.JoinHostPort(multiHost, strconv.Itoa(int(aps[0].Port())))
	start := time.Now()
	c, err := d.DialContext(context.Background(), "tcp", addr)
	took := time.Since(start)
	return c, took, err
}

// checkDialTimeout fails t unless err is a dial *net.OpError naming
// addr and wrapping Go's net's dial timeout: "i/o timeout", a net.Error
// timeout, errors.Is context.DeadlineExceeded and not
// os.ErrDeadlineExceeded.
func checkDialTimeout(t *testing.T, err error, addr netip.AddrPort) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("error %v is not a dial *net.OpError", err)
	}
	if oe.Addr == nil || oe.Addr.String() != addr.String() {
		t.Errorf("error %v names %v; want %v", err, oe.Addr, addr)
	}
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %v: errors.Is context.DeadlineExceeded %v, os.ErrDeadlineExceeded %v; want true, false",
			err, errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded))
	}
	if oe.Err.Error() != "i/o timeout" {
		t.Errorf("error %v wraps %q; want Go's \"i/o timeout\"", err, oe.Err)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("error %v is not a net.Error timeout", err)
	}
}

// The first address hangs, the second answers: the first gets its share
// of the Timeout (here the 2 s minimum), and the dial connects to the
// second well within the Timeout.
func TestDialSplitsDeadline(t *testing.T) {
	hang := hangingAddrs(t, 1)[0]
	good := netip.AddrPortFrom(hang.Addr().Next(), hang.Port())
	ln, err := net.Listen("tcp4", good.String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := Dialer{Timeout: 3 * time.Second}
	c, took, err := dialMulti(t, &d, hang, good)
	if err != nil {
		t.Fatalf("dial after %v: %v; want a connection to %v", took, err, good)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != good.String() {
		t.Errorf("RemoteAddr = %v; want %v", got, good)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	ac, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	if ac.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("accepted %v; dialed from %v", ac.RemoteAddr(), c.LocalAddr())
	}
	if took < minAddrTime-20*time.Millisecond || took >= d.Timeout {
		t.Errorf("dial took %v; want the first address's %v and less than the Timeout %v", took, minAddrTime, d.Timeout)
	}
}

// Every address hangs: the dial fails when the Timeout ends, not later,
// with the first address's error.
func TestDialAllAddrsHang(t *testing.T) {
	aps := hangingAddrs(t, 2)
	d := Dialer{Timeout: 2500 * time.Millisecond}
	c, took, err := dialMulti(t, &d, aps...)
	if err == nil {
		c.Close()
		t.Fatalf("dial to hanging addresses succeeded (%v)", c.RemoteAddr())
	}
	checkDialTimeout(t, err, aps[0])
	if took < d.Timeout-20*time.Millisecond || took > d.Timeout+time.Second {
		t.Errorf("dial took %v; want the Timeout %v", took, d.Timeout)
	}
}

// listenAfter returns the address on the next loopback IP after hang's,
// of its port, with a listener there that t's end closes.
func listenAfter(t *testing.T, hang netip.AddrPort) netip.AddrPort {
	t.Helper()
	ap := netip.AddrPortFrom(hang.Addr().Next(), hang.Port())
	ln, err := net.Listen("tcp4", ap.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ap
}

// A Timeout under the 2 s minimum all goes to the first address, as in
// Go's net: the dial ends at the Timeout with the first address's error.
func TestDialDeadlineSpentOnFirstAddr(t *testing.T) {
	hang := hangingAddrs(t, 1)[0]
	next := listenAfter(t, hang)
	d := Dialer{Timeout: time.Second}
	c, took, err := dialMulti(t, &d, hang, next)
	if err == nil {
		c.Close()
		t.Fatalf("dial connected to %v; want the Timeout spent on %v", c.RemoteAddr(), hang)
	}
	want := hang
	if stdDefault() {
		// Go's net names the second address when ctx's timer fires
		// before it looks at the second, else the first.
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Addr != nil && oe.Addr.String() == next.String() {
			want = next
		}
	}
	checkDialTimeout(t, err, want)
	if took < d.Timeout-20*time.Millisecond || took > d.Timeout+time.Second {
		t.Errorf("dial took %v; want the Timeout %v", took, d.Timeout)
	}
}

// A cancellation while the first address hangs ends the dial: the next
// is not tried, and the error names it, as in Go's net.
func TestDialCancelBeforeNextAddr(t *testing.T) {
	hang := hangingAddrs(t, 1)[0]
	next := listenAfter(t, hang)
	d := Dialer{Resolver: hostsResolver(t, hang.Addr(), next.Addr())}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The dial ends when cancelled, at the latest when this expires.
	stop := time.AfterFunc(100*time.Millisecond, cancel)
	defer stop.Stop()
	ctx, cancelAll := context.WithTimeout(ctx, 10*time.Second)
	defer cancelAll()
	addr := net.JoinHostPort(multiHost, strconv.Itoa(int(hang.Port())))
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("dial connected to %v; want it cancelled", c.RemoteAddr())
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("error %v is not a dial *net.OpError", err)
	}
	if !errors.Is(err, context.Canceled) || oe.Err.Error() != "operation was canceled" {
		t.Errorf("error %v is not Go's \"operation was canceled\" (errors.Is context.Canceled)", err)
	}
	if oe.Addr == nil || oe.Addr.String() != next.String() {
		t.Errorf("error %v names %v; want %v", err, oe.Addr, next)
	}
}

func TestDialAddrDeadline(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		rest time.Duration
		left int
		want time.Duration // of the first address; < 0: none left
	}{
		{0, 1, -1},
		{-time.Second, 2, -1},
		{time.Second, 1, time.Second},
		{time.Second, 3, time.Second},
		{3 * time.Second, 1, 3 * time.Second},
		{3 * time.Second, 2, 2 * time.Second},
		{5 * time.Second, 3, 2 * time.Second},
		{8 * time.Second, 2, 4 * time.Second},
		{9 * time.Second, 3, 3 * time.Second},
	} {
		got, ok := addrDeadline(now, now.Add(tt.rest), tt.left)
		if tt.want < 0 {
			if ok {
				t.Errorf("addrDeadline(%v left, %d addrs) = %v, true; want none", tt.rest, tt.left, got.Sub(now))
			}
			continue
		}
		if !ok || got.Sub(now) != tt.want {
			t.Errorf("addrDeadline(%v left, %d addrs) = %v, %v; want %v", tt.rest, tt.left, got.Sub(now), ok, tt.want)
		}
	}
}
