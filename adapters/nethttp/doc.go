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
// returned is the *netpoll.Conn itself (blocking Read and Write over those
// buffers, with net.Conn's deadline, EOF, close and serialization rules)
// plus an io.ReaderFrom that copies through a pooled buffer. Its nocopy
// Reader and Writer remain reachable by type assertion.
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
// # Performance
//
// BenchmarkHello runs hello-world keep-alive requests from standard-library
// clients in the same process against http.Server on each listener;
// BenchmarkIdleConnMemory holds 5,000 idle keep-alive connections from a
// child process and reports the server's heap plus stack growth per
// connection. Measured with seven interleaved runs of
//
//	go test -c -o /tmp/nethttp.test ./adapters/nethttp
//	/tmp/nethttp.test -test.run '^$' -test.bench 'Hello|Idle' -test.benchtime=2s
//
// on the project's 2-vCPU VM, which other helpers' benchmarks were also
// loading; netpoll's default options (WaitRuntime). upoll/std ratio per
// run, median (range), and the medians themselves:
//
//	                 req/s              p99 latency        CPU per request
//	50 conns         0.86 (0.35-1.17)   1.22 (0.64-5.35)   1.04 (0.95-1.24)
//	                 27.4k vs 42.4k     8.9 vs 5.9 ms      37.4 vs 37.9 µs
//	1,000 conns      1.41 (0.87-2.54)   0.87 (0.29-1.68)   0.93 (0.67-1.04)
//	                 28.8k vs 22.0k     72 vs 83 ms        41.8 vs 49.2 µs
//	idle conn        18.0 KB vs 17.8 KB per connection (ratio 1.01)
//
// (load average 15 falling to 5 during these runs; an earlier set of seven
// at load 15 with the WaitBlock default gave 1.22x and 1.42x req/s but
// 1.16x CPU per request: on a contended machine blocking poller threads
// win a larger share of the cores.) Absolute values swing 2-4x from run to
// run here, so treat the ratios as indications, not as a verdict on the
// 0.95x goal: at 50 connections it is not met in these runs. Idle memory
// is the same because net/http's own goroutine and bufio buffers per
// connection dominate (about 8 KB of stack and 8 KB of buffers); the
// adapter adds nothing measurable.
package nethttp
