package nethttp

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestTLSHTTP2 serves through tls.NewListener over the stack's listener and
// checks that ALPN picks HTTP/2 and that concurrent streams share one conn.
func TestTLSHTTP2(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		serverTLS, clientTLS := selfSignedTLS(t)
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
		}), func(s *http.Server) {
			s.TLSConfig = serverTLS
			s.Protocols = new(http.Protocols)
			s.Protocols.SetHTTP1(true)
			s.Protocols.SetHTTP2(true)
		})
		e.tr.TLSClientConfig = clientTLS
		// One request first, so the concurrent ones find the HTTP/2 conn
		// instead of each dialing while the protocol is still unknown.
		resp, err := e.client.Get(e.url + "/first")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("ALPN negotiated %s, want HTTP/2", resp.Proto)
		}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := e.client.Get(fmt.Sprintf("%s/s%d", e.url, i))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if resp.ProtoMajor != 2 || err != nil || string(body) != fmt.Sprintf("HTTP/2.0 /s%d", i) {
					t.Errorf("proto %s, body %q, %v; want HTTP/2", resp.Proto, body, err)
				}
			}()
		}
		testutil.WaitGroup(t, &wg, 2*testDeadline, "the HTTP/2 requests")
		if got := e.newConns.Load(); got != 1 {
			t.Errorf("%d TLS conns for 20 HTTP/2 requests, want streams on one conn", got)
		}
		if st.park {
			// Idle for many lingers: a *tls.Conn is never parked.
			time.Sleep(20 * testLinger)
			resp, err := e.client.Get(e.url + "/after-idle")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if ps := e.parking(); ps.Parks != 0 || e.newConns.Load() != 1 {
				t.Errorf("TLS conn parked: %+v, %d conns", ps, e.newConns.Load())
			}
		}
	})
}
