package rpcload

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// TestRunBothImpls runs a short load on each implementation pair in
// this process: calls complete, every answer matches, CPU is measured.
func TestRunBothImpls(t *testing.T) {
	for _, impl := range []string{"upoll", "std"} {
		t.Run(impl, func(t *testing.T) {
			a, err := Start(impl, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cl, err := Dial(impl, a.String(), 8)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			r, err := Run(cl, Load{Conns: 8, Inflight: 4, Size: 64, Warmup: 100 * time.Millisecond, Window: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.Calls == 0 || r.ClientCPUus <= 0 || r.P99us < r.P50us {
				t.Fatalf("result %+v", r)
			}
			t.Logf("%+v", r)
		})
	}
}

// TestServersRejectBadFrames: both servers close a connection that
// sends a request without the tag.
func TestServersRejectBadFrames(t *testing.T) {
	for _, impl := range []string{"upoll", "std"} {
		a, err := Start(impl, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
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
