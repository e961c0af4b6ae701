package netpoll

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestStdReaderDeadlineBehindLoop: under BackendStd, a handler-mode
// connection's loop blocks in the socket's Read holding rmu with no
// deadline. A Read on another goroutine with a read deadline (or the
// read timeout) must still time out at its deadline, as it does on
// epoll. It queued on rmu behind the loop's read and returned only when
// the peer sent something; now it interrupts the loop's read (lockRead).
func TestStdReaderDeadlineBehindLoop(t *testing.T) {
	for _, b := range []Backend{BackendEpoll, BackendStd} {
		for _, mode := range []string{"deadline", "readtimeout"} {
			t.Run(b.String()+"/"+mode, func(t *testing.T) { testStdReaderDeadline(t, b, mode) })
		}
	}
}

func testStdReaderDeadline(t *testing.T, b Backend, mode string) {
	{
		{
			conns := make(chan *Conn, 1)
			opts := []Option{WithBackend(b), WithOnConnect(func(c *Conn) { conns <- c })}
			if mode == "readtimeout" {
				opts = append(opts, WithReadTimeout(200*time.Millisecond))
			}
			_, addr := startServer(t, func(c *Conn) error { return nil }, opts...)
			cl := dialTCP(t, addr)
			sc := recvConn(t, conns)
			// Let the loop reach its read (OnConnect returned, no input).
			time.Sleep(100 * time.Millisecond)
			if mode == "deadline" {
				sc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			}
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := sc.Read(make([]byte, 16))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Read = %v; want a deadline error", err)
				}
				t.Logf("Read timed out after %v", time.Since(start))
			case <-time.After(3 * time.Second):
				// Unblock the loop so the test can end.
				cl.Write([]byte("x"))
				select {
				case err := <-done:
					t.Fatalf("Read with a 200ms deadline still blocked after 3s (returned %v only once the peer wrote)", err)
				case <-time.After(2 * time.Second):
					sc.Close()
					err := <-done
					t.Fatalf("Read with a 200ms deadline still blocked after 3s, and 2s after the peer wrote a byte (returned %v after Close)", err)
				}
			}
		}
	}
}

// TestStdReaderStarvedByLoop: under BackendStd, a Read on another
// goroutine of a handler-mode connection (its handler leaves the input
// alone) must return the bytes the peer sends, as on epoll. The loop
// read them into the buffer, then took rmu again for its next blocking
// read before the woken reader ran: the reader stayed queued on rmu with
// the bytes buffered until more input came. Readers go first now.
func TestStdReaderStarvedByLoop(t *testing.T) {
	for _, b := range []Backend{BackendEpoll, BackendStd} {
		t.Run(b.String(), func(t *testing.T) { testStdReaderStarved(t, b) })
	}
}

func testStdReaderStarved(t *testing.T, b Backend) {
	conns := make(chan *Conn, 1)
	_, addr := startServer(t, func(c *Conn) error { return nil },
		WithBackend(b), WithOnConnect(func(c *Conn) { conns <- c }))
	cl := dialTCP(t, addr)
	sc := recvConn(t, conns)
	time.Sleep(100 * time.Millisecond) // the loop is in its read
	done := make(chan error, 1)
	got := make([]byte, 16)
	go func() {
		_, err := sc.Read(got)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the reader is queued
	cl.Write([]byte("x"))
	select {
	case err := <-done:
		if err != nil || got[0] != 'x' {
			t.Fatalf("Read = %v, %q", err, got[:1])
		}
	case <-time.After(3 * time.Second):
		buffered := sc.Reader().Len()
		sc.Close()
		err := <-done
		t.Fatalf("Read blocked 3s after the peer wrote (%d byte(s) buffered); returned %v after Close", buffered, err)
	}
}
