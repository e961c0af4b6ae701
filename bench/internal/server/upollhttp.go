package server

import (
	"net"
	"net/http"

	"github.com/upoll/upoll/adapters/nethttp"
)

func upollHTTPAvailable() error { return nil }

func startUpollHTTP(addr, optStr string) (net.Addr, error) {
	opts, _, err := upollOptions(optStr)
	if err != nil {
		return nil, err
	}
	ln, err := nethttp.Listen("tcp", addr, opts...)
	if err != nil {
		return nil, err
	}
	go (&http.Server{Handler: http.HandlerFunc(Hello)}).Serve(ln)
	return ln.Addr(), nil
}

// startUpollHTTPPark is startUpollHTTP with nethttp.EnableParking: the
// same http.Server and handler, idle keep-alive conns parked after the
// default linger.
func startUpollHTTPPark(addr, optStr string) (net.Addr, error) {
	opts, _, err := upollOptions(optStr)
	if err != nil {
		return nil, err
	}
	ln, err := nethttp.Listen("tcp", addr, opts...)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(Hello)}
	if err := nethttp.EnableParking(srv, ln); err != nil {
		ln.Close()
		return nil, err
	}
	go srv.Serve(ln)
	return ln.Addr(), nil
}
