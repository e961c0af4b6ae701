package netpoll

import (
	"context"
	"errors"
	"math"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The round-robin pick stays in range across the counter's wrap: the
// counter, a uint32, was converted to int before the modulo, which on a
// 32-bit platform makes every count from 2^31 on negative, so that the
// 2^31st dial of a group picked a negative index and panicked.
func TestGroupPickAcrossCounterWrap(t *testing.T) {
	g := &group{pollers: []*poller{new(poller), new(poller), new(poller)}}
	index := func(p *poller) int {
		for i, q := range g.pollers {
			if q == p {
				return i
			}
		}
		return -1
	}
	// Untyped constants: the counter's type is the fix's to choose.
	for _, start := range []struct {
		name string
		set  func()
	}{
		{"2^31-4", func() { g.rr.Store(math.MaxInt32 - 3) }},
		{"2^32-4", func() { g.rr.Store(math.MaxUint32 - 3) }},
	} {
		start.set()
		prev := -1
		for i := range 8 {
			var p *poller
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("pick %d after a count of %s: panic %v", i, start.name, r)
					}
				}()
				p = g.pick(nil)
			}()
			k := index(p)
			if k < 0 {
				t.Fatalf("pick %d after a count of %s: a poller not in the group", i, start.name)
			}
			if k == prev {
				t.Errorf("pick %d after a count of %s: poller %d twice in a row", i, start.name, k)
			}
			prev = k
		}
	}
}

// Each dialed connection has a local address of its own, as in Go's
// net: a caller that changes one connection's LocalAddr IP changes no
// other connection's. The dials of one local IP shared one net.IP.
func TestDialLocalAddrNotShared(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, b := range testBackends(true) {
		d := Dialer{Timeout: 5 * time.Second, Options: []Option{WithBackend(b)}}
		c1, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("%v: %v", b, err)
		}
		c2, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			c1.Close()
			t.Fatalf("%v: %v", b, err)
		}
		la1, la2 := c1.LocalAddr().(*net.TCPAddr), c2.LocalAddr().(*net.TCPAddr)
		want := la2.IP.String()
		la1.IP[len(la1.IP)-1] ^= 0xff
		if got := c2.LocalAddr().(*net.TCPAddr).IP.String(); got != want {
			t.Errorf("%v: changing one connection's local IP made another's %s, was %s", b, got, want)
		}
		c1.Close()
		c2.Close()
	}
}

// Under BackendStd a dial that its Server refuses after the connect (the
// server closed meanwhile) fails with an error that names the address,
// as the native backends' does and Go's net's dial errors do. It named
// none: the refusal came after Go's dial, and was wrapped bare.
func TestStdDialRefusedNamesAddr(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	path := filepath.Join(t.TempDir(), "s")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	s, err := NewServer(nil, WithBackend(BackendStd))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	d := Dialer{Server: s, Timeout: 5 * time.Second}
	// The closed server ends a dial either while Go's dial connects (its
	// context) or after (the refusal): which one, the scheduler decides,
	// so each network is dialed a few times.
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, dest := range [][2]string{{"tcp", l.Addr().String()}, {"tcp", ":" + port}, {"unix", path}} {
		for range 20 {
			c, err := d.DialContext(context.Background(), dest[0], dest[1])
			if err == nil {
				c.Close()
				t.Fatalf("dial %s %s through a closed server succeeded", dest[0], dest[1])
			}
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, ErrServerClosed) {
				t.Fatalf("dial %s %s = %v, want a dial *net.OpError wrapping ErrServerClosed", dest[0], dest[1], err)
			}
			if oe.Addr == nil || oe.Addr.String() != dest[1] {
				t.Fatalf("dial %s %s = %q: names address %v", dest[0], dest[1], err, oe.Addr)
			}
		}
	}
}

// A dialed unix socket's LocalAddr is the name the kernel gives the
// unbound socket, as in Go's net ("@" on Linux, the syscall package's
// rewrite of an empty name); the native backends said "".
func TestDialUnixLocalAddrAsGo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	gc, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := gc.LocalAddr()
	gc.Close()
	for _, b := range testBackends(true) {
		d := Dialer{Timeout: 5 * time.Second, Options: []Option{WithBackend(b)}}
		c, err := d.DialContext(context.Background(), "unix", path)
		if err != nil {
			t.Fatalf("%v: %v", b, err)
		}
		got := c.LocalAddr()
		c.Close()
		if got.Network() != want.Network() || got.String() != want.String() {
			t.Errorf("%v: LocalAddr %s %q, Go's %s %q", b, got.Network(), got, want.Network(), want)
		}
	}
}

// A dialed IPv4 connection's addresses hold four-byte IPs, as Go's net
// gives them: equal to the sixteen-byte form, but not to reflect's
// DeepEqual, which a caller comparing with Go's address may use. The
// local IP was the sixteen-byte form.
func TestDialIPv4AddrsAsGo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	gc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	goLocal, goRemote := gc.LocalAddr().(*net.TCPAddr), gc.RemoteAddr().(*net.TCPAddr)
	for _, b := range testBackends(true) {
		d := Dialer{Timeout: 5 * time.Second, Options: []Option{WithBackend(b)}}
		c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("%v: %v", b, err)
		}
		local, remote := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
		if !reflect.DeepEqual(local.IP, goLocal.IP) {
			t.Errorf("%v: LocalAddr IP %#v, Go's %#v", b, local.IP, goLocal.IP)
		}
		if !reflect.DeepEqual(remote, goRemote) {
			t.Errorf("%v: RemoteAddr %#v, Go's %#v", b, remote, goRemote)
		}
		c.Close()
	}
}
