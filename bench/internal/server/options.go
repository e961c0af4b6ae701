package server

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// Options is one point of the experiment sweep, parsed from a -opts string
// such as "trigger=edge,wait=spin,dispatch=inline,pollers=2". Empty fields
// keep upoll's defaults. The netpoll keys take the names netpoll's enums
// take (the UPOLL spellings) and hold the name String gives.
type Options struct {
	Backend  string // a netpoll.Backend name: epoll, uring, std
	Trigger  string // a netpoll.Trigger name: level, edge, oneshot
	Wait     string // a netpoll.WaitStrategy name: block, spin, runtime
	Dispatch string // a netpoll.Dispatch name: pool, inline, each
	Pollers  int    // 0: default
	Spin     int    // WaitSpin's empty polls before blocking; 0: default
	Echo     string // upoll-echo handler: copy (default), slice or write (zero-copy)
	// Linger is upoll-http-park's linger (nethttp.WithLinger); 0: the
	// default. The other targets ignore it.
	Linger time.Duration
}

// echoHandlers are the values of the bench's own key, echo.
var echoHandlers = []string{"copy", "slice", "write"}

// ParseOptions parses a -opts string. Values are case-insensitive.
func ParseOptions(s string) (Options, error) {
	var o Options
	if s == "" {
		return o, nil
	}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.ToLower(strings.TrimSpace(kv)), "=")
		if !ok {
			return o, fmt.Errorf("option %q: want key=value", kv)
		}
		var err error
		switch k {
		case "backend":
			o.Backend, err = canonical[netpoll.Backend](v)
		case "trigger":
			o.Trigger, err = canonical[netpoll.Trigger](v)
		case "wait":
			o.Wait, err = canonical[netpoll.WaitStrategy](v)
		case "dispatch":
			o.Dispatch, err = canonical[netpoll.Dispatch](v)
		case "pollers":
			n, aerr := strconv.Atoi(v)
			if aerr != nil || n < 1 || n > 64 {
				return o, fmt.Errorf("pollers=%q: want 1..64", v)
			}
			o.Pollers = n
		case "spin":
			n, aerr := strconv.Atoi(v)
			if aerr != nil || n < 1 || n > 1<<16 {
				return o, fmt.Errorf("spin=%q: want 1..65536", v)
			}
			o.Spin = n
		case "linger":
			d, perr := time.ParseDuration(v)
			if perr != nil || d <= 0 {
				return o, fmt.Errorf("linger=%q: want a positive duration", v)
			}
			o.Linger = d
		case "echo":
			if !slices.Contains(echoHandlers, v) {
				return o, fmt.Errorf("echo=%q: want one of %s", v, strings.Join(echoHandlers, ", "))
			}
			o.Echo = v
		default:
			return o, fmt.Errorf("unknown option %q (want backend, trigger, wait, dispatch, pollers, spin, echo, linger)", k)
		}
		if err != nil {
			return o, fmt.Errorf("%s=%q: %w", k, v, err)
		}
	}
	return o, nil
}

// canonical returns the name netpoll gives the value that v names.
func canonical[T fmt.Stringer, P interface {
	*T
	UnmarshalText([]byte) error
}](v string) (string, error) {
	var t T
	if err := P(&t).UnmarshalText([]byte(v)); err != nil {
		return "", err
	}
	return t.String(), nil
}

// String formats o the way ParseOptions reads it.
func (o Options) String() string {
	var p []string
	if o.Backend != "" {
		p = append(p, "backend="+o.Backend)
	}
	if o.Trigger != "" {
		p = append(p, "trigger="+o.Trigger)
	}
	if o.Wait != "" {
		p = append(p, "wait="+o.Wait)
	}
	if o.Dispatch != "" {
		p = append(p, "dispatch="+o.Dispatch)
	}
	if o.Pollers > 0 {
		p = append(p, "pollers="+strconv.Itoa(o.Pollers))
	}
	if o.Spin > 0 {
		p = append(p, "spin="+strconv.Itoa(o.Spin))
	}
	if o.Echo != "" {
		p = append(p, "echo="+o.Echo)
	}
	if o.Linger > 0 {
		p = append(p, "linger="+o.Linger.String())
	}
	return strings.Join(p, ",")
}

// SweepGrid returns every combination the -sweep experiment runs:
// trigger x wait x dispatch x pollers.
func SweepGrid(pollers []int) []Options {
	triggers := []netpoll.Trigger{netpoll.LevelTriggered, netpoll.EdgeTriggered, netpoll.OneShot}
	waits := []netpoll.WaitStrategy{netpoll.WaitBlock, netpoll.WaitSpin, netpoll.WaitRuntime, netpoll.WaitAdaptive}
	dispatches := []netpoll.Dispatch{netpoll.DispatchHandoff, netpoll.DispatchPool, netpoll.DispatchEach, netpoll.DispatchInline}
	var g []Options
	for _, t := range triggers {
		for _, w := range waits {
			for _, d := range dispatches {
				for _, p := range pollers {
					g = append(g, Options{Trigger: t.String(), Wait: w.String(), Dispatch: d.String(), Pollers: p})
				}
			}
		}
	}
	return g
}
