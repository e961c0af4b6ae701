package server

import (
	"fmt"
	"strconv"
	"strings"
)

// Options is one point of the experiment sweep, parsed from a -opts string
// such as "trigger=et,wait=spin,dispatch=inline,pollers=2". Empty fields keep
// upoll's defaults.
type Options struct {
	Trigger  string // lt, et, oneshot
	Wait     string // block, spin, runtime
	Dispatch string // pool, each, inline
	Pollers  int    // 0: default
	Echo     string // upoll-echo handler: copy (default) or slice (zero-copy)
}

var optionValues = map[string][]string{
	"trigger":  {"lt", "et", "oneshot"},
	"wait":     {"block", "spin", "runtime", "adaptive"},
	"dispatch": {"handoff", "pool", "each", "inline"},
	"echo":     {"copy", "slice"},
}

// optionAliases are the spellings UPOLL also accepts (netpoll's env.go),
// so that -variants takes what UPOLL takes; they are stored as the
// canonical value.
var optionAliases = map[string]string{
	"trigger=level": "lt",
	"trigger=edge":  "et",
}

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
		if canon, ok := optionAliases[k+"="+v]; ok {
			v = canon
		}
		if k == "pollers" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 64 {
				return o, fmt.Errorf("pollers=%q: want 1..64", v)
			}
			o.Pollers = n
			continue
		}
		allowed, known := optionValues[k]
		if !known {
			return o, fmt.Errorf("unknown option %q (want trigger, wait, dispatch, pollers, echo)", k)
		}
		valid := false
		for _, a := range allowed {
			valid = valid || a == v
		}
		if !valid {
			return o, fmt.Errorf("%s=%q: want one of %s", k, v, strings.Join(allowed, ", "))
		}
		switch k {
		case "trigger":
			o.Trigger = v
		case "wait":
			o.Wait = v
		case "dispatch":
			o.Dispatch = v
		case "echo":
			o.Echo = v
		}
	}
	return o, nil
}

// String formats o the way ParseOptions reads it.
func (o Options) String() string {
	var p []string
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
	if o.Echo != "" {
		p = append(p, "echo="+o.Echo)
	}
	return strings.Join(p, ",")
}

// SweepGrid returns every combination the -sweep experiment runs:
// trigger x wait x dispatch x pollers.
func SweepGrid(pollers []int) []Options {
	var g []Options
	for _, t := range optionValues["trigger"] {
		for _, w := range optionValues["wait"] {
			for _, d := range optionValues["dispatch"] {
				for _, p := range pollers {
					g = append(g, Options{Trigger: t, Wait: w, Dispatch: d, Pollers: p})
				}
			}
		}
	}
	return g
}
