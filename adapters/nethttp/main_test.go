package nethttp

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(loadClientEnv); spec != "" {
		if err := runLoadClients(spec); err != nil {
			fmt.Fprintln(os.Stderr, "load clients:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv(idleClientEnv); spec != "" {
		if err := runIdleClients(spec); err != nil {
			fmt.Fprintln(os.Stderr, "idle clients:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if err := warmUp(); err != nil {
		fmt.Fprintln(os.Stderr, "warm-up:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// warmUp starts what lives for the whole process — the pollers of dialed
// connections, the default goroutine pool — so that the leak checks of the
// tests see them in their baseline.
func warmUp() error {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := new(Dialer).Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		return err
	}
	return s.Close()
}
