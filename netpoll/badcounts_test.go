package netpoll

import (
	"math"
	"testing"
	"time"
)

// TestReviewBadCountsEveryBackend runs bad counts through every Reader
// and Writer method, and extreme values through Conn's socket option
// setters, on every backend (TestReaderWriterBadCounts covers the
// default one): each count must be an error, no call may panic, and the
// buffered input must be intact afterwards.
func TestReviewBadCountsEveryBackend(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			sc, cl := acceptPair(t, WithBackend(b))
			if _, err := cl.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			r, w := sc.Reader(), sc.Writer()
			if _, err := r.Peek(5); err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func() error{
				"Next(-1)":               func() error { _, err := r.Next(-1); return err },
				"Next(MinInt)":           func() error { _, err := r.Next(math.MinInt); return err },
				"Next(MaxInt)":           func() error { _, err := r.Next(math.MaxInt); return err },
				"Peek(-1)":               func() error { _, err := r.Peek(-1); return err },
				"Peek(MaxInt)":           func() error { _, err := r.Peek(math.MaxInt); return err },
				"Skip(-1)":               func() error { return r.Skip(-1) },
				"Skip(MaxInt)":           func() error { return r.Skip(math.MaxInt) },
				"ReadBinary(-1)":         func() error { _, err := r.ReadBinary(-1); return err },
				"ReadBinary(MaxInt)":     func() error { _, err := r.ReadBinary(math.MaxInt); return err },
				"ReadString(-1)":         func() error { _, err := r.ReadString(-1); return err },
				"ReadString(MaxInt32+1)": func() error { _, err := r.ReadString(min(math.MaxInt32+1, math.MaxInt)); return err },
				"Slice(-1)":              func() error { _, err := r.Slice(-1); return err },
				"Slice(MaxInt)":          func() error { _, err := r.Slice(math.MaxInt); return err },
				"Malloc(-1)":             func() error { _, err := w.Malloc(-1); return err },
				"Malloc(MaxInt)":         func() error { _, err := w.Malloc(math.MaxInt); return err },
				"Malloc(MinInt)":         func() error { _, err := w.Malloc(math.MinInt); return err },
				"MallocAck(-1)":          func() error { return w.MallocAck(-1) },
				"MallocAck(MaxInt)":      func() error { return w.MallocAck(math.MaxInt) },
				"MallocAck(MinInt)":      func() error { return w.MallocAck(math.MinInt) },
			} {
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("%s panicked: %v", name, p)
						}
					}()
					if err := f(); err == nil {
						t.Errorf("%s: no error", name)
					}
				}()
			}
			for name, f := range map[string]func() error{
				"SetReadBuffer(-1)":       func() error { return sc.SetReadBuffer(-1) },
				"SetWriteBuffer(MaxInt)":  func() error { return sc.SetWriteBuffer(math.MaxInt) },
				"SetLinger(-7)":           func() error { return sc.SetLinger(-7) },
				"SetLinger(MaxInt)":       func() error { return sc.SetLinger(math.MaxInt) },
				"SetKeepAlivePeriod(-1)":  func() error { return sc.SetKeepAlivePeriod(-1) },
				"SetKeepAlivePeriod(Max)": func() error { return sc.SetKeepAlivePeriod(math.MaxInt64) },
				"SetIdleTimeout(MaxInt)":  func() error { return sc.SetIdleTimeout(math.MaxInt64) },
			} {
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("%s panicked: %v", name, p)
						}
					}()
					t.Logf("%s: %v", name, f())
				}()
			}
			sc.SetIdleTimeout(0)
			b, err := r.Next(5)
			if string(b) != "hello" || err != nil {
				t.Fatalf("after the bad calls: Next(5) = %q, %v; want \"hello\"", b, err)
			}
		})
	}
}
