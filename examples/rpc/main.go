// Command rpc is a length-prefixed request/response server and a
// multiplexed client on upoll's native API. A frame is a 4-byte
// big-endian length and a payload; a request's payload is an operation
// byte ('e' echo, 'u' upper case, 's' sleep) and its argument, or, for
// a multiplexed client, '#', a 4-byte request id and such a request,
// answered with the id and the response, in any order.
//
// The server reads with the nocopy Reader (ReadHeader, then Slice for the
// body, which outlives Release), answers echo by linking the request's
// memory into the output buffer (Append: no copy) and upper case by
// writing into Malloc'd output, then Flushes with writev; a tagged sleep
// is answered later from a timer. A bad frame closes that connection
// only, and so does a peer that leaves a frame half sent, or takes none
// of its answers, for 10 s (the server's read and write timeouts).
//
// The client (Pool) dials -clients connections on a poller group of its
// own; -inflight callers per connection share each one, and the
// connections' handler hands every response to the caller waiting for
// its id. It makes -n calls in all (echo, upper case and, every 16th, a
// sleep of -sleep), checks every answer byte for byte, and prints one
// line: calls, calls/s, p50/p99 latency and the number of errors. It
// stops early, and exits with status 1, once every connection has
// closed (the pool does not dial again).
//
//	go run ./examples/rpc -clients 16 -inflight 8 -n 100000
//	go run ./examples/rpc -mode server -addr 127.0.0.1:9000   # until SIGINT or SIGTERM
//	go run ./examples/rpc -mode client -addr 127.0.0.1:9000 -n 1000
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/upoll/upoll/netpoll"
)

func main() {
	mode := flag.String("mode", "both", "server, client, or both (a server and a client in this process)")
	addr := flag.String("addr", "127.0.0.1:0", "listen or dial address (tcp)")
	var lc loadConfig
	flag.IntVar(&lc.clients, "clients", 4, "client: connections")
	flag.IntVar(&lc.inflight, "inflight", 8, "client: calls in flight per connection")
	flag.IntVar(&lc.n, "n", 10000, "client: number of calls")
	flag.IntVar(&lc.size, "size", 128, "client: argument size in bytes")
	flag.DurationVar(&lc.sleep, "sleep", time.Millisecond, "client: delay asked by every 16th call (answered out of order)")
	flag.DurationVar(&lc.timeout, "timeout", 10*time.Second, "client: per-call timeout (0: none)")
	max := flag.Int("max", DefaultMaxFrame, "largest frame payload accepted, in bytes")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rpc: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	lc.max = *max
	// A negative -timeout would reach PoolConfig.Timeout as "none".
	if lc.n < 0 || lc.size < 0 || *max <= 0 || lc.clients <= 0 || lc.inflight <= 0 || lc.sleep < 0 || lc.sleep > 65535*time.Millisecond || lc.timeout < 0 {
		fmt.Fprintln(os.Stderr, "rpc: -n, -size and -timeout must be >= 0, -max, -clients and -inflight > 0, -sleep within 0..65s")
		os.Exit(2)
	}
	switch *mode {
	case "server":
		// SIGINT and SIGTERM shut down gracefully, as with the other
		// examples; caught from before the address is printed.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		s, a, err := startServer(*addr, *max)
		if err != nil {
			fatal(err)
		}
		fmt.Println("rpc server on", a)
		<-ctx.Done()
		shutdown(s)
	case "client":
		if err := runLoad(os.Stdout, *addr, lc); err != nil {
			fatal(err)
		}
	case "both":
		s, a, err := startServer(*addr, *max)
		if err != nil {
			fatal(err)
		}
		err = runLoad(os.Stdout, a, lc)
		shutdown(s)
		if err != nil {
			fatal(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "rpc: unknown -mode %q (want server, client or both)\n", *mode)
		os.Exit(2)
	}
}

// fatal reports err and exits: with status 2 for a bad UPOLL override or
// a configuration it makes impossible (a usage error, as a bad flag is,
// and as in examples/echo), 1 for any other failure.
func fatal(err error) {
	if errors.Is(err, netpoll.ErrBadEnv) || errors.Is(err, netpoll.ErrBadConfig) {
		msg := err.Error()
		if !strings.HasPrefix(msg, "rpc:") {
			msg = "rpc: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(2)
	}
	log.Fatal(err)
}

// startServer serves the RPC handler on addr and returns the bound
// address.
func startServer(addr string, max int) (*netpoll.Server, string, error) {
	s, err := newServer(max)
	if err != nil {
		return nil, "", err
	}
	ln, err := s.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return nil, "", err
	}
	go s.Serve(ln)
	return s, ln.Addr().String(), nil
}

// serverTimeout is the RPC server's read and write timeout (newServer).
const serverTimeout = 10 * time.Second

// newServer makes the RPC server, with opts after its own options.
func newServer(max int, opts ...netpoll.Option) (*netpoll.Server, error) {
	// The read timeout bounds how long a peer may leave a frame half
	// sent while its handler waits for the rest. Under DispatchInline
	// the handler does not wait: it returns, and the half frame stays
	// buffered (up to the frame, within the memory budget) until the rest
	// comes or the connection closes. The write timeout bounds how long
	// a handler's Flush waits for a peer that takes none of its answers
	// (one that sends requests and never reads): the Flush fails and the
	// connection closes, instead of holding its handler and buffers for
	// as long as the peer stays connected.
	var inline bool // set before any handler runs: Listen comes after
	s, err := netpoll.NewServer(handlerFor(max, &inline), append([]netpoll.Option{
		netpoll.WithReadTimeout(serverTimeout),
		netpoll.WithWriteTimeout(serverTimeout),
		netpoll.WithOnConnect(serverOnConnect),
		netpoll.WithOnDisconnect(serverOnDisconnect)}, opts...)...)
	if err != nil {
		return nil, err
	}
	inline = s.Config().Dispatch == netpoll.DispatchInline
	return s, nil
}

// shutdown shuts s down, waiting at most 5 s (netpoll's Server.Shutdown):
// a connection is closed once no handler runs on it and no input or
// output is buffered. Tagged sleeps waiting on timers do not keep it:
// they are dropped with it, and their callers see the connection close
// (a Pool's calls fail with ErrConnClosed). A sleep served in its
// handler (untagged, tagged past the bounds on those waiting on timers,
// or any under DispatchInline) keeps its connection open until it
// ends: Shutdown returns ctx.Err() at the 5 s, leaving such connections
// open.
func shutdown(s *netpoll.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		log.Print("shutdown: ", err)
	}
}

// loadConfig is what runLoad does.
type loadConfig struct {
	clients, inflight, n, size, max int
	sleep, timeout                  time.Duration
	budget                          time.Duration // no new call after this long; 0: none
}

// request builds call i's operation, argument and expected answer. The
// argument carries i, so an answer given to the wrong caller differs.
func request(i, size int, sleep time.Duration) (op byte, arg, want []byte) {
	body := []byte(strconv.Itoa(i) + "-")
	body = bytes.Repeat(body, size/len(body)+1)[:size]
	switch {
	case i%16 == 15:
		arg = binary.BigEndian.AppendUint16(nil, uint16(sleep/time.Millisecond))
		return OpSleep, append(arg, body...), body
	case i%2 == 1:
		return OpUpper, body, bytes.ToUpper(body)
	}
	return OpEcho, body, body
}

// runLoad makes lc.n calls through a pool and prints the summary line
// to out; it fails if any call failed or got a wrong answer.
func runLoad(out io.Writer, addr string, lc loadConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	p, err := DialPool(ctx, "tcp", addr, PoolConfig{Conns: lc.clients, Timeout: lc.timeout, Max: lc.max})
	cancel()
	if err != nil {
		return err
	}
	defer p.Close()
	var (
		next   atomic.Int64
		errs   atomic.Int64
		first  sync.Once
		ferr   error
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, lc.n)
		wg     sync.WaitGroup
		workrs = lc.clients * lc.inflight
	)
	start := time.Now()
	var stop time.Time
	if lc.budget > 0 {
		stop = start.Add(lc.budget)
	}
	for range workrs {
		wg.Go(func() {
			mine := make([]time.Duration, 0, lc.n/workrs+1)
			for {
				i := int(next.Add(1) - 1)
				if i >= lc.n || !stop.IsZero() && time.Now().After(stop) {
					break
				}
				op, arg, want := request(i, lc.size, lc.sleep)
				t0 := time.Now()
				got, err := p.Call(context.Background(), op, arg)
				mine = append(mine, time.Since(t0))
				if err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("call %d: wrong answer (%d bytes, want %d)", i, len(got), len(want))
				}
				if err != nil {
					errs.Add(1)
					first.Do(func() { ferr = fmt.Errorf("call %d: %w", i, err) })
					if !p.alive() {
						// Every connection has closed and the pool does
						// not dial again: later calls would fail with
						// nothing sent.
						break
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	fmt.Fprintf(out, "calls %d  calls/s %.0f  p50 %v  p99 %v  errors %d\n",
		len(lat), float64(len(lat))/el.Seconds(), quantile(lat, 0.50), quantile(lat, 0.99), errs.Load())
	return ferr
}

// quantile returns the q-quantile of sorted durations (0 if none).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))].Round(time.Microsecond)
}
