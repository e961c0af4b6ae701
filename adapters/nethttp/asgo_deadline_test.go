package nethttp

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAsGoFarFutureDeadline: a deadline far in the future (past the year
// 2262, where time.Time.UnixNano overflows) means "not yet" on Go's
// connections. time.Now().Add(math.MaxInt64) is a common way to write
// "no deadline for practical purposes".
func TestAsGoFarFutureDeadline(t *testing.T) {
	far := []time.Time{
		time.Now().Add(time.Duration(math.MaxInt64)),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	revCompare(t, func(t *testing.T, st revStack) []string {
		var out []string
		for _, dl := range far {
			c, peer := revPair(t, st)
			for _, set := range []func(net.Conn, time.Time) error{
				net.Conn.SetDeadline, net.Conn.SetReadDeadline,
			} {
				set(c, dl)
				go func() {
					time.Sleep(100 * time.Millisecond)
					peer.Write([]byte("x"))
				}()
				n, err := c.Read(make([]byte, 1))
				out = append(out, fmt.Sprintf("read %v: %d %s", dl.Year(), n, errDesc(err)))
			}
			c.SetWriteDeadline(dl)
			n, err := c.Write([]byte("y"))
			out = append(out, fmt.Sprintf("write %v: %d %s", dl.Year(), n, errDesc(err)))
		}
		return out
	})
}

// TestAsGoFarFutureServerTimeout: the same through http.Server: a
// ReadTimeout of math.MaxInt64 ("never") makes net/http set a read
// deadline in the year 2318; on Go's listener requests are served.
func TestAsGoFarFutureServerTimeout(t *testing.T) {
	revCompareOn(t, revHTTPStacks(), func(t *testing.T, st revStack) []string {
		_, ln := revServe(t, st, http.HandlerFunc(hello), func(s *http.Server) {
			s.ReadTimeout = time.Duration(math.MaxInt64)
		})
		c, br := revRaw(t, ln)
		io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return []string{errDesc(err)}
		}
		b, err := io.ReadAll(resp.Body)
		return []string{resp.Status, string(b), errDesc(err)}
	})
}

// TestAsGoParkFarIdleTimeout: an idle timeout so long that net/http's
// idle read deadline (time.Now().Add(IdleTimeout)) lies past 2262 keeps
// the connection open between requests, parked or not, as on Go's
// listener. The parking listener once kept that deadline as UnixNano,
// which wraps negative there, and closed the connection as timed out
// when it parked it.
func TestAsGoParkFarIdleTimeout(t *testing.T) {
	revCompareOn(t, revHTTPStacks(), func(t *testing.T, st revStack) []string {
		_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}), func(s *http.Server) { s.IdleTimeout = time.Duration(math.MaxInt64) })
		c, br := revRaw(t, ln)
		var out []string
		for i, path := range []string{"/a", "/b"} {
			if i > 0 {
				time.Sleep(100 * time.Millisecond) // past the 10 ms linger: parked
			}
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return append(out, errDesc(err))
			}
			b, _ := io.ReadAll(resp.Body)
			out = append(out, string(b))
		}
		return out
	})
}
