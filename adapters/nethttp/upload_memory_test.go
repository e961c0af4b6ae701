package nethttp

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// The stalled-uploads test runs the http.Server, on this adapter or on
// Go's net, in a child process of its own so that the child's RSS is the
// server's alone.
const (
	uploadChildEnv = "UPOLL_UPLOAD_CHILD" // "upoll" or "std": TestUploadChild serves it
	uploadAddr     = "uaddr "
	uploadStats    = "ustats "
)

// TestUploadChild is the server of TestStalledUploadsMemory; it does
// nothing in a normal run. Its handler waits for "go" on stdin before it
// reads the body, then answers with the body's CRC.
func TestUploadChild(t *testing.T) {
	role := os.Getenv(uploadChildEnv)
	if role == "" {
		t.Skip(uploadChildEnv + " unset: only TestStalledUploadsMemory runs this, as its server process")
	}
	var ln net.Listener
	var err error
	if role == "upoll" {
		ln, err = Listen("tcp", "127.0.0.1:0")
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var waiting, done atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		waiting.Add(1)
		<-gate
		h := crc32.NewIEEE()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		done.Add(1)
		fmt.Fprintf(w, "%d %08x", n, h.Sum32())
	})}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Printf("%s%s\n", uploadAddr, ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "go":
			close(gate)
		case "stats":
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("%swaiting=%d done=%d goroutines=%d heap=%d\n", uploadStats,
				waiting.Load(), done.Load(), runtime.NumGoroutine(), ms.HeapInuse)
		}
	}
}

// uploadChild is a running TestUploadChild.
type uploadChild struct {
	*testutil.Child
	addr string
}

func startUploadChild(t *testing.T, role string) *uploadChild {
	t.Helper()
	c := testutil.StartChild(t, "^TestUploadChild$", uploadChildEnv+"="+role)
	return &uploadChild{Child: c, addr: c.Expect(t, uploadAddr, 60*time.Second)}
}

// stats asks the child for its counters ("k=v k=v ...").
func (u *uploadChild) stats(t *testing.T) map[string]int64 {
	t.Helper()
	u.Send(t, "stats")
	m := map[string]int64{}
	for _, f := range strings.Fields(u.Expect(t, uploadStats, 60*time.Second)) {
		k, v, _ := strings.Cut(f, "=")
		m[k], _ = strconv.ParseInt(v, 10, 64)
	}
	return m
}

// stalledUploads posts n bodies of size bytes to the child, whose
// handlers wait before reading them; it returns the child's RSS growth
// while they wait, then lets the handlers read and checks every body's
// CRC.
func stalledUploads(t *testing.T, role string, n, size int) int64 {
	u := startUploadChild(t, role)
	rss0 := u.RSS(t)
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*31 + i>>9)
	}
	tr := &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 120 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			b := bytes.Clone(body)
			copy(b, fmt.Sprintf("upload %d ", i))
			want := fmt.Sprintf("%d %08x", len(b), crc32.ChecksumIEEE(b))
			resp, err := client.Post("http://"+u.addr+"/", "application/octet-stream", bytes.NewReader(b))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				errs <- err
				return
			}
			if string(got) != want {
				errs <- fmt.Errorf("upload %d: server read %q, want %q", i, got, want)
			}
		})
	}
	var st map[string]int64
	deadline := time.Now().Add(60 * time.Second)
	for {
		st = u.stats(t)
		if st["waiting"] == int64(n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st["waiting"] != int64(n) {
		t.Fatalf("%s: only %d of %d handlers started", role, st["waiting"], n)
	}
	time.Sleep(500 * time.Millisecond) // the clients push what the kernel takes
	growth := u.RSS(t) - rss0
	t.Logf("%s: %d stalled uploads of %d KiB: RSS %d MiB %+d MiB; %v", role, n, size>>10, rss0>>20, growth>>20, st)
	u.Send(t, "go")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return growth
}

// TestStalledUploadsMemory: uploads to an http.Server whose handler has
// not read the body yet grow the server's RSS on this adapter by at most
// twice what they grow it on net.Listen, since the adapter reads ahead
// only a few KiB per connection (netpoll.DefaultReadAhead); every body
// is then read whole. 1,000 uploads; 200 with -short or -race.
func TestStalledUploadsMemory(t *testing.T) {
	n := 1000
	if testing.Short() || raceBuild {
		n = 200 // under -race RSS is not compared, see below
	}
	const size = 512 << 10
	std := stalledUploads(t, "std", n, size)
	up := stalledUploads(t, "upoll", n, size)
	t.Logf("RSS growth with %d stalled uploads: upoll %d MiB, std %d MiB (%.2fx)",
		n, up>>20, std>>20, float64(up)/float64(max(std, 1)))
	// 4 MiB of slack: RSS moves by a few MiB between samples anyway.
	if raceBuild {
		t.Log("race build: RSS growth not compared (the detector's shadow memory dominates it)")
	} else if up > 2*std+4<<20 {
		t.Errorf("upoll grew %d MiB, more than twice std's %d MiB", up>>20, std>>20)
	}
}
