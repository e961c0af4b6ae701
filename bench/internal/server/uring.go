package server

import (
	"net"
	"net/http"
	"os"

	"github.com/upoll/upoll/adapters/nethttp"
	"github.com/upoll/upoll/netpoll"
)

// startUpollUringEchoCopy is startUpollUringEcho with received input
// copied out of the ring's buffers (UPOLL_URING_ZC=0 in the server's own
// process, read when its pollers are made): the A/B of zero-copy input.
func startUpollUringEchoCopy(addr, optStr string) (net.Addr, error) {
	os.Setenv("UPOLL_URING_ZC", "0")
	return startUpollUringEcho(addr, optStr)
}

// startUpollUringEchoSQPoll is startUpollUringEcho with a kernel
// submission thread per ring (UPOLL_URING_SQPOLL=1 in the server's own
// process).
func startUpollUringEchoSQPoll(addr, optStr string) (net.Addr, error) {
	os.Setenv("UPOLL_URING_SQPOLL", "1")
	return startUpollUringEcho(addr, optStr)
}

// startUpollUringHTTP is startUpollHTTP on the io_uring backend.
func startUpollUringHTTP(addr, optStr string) (net.Addr, error) {
	opts, _, err := upollOptions(optStr)
	if err != nil {
		return nil, err
	}
	ln, err := nethttp.Listen("tcp", addr, append(opts, netpoll.WithBackend(netpoll.BackendUring))...)
	if err != nil {
		return nil, err
	}
	go (&http.Server{Handler: http.HandlerFunc(Hello)}).Serve(ln)
	return upollAddr{ln.Addr(), nethttp.Server(ln)}, nil
}
