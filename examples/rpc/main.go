// Command rpc is a length-prefixed request/response server and client on
// upoll's native API. A frame is a 4-byte big-endian length and a
// payload; a request's payload is an operation byte ('e' echo, 'u' upper
// case) and its argument.
//
// The server reads with the nocopy Reader (ReadHeader, then Slice for the
// body, which outlives Release), answers echo by linking the request's
// memory into the output buffer (Append: no copy) and upper case by
// writing into Malloc'd output, then Flushes with writev. A bad frame
// closes that connection only. The client dials through netpoll.Dialer.
//
//	go run ./examples/rpc                  # server and client in one process
//	go run ./examples/rpc -mode server -addr 127.0.0.1:9000
//	go run ./examples/rpc -mode client -addr 127.0.0.1:9000 -n 1000
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/upoll/upoll/netpoll"
)

func main() {
	mode := flag.String("mode", "both", "server, client, or both (a server and a client in this process)")
	addr := flag.String("addr", "127.0.0.1:0", "listen or dial address (tcp)")
	n := flag.Int("n", 1000, "client: number of calls")
	size := flag.Int("size", 128, "client: argument size in bytes")
	max := flag.Int("max", DefaultMaxFrame, "largest frame payload accepted, in bytes")
	flag.Parse()
	if *n < 0 || *size < 0 || *max <= 0 {
		fmt.Fprintln(os.Stderr, "rpc: -n and -size must be >= 0, -max > 0")
		os.Exit(2)
	}
	switch *mode {
	case "server":
		s, a, err := startServer(*addr, *max)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("rpc server on", a)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		<-ctx.Done()
		shutdown(s)
	case "client":
		if err := runClient(*addr, *n, *size, *max); err != nil {
			log.Fatal(err)
		}
	case "both":
		s, a, err := startServer(*addr, *max)
		if err != nil {
			log.Fatal(err)
		}
		err = runClient(a, *n, *size, *max)
		shutdown(s)
		if err != nil {
			log.Fatal(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "rpc: unknown -mode %q (want server, client or both)\n", *mode)
		os.Exit(2)
	}
}

// startServer serves the RPC handler on addr and returns the bound
// address.
func startServer(addr string, max int) (*netpoll.Server, string, error) {
	ln, err := netpoll.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	// The read timeout bounds how long a peer may leave a frame half
	// sent while its handler waits for the rest.
	s, err := netpoll.NewServer(handler(max), netpoll.WithReadTimeout(10*time.Second))
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	go s.Serve(ln)
	return s, ln.Addr().String(), nil
}

func shutdown(s *netpoll.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		log.Print("shutdown: ", err)
	}
}

// runClient makes n calls alternating echo and upper case, checks every
// answer and prints the mean round trip.
func runClient(addr string, n, size, max int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialClient(ctx, "tcp", addr, max)
	if err != nil {
		return err
	}
	defer c.Close()
	arg := bytes.Repeat([]byte("upoll-"), size/6+1)[:size]
	start := time.Now()
	for i := range n {
		op, want := byte(OpEcho), arg
		if i%2 == 1 {
			op, want = OpUpper, bytes.ToUpper(arg)
		}
		got, err := c.Call(op, arg)
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("call %d: wrong answer (%d bytes)", i, len(got))
		}
	}
	if n > 0 {
		el := time.Since(start)
		fmt.Printf("%d calls of %d B checked, mean round trip %v\n", n, size, el/time.Duration(n))
	}
	return nil
}
