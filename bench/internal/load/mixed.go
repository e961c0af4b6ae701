package load

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultHoldPerProcess is the most idle connections one helper process
// of the mixed workload holds: well inside the fd limit of 20,000 per
// process.
const DefaultHoldPerProcess = 7500

// holdTimeout bounds the time helpers take to open their connections; it
// ends inside the minute the harness waits for a result, so that a
// helper's failure is what the run reports.
const holdTimeout = 45 * time.Second

// mixed drives ping-pong on Conns connections while Idle more, opened by
// helper processes of their own, stay open and silent: the server holds
// Conns+Idle connections, and its CPU per message shows what the idle ones
// cost it. The helpers are up, every one of their connections served once,
// before the active connections are dialled.
func (r *run) mixed(sample func(int)) error {
	hs, err := startHolders(r.cfg)
	if err != nil {
		return err
	}
	err = r.steady(sample)
	for _, h := range hs {
		if herr := h.stop(); herr != nil && err == nil {
			err = herr
		}
	}
	if err == nil {
		r.held = r.cfg.Idle
	}
	return err
}

// holder is a helper load generator ("-role load -workload idle") that
// holds idle connections to the server.
type holder struct {
	n      int
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *strings.Builder
	mu     *sync.Mutex // guards stderr, written by exec's copier
	reaped sync.Once
}

// startHolders starts enough helpers for cfg.Idle connections, at most
// cfg.HoldPerProcess each, and returns once all of them hold all of theirs.
// On error none is left running.
func startHolders(cfg Config) ([]*holder, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	per := cfg.HoldPerProcess
	if per <= 0 {
		per = DefaultHoldPerProcess
	}
	var hs []*holder
	stopAll := func() {
		for _, h := range hs {
			h.kill()
		}
	}
	// The active connections are numbered 0..Conns-1; the helpers'
	// connections follow, each helper's after the previous helper's.
	id := cfg.Conns
	for left := cfg.Idle; left > 0; {
		// Even shares, so no helper holds far more than another.
		procs := (left + per - 1) / per
		n := (left + procs - 1) / procs
		h, err := startHolder(exe, cfg, n, id)
		if err != nil {
			stopAll()
			return nil, err
		}
		hs = append(hs, h)
		left -= n
		id += n
	}
	// A helper that hangs is killed, which ends its wait below.
	timer := time.AfterFunc(holdTimeout, stopAll)
	defer timer.Stop()
	errs := make(chan error, len(hs))
	for _, h := range hs {
		go func() { errs <- h.opened() }()
	}
	var first error
	for range hs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		stopAll()
		return nil, first
	}
	return hs, nil
}

// startHolder runs this executable in the load role, holding n idle
// connections to cfg.Addr, numbered from first. The environment is this
// process's, which marks it as a harness child.
func startHolder(exe string, cfg Config, n, first int) (*holder, error) {
	cmd := exec.Command(exe, "-role", "load", "-workload", Idle, "-proto", "echo", "-addr", cfg.Addr,
		"-n", strconv.Itoa(n), "-msg", strconv.Itoa(cfg.Size), "-first-id", strconv.Itoa(first))
	h := &holder{n: n, cmd: cmd, stderr: new(strings.Builder), mu: new(sync.Mutex)}
	cmd.Stderr = lockedWriter{h.mu, h.stderr}
	var err error
	if h.in, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	h.out = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mixed: start a helper: %w", err)
	}
	return h, nil
}

// opened waits for the helper's two reports (half of its connections
// open, then all), answering the first so that it goes on.
func (h *holder) opened() error {
	for reports := 0; reports < 2; {
		l, err := h.out.ReadString('\n')
		if err != nil {
			return h.failed("opening its connections", err)
		}
		switch {
		case strings.HasPrefix(l, "IDLE "):
			reports++
			if reports == 1 {
				if _, err := io.WriteString(h.in, "more\n"); err != nil {
					return h.failed("opening its connections", err)
				}
			}
		case strings.HasPrefix(l, "ERROR "):
			return h.failed("opening its connections", fmt.Errorf("%s", strings.TrimSpace(strings.TrimPrefix(l, "ERROR "))))
		}
	}
	return nil
}

// stop has the helper close its connections and checks its result: every
// connection served once and its bytes verified.
func (h *holder) stop() error {
	io.WriteString(h.in, "close\n")
	h.in.Close()
	for {
		l, err := h.out.ReadString('\n')
		if err != nil {
			h.kill()
			return h.failed("closing", err)
		}
		rest, ok := strings.CutPrefix(l, "RESULT ")
		if !ok {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(rest), &res); err != nil {
			h.kill()
			return h.failed("closing", err)
		}
		var werr error
		h.reaped.Do(func() { werr = h.cmd.Wait() })
		if werr != nil {
			return h.failed("closing", werr)
		}
		if !res.Verified || res.Ops != uint64(h.n) {
			return fmt.Errorf("mixed: a helper served %d of %d idle connections (%d errors, first: %s)", res.Ops, h.n, res.Errors, res.FirstError)
		}
		return nil
	}
}

// kill ends the helper and reaps it; its connections close with it.
func (h *holder) kill() {
	h.reaped.Do(func() {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
}

func (h *holder) failed(what string, err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := strings.TrimSpace(h.stderr.String())
	if len(msg) > 2000 {
		msg = msg[len(msg)-2000:]
	}
	if msg != "" {
		msg = " (stderr: " + msg + ")"
	}
	return fmt.Errorf("mixed: a helper holding %d idle connections failed %s: %w%s", h.n, what, err, msg)
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
