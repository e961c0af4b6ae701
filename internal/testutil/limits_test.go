package testutil

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestSelfCPU(t *testing.T) {
	before, err := SelfCPU()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the clock moves, for at most 5 s of wall time.
	var after time.Duration
	ok := WaitFor(5*time.Second, func() bool {
		for x, end := 0, time.Now().Add(20*time.Millisecond); time.Now().Before(end); x++ {
		}
		after, err = SelfCPU()
		return err == nil && after > before
	})
	if !ok {
		t.Fatalf("SelfCPU did not move while spinning: %v -> %v, %v", before, after, err)
	}
}

func TestNofileLimit(t *testing.T) {
	soft, hard, err := NofileLimit()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if soft == 0 || soft > hard {
		t.Fatalf("NofileLimit = %d, %d", soft, hard)
	}
	if err := SetNofileLimit(soft-1, hard); err != nil {
		t.Fatal(err)
	}
	s, h, err := NofileLimit()
	if restore := SetNofileLimit(soft, hard); restore != nil {
		t.Errorf("restore: %v", restore)
	}
	if err != nil || s != soft-1 || h != hard {
		t.Fatalf("after SetNofileLimit(%d, %d): NofileLimit = %d, %d, %v", soft-1, hard, s, h, err)
	}
}

func TestSetReceiveBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	called := false
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		called = true
		return SetReceiveBuffer(rc, 4<<10)
	}}
	c, err := d.Dial("tcp", ln.Addr().String())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !called {
		t.Fatal("the dialer's Control was not called")
	}
	if n, err := receiveBuffer(c.(*net.TCPConn)); err != nil {
		t.Logf("SO_RCVBUF not read back: %v", err)
	} else if n >= 64<<10 {
		t.Fatalf("SO_RCVBUF = %d after SetReceiveBuffer(4 KiB)", n)
	}
}
