// Command rpcbench is the bench's RPC case: a multiplexed,
// length-prefixed request/response protocol with many calls in flight
// per connection (the tagged frames of examples/rpc), served and called
// by upoll on both ends (handlers on accepted and dialed connections,
// no goroutine waiting in a read) and by net on both ends (a goroutine
// per connection on each side). Server and client are processes of
// their own, so the CPU of each is measured apart.
//
//	go -C bench run ./cmd/rpcbench                          # 1,000 conns x 8 in flight, 3 rounds
//	go -C bench run ./cmd/rpcbench -conns 100 -runs 5 -window 3s
//
// Each round runs every implementation once, in an order rotated round
// by round: server process, client process (warm-up, then a measured
// window). It prints one line per run and a table of medians, with
// upoll's ratios to net computed round by round and their median.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upoll/upoll/bench/internal/rpcload"
)

func main() {
	role := flag.String("role", "", "internal: server or client")
	impl := flag.String("impl", "", "internal: upoll or std")
	addr := flag.String("addr", "127.0.0.1:0", "internal: server address")
	serverPID := flag.Int("server-pid", 0, "internal: the server process")
	impls := flag.String("impls", "upoll,std", "implementations, comma-separated")
	var l rpcload.Load
	flag.IntVar(&l.Conns, "conns", 1000, "connections")
	flag.IntVar(&l.Inflight, "inflight", 8, "calls in flight per connection")
	flag.IntVar(&l.Size, "size", 64, "argument size in bytes (>= 12 carries a sequence number)")
	flag.DurationVar(&l.Warmup, "warmup", time.Second, "warm-up before the window")
	flag.DurationVar(&l.Window, "window", 5*time.Second, "measured window")
	runs := flag.Int("runs", 3, "rounds")
	flag.Parse()
	if l.Conns <= 0 || l.Inflight <= 0 || l.Size < 0 || *runs <= 0 || l.Window <= 0 || l.Conns > 15000 {
		fmt.Fprintln(os.Stderr, "rpcbench: -conns 1..15000, -inflight, -runs and -window > 0, -size >= 0")
		os.Exit(2)
	}
	switch *role {
	case "server":
		a, err := rpcload.Start(*impl, *addr)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("READY %d %s\n", os.Getpid(), a)
		io.Copy(io.Discard, os.Stdin) // until the parent closes it
	case "client":
		l.ServerPID = *serverPID
		cl, err := rpcload.Dial(*impl, *addr, l.Conns)
		if err != nil {
			log.Fatal(err)
		}
		r, err := rpcload.Run(cl, l)
		cl.Close()
		if err != nil {
			log.Fatal(err)
		}
		json.NewEncoder(os.Stdout).Encode(r)
	case "":
		if err := orchestrate(strings.Split(*impls, ","), l, *runs); err != nil {
			log.Fatal(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "rpcbench: unknown -role %q\n", *role)
		os.Exit(2)
	}
}

func orchestrate(impls []string, l rpcload.Load, runs int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("rpc: %d conns x %d in flight, %d B, warm-up %v, window %v, %d rounds\n",
		l.Conns, l.Inflight, l.Size, l.Warmup, l.Window, runs)
	res := make(map[string][]rpcload.Result)
	for round := range runs {
		for k := range impls {
			impl := impls[(round+k)%len(impls)]
			r, err := runOne(self, impl, l)
			if err != nil {
				return fmt.Errorf("round %d %s: %w", round+1, impl, err)
			}
			res[impl] = append(res[impl], r)
			fmt.Printf("round %d %-5s calls/s %8.0f  p50 %7.0f us  p99 %7.0f us  server %6.2f us/call  client %6.2f us/call  machine %.2f cores  errors %d\n",
				round+1, impl, r.CallsPerSec, r.P50us, r.P99us, r.ServerCPUus, r.ClientCPUus, r.MachineCores, r.Errors)
		}
	}
	fmt.Println()
	fmt.Println("| impl | calls/s | p50 us | p99 us | server CPU us/call | client CPU us/call | errors |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, impl := range impls {
		rs := res[impl]
		med := func(f func(rpcload.Result) float64) float64 { return median(rs, f) }
		var errs uint64
		for _, r := range rs {
			errs += r.Errors
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.2f | %.2f | %d |\n", impl,
			med(func(r rpcload.Result) float64 { return r.CallsPerSec }),
			med(func(r rpcload.Result) float64 { return r.P50us }),
			med(func(r rpcload.Result) float64 { return r.P99us }),
			med(func(r rpcload.Result) float64 { return r.ServerCPUus }),
			med(func(r rpcload.Result) float64 { return r.ClientCPUus }), errs)
	}
	up, std := res["upoll"], res["std"]
	if len(up) == runs && len(std) == runs {
		ratio := func(f func(rpcload.Result) float64) float64 {
			var rs []float64
			for i := range up {
				if b := f(std[i]); b > 0 {
					rs = append(rs, f(up[i])/b)
				}
			}
			slices.Sort(rs)
			if len(rs) == 0 {
				return 0
			}
			return rs[len(rs)/2]
		}
		fmt.Printf("| upoll/std (median of per-round ratios) | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx | |\n",
			ratio(func(r rpcload.Result) float64 { return r.CallsPerSec }),
			ratio(func(r rpcload.Result) float64 { return r.P50us }),
			ratio(func(r rpcload.Result) float64 { return r.P99us }),
			ratio(func(r rpcload.Result) float64 { return r.ServerCPUus }),
			ratio(func(r rpcload.Result) float64 { return r.ClientCPUus }))
	}
	return nil
}

func median(rs []rpcload.Result, f func(rpcload.Result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// runOne starts a server process and a client process for impl and
// returns the client's result.
func runOne(self, impl string, l rpcload.Load) (rpcload.Result, error) {
	srv := exec.Command(self, "-role", "server", "-impl", impl)
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return rpcload.Result{}, err
	}
	out, err := srv.StdoutPipe()
	if err != nil {
		return rpcload.Result{}, err
	}
	if err := srv.Start(); err != nil {
		return rpcload.Result{}, err
	}
	defer func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-done
		}
	}()
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, out)
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(15 * time.Second):
		srv.Process.Kill()
		return rpcload.Result{}, fmt.Errorf("server did not start")
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "READY" {
		return rpcload.Result{}, fmt.Errorf("bad READY line %q", line)
	}
	cli := exec.Command(self, "-role", "client", "-impl", impl, "-addr", f[2], "-server-pid", f[1],
		"-conns", strconv.Itoa(l.Conns), "-inflight", strconv.Itoa(l.Inflight), "-size", strconv.Itoa(l.Size),
		"-warmup", l.Warmup.String(), "-window", l.Window.String())
	cli.Stderr = os.Stderr
	b, err := cli.Output()
	if err != nil {
		return rpcload.Result{}, fmt.Errorf("client: %w", err)
	}
	var r rpcload.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return rpcload.Result{}, fmt.Errorf("client output %q: %w", b, err)
	}
	return r, nil
}
