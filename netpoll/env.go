package netpoll

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// EnvVar names the environment variable that overrides a server's
// configuration without changing its code, in the spirit of GODEBUG:
//
//	UPOLL=trigger=edge,wait=runtime,pollers=4,dispatch=inline ./server
//
// Precedence, lowest first: the defaults (DefaultConfig, and for a
// Server without a handler the accept-mode values Config names), then
// UPOLL, then the options passed in code. An explicit option therefore
// always wins, even one that asks for the default (WithPollers(0),
// WithTrigger(LevelTriggered)), and UPOLL changes only what the program
// left to its defaults. NewServer, Listen and Dialer.DialContext (with
// Options) read the variable each time they are called (Server.Listen
// uses its server's configuration), and the default poller group of
// dialed connections reads it once, when the first Dial starts it; a key
// it does not know, or a value it cannot parse or out of the range
// given below, makes the call fail with an *EnvError naming the key.
//
// Keys and values (their ASCII letters in any case):
//
//	backend    default, epoll, std, uring (see Backend)
//	trigger    level|lt, edge|et, oneshot
//	wait       default, block, spin, runtime, adaptive
//	spin       empty epoll_wait(0) polls before blocking (1 to 65536)
//	pollers    number of epoll instances (1 to 65536)
//	dispatch   handoff, pool, inline, each
//	balance    roundrobin|rr, leastconn|lc
//	reuseport  true|false|1|0
//	maxinput   bytes of unread input per connection (> 0, at most 1g; suffix k, m, g)
//	maxoutput  bytes of unsent output per connection (> 0, at most 1g; suffix k, m, g)
//	budget     bytes buffered by all connections of a Server (> 0; suffix k, m, g;
//	           below one connection's maxinput+maxoutput it fails as WithBufferBudget does)
//	readtimeout, writetimeout, idletimeout   a time.Duration ("5s"; 0 = none)
//	maxconns   connections a Server holds open at once (0 = no limit, at most 1073741824)
const EnvVar = "UPOLL"

// ErrBadEnv is wrapped by every *EnvError.
var ErrBadEnv = errors.New("netpoll: bad " + EnvVar + " override")

// EnvError reports one bad entry of an UPOLL override.
type EnvError struct {
	Key    string // the key as written ("" when the entry has no key or no '=')
	Value  string // the value as written, or the entry when Key is ""
	Reason string // what is wrong with it
}

// Error names the variable, the key and value as written, and what is
// wrong with them.
func (e *EnvError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("netpoll: %s: entry %q: %s", EnvVar, e.Value, e.Reason)
	}
	return fmt.Sprintf("netpoll: %s: key %q value %q: %s", EnvVar, e.Key, e.Value, e.Reason)
}

// Unwrap lets errors.Is(err, ErrBadEnv) match.
func (e *EnvError) Unwrap() error { return ErrBadEnv }

// ParseEnv parses an override in the UPOLL syntax (comma-separated
// key=value pairs; blanks around entries are ignored, an empty string
// means no override) into options. It reports the first bad entry.
func ParseEnv(s string) ([]Option, error) {
	var opts []Option
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		key, value, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, &EnvError{Value: entry, Reason: "want key=value"}
		}
		key = asciiLower(strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		if key == "" {
			return nil, &EnvError{Value: entry, Reason: "empty key (known: " + strings.Join(envKeys[:], ", ") + ")"}
		}
		opt, reason := envOption(key, asciiLower(value))
		if reason != "" {
			return nil, &EnvError{Key: key, Value: value, Reason: reason}
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

// envOptions returns the options of the current UPOLL value.
func envOptions() ([]Option, error) {
	return ParseEnv(os.Getenv(EnvVar))
}

// envOption maps one key and its lower-cased value to an option, or
// returns why it cannot.
func envOption(key, v string) (Option, string) {
	switch key {
	case "backend":
		return enumOption(&backendNames, v, WithBackend)
	case "trigger":
		return enumOption(&triggerNames, v, WithTrigger)
	case "wait":
		return enumOption(&waitNames, v, WithWait)
	case "dispatch":
		return enumOption(&dispatchNames, v, WithDispatch)
	case "balance":
		return enumOption(&balanceNames, v, WithBalance)
	case "reuseport":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, "want true or false"
		}
		return WithReusePort(b), ""
	case "pollers", "spin":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxEnvCount {
			return nil, fmt.Sprintf("want an integer from 1 to %d", maxEnvCount)
		}
		if key == "pollers" {
			return WithPollers(n), ""
		}
		return WithSpin(n), ""
	case "maxinput", "maxoutput":
		n, ok := parseSize(v)
		if !ok || n > maxBound {
			return nil, "want a positive byte count up to 1g, optionally with k, m or g"
		}
		if key == "maxinput" {
			return WithMaxInput(n), ""
		}
		return WithMaxOutput(n), ""
	case "budget":
		n, ok := parseSize(v)
		if !ok {
			return nil, "want a positive byte count, optionally with k, m or g"
		}
		return WithBufferBudget(int64(n)), ""
	case "maxconns":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxEnvConns {
			return nil, fmt.Sprintf("want an integer from 0 (no limit) to %d", maxEnvConns)
		}
		return WithMaxConns(n), ""
	case "readtimeout", "writetimeout", "idletimeout":
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, "want a non-negative duration such as 5s"
		}
		switch key {
		case "readtimeout":
			return WithReadTimeout(d), ""
		case "writetimeout":
			return WithWriteTimeout(d), ""
		}
		return WithIdleTimeout(d), ""
	}
	return nil, "unknown key (known: " + strings.Join(envKeys[:], ", ") + ")"
}

// envKeys are the keys of EnvVar, in the order Config.String writes
// them; the first eight name the switches of Config.set, bit by bit.
var envKeys = [...]string{"backend", "pollers", "trigger", "wait", "spin", "dispatch", "balance", "reuseport",
	"maxinput", "maxoutput", "budget", "readtimeout", "writetimeout", "idletimeout", "maxconns"}

// enumOption parses v with the names of its enum (names.go).
func enumOption[T ~int](names *enumNames[T], v string, with func(T) Option) (Option, string) {
	var t T
	if names.unmarshal(&t, []byte(v)) != nil {
		return nil, "want " + names.want()
	}
	return with(t), ""
}

// maxEnvConns bounds maxconns: more connections than that cannot be
// open, so a larger number is more likely a typo than a limit.
const maxEnvConns = 1 << 30

// maxEnvCount bounds pollers and spin so that a typo cannot ask for a
// million epoll instances.
const maxEnvCount = 1 << 16

// parseSize parses a positive byte count with an optional k, m or g
// (binary) suffix, refusing values that do not fit an int.
func parseSize(v string) (int, bool) {
	shift := 0
	switch {
	case strings.HasSuffix(v, "k"):
		shift = 10
	case strings.HasSuffix(v, "m"):
		shift = 20
	case strings.HasSuffix(v, "g"):
		shift = 30
	}
	if shift > 0 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > int64(min(1<<40, math.MaxInt))>>shift {
		return 0, false
	}
	return int(n << shift), true
}
