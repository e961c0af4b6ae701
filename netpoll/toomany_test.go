package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// fillLimit holds every poller of s to limit connections (registry.limit).
// The limit counts the slots a registry has handed out (freed ones are
// reused first), so it is set before the first connection.
func fillLimit(s *Server, limit int32) {
	for _, p := range s.pollers {
		p.reg.mu.Lock()
		p.reg.limit = limit
		p.reg.mu.Unlock()
	}
}

// echoByte writes one byte on c and reports whether it came back.
func echoByte(c net.Conn) error { return echoByteWithin(c, 5*time.Second) }

// echoByteWithin is echoByte within d.
func echoByteWithin(c net.Conn, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}

// TestTooManyConnsAccept: a connection accepted while every poller's
// registry is full is closed at once (its client reads EOF or a reset,
// never a hang) and counted in Stats.Refused, the connections already
// served go on, and a slot freed by a close serves a new connection.
func TestTooManyConnsAccept(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, addr := startServer(t, echoHandler, WithBackend(b))
			fillLimit(s, 1) // before the first connection

			// One connection per poller fills every registry, whichever
			// poller each is given.
			full := make([]net.Conn, len(s.pollers))
			for i := range full {
				full[i] = dialTCP(t, addr)
				defer full[i].Close()
				if err := echoByte(full[i]); err != nil {
					t.Fatalf("connection %d of %d: %v", i+1, len(full), err)
				}
			}
			if got := s.live(); got != int64(len(full)) {
				t.Fatalf("live connections = %d, want %d", got, len(full))
			}
			extra := dialTCP(t, addr)
			defer extra.Close()
			if err := echoByte(extra); err == nil {
				t.Fatal("a connection past every poller's limit was served")
			} else if testutil.IsTimeout(err) {
				t.Fatalf("a connection past the limit was left open: %v", err)
			}
			if r := s.Stats().Refused; r != 1 {
				t.Errorf("Stats.Refused = %d after one connection past the limit, want 1", r)
			}
			for i, c := range full {
				if err := echoByte(c); err != nil {
					t.Fatalf("connection %d after the refusal: %v", i+1, err)
				}
			}

			// Closing one frees its slot: a new connection is served
			// once the server has seen the close. The round robin may
			// offer it a full poller, so free every slot.
			for _, c := range full {
				c.Close()
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return s.live() == 0 }) {
				t.Fatalf("live connections = %d after the clients closed, want 0", s.live())
			}
			again := dialTCP(t, addr)
			defer again.Close()
			if err := echoByte(again); err != nil {
				t.Fatalf("a connection after slots were freed: %v", err)
			}
		})
	}
}

// TestTooManyConnsDial: a dial onto a group whose registries are full
// fails with a *net.OpError "dial" wrapping ErrTooManyConns, leaves no
// descriptor behind (CheckLeaks), and the connections dialed before it
// keep working.
func TestTooManyConnsDial(t *testing.T) {
	addr := goServer(t, func(c net.Conn) { io.Copy(c, c) })
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			g, err := NewServer(nil, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			fillLimit(g, 1)
			d := &Dialer{Server: g, Timeout: 5 * time.Second}
			conns := make([]*Conn, len(g.pollers))
			for i := range conns {
				c, err := d.DialContext(context.Background(), "tcp", addr)
				if err != nil {
					t.Fatalf("dial %d of %d: %v", i+1, len(conns), err)
				}
				defer c.Close()
				conns[i] = c
			}
			_, err = d.DialContext(context.Background(), "tcp", addr)
			var oe *net.OpError
			if !errors.Is(err, ErrTooManyConns) || !errors.As(err, &oe) || oe.Op != "dial" {
				t.Fatalf("dial past the limit = %v, want a dial OpError wrapping ErrTooManyConns", err)
			}
			for i, c := range conns {
				if err := echoByte(c); err != nil {
					t.Fatalf("connection %d after the refused dial: %v", i+1, err)
				}
			}
		})
	}
}
