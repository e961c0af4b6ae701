package nethttp

import (
	"net/http"

	"github.com/upoll/upoll/netpoll"
)

// ListenAndServe is http.ListenAndServe on upoll: it listens on the TCP
// address addr with Listen and serves h (nil: http.DefaultServeMux) with
// an http.Server. opts configure the pollers. It always returns a non-nil
// error.
func ListenAndServe(addr string, h http.Handler, opts ...netpoll.Option) error {
	srv := &http.Server{Addr: addr, Handler: h}
	ln, err := Listen("tcp", listenAddr(addr, ":http"), opts...)
	if err != nil {
		return err
	}
	return srv.Serve(ln)
}

// ListenAndServeTLS is http.ListenAndServeTLS on upoll: like ListenAndServe,
// over TLS with the certificate and key in certFile and keyFile. HTTP/2 is
// offered through ALPN, as net/http does.
func ListenAndServeTLS(addr, certFile, keyFile string, h http.Handler, opts ...netpoll.Option) error {
	srv := &http.Server{Addr: addr, Handler: h}
	ln, err := Listen("tcp", listenAddr(addr, ":https"), opts...)
	if err != nil {
		return err
	}
	defer ln.Close() // ServeTLS leaves it open if the key pair fails to load
	return srv.ServeTLS(ln, certFile, keyFile)
}

// listenAddr applies net/http's default for an empty address.
func listenAddr(addr, def string) string {
	if addr == "" {
		return def
	}
	return addr
}
