// Command nethttp serves HTTP with an unchanged http.Server on upoll's
// pollers: a hello handler at / and a file server under /files/.
//
//	go run ./examples/nethttp -addr 127.0.0.1:8080 -dir .
//	curl http://127.0.0.1:8080/            # hello
//	curl http://127.0.0.1:8080/files/      # directory listing of -dir
//
// -std serves the same handlers on the standard library's listener, for
// comparison (e.g. with wrk or hey against both).
//
// -pollers is passed to the listener only when given, so that the UPOLL
// environment override (see netpoll.EnvVar) decides the poller count
// otherwise, and an explicit -pollers wins over it.
//
// SIGINT or SIGTERM shuts the server down gracefully: it stops
// accepting, answers the requests in flight and exits with status 0, or
// with status 1 when some are still running after 10 s. The signals are
// caught from before the address is printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/upoll/upoll/adapters/nethttp"
	"github.com/upoll/upoll/netpoll"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", ".", "directory served under /files/")
	std := flag.Bool("std", false, "use the standard library's listener instead of upoll")
	pollers := flag.Int("pollers", 0, "upoll pollers (0: the default, a quarter of GOMAXPROCS; unset: as UPOLL says)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "nethttp: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}

	// Caught before the address is printed: a signal sent upon that
	// line shuts down gracefully rather than killing the process.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Hello, World!")
	})
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(*dir))))

	var ln net.Listener
	var err error
	if *std {
		ln, err = net.Listen("tcp", *addr)
	} else {
		// Only an explicit -pollers is an option: an option wins over
		// UPOLL, even one that asks for the default.
		var opts []netpoll.Option
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "pollers" {
				opts = append(opts, netpoll.WithPollers(*pollers))
			}
		})
		if *pollers < 0 {
			// WithPollers takes it for the default: say so rather than
			// run with a count that was not asked for.
			fmt.Fprintf(os.Stderr, "nethttp: bad -pollers %d: want 0 (the default) or more\n", *pollers)
			os.Exit(2)
		}
		ln, err = nethttp.Listen("tcp", *addr, opts...)
		if errors.Is(err, netpoll.ErrBadEnv) || errors.Is(err, netpoll.ErrBadConfig) {
			// A bad UPOLL: a usage error, as a bad flag is (and as in
			// examples/echo).
			fmt.Fprintln(os.Stderr, "nethttp:", err)
			os.Exit(2)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	kind := "upoll"
	if *std {
		kind = "std"
	}
	log.Printf("serving on http://%s (%s listener)", ln.Addr(), kind)

	shutdown := make(chan error, 1)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	// Serve returns as soon as Shutdown begins: wait for the requests
	// in flight to be answered before the process exits.
	if err := <-shutdown; err != nil {
		log.Fatalf("shutdown: %v", err)
	}
}
