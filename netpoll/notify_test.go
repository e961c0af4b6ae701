package netpoll

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// notified records the calls of a NotifyInput callback.
type notified struct{ ch chan *Conn }

func newNotified() *notified { return &notified{ch: make(chan *Conn, 4)} }

func (n *notified) f(c *Conn) { n.ch <- c }

// wait reports whether the callback ran within d.
func (n *notified) wait(d time.Duration) bool {
	select {
	case <-n.ch:
		return true
	case <-time.After(d):
		return false
	}
}

// TestNotifyInputArrives: with nothing buffered, the callback runs once
// input arrives, exactly once, and the bytes stay for Read in order.
func TestNotifyInputArrives(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithTrigger(trig))
			n := newNotified()
			c.NotifyInput(n.f)
			if n.wait(50 * time.Millisecond) {
				t.Fatal("callback ran with no input")
			}
			if _, err := cl.Write([]byte("first")); err != nil {
				t.Fatal(err)
			}
			if !n.wait(5 * time.Second) {
				t.Fatal("callback did not run within 5s of input")
			}
			if _, err := cl.Write([]byte("second")); err != nil {
				t.Fatal(err)
			}
			if n.wait(100 * time.Millisecond) {
				t.Fatal("callback ran twice")
			}
			got := make([]byte, 11)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != "firstsecond" {
				t.Fatalf("Read = %q, %v; want \"firstsecond\"", got, err)
			}
		})
	}
}

// TestNotifyInputAlreadyBuffered: input buffered before the call makes
// the callback run at once, on the caller's goroutine.
func TestNotifyInputAlreadyBuffered(t *testing.T) {
	skipStd(t, "input is buffered only when a reader asks")
	c, cl := acceptPair(t)
	if _, err := cl.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Wait until the poller buffered it (Peek-free: look at the length).
	deadline := time.Now().Add(5 * time.Second)
	for c.in.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ran := false
	c.NotifyInput(func(*Conn) { ran = true }) // no race: it runs before NotifyInput returns
	if !ran {
		t.Fatal("callback did not run at once with input buffered")
	}
}

// TestNotifyInputPeerClose: a peer's close and a peer's reset both run
// the callback; Read then sees EOF or the error.
func TestNotifyInputPeerClose(t *testing.T) {
	for _, reset := range []bool{false, true} {
		name := map[bool]string{false: "close", true: "reset"}[reset]
		t.Run(name, func(t *testing.T) {
			c, cl := acceptPair(t)
			n := newNotified()
			c.NotifyInput(n.f)
			if reset {
				cl.SetLinger(0)
			}
			cl.Close()
			if !n.wait(5 * time.Second) {
				t.Fatalf("callback did not run within 5s of a peer %s", name)
			}
			if c.IsActive() {
				t.Fatalf("IsActive after a peer %s", name)
			}
			// Registering again now runs at once: the peer is gone.
			ran := false
			c.NotifyInput(func(*Conn) { ran = true })
			if !ran {
				t.Fatal("callback did not run at once after the peer left")
			}
		})
	}
}

// TestNotifyInputCloseDrops: Close drops a registration, input after it
// calls nothing, and no entry is left behind; a registration on a closed
// Conn is dropped too.
func TestNotifyInputCloseDrops(t *testing.T) {
	c, cl := acceptPair(t)
	n := newNotified()
	before := notifies.n.Load()
	c.NotifyInput(n.f)
	if got := notifies.n.Load(); got != before+1 {
		t.Fatalf("registrations = %d, want %d", got, before+1)
	}
	c.Close()
	if got := notifies.n.Load(); got != before {
		t.Fatalf("registrations after Close = %d, want %d", got, before)
	}
	cl.Write([]byte("late"))
	if n.wait(100 * time.Millisecond) {
		t.Fatal("callback ran after Close")
	}
	c.NotifyInput(n.f)
	if n.wait(50*time.Millisecond) || notifies.n.Load() != before {
		t.Fatal("a registration on a closed Conn ran or stayed")
	}
}

// TestNotifyInputCancel: nil cancels, and a second call replaces the
// first.
func TestNotifyInputCancel(t *testing.T) {
	c, cl := acceptPair(t)
	first, second := newNotified(), newNotified()
	c.NotifyInput(first.f)
	c.NotifyInput(second.f)
	c.NotifyInput(nil)
	c.NotifyInput(second.f)
	cl.Write([]byte("x"))
	if !second.wait(5 * time.Second) {
		t.Fatal("the replacing callback did not run")
	}
	if first.wait(50 * time.Millisecond) {
		t.Fatal("the replaced callback ran")
	}
}

// A panic in a NotifyInput callback closes its connection, as a
// handler's panic does, and the process and the poller go on: another
// connection of the same server still echoes. Before, a callback run
// by the poller crashed the process.
func TestNotifyInputPanicClosesConn(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			cl := dialTCP(t, addr)
			c := recvConn(t, conns)
			c.NotifyInput(func(*Conn) { panic("callback") })
			if _, err := cl.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			cl.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := cl.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("peer read after the callback panicked: %v; want the close (EOF or reset)", err)
			}
			// The poller still serves the server's other connections.
			cl2 := dialTCP(t, addr)
			c2 := recvConn(t, conns)
			if _, err := cl2.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			c2.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, 4)
			if _, err := io.ReadFull(c2, got); err != nil || string(got) != "ping" {
				t.Fatalf("second connection read %q, %v", got, err)
			}
		})
	}
}
