package nethttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAsGoParkIdleThen runs requests that come after an idle period long
// enough to park (linger 10 ms) against Go's listener.
func TestAsGoParkIdleThen(t *testing.T) {
	type sc struct {
		name string
		next func(c net.Conn)
		n    int // responses to read
	}
	scenarios := []sc{
		{"requestThenCloseWrite", func(c net.Conn) {
			io.WriteString(c, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
			c.(*net.TCPConn).CloseWrite()
		}, 1},
		{"twoPipelined", func(c net.Conn) {
			io.WriteString(c, "GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
		}, 2},
		{"splitAroundLinger", func(c net.Conn) {
			io.WriteString(c, "GE")
			time.Sleep(100 * time.Millisecond)
			io.WriteString(c, "T /b HTTP/1.1\r\nHost: x\r\n\r\n")
		}, 1},
		{"expectContinue", func(c net.Conn) {
			io.WriteString(c, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, "abc")
		}, 1},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			revCompareOn(t, revHTTPStacks(), func(t *testing.T, st revStack) []string {
				_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					fmt.Fprintf(w, "%s %s", r.URL.Path, b)
				}), func(s *http.Server) { s.ReadHeaderTimeout = 2 * time.Second })
				c, br := revRaw(t, ln)
				io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
				var out []string
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return []string{errDesc(err)}
				}
				b, _ := io.ReadAll(resp.Body)
				out = append(out, string(b))
				time.Sleep(150 * time.Millisecond)
				s.next(c)
				for range s.n {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						return append(out, errDesc(err))
					}
					b, _ := io.ReadAll(resp.Body)
					out = append(out, resp.Status, string(b))
				}
				return out
			})
		})
	}
}
