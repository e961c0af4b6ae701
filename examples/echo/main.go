// Command echo is a TCP echo server on upoll's native API: the handler
// runs when input arrives, copies it from the connection's input buffer
// into its output buffer and flushes it back with writev.
//
//	go run ./examples/echo                                 # 127.0.0.1:9000
//	go run ./examples/echo -addr 127.0.0.1:0 -trigger edge -wait runtime
//	UPOLL=trigger=oneshot,pollers=4 go run ./examples/echo  # environment override
//
// The poller switches (-trigger, -wait, -dispatch, -pollers) are passed
// to the server only when given on the command line, so the UPOLL
// environment override (see netpoll.EnvVar) decides everything left
// unset and an explicit flag always wins. The server prints the address
// it is bound to, shuts down gracefully on SIGINT or SIGTERM (closing
// connections as they become idle, then closing the rest after
// -shutdown-timeout) and prints its poller counters at exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/upoll/upoll/netpoll"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// settings is the parsed command line.
type settings struct {
	addr            string
	shutdownTimeout time.Duration
	opts            []netpoll.Option // only for the switches given explicitly
}

// parseArgs parses args. Every error it returns is a usage error (exit
// status 2), but for flag.ErrHelp (-h, exit status 0); the flag package
// has already printed its own on stderr.
func parseArgs(args []string, stderr io.Writer) (settings, error) {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	def := netpoll.DefaultConfig() // UPOLL and explicit flags change it
	fs.StringVar(&s.addr, "addr", "127.0.0.1:9000", "TCP address to listen on")
	trigger, wait, dispatch := def.Trigger, def.Wait, def.Dispatch
	fs.TextVar(&trigger, "trigger", def.Trigger, "epoll trigger (-trigger=? lists the values)")
	fs.TextVar(&wait, "wait", def.Wait, "poller wait strategy (-wait=? lists the values)")
	fs.TextVar(&dispatch, "dispatch", def.Dispatch, "where handlers run (-dispatch=? lists the values)")
	pollers := fs.Int("pollers", 0, "number of pollers (0: the default, half of GOMAXPROCS)")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", 5*time.Second,
		"how long a graceful shutdown waits for connections to become idle")
	if err := fs.Parse(args); err != nil {
		return s, flagError{err}
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.shutdownTimeout <= 0 {
		return s, errors.New("-shutdown-timeout must be positive")
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		if bad != nil {
			return
		}
		var o netpoll.Option
		switch f.Name {
		case "trigger":
			o = netpoll.WithTrigger(trigger)
		case "wait":
			o = netpoll.WithWait(wait)
		case "dispatch":
			o = netpoll.WithDispatch(dispatch)
		case "pollers":
			if *pollers < 0 {
				bad = fmt.Errorf("bad -pollers %d: want 0 (the default) or more", *pollers)
				return
			}
			o = netpoll.WithPollers(*pollers)
		}
		if o != nil {
			s.opts = append(s.opts, o)
		}
	})
	return s, bad
}

// flagError is an error the flag package has already printed, with
// the usage text.
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

// echo writes back whatever input is buffered. It never waits for more
// input, and it takes input only once its echo is written: under
// DispatchInline, where a write that would wait for a peer that does not
// read says ErrWouldBlock, it keeps the input and returns nil, and the
// poller runs it again once the output has drained.
func echo(c *netpoll.Conn) error {
	r, w := c.Reader(), c.Writer()
	n := r.Len()
	b, err := r.Peek(n)
	if err != nil {
		return err
	}
	if _, err := w.WriteBinary(b); err != nil {
		return unlessWouldBlock(err) // nothing written: the input stays
	}
	if err := r.Skip(n); err != nil {
		return err
	}
	if err := r.Release(); err != nil {
		return err
	}
	return unlessWouldBlock(w.Flush()) // the echo is queued: the poller sends it
}

// unlessWouldBlock is err, or nil for ErrWouldBlock.
func unlessWouldBlock(err error) error {
	if errors.Is(err, netpoll.ErrWouldBlock) {
		return nil
	}
	return err
}

// server is a running echo server.
type server struct {
	srv    *netpoll.Server
	addr   string
	served chan error // Serve's result
}

// start serves echo with opts (after the UPOLL override, which
// NewServer applies itself) on a listener that the server opens on addr.
func start(addr string, opts []netpoll.Option) (*server, error) {
	srv, err := netpoll.NewServer(echo, opts...)
	if err != nil {
		return nil, err
	}
	ln, err := srv.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return nil, err
	}
	s := &server{srv: srv, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(ln) }()
	return s, nil
}

// stop shuts the server down gracefully, closing whatever is still open
// after timeout.
func (s *server) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
		err = fmt.Errorf("graceful shutdown: %w (remaining connections closed)", err)
	}
	return err
}

// run is the whole program: it serves until ctx ends and returns the
// exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	set, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0 // asked for: the usage is printed, as flag.Parse would exit
	}
	if err != nil {
		if !errors.As(err, new(flagError)) {
			fmt.Fprintln(stderr, "echo:", err)
		}
		return 2
	}
	s, err := start(set.addr, set.opts)
	if err != nil {
		fmt.Fprintln(stderr, "echo:", err)
		if errors.Is(err, netpoll.ErrBadEnv) || errors.Is(err, netpoll.ErrBadConfig) {
			return 2
		}
		return 1
	}
	cfg := s.srv.Config()
	if cfg.Backend == netpoll.BackendStd {
		// Go's net serves each connection; the poller switches do not apply.
		fmt.Fprintf(stdout, "echo: listening on %s (backend=%v)\n", s.addr, cfg.Backend)
	} else {
		fmt.Fprintf(stdout, "echo: listening on %s (backend=%v trigger=%v wait=%v dispatch=%v pollers=%d)\n",
			s.addr, cfg.Backend, cfg.Trigger, cfg.Wait, cfg.Dispatch, cfg.Pollers)
	}

	code := 0
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "echo: shutting down")
	case err := <-s.served:
		fmt.Fprintln(stderr, "echo: serve:", err)
		code = 1
	}
	if err := s.stop(set.shutdownTimeout); err != nil {
		fmt.Fprintln(stderr, "echo:", err)
		code = 1
	}
	printStats(stdout, cfg.Backend, s.srv.Stats())
	return code
}

// waitCalls names what Stats.Waits counts on backend b.
var waitCalls = map[netpoll.Backend]string{
	netpoll.BackendEpoll: "epoll_wait calls",
	netpoll.BackendUring: "io_uring_enter calls",
}

// printStats writes the totals and a line per poller.
func printStats(w io.Writer, b netpoll.Backend, st netpoll.Stats) {
	fmt.Fprintf(w, "echo: %d conns, %d B in, %d B out, %d reads, %d writes, %d handler runs (mean queue wait %.1f µs)\n",
		st.TotalConns, st.BytesIn, st.BytesOut, st.ReadCalls, st.WriteCalls,
		st.HandlerRuns, st.HandlerWaitMeanNs()/1e3)
	calls, ok := waitCalls[b]
	if !ok {
		// BackendStd: connections wait in Go's netpoller, not in upoll's.
		fmt.Fprintf(w, "echo: backend %v: no waits of upoll's own\n", b)
		return
	}
	fmt.Fprintf(w, "echo: %d %s (%d parked, %.2f events/wait, max %d), %d wake-ups, %d stale events\n",
		st.Waits, calls, st.Parks, st.EventsPerWait(), st.MaxEventsPerWait, st.Wakeups, st.StaleEvents)
	for i, p := range st.PerPoller {
		fmt.Fprintf(w, "echo: poller %d: %d conns, %d events, %.2f events/wait, %d B in, %d B out\n",
			i, p.TotalConns, p.Events, p.EventsPerWait(), p.BytesIn, p.BytesOut)
	}
}
