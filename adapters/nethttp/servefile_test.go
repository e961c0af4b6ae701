package nethttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/upoll/upoll/netpoll"
)

// TestServeFile: http.FileServer's bodies (whole, a range, HEAD) arrive
// intact on every stack. net/http hands a file body to the conn's
// ReadFrom, which on the epoll and io_uring backends sends it with
// sendfile: the server's Stats count the calls.
func TestServeFile(t *testing.T) {
	const size = 2<<20 + 333
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		e := newHTTPEnv(t, st, http.FileServer(http.Dir(dir)), nil)
		fetch := func(method, rng string) (*http.Response, []byte) {
			req, _ := http.NewRequest(method, e.url+"/f.bin", nil)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%s %s: reading the body: %v", method, rng, err)
			}
			return resp, body
		}
		for i := range 3 { // the same connection, kept alive
			resp, body := fetch("GET", "")
			if resp.StatusCode != 200 || !bytes.Equal(body, data) {
				t.Fatalf("GET %d: status %d, %d bytes; want 200 and the file's %d", i, resp.StatusCode, len(body), size)
			}
		}
		resp, body := fetch("GET", "bytes=1000-500999")
		if resp.StatusCode != 206 || !bytes.Equal(body, data[1000:501000]) {
			t.Fatalf("GET range: status %d, %d bytes; want 206 and 500000", resp.StatusCode, len(body))
		}
		resp, body = fetch("HEAD", "")
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != size {
			t.Fatalf("HEAD: status %d, %d body bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
		}
		srv := Server(e.ln)
		if srv == nil {
			return // Go's listener
		}
		st2 := srv.Stats()
		native := srv.Config().Backend != netpoll.BackendStd
		if got := st2.Sendfiles > 0; got != native {
			t.Errorf("backend %v: Sendfiles = %d after serving %s", srv.Config().Backend, st2.Sendfiles, fmt.Sprint(3*size+500000, " bytes of files"))
		}
	})
}
