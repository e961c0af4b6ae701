package nethttp

import (
	"net"
	"testing"
	"time"
)

// The listener's SetDeadline behaves as *net.TCPListener's, on every
// backend: a deadline that has passed fails Accept at once (even with a
// connection waiting), one set while Accept blocks ends it, a zero
// deadline clears it, and after Close SetDeadline fails.
func TestAsGoListenerSetDeadline(t *testing.T) {
	revCompare(t, func(t *testing.T, st revStack) []string {
		ln, err := st.listen()
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		dl, ok := ln.(interface{ SetDeadline(time.Time) error })
		if !ok {
			return []string{"no SetDeadline"}
		}
		var got []string
		accept := func() (net.Conn, time.Duration, error) {
			start := time.Now()
			c, err := ln.Accept()
			return c, time.Since(start), err
		}
		// Passed, with a connection waiting.
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		time.Sleep(50 * time.Millisecond)
		got = append(got, errDesc(dl.SetDeadline(time.Now().Add(-time.Second))))
		_, d, err := accept()
		got = append(got, "past: "+errDesc(err)+" "+within(d, 0, time.Second))
		// Cleared: the waiting connection is accepted.
		dl.SetDeadline(time.Time{})
		c, _, err := accept()
		got = append(got, "cleared: "+errDesc(err))
		if c != nil {
			c.Close()
		}
		// Set while Accept blocks.
		go func() {
			time.Sleep(50 * time.Millisecond)
			dl.SetDeadline(time.Now().Add(50 * time.Millisecond))
		}()
		_, d, err = accept()
		got = append(got, "moved: "+errDesc(err)+" "+within(d, 80*time.Millisecond, 3*time.Second))
		ln.Close()
		got = append(got, "closed: "+errDesc(dl.SetDeadline(time.Now())))
		return got
	})
}
