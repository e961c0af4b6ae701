// Package nethttp runs code written for the standard library's net.Listener
// and net.Conn — net/http's Server and Transport first of all — on upoll's
// epoll pollers instead of the Go runtime's netpoller, without changing that
// code:
//
//	ln, err := nethttp.Listen("tcp", ":8080", netpoll.WithPollers(2))
//	...
//	err = (&http.Server{Handler: h}).Serve(ln)
//
// ListenAndServe and ListenAndServeTLS mirror net/http's functions, and a
// Dialer's DialContext plugs into http.Transport so that clients run on
// upoll too. Options pass through to netpoll: pollers, trigger mode, wait
// strategy, buffer bounds, hooks.
//
// # How it works
//
// Listen starts a netpoll Server in accept mode (no handler): the pollers
// accept connections and read their input into per-connection buffers;
// the OnConnect hook queues each new connection for Accept. The net.Conn
// returned embeds the *netpoll.Conn (blocking Read and Write over those
// buffers, with net.Conn's deadline, EOF, close and serialization rules),
// whose io.ReaderFrom sends a file with sendfile(2) and a socket of Go's
// net with splice(2) on the native backends, and whose io.WriterTo hands
// the buffered input on without a copy (a parking listener's conns copy
// through Read instead); it is not of type *netpoll.Conn
// (a wrapper keeps connections parked by EnableParking off the socket).
// Its nocopy Reader and Writer remain reachable by type assertion.
//
// Closing the listener stops accepting but, as with Go's net, leaves the
// connections already accepted open (http.Server.Shutdown relies on it);
// the pollers stop when the last of them closes. Accept then returns an
// error for which errors.Is(err, net.ErrClosed) holds. Running out of file
// descriptors (EMFILE, ENFILE) is ridden out inside netpoll — the poller
// stops polling the listening socket and retries with a growing back-off —
// so it never reaches Accept and cannot stop http.Server.Serve.
//
// Server returns the netpoll.Server behind a listener, for its effective
// configuration and per-poller counters.
//
// # Idle parking
//
// EnableParking makes a listener take idle keep-alive connections away
// from an http.Server: once one has waited longer than a linger for its
// next request, with nothing buffered on either side, the server's
// goroutine for it ends as if the client had closed, and the socket waits
// on a poller with no goroutine, buffer or timer of its own (netpoll's
// Conn.NotifyInput). The next request's first bytes hand it back through
// Accept, unread. It is off unless called; ConnState and ConnContext see
// a parked period as a close and a new connection. Parking reports
// its counters.
//
// # Conformance
//
// The package's tests run every case against both the standard library's
// listener and this one (and golang.org/x/net/nettest.TestConn with each
// end on either): deadlines, io.EOF, net.ErrClosed, CloseWrite, Accept and
// EMFILE, keep-alive, pipelining, chunked bodies, 64 MiB streams checked
// byte by byte, Expect: 100-continue, net/http's four timeouts, slowloris,
// context cancellation on disconnect, Hijack, handler panics, Shutdown and
// Close with requests in flight, TLS with HTTP/2 over ALPN, 1,000
// concurrent clients, and no leaked goroutine or descriptor after client
// resets.
//
// # Cost
//
// http.Server keeps a goroutine and bufio buffers per connection on any
// listener, and they dominate what a connection costs; the adapter adds
// a netpoll.Conn and, while a goroutine is blocked in Read, a waiter.
// Benchmarks against net/http (BenchmarkHello, BenchmarkIdleConnMemory)
// and their figures are in docs/tuning.md of the repository; with
// parking, idle connections lose the goroutine and buffers too
// (docs/http-parking.md).
package nethttp
