package nethttp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestAsGoListenerMatrix(t *testing.T) {
	type sc struct {
		name string
		f    func(t *testing.T, st revStack) []string
	}
	scenarios := []sc{
		{"relistenSamePort", func(t *testing.T, st revStack) []string {
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			srv, peer := revAccept(t, ln)
			ln.Close()
			// An accepted conn still open, the port is taken again at once.
			var ln2 net.Listener
			if st.name == "go" {
				ln2, err = net.Listen("tcp", addr)
			} else {
				ln2, err = reListen(st, addr)
			}
			out := []string{errDesc(err)}
			if err == nil {
				s2, p2 := revAccept(t, ln2)
				p2.Write([]byte("x"))
				b := make([]byte, 1)
				_, err = s2.Read(b)
				out = append(out, errDesc(err))
				ln2.Close()
			}
			// The old pair still works.
			peer.Write([]byte("y"))
			b := make([]byte, 1)
			_, err = srv.Read(b)
			return append(out, errDesc(err), string(b))
		}},
		{"dataThenCloseBeforeAccept", func(t *testing.T, st revStack) []string {
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("data"))
			c.Close()
			time.Sleep(200 * time.Millisecond)
			s, err := acceptWithin(ln, 2*time.Second)
			if err != nil {
				return []string{"accept: " + errDesc(err)}
			}
			defer s.Close()
			s.SetDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(s)
			return []string{string(b), errDesc(err), fmt.Sprintf("%T", s.RemoteAddr())}
		}},
		{"resetBeforeAccept", func(t *testing.T, st revStack) []string {
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("data"))
			time.Sleep(50 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			time.Sleep(200 * time.Millisecond)
			s, err := acceptWithin(ln, 500*time.Millisecond)
			if err != nil {
				return []string{"accept: " + errDesc(err)}
			}
			defer s.Close()
			s.SetDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(s)
			return []string{"accepted", string(b), errDesc(err)}
		}},
		{"concurrentAccepts", func(t *testing.T, st revStack) []string {
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			const n = 100
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			var accErrs []string
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						c, err := ln.Accept()
						if err != nil {
							mu.Lock()
							accErrs = append(accErrs, errDesc(err))
							mu.Unlock()
							return
						}
						c.SetDeadline(time.Now().Add(5 * time.Second))
						b := make([]byte, 16)
						k, _ := io.ReadFull(c, b[:4])
						mu.Lock()
						got[string(b[:k])]++
						mu.Unlock()
						c.Close()
					}
				}()
			}
			for i := range n {
				c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(c, "%04d", i)
				c.Close()
			}
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				k := len(got)
				mu.Unlock()
				if k == n {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			ln.Close()
			wg.Wait()
			dups := 0
			for _, v := range got {
				if v != 1 {
					dups++
				}
			}
			sort.Strings(accErrs)
			return []string{fmt.Sprint(len(got), dups), fmt.Sprint(accErrs)}
		}},
		{"acceptAfterCloseTwice", func(t *testing.T, st revStack) []string {
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
			_, e1 := ln.Accept()
			_, e2 := ln.Accept()
			var oe *net.OpError
			errors.As(e1, &oe)
			return []string{errDesc(e1), errDesc(e2), fmt.Sprintf("%T", oe.Addr), errDesc(ln.Close())}
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { revCompare(t, s.f) })
	}
}

// reListen listens on addr with st's backend.
func reListen(st revStack, addr string) (net.Listener, error) {
	for _, s := range revStacks() {
		if s.name == st.name {
			return s.listenAddr(addr)
		}
	}
	return nil, fmt.Errorf("no stack %s", st.name)
}

func acceptWithin(ln net.Listener, d time.Duration) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-time.After(d):
		ln.Close()
		r := <-ch
		if r.c != nil {
			r.c.Close()
		}
		return nil, errors.New("no connection to accept")
	}
}
