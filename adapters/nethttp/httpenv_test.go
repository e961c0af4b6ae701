package nethttp

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpEnv is an http.Server serving on one stack's listener, and an
// http.Client whose Transport dials with the same stack.
type httpEnv struct {
	t      testing.TB
	st     stack
	srv    *http.Server
	ln     net.Listener
	addr   string
	url    string
	tr     *http.Transport
	client *http.Client
	log    *lockedBuffer
	served chan error

	closeOnce sync.Once
	newConns  atomic.Int64
	closed    atomic.Int64
}

// newHTTPEnv starts h on st. configure, if not nil, adjusts the server before
// it starts. Cleanup closes everything and checks that Serve returned
// http.ErrServerClosed.
func newHTTPEnv(t testing.TB, st stack, h http.Handler, configure func(*http.Server)) *httpEnv {
	t.Helper()
	e := &httpEnv{t: t, st: st, log: new(lockedBuffer), served: make(chan error, 1)}
	e.ln = st.listenTB(t)
	e.addr = e.ln.Addr().String()
	e.url = "http://" + e.addr
	e.srv = &http.Server{
		Handler:           h,
		ErrorLog:          log.New(e.log, "", 0),
		ReadHeaderTimeout: testDeadline,
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				e.newConns.Add(1)
			case http.StateClosed, http.StateHijacked:
				e.closed.Add(1)
			}
		},
	}
	if configure != nil {
		configure(e.srv)
	}
	if st.park {
		// A server that terminates TLS is refused; behind tls.NewListener
		// the conns that ConnState sees are *tls.Conn, which never park.
		tlsConfig := e.srv.TLSConfig
		if tlsConfig != nil {
			if err := EnableParking(e.srv, e.ln); err == nil {
				t.Fatal("EnableParking accepted a server with a TLSConfig")
			}
			e.srv.TLSConfig = nil
		}
		if err := EnableParking(e.srv, e.ln, WithLinger(testLinger)); err != nil {
			t.Fatal(err)
		}
		e.srv.TLSConfig = tlsConfig
	}
	e.tr = &http.Transport{
		DialContext:         st.dial,
		MaxIdleConnsPerHost: 2000,
		ForceAttemptHTTP2:   true,
	}
	e.client = &http.Client{Transport: e.tr, Timeout: testDeadline}
	ln := e.ln
	if e.srv.TLSConfig != nil {
		ln = tls.NewListener(ln, e.srv.TLSConfig)
		e.url = "https://" + e.addr
	}
	go func() { e.served <- e.srv.Serve(ln) }()
	t.Cleanup(e.close)
	return e
}

// close shuts the server and client down; it may be called more than once.
func (e *httpEnv) close() { e.closeOnce.Do(e.doClose) }

func (e *httpEnv) doClose() {
	e.tr.CloseIdleConnections()
	e.srv.Close()
	select {
	case err := <-e.served:
		if !errors.Is(err, http.ErrServerClosed) {
			e.t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	case <-time.After(10 * time.Second):
		e.t.Errorf("Serve did not return within 10s of Close")
	}
}

// raw dials the server with a bare conn for hand-written HTTP.
func (e *httpEnv) raw() (net.Conn, *bufio.Reader) {
	c := e.st.dialTB(e.t, e.addr)
	return c, bufio.NewReader(c)
}

// selfSignedTLS returns a server config for 127.0.0.1 and a client config
// that trusts it. NextProtos offers HTTP/2 first, so ALPN can pick it.
func selfSignedTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "upoll test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	client = &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}}
	return server, client
}

// parking returns the counters of e's listener (zero without parking).
func (e *httpEnv) parking() ParkStats {
	ps, _ := Parking(e.ln)
	return ps
}
