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
	return upollAddr{ln.Addr(), nethttp.Server(ln)}, nil
}

// startUpollHTTPPark is startUpollHTTP with nethttp.EnableParking: the
// same http.Server and handler, idle keep-alive conns parked after the
// linger (the linger key, or the default).
func startUpollHTTPPark(addr, optStr string) (net.Addr, error) {
	opts, o, err := upollConfig(optStr)
	if err != nil {
		return nil, err
	}
	var park []nethttp.ParkOption
	if o.Linger > 0 {
		park = append(park, nethttp.WithLinger(o.Linger))
	}
	ln, err := nethttp.Listen("tcp", addr, opts...)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(Hello)}
	if err := nethttp.EnableParking(srv, ln, park...); err != nil {
		ln.Close()
		return nil, err
	}
	go srv.Serve(ln)
	return upollAddr{ln.Addr(), nethttp.Server(ln)}, nil
}
