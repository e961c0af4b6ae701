package nethttp

import (
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// revConnScenario is one net.Conn scenario: f gets the conn under test and
// a Go conn at the other end, and returns what it observed.
type revConnScenario struct {
	name string
	f    func(t *testing.T, c, peer net.Conn) []string
}

func revConnScenarios() []revConnScenario {
	type sc = revConnScenario
	return []sc{
		{"addrs", func(t *testing.T, c, peer net.Conn) []string {
			la, ra := c.LocalAddr(), c.RemoteAddr()
			c.Close()
			la2, ra2 := c.LocalAddr(), c.RemoteAddr()
			return []string{fmt.Sprintf("%T %T", la, ra),
				fmt.Sprint(la.String() == peer.RemoteAddr().String(), ra.String() == peer.LocalAddr().String()),
				fmt.Sprint(la2 != nil && la2.String() == la.String(), ra2 != nil && ra2.String() == ra.String()),
				fmt.Sprint(la.Network(), ra.Network())}
		}},
		{"afterClose", func(t *testing.T, c, peer net.Conn) []string {
			var out []string
			out = append(out, errDesc(c.Close()))
			out = append(out, errDesc(c.Close()))
			_, err := c.Read(make([]byte, 1))
			out = append(out, errDesc(err))
			_, err = c.Read(nil)
			out = append(out, errDesc(err))
			_, err = c.Write([]byte("x"))
			out = append(out, errDesc(err))
			_, err = c.Write(nil)
			out = append(out, errDesc(err))
			out = append(out, errDesc(c.SetDeadline(time.Now())))
			out = append(out, errDesc(c.SetReadDeadline(time.Now())))
			out = append(out, errDesc(c.SetWriteDeadline(time.Now())))
			out = append(out, errDesc(c.(interface{ CloseWrite() error }).CloseWrite()))
			out = append(out, errDesc(c.(interface{ CloseRead() error }).CloseRead()))
			peer.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = peer.Read(make([]byte, 1))
			out = append(out, "peer:"+errDesc(err))
			return out
		}},
		{"pastDeadlineBuffered", func(t *testing.T, c, peer net.Conn) []string {
			peer.Write([]byte("abc"))
			time.Sleep(50 * time.Millisecond)
			c.SetReadDeadline(time.Now().Add(-time.Second))
			n, err := c.Read(make([]byte, 10))
			out := []string{fmt.Sprint(n), errDesc(err)}
			n, err = c.Read(nil)
			out = append(out, fmt.Sprint(n), errDesc(err))
			c.SetReadDeadline(time.Time{})
			n, err = c.Read(make([]byte, 10))
			out = append(out, fmt.Sprint(n), errDesc(err))
			return out
		}},
		{"pastWriteDeadline", func(t *testing.T, c, peer net.Conn) []string {
			c.SetWriteDeadline(time.Now().Add(-time.Second))
			n, err := c.Write([]byte("abc"))
			out := []string{fmt.Sprint(n), errDesc(err)}
			n, err = c.Write(nil)
			out = append(out, fmt.Sprint(n), errDesc(err))
			c.SetWriteDeadline(time.Time{})
			n, err = c.Write([]byte("abc"))
			out = append(out, fmt.Sprint(n), errDesc(err))
			return out
		}},
		{"deadlineShortenedWhileBlocked", func(t *testing.T, c, peer net.Conn) []string {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			// The clock starts before the goroutine that moves the
			// deadline, so that a descheduled test goroutine cannot
			// make a timeout on time look early.
			start := time.Now()
			go func() {
				time.Sleep(50 * time.Millisecond)
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			}()
			_, err := c.Read(make([]byte, 1))
			return []string{errDesc(err), within(time.Since(start), 140*time.Millisecond, 2*time.Second)}
		}},
		{"deadlineClearedWhileBlocked", func(t *testing.T, c, peer net.Conn) []string {
			c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
			start := time.Now() // before the goroutine, as above
			go func() {
				time.Sleep(30 * time.Millisecond)
				c.SetReadDeadline(time.Time{})
				time.Sleep(400 * time.Millisecond)
				peer.Write([]byte("z"))
			}()
			n, err := c.Read(make([]byte, 1))
			return []string{fmt.Sprint(n), errDesc(err), within(time.Since(start), 400*time.Millisecond, 3*time.Second)}
		}},
		{"deadlineFromZeroWhileBlocked", func(t *testing.T, c, peer net.Conn) []string {
			start := time.Now() // before the goroutine, as above
			go func() {
				time.Sleep(50 * time.Millisecond)
				c.SetDeadline(time.Now().Add(50 * time.Millisecond))
			}()
			_, err := c.Read(make([]byte, 1))
			return []string{errDesc(err), within(time.Since(start), 90*time.Millisecond, 2*time.Second)}
		}},
		{"timeoutNotSticky", func(t *testing.T, c, peer net.Conn) []string {
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err1 := c.Read(make([]byte, 1))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			peer.Write([]byte("q"))
			n, err2 := c.Read(make([]byte, 1))
			return []string{errDesc(err1), fmt.Sprint(n), errDesc(err2)}
		}},
		{"closeDuringRead", func(t *testing.T, c, peer net.Conn) []string {
			go func() { time.Sleep(50 * time.Millisecond); c.Close() }()
			_, err := c.Read(make([]byte, 1))
			return []string{errDesc(err)}
		}},
		{"closeDuringWrite", func(t *testing.T, c, peer net.Conn) []string {
			go func() { time.Sleep(100 * time.Millisecond); c.Close() }()
			buf := make([]byte, 64<<20)
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Write(buf)
			return []string{errDesc(err)}
		}},
		{"writeDeadlineMovedPast", func(t *testing.T, c, peer net.Conn) []string {
			start := time.Now() // before the goroutine, as above
			go func() { time.Sleep(100 * time.Millisecond); c.SetWriteDeadline(time.Now().Add(-time.Second)) }()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Write(make([]byte, 64<<20))
			return []string{errDesc(err), within(time.Since(start), 90*time.Millisecond, 2*time.Second)}
		}},
		{"closeWrite", func(t *testing.T, c, peer net.Conn) []string {
			c.Write([]byte("bye"))
			cw := c.(interface{ CloseWrite() error })
			out := []string{errDesc(cw.CloseWrite()), errDesc(cw.CloseWrite())}
			peer.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(peer)
			out = append(out, string(b), errDesc(err))
			_, err = c.Write([]byte("x"))
			out = append(out, errDesc(err))
			peer.Write([]byte("back"))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 10)
			n, err := c.Read(buf)
			out = append(out, string(buf[:n]), errDesc(err))
			return out
		}},
		{"closeReadBlocked", func(t *testing.T, c, peer net.Conn) []string {
			go func() { time.Sleep(50 * time.Millisecond); c.(interface{ CloseRead() error }).CloseRead() }()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(make([]byte, 1))
			out := []string{fmt.Sprint(n), errDesc(err)}
			_, err = c.Write([]byte("still"))
			out = append(out, errDesc(err))
			return out
		}},
		{"closeReadBuffered", func(t *testing.T, c, peer net.Conn) []string {
			peer.Write([]byte("abc"))
			time.Sleep(50 * time.Millisecond)
			c.(interface{ CloseRead() error }).CloseRead()
			c.SetReadDeadline(time.Now().Add(time.Second))
			b, err := io.ReadAll(c)
			return []string{string(b), errDesc(err)}
		}},
		{"peerEOFRepeat", func(t *testing.T, c, peer net.Conn) []string {
			peer.Write([]byte("ab"))
			peer.Close()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(c)
			_, err2 := c.Read(make([]byte, 1))
			_, err3 := c.Read(make([]byte, 1))
			return []string{string(b), errDesc(err), errDesc(err2), errDesc(err3)}
		}},
		{"peerResetAfterData", func(t *testing.T, c, peer net.Conn) []string {
			peer.Write([]byte("ab"))
			time.Sleep(30 * time.Millisecond)
			peer.(*net.TCPConn).SetLinger(0)
			peer.Close()
			time.Sleep(50 * time.Millisecond)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(make([]byte, 10))
			_, err2 := c.Read(make([]byte, 10))
			_, err3 := c.Write([]byte("x"))
			return []string{fmt.Sprint(n), errDesc(err), errDesc(err2), errDesc(err3)}
		}},
		{"peerResetWhileBlocked", func(t *testing.T, c, peer net.Conn) []string {
			go func() {
				time.Sleep(50 * time.Millisecond)
				peer.(*net.TCPConn).SetLinger(0)
				peer.Close()
			}()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err := c.Read(make([]byte, 10))
			return []string{errDesc(err)}
		}},
		{"writeToClosedPeer", func(t *testing.T, c, peer net.Conn) []string {
			peer.Close()
			time.Sleep(50 * time.Millisecond)
			c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				_, err = c.Write(make([]byte, 1024))
				time.Sleep(5 * time.Millisecond)
			}
			return []string{errDesc(err)}
		}},
		{"concurrentReadersClose", func(t *testing.T, c, peer net.Conn) []string {
			var wg sync.WaitGroup
			errs := make([]string, 3)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := c.Read(make([]byte, 1))
					errs[i] = errDesc(err)
				}()
			}
			time.Sleep(50 * time.Millisecond)
			c.Close()
			wg.Wait()
			return errs
		}},
		{"interfaces", func(t *testing.T, c, peer net.Conn) []string {
			_, rf := c.(io.ReaderFrom)
			_, cw := c.(interface{ CloseWrite() error })
			_, cr := c.(interface{ CloseRead() error })
			return []string{fmt.Sprint(rf, cw, cr)}
		}},
	}
}

// runConnScenarios runs the named scenarios on the accepted side (a Go
// dialer at the other end) and on the dialed side (a Go listener at the
// other end) of every stack, and compares each with Go's.
func runConnScenarios(t *testing.T, names ...string) {
	for _, s := range revConnScenarios() {
		if !slices.Contains(names, s.name) {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			revCompare(t, func(t *testing.T, st revStack) []string {
				c, peer := revPair(t, st)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				peer.SetDeadline(time.Now().Add(5 * time.Second))
				got := s.f(t, c, peer)
				got = append([]string{"accepted:"}, got...)
				got = append(got, "dialed:")
				d, dpeer := revDialPair(t, st)
				d.SetDeadline(time.Now().Add(5 * time.Second))
				dpeer.SetDeadline(time.Now().Add(5 * time.Second))
				return append(got, s.f(t, d, dpeer)...)
			})
		})
	}
}

func TestAsGoConnAddrsAndClose(t *testing.T) {
	runConnScenarios(t, "addrs", "afterClose", "closeDuringRead", "closeDuringWrite", "concurrentReadersClose", "interfaces")
}

func TestAsGoConnDeadlines(t *testing.T) {
	runConnScenarios(t, "pastDeadlineBuffered", "pastWriteDeadline", "deadlineShortenedWhileBlocked",
		"deadlineClearedWhileBlocked", "deadlineFromZeroWhileBlocked", "timeoutNotSticky", "writeDeadlineMovedPast")
}

func TestAsGoConnShutdownAndPeer(t *testing.T) {
	runConnScenarios(t, "closeWrite", "closeReadBlocked", "peerEOFRepeat", "peerResetAfterData",
		"peerResetWhileBlocked", "writeToClosedPeer")
}

// TestAsGoCloseReadKeepsReceivedBytes: bytes the peer sent before
// CloseRead are still read after it on Go's connections (Linux keeps
// the receive queue), and netpoll documents the same: "later reads
// return io.EOF once the buffered input is consumed" (netpoll/netconn.go,
// CloseRead). Under BackendStd the bytes are still in the kernel, and
// Read returns io.EOF at once: they are lost.
func TestAsGoCloseReadKeepsReceivedBytes(t *testing.T) {
	runConnScenarios(t, "closeReadBuffered")
}
