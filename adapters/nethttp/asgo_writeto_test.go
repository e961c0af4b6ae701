package nethttp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// failingWriter takes n bytes, then fails with errSink.
type failingWriter struct{ n int }

var errSink = errors.New("sink failed")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	k := w.n
	w.n = 0
	return k, errSink
}

// shortWriter takes half of what it is given and says nothing.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// writeToScenarios are WriteTos on c, whose peer is peer, each returning
// the shape of what it got.
var writeToScenarios = []asGoScenario{
	{"to the end", func(c, peer net.Conn) string {
		peer.Write([]byte("hello"))
		peer.(interface{ CloseWrite() error }).CloseWrite()
		var b bytes.Buffer
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.(io.WriterTo).WriteTo(&b)
		return readFromShape(c, n, err) + " " + b.String()
	}},
	{"writer fails", func(c, peer net.Conn) string {
		peer.Write(make([]byte, 100)) // one segment: one read on every conn
		n, err := c.(io.WriterTo).WriteTo(&failingWriter{n: 10})
		return readFromShape(c, n, err)
	}},
	{"short writer", func(c, peer net.Conn) string {
		peer.Write(make([]byte, 100)) // one segment: one read on every conn
		n, err := c.(io.WriterTo).WriteTo(shortWriter{})
		return readFromShape(c, n, err)
	}},
	{"read deadline passed", func(c, peer net.Conn) string {
		c.SetReadDeadline(time.Now().Add(-time.Second))
		defer c.SetReadDeadline(time.Time{})
		n, err := c.(io.WriterTo).WriteTo(io.Discard)
		return readFromShape(c, n, err)
	}},
	{"closed", func(c, peer net.Conn) string {
		c.Close()
		n, err := c.(io.WriterTo).WriteTo(io.Discard)
		return readFromShape(c, n, err)
	}},
}

// TestAsGoWriteToErrors: the adapter's WriteTo (io.Copy from a conn)
// counts and fails as *net.TCPConn's: a "writeto" *net.OpError around
// the read's error or the writer's.
func TestAsGoWriteToErrors(t *testing.T) {
	compareAsGo(t, "tcp", writeToScenarios)
}
