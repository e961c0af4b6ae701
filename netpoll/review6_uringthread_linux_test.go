package netpoll

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// onDyingThread runs f on a goroutine locked to its thread and never
// unlocked, so that the thread exits with the goroutine, and waits for
// it. io_uring ends the requests a thread submitted (-ECANCELED) at
// their next wake-up once the thread has exited.
func onDyingThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
	}()
	<-done
	time.Sleep(50 * time.Millisecond) // the thread is gone
}

// TestUringPollOfExitedThread: a poll request armed by a goroutine
// other than the poller (a Flush that met a full socket arms EPOLLOUT;
// a ResumeAccept arms the listener) belongs to that goroutine's thread,
// and io_uring ends it with -ECANCELED at its next wake-up once that
// thread has exited, as a goroutine locked to its thread does when it
// returns. complete took every such completion for a cancellation of
// its own and dropped it: the connection, or the listener, never heard
// of its socket again (epoll has no such tie to a thread).
func TestUringPollOfExitedThread(t *testing.T) {
	needUring(t)
	const size = 8 << 20
	big := bytes.Repeat([]byte("z"), size)
	// The handler answers "go" with size bytes written by a goroutine on
	// a thread that exits while the socket is full.
	h := func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		if string(b) != "go" {
			w := c.Writer()
			w.WriteBinary(b)
			r.Release()
			return w.Flush()
		}
		r.Release()
		go onDyingThread(func() {
			w := c.Writer()
			w.WriteBinary(big)
			w.Flush()
		})
		return nil
	}
	for _, trig := range []Trigger{LevelTriggered, OneShot} {
		t.Run("output/"+trig.String(), func(t *testing.T) {
			s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(trig), WithMaxOutput(16<<20), WithPollers(1))
			c := dialTCP(t, addr)
			if _, err := c.Write([]byte("go")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // the socket is full, the writer's thread gone
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := io.CopyN(io.Discard, c, size); err != nil {
				t.Fatalf("read %d of %d bytes: %v (%+v)", n, size, err, s.Stats().PollerStats)
			}
		})
	}
	t.Run("accept", func(t *testing.T) {
		t.Setenv(uringAcceptEnv, "1") // the listener's multishot accept
		s, addr := startServer(t, h, WithBackend(BackendUring), WithPollers(1))
		echo := func(what string) {
			t.Helper()
			c := dialTCP(t, addr)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			var b [2]byte
			if _, err := io.ReadFull(c, b[:]); err != nil {
				t.Fatalf("%s: %v (%+v)", what, err, s.Stats().PollerStats)
			}
			c.Close()
		}
		echo("before the pause")
		s.PauseAccept()
		held := dialTCP(t, addr) // disarms the listener
		if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().AcceptPauses > 0 }) {
			t.Fatal("the listener did not pause")
		}
		time.Sleep(50 * time.Millisecond) // the paused accept's cancel completes
		onDyingThread(s.ResumeAccept)     // arms the accept on that thread
		held.SetDeadline(time.Now().Add(5 * time.Second))
		held.Write([]byte("hi"))
		var b [2]byte
		if _, err := io.ReadFull(held, b[:]); err != nil {
			t.Fatalf("the connection held by the pause: %v", err)
		}
		echo("after the resume, its thread gone")
	})
}
