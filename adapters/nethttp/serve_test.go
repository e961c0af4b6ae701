package nethttp

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/upoll/upoll/internal/testutil"
)

// TestListenAndServeErrors checks the failure paths of the helpers: a bad
// address is reported, and a missing key pair is reported after the
// listener was opened, which must then be closed again (checkLeaks).
func TestListenAndServeErrors(t *testing.T) {
	testutil.CheckLeaks(t)
	if err := ListenAndServe("127.0.0.1:-1", http.NotFoundHandler()); err == nil {
		t.Error("ListenAndServe on port -1 succeeded")
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	err := ListenAndServeTLS("127.0.0.1:0", missing, missing, http.NotFoundHandler())
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ListenAndServeTLS with no key pair = %v, want os.ErrNotExist", err)
	}
}

func TestListenAddr(t *testing.T) {
	for _, c := range []struct{ in, def, want string }{
		{"", ":http", ":http"},
		{"", ":https", ":https"},
		{"127.0.0.1:80", ":http", "127.0.0.1:80"},
	} {
		if got := listenAddr(c.in, c.def); got != c.want {
			t.Errorf("listenAddr(%q, %q) = %q, want %q", c.in, c.def, got, c.want)
		}
	}
}
