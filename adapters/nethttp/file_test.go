package nethttp

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// fileConn is what code written for Go's *net.TCPConn type-asserts to
// take the socket's descriptor (to hand it to a child process, say).
type fileConn interface {
	File() (*os.File, error)
	MultipathTCP() (bool, error)
}

var (
	_ fileConn = (*net.TCPConn)(nil)
	_ fileConn = (*conn)(nil)
)

type connKey struct{}

// TestConnFileAsGo: a handler finds File and MultipathTCP on the conn of
// its request, as on Go's, and File gives a working duplicate of the
// socket: what the handler writes through it reaches the client ahead
// of the response. With parking on, a conn whose File was taken does not
// park (the socket is then the File's too, and a parked one would be
// read by the listener), while one without does.
func TestConnFileAsGo(t *testing.T) {
	for _, st := range httpStacks() {
		t.Run(st.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fc, ok := r.Context().Value(connKey{}).(fileConn)
				if !ok {
					http.Error(w, "the conn has no File or MultipathTCP", http.StatusInternalServerError)
					return
				}
				if m, err := fc.MultipathTCP(); m || err != nil {
					http.Error(w, "MultipathTCP on plain TCP", http.StatusInternalServerError)
					return
				}
				if r.URL.Path == "/file" {
					f, err := fc.File()
					if err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
						return
					}
					_, err = f.Write([]byte("F"))
					f.Close()
					if err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
						return
					}
				}
				io.WriteString(w, "ok")
			})
			e := newHTTPEnv(t, st, h, func(s *http.Server) {
				s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
					return context.WithValue(ctx, connKey{}, c)
				}
			})
			withFile, brf := e.raw()
			without, br := e.raw()
			withFile.SetDeadline(time.Now().Add(testDeadline))
			without.SetDeadline(time.Now().Add(testDeadline))
			if _, err := io.WriteString(withFile, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if b, err := brf.ReadByte(); err != nil || b != 'F' {
				t.Fatalf("the File's byte: %q, %v", b, err)
			}
			resp, err := http.ReadResponse(brf, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "ok" {
				t.Fatalf("/file: %s %q", resp.Status, body)
			}
			if got := roundTrip(t, without, br, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"); got != "ok" {
				t.Fatalf("/plain: %q", got)
			}
			if st.park {
				waitParked(t, e, 1)
				time.Sleep(10 * testLinger)
				if ps := e.parking(); ps.Parked != 1 || ps.Parks != 1 {
					t.Errorf("parking %+v: want only the conn without a File parked", ps)
				}
			}
			if got := roundTrip(t, withFile, brf, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"); got != "ok" {
				t.Fatalf("second request on the conn with a File: %q", got)
			}
			if got := roundTrip(t, without, br, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"); got != "ok" {
				t.Fatalf("second request on the conn without: %q", got)
			}
		})
	}
}
