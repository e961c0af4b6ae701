package rpcload

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRunBothImpls runs a short load on each implementation pair in
// this process: calls complete, every answer matches, and mark is
// called once at each end of the window.
func TestRunBothImpls(t *testing.T) {
	for _, impl := range []string{"upoll", "std"} {
		t.Run(impl, func(t *testing.T) {
			s, err := Start(impl, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if (s.Poll != nil) != (impl == "upoll") {
				t.Fatalf("%s server: Poll %v", impl, s.Poll)
			}
			cl, err := Dial(impl, s.Addr.String(), 8)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var marks []int
			r, err := Run(cl, Load{Conns: 8, Inflight: 4, Size: 64, Warmup: 100 * time.Millisecond, Window: 500 * time.Millisecond},
				func(i int) { marks = append(marks, i) })
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.Calls == 0 || r.VerifiedBytes < 64*r.Calls || r.Hist.Quantile(0.99) < r.Hist.Quantile(0.5) ||
				len(marks) != 2 || marks[0] != 0 || marks[1] != 1 {
				t.Fatalf("tally %+v, marks %v", r, marks)
			}
			if s.Poll != nil && s.Poll.Stats().HandlerRuns == 0 {
				t.Fatal("upoll server: no handler run counted")
			}
		})
	}
}

// TestRunCountsWrongAnswers: against a server that flips one byte of
// every 50th answer, Run counts each such call as an error and names it,
// for both clients; the right answers still count.
func TestRunCountsWrongAnswers(t *testing.T) {
	for _, impl := range []string{"upoll", "std"} {
		t.Run(impl, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go serveCorrupting(c, 50)
				}
			}()
			cl, err := Dial(impl, l.Addr().String(), 2)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			r, err := Run(cl, Load{Conns: 2, Inflight: 2, Size: 32, Warmup: 50 * time.Millisecond, Window: 300 * time.Millisecond}, func(int) {})
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors == 0 || !strings.Contains(r.FirstError, errWrongAnswer.Error()) || r.Calls == 0 {
				t.Fatalf("corrupted answers not counted: %+v", r)
			}
		})
	}
}

// serveCorrupting answers requests on c like the std server, but flips
// the last byte of every nth answer.
func serveCorrupting(c net.Conn, nth int) {
	defer c.Close()
	var head [reqHead]byte
	for k := 1; ; k++ {
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[:])
		m, err := checkRequest(n, head[hdrLen:])
		if err != nil {
			return
		}
		req := make([]byte, hdrLen+int(n))
		copy(req, head[:])
		if _, err := io.ReadFull(c, req[reqHead:]); err != nil {
			return
		}
		out := make([]byte, hdrLen+m)
		putResponse(out, req)
		if k%nth == 0 && len(out) > hdrLen+idLen {
			out[len(out)-1] ^= 0xff
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// TestServersRejectBadFrames: both servers close a connection that
// sends a request without the tag.
func TestServersRejectBadFrames(t *testing.T) {
	for _, impl := range []string{"upoll", "std"} {
		s, err := Start(impl, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", s.Addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		bad := binary.BigEndian.AppendUint32(nil, 8)
		bad = append(bad, "e1234567"...)
		c.Write(bad)
		n, err := c.Read(make([]byte, 16))
		c.Close()
		var ne net.Error
		if n != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: answered an untagged request: n=%d err=%v", impl, n, err)
		}
	}
}

// TestClientsFailOnServerClose: calls waiting when the server goes away
// fail instead of hanging.
func TestClientsFailOnServerClose(t *testing.T) {
	for _, impl := range []string{"upoll", "std"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		cl, err := Dial(impl, l.Addr().String(), 1)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := cl.Call(0, []byte("x"))
			errc <- err
		}()
		select {
		case c := <-accepted:
			time.Sleep(50 * time.Millisecond)
			c.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("no connection")
		}
		select {
		case err := <-errc:
			if err == nil {
				t.Fatalf("%s: call answered by a server that never answers", impl)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: call still waiting after the server closed", impl)
		}
		cl.Close()
		l.Close()
	}
}
