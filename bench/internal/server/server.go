// Package server is the harness's server role: it starts one target (an echo
// or HTTP server on 127.0.0.1), reports its address, and answers memory
// queries from the parent over a line protocol on stdin/stdout.
//
// Protocol (one line each way):
//
//	server -> parent: "READY <pid> <addr>"       once the listener is up
//	parent -> server: "mem"                       server replies "MEM <json Mem>"
//	parent -> server: "stats"                     server replies "STATS <json Counters>" (all zero: not upoll)
//	parent -> server: "quit" or EOF on stdin      server exits
package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/upoll/upoll/adapters/nethttp"
	"github.com/upoll/upoll/bench/internal/proc"
)

// Kind is what protocol a target speaks.
type Kind string

// Target kinds.
const (
	Echo Kind = "echo"
	HTTP Kind = "http"
	// RPC is the multiplexed request/response protocol of package
	// rpcload, driven by the client that Target.Client names.
	RPC Kind = "rpc"
)

// Target is one server implementation the harness can start.
type Target struct {
	Name string
	Kind Kind
	// Baseline marks the standard-library target of its kind; ratios are
	// computed against it.
	Baseline bool
	// Sweepable targets accept experiment options (see ParseOptions).
	Sweepable bool
	// Note says what the target is, for reports.
	Note string
	// Backend is the netpoll backend a upoll target is built to run on
	// ("epoll", "std", ...; empty for the others). Reports show it; a
	// run records the backend the server says it ran on, which UPOLL
	// in the environment may change.
	Backend string
	// Client is the rpcload client ("upoll" or "std") that drives an
	// RPC target.
	Client string
	// start listens on addr, serves in the background, and returns the
	// bound address. opts are the -opts string (sweepable targets only).
	start func(addr, opts string) (net.Addr, error)
	// available reports why the target cannot run in this build (nil: it can).
	available func() error
	// OptIn targets run only when named in -targets, not under "all":
	// A/B variants of another target.
	OptIn bool
	// Settle is how long idle connections must wait before the target
	// reaches its idle state (a parking server parks them only after
	// its linger); the idle case waits that long before each memory
	// sample.
	Settle time.Duration
}

// Available returns nil if the target can run in this build, or why not.
func (t Target) Available() error {
	if t.available == nil {
		return nil
	}
	return t.available()
}

// Targets lists every target compiled into the harness, baselines first.
func Targets() []Target {
	return []Target{
		{Name: "std-echo", Kind: Echo, Baseline: true, Note: "net: goroutine per connection, 4 KiB read buffer", start: startStdEcho},
		{Name: "upoll-echo", Kind: Echo, Sweepable: true, Note: "upoll netpoll native API, one-copy handler (Next + WriteBinary + Flush); " + upollDefaults(true), Backend: "epoll", start: startUpollEcho, available: upollAvailable},
		{Name: "upoll-uring-echo", Kind: Echo, Note: "upoll-echo on netpoll.BackendUring (io_uring: poll requests, multishot receive into a provided-buffer ring); options as upoll-echo's", Backend: "uring", start: startUpollUringEcho, available: upollUringAvailable},
		{Name: "upoll-uring-echo-copy", Kind: Echo, Note: "upoll-uring-echo with received input copied out of the ring's buffers (UPOLL_URING_ZC=0), not linked into the LinkBuffer: the A/B of zero-copy input", Backend: "uring", start: startUpollUringEchoCopy, available: upollUringAvailable, OptIn: true},
		{Name: "upoll-uring-echo-sqpoll", Kind: Echo, Note: "upoll-uring-echo with a kernel submission thread per ring (UPOLL_URING_SQPOLL=1, IORING_SETUP_SQPOLL): its CPU is the server process's", Backend: "uring", start: startUpollUringEchoSQPoll, available: upollUringAvailable, OptIn: true},
		{Name: "upoll-std-echo", Kind: Echo, Note: "upoll-echo's handler on netpoll.BackendStd (Go's net, one goroutine per connection running the handler): what the API and buffers cost without upoll's poller", Backend: "std", start: startUpollStdEcho},
		{Name: "cloudwego-echo", Kind: Echo, Note: "github.com/cloudwego/netpoll " + cloudwegoVersion + " EventLoop (Next + Malloc copy + Flush)", start: startCloudwegoEcho},
		{Name: "gnet-echo", Kind: Echo, Note: "github.com/panjf2000/gnet/v2 " + gnetVersion + ", handler on the event loop (Next + Write), one loop per P", start: startGnetEcho},
		{Name: "nbio-echo", Kind: Echo, Note: "github.com/lesismal/nbio " + nbioVersion + " Engine defaults (a poller per 4 CPUs, at least one), OnData + Write on the poller", start: startNbioEcho},
		{Name: "floor-echo", Kind: Echo, Note: "the Go floor: one locked OS thread, edge-triggered epoll, read to EAGAIN + write back, refused output kept for EPOLLOUT; non-blocking calls by syscall.RawSyscall, blocking epoll_wait only after an empty poll (a measuring stick, not a server)", start: startFloorEcho},
		{Name: "floor-echo-short", Kind: Echo, OptIn: true, Note: "floor-echo in floor-c-short's shape: a read that does not fill its 64 KiB buffer ends the socket's turn, so a ping-pong message costs one read and one write, the calls floor-c-short and upoll's epoll backend make: what Go itself costs over the kernel, call for call (a measuring stick, not a server)", start: startFloorEchoShort},
		{Name: "floor-c", Kind: Echo, Note: "the C floor: the same loop as floor-echo in C (cc -O2, built at run time), a process of its own that is the one measured; what the kernel alone costs (a measuring stick, not a server)", start: startFloorC, available: floorCAvailable},
		{Name: "floor-c-short", Kind: Echo, Note: "floor-c with -short: a read that does not fill its 64 KiB buffer ends the socket's turn (under edge triggering the next bytes raise a new edge), so a ping-pong message costs one read and one write, the calls upoll's epoll backend makes, not floor-c's two reads and a write (a measuring stick, not a server)", start: startFloorCShort, available: floorCAvailable},
		{Name: "floor-c-uring", Kind: Echo, Note: "the io_uring floor in C (floorc/floor_uring.c, cc -O2, built at run time, a process of its own): one thread and one ring with SINGLE_ISSUER and DEFER_TASKRUN, one io_uring_enter per pass that submits and waits; multishot accept into the ring's file table, a multishot receive per connection into a provided-buffer ring, each chunk sent back from its buffer; what the kernel alone costs through io_uring (a measuring stick, not a server)", start: startFloorCUring, available: floorCUringAvailable},
		{Name: "floor-c-uring-plain", Kind: Echo, Note: "floor-c-uring with its connections as ordinary descriptors (-plain), which every request looks up: what the ring's file table saves (a measuring stick, not a server)", start: startFloorCUringPlain, available: floorCUringAvailable, OptIn: true},
		{Name: "std-http", Kind: HTTP, Baseline: true, Note: "net/http.Server, hello handler", start: startStdHTTP},
		{Name: "upoll-http", Kind: HTTP, Sweepable: true, Note: "net/http.Server on the upoll adapters/nethttp listener, same handler; " + upollDefaults(false), Backend: "epoll", start: startUpollHTTP, available: upollHTTPAvailable},
		{Name: "upoll-uring-http", Kind: HTTP, Note: "upoll-http on netpoll.BackendUring", Backend: "uring", start: startUpollUringHTTP, available: upollUringAvailable},
		{Name: "upoll-http-park", Kind: HTTP, Sweepable: true, Note: "upoll-http with idle keep-alive parking (nethttp.EnableParking, default linger): idle conns leave http.Server and wait on a poller with no goroutine; " + upollDefaults(false), Backend: "epoll", start: startUpollHTTPPark, available: upollHTTPAvailable, Settle: nethttp.DefaultLinger + 250*time.Millisecond},
		{Name: "fasthttp", Kind: HTTP, Note: "github.com/valyala/fasthttp " + fasthttpVersion + ", hello handler", start: startFastHTTP},
		{Name: "nbio-http", Kind: HTTP, Note: "github.com/lesismal/nbio/nbhttp " + nbioVersion + " Engine defaults, same http.Handler", start: startNbioHTTP},
		{Name: "std-rpc", Kind: RPC, Baseline: true, Client: "std", Note: "net on both ends: a goroutine per connection in the server, and in the client a reader goroutine per connection delivering answers by id", start: startStdRPC},
		{Name: "upoll-rpc", Kind: RPC, Client: "upoll", Backend: "epoll", Note: "upoll on both ends: a netpoll.Server handler, and a client whose dialed connections live on a poller group of its own with a handler delivering answers by id (no goroutine waits in a read), whose callers queue requests with Writer.FlushAsync (the poller writes what they queued meanwhile in one writev); defaults", start: startUpollRPC},
	}
}

// Lookup returns the target called name.
func Lookup(name string) (Target, bool) {
	ts := Targets()
	i := slices.IndexFunc(ts, func(t Target) bool { return t.Name == name })
	if i < 0 {
		return Target{}, false
	}
	return ts[i], true
}

// Names returns the names of all targets.
func Names() []string {
	var n []string
	for _, t := range Targets() {
		n = append(n, t.Name)
	}
	return n
}

// DefaultNames returns the targets that "all" selects: every one but
// the opt-in ones.
func DefaultNames() []string {
	var n []string
	for _, t := range Targets() {
		if !t.OptIn {
			n = append(n, t.Name)
		}
	}
	return n
}

// Mem is the server's memory as its runtime sees it, after a forced GC.
type Mem struct {
	HeapAlloc  uint64 `json:"heap_alloc"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
	RSS        uint64 `json:"rss"`
}

// ReadMem collects garbage, returns free memory to the OS, and reports.
func ReadMem() Mem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := proc.ReadRSS(os.Getpid())
	return Mem{
		HeapAlloc:  ms.HeapAlloc,
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		Sys:        ms.Sys,
		Goroutines: runtime.NumGoroutine(),
		RSS:        rss,
	}
}

// Run starts target name on addr and serves the control protocol on in/out
// until in reaches EOF or says "quit".
//
// If cpuprofile is not empty, a CPU profile of the server covering
// everything from READY to exit is written there.
func Run(name, addr, opts, cpuprofile string, in io.Reader, out io.Writer) error {
	t, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("unknown target %q", name)
	}
	if opts != "" && !t.Sweepable {
		return fmt.Errorf("target %s takes no -opts", name)
	}
	a, err := t.start(addr, opts)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// A target serving from a process of its own names it: that process
	// is the one whose CPU and memory are read.
	pid := os.Getpid()
	if x, ok := a.(externalAddr); ok {
		pid = x.pid
	}
	if _, err := fmt.Fprintf(out, "READY %d %s\n", pid, a); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "mem":
			m := Mem{}
			if pid == os.Getpid() {
				m = ReadMem()
			} else {
				m.RSS, _ = proc.ReadRSS(pid)
			}
			b, _ := json.Marshal(m)
			fmt.Fprintf(out, "MEM %s\n", b)
		case "stats":
			c := Counters{}
			switch x := a.(type) {
			case upollAddr:
				c = x.counters()
			case externalAddr:
				if x.counters != nil {
					var err error
					if c, err = x.counters(); err != nil {
						fmt.Fprintf(os.Stderr, "%s: counters: %v\n", name, err)
					}
				}
			}
			b, _ := json.Marshal(c)
			fmt.Fprintf(out, "STATS %s\n", b)
		case "quit":
			return nil
		case "":
		default:
			fmt.Fprintf(out, "ERR unknown command %q\n", cmd)
		}
	}
	return sc.Err()
}

// acceptLoop accepts until ln is closed, handing each conn to serve. Temporary
// errors (EMFILE and friends) are retried, as http.Server does.
func acceptLoop(ln net.Listener, serve func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() {
				continue
			}
			fmt.Fprintln(os.Stderr, "accept:", err)
			return
		}
		go serve(c)
	}
}
