package nethttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestParkDeadConnLeavesSocket keeps the conn that srv served a first
// request on (from ConnContext), lets it park, then calls a method that
// acts on the socket through it, as code that kept the conn may after
// srv closed it. The conn is dead: the call fails with net.ErrClosed,
// and the next request on the same client connection, served by a new
// conn on the same socket, is answered normally and ends with a clean
// close.
func TestParkDeadConnLeavesSocket(t *testing.T) {
	cases := []struct {
		name  string
		call  func(t *testing.T, c *conn) error
		pause time.Duration // before the next request
	}{
		{"CloseWrite", func(_ *testing.T, c *conn) error { return c.CloseWrite() }, 0},
		{"CloseRead", func(_ *testing.T, c *conn) error { return c.CloseRead() }, 0},
		{"SetLinger(0)", func(t *testing.T, c *conn) error { return c.SetLinger(0) }, 0},
		{"SetIdleTimeout(1ms)", func(t *testing.T, c *conn) error { return c.SetIdleTimeout(time.Millisecond) }, 50 * time.Millisecond},
		{"NotifyInput(nil)", func(t *testing.T, c *conn) error {
			c.NotifyInput(nil)
			return net.ErrClosed
		}, 0},
		{"NotifyInput(f)", func(t *testing.T, c *conn) error {
			c.NotifyInput(func(*netpoll.Conn) { t.Error("NotifyInput's f ran for a dead conn") })
			return net.ErrClosed
		}, 0},
		{"ReadFrom(file)", func(t *testing.T, c *conn) error {
			f := shapeFile(1000)
			defer f.Close()
			n, err := c.ReadFrom(f)
			if n != 0 {
				t.Errorf("ReadFrom on the parked conn sent %d bytes", n)
			}
			return err
		}, 0},
		{"ReadFrom(socket)", func(t *testing.T, c *conn) error {
			// Nothing is taken from the source: its bytes are still
			// there for a caller that goes on with another conn.
			src := socketSource(1000, true)
			defer src.Close()
			n, err := c.ReadFrom(src)
			if n != 0 {
				t.Errorf("ReadFrom on the parked conn sent %d bytes", n)
			}
			src.SetReadDeadline(time.Now().Add(5 * time.Second))
			if rest, rerr := io.ReadAll(src); len(rest) != 1000 || rerr != nil {
				t.Errorf("the source after ReadFrom on the parked conn holds %d bytes (%v), want 1000", len(rest), rerr)
			}
			return err
		}, 0},
		{"WriteTo", func(t *testing.T, c *conn) error {
			// It must fail at once, not wait for the socket's next
			// request, which belongs to the conn that will serve it.
			var got bytes.Buffer
			done := make(chan error, 1)
			go func() {
				_, err := c.WriteTo(&got)
				done <- err
			}()
			select {
			case err := <-done:
				if got.Len() > 0 {
					t.Errorf("WriteTo on the parked conn took %q", got.String())
				}
				return err
			case <-time.After(2 * time.Second):
				return errors.New("WriteTo on the parked conn still waits after 2s")
			}
		}, 0},
		{"SyscallConn.Control", func(t *testing.T, c *conn) error {
			rc, err := c.SyscallConn()
			if err != nil {
				return err
			}
			return rc.Control(func(uintptr) { t.Error("Control ran f for a dead conn") })
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var conns []net.Conn
			e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), func(s *http.Server) {
				s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					return ctx
				}
			})
			c, br := e.raw()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if got := roundTrip(t, c, br, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"); got != "hello /1" {
				t.Fatalf("first: %q", got)
			}
			waitParked(t, e, 1)
			mu.Lock()
			dead := conns[0].(*conn)
			mu.Unlock()
			if err := tc.call(t, dead); !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s on the parked conn: %v, want net.ErrClosed", tc.name, err)
			}
			if dead.IsActive() {
				t.Errorf("IsActive on the parked conn: true")
			}
			time.Sleep(tc.pause)
			if _, err := io.WriteString(c, "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatalf("second request: %v", err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("second response: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello /2" || err != nil {
				t.Fatalf("second response: %q, %v", body, err)
			}
			if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
				t.Errorf("after the response: %q, %v; want a clean EOF", rest, err)
			}
			if strings.Contains(e.log.String(), "panic") {
				t.Errorf("server log: %s", e.log)
			}
		})
	}
}

// TestParkCloseDuringSocketCall: srv's Close that would park a conn
// closes the socket instead while a call on it is in flight (one that
// began before the park could act on the socket after it), and parks it
// otherwise.
func TestParkCloseDuringSocketCall(t *testing.T) {
	for _, inFlight := range []bool{false, true} {
		ln, err := Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ac, peer := revAccept(t, ln)
		ln.Close()
		c := ac.(*conn)
		t.Cleanup(func() { c.Conn.Close() })
		lt := &lot{parked: make(map[*netpoll.Conn]bool), active: make(map[*conn]struct{})}
		c.pk = &parking{lot: lt}
		c.pk.state.Store(psEOF) // srv's idle Read returned io.EOF
		if inFlight && !c.pk.enter() {
			t.Fatal("enter on a live conn: false")
		}
		if err := c.Close(); err != nil {
			t.Fatalf("in flight %v: Close: %v", inFlight, err)
		}
		if inFlight {
			c.pk.exit()
		}
		wantParked, wantState := 1, psParked
		if inFlight {
			wantParked, wantState = 0, psClosed
		}
		if n, st := len(lt.parked), c.pk.state.Load(); n != wantParked || st != wantState {
			t.Errorf("in flight %v: %d parked, state %d; want %d, %d", inFlight, n, st, wantParked, wantState)
		}
		// A closed socket ends the peer's stream; a parked one stays open.
		peer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = peer.Read(make([]byte, 1))
		if closed := err == io.EOF; closed != inFlight {
			t.Errorf("in flight %v: the peer's Read: %v", inFlight, err)
		}
	}
}
