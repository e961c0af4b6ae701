package nethttp

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAsGoHTTPMatrix2(t *testing.T) {
	type sc struct {
		name string
		f    func(t *testing.T, st revStack) []string
	}
	scenarios := []sc{
		{"slowDownloadWriteTimeout", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 64<<10)
				var err error
				n := 0
				for i := 0; i < 1024 && err == nil; i++ {
					_, err = w.Write(chunk)
					n++
				}
				res <- errDesc(err)
			}), func(s *http.Server) { s.WriteTimeout = 400 * time.Millisecond })
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			// A slow reader: 16 KiB every 20 ms.
			var total int64
			buf := make([]byte, 16<<10)
			var rerr error
			stop := time.Now().Add(700 * time.Millisecond)
			for i := 0; i < 200 && rerr == nil && time.Now().Before(stop); i++ {
				var n int
				n, rerr = io.ReadFull(resp.Body, buf)
				total += int64(n)
				time.Sleep(20 * time.Millisecond)
			}
			c.Close()
			return []string{<-res, fmt.Sprint(total < 64<<20)}
		}},
		{"slowUploadReadTimeout", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				res <- fmt.Sprint(n > 0, " ", errDesc(err))
			}), func(s *http.Server) { s.ReadTimeout = 300 * time.Millisecond })
			c, _ := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
			for i := 0; i < 40; i++ {
				if _, err := c.Write([]byte(strings.Repeat("u", 100))); err != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			select {
			case r := <-res:
				return []string{r}
			case <-time.After(3 * time.Second):
				return []string{"handler still reading"}
			}
		}},
		{"serveTLSh2", func(t *testing.T, st revStack) []string {
			serverTLS, clientTLS := selfSignedTLS(t)
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, r.Proto)
			}), TLSConfig: serverTLS, ErrorLog: log.New(io.Discard, "", 0)}
			done := make(chan error, 1)
			go func() { done <- srv.ServeTLS(ln, "", "") }()
			tr := &http.Transport{TLSClientConfig: clientTLS, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var out []string
			for range 2 {
				resp, err := cl.Get("https://" + ln.Addr().String() + "/")
				if err != nil {
					out = append(out, errDesc(err))
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out = append(out, string(b))
			}
			// Plain HTTP to the TLS port: net/http answers 400 on the raw conn.
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			line, _ := br.ReadString('\n')
			out = append(out, line)
			srv.Close()
			out = append(out, errDesc(<-done))
			_ = tls.VersionTLS13
			return out
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			revCompareOn(t, revHTTPStacks(), s.f)
		})
	}
}
