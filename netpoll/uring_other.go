//go:build !linux

package netpoll

import (
	"fmt"
	"sync/atomic"

	"github.com/upoll/upoll/buffer"
)

// resolveUring: io_uring is Linux-only.
func (c *config) resolveUring(envSet uint16) error {
	return fmt.Errorf("%w: uring: io_uring is Linux-only", ErrBackendUnavailable)
}

// openPollset opens the pollset of a poller of cfg's backend.
func openPollset(cfg *config, ctr *pollerCounters) (*pollset, error) {
	return newPollset(cfg.Wait == WaitRuntime || cfg.Wait == WaitAdaptive, cfg.Wait == WaitAdaptive, &ctr.waits)
}

// readv reads the socket fd (see the Linux version).
func (ep *pollset) readv(fd int, vecs [][]byte, calls *atomic.Uint64) (int, error) {
	calls.Add(1)
	return sysReadv(fd, vecs)
}

// inputQueued: no pollset here (see the Linux version).
func (ep *pollset) inputQueued(fd int) bool { return false }

// heldInput: no ring here; unread input is the socket's.
func (ep *pollset) heldInput(fd int) bool { return false }

// ringStats adds nothing: there is no ring here.
func (ep *pollset) ringStats(s *PollerStats) {}

// ringSend reports false: output is written with writev.
func (ep *pollset) ringSend(c *Conn) bool { return false }

// sendsOnRing reports false: a Flush writes its batch itself.
func (ep *pollset) sendsOnRing(c *Conn, n int) bool { return false }

// submit does nothing: there is no ring here.
func (ep *pollset) submit() {}

// pollErr: no pollset but epoll's here, whose watch never ends with an
// error.
func (ep *pollset) pollErr(fd int) error { return nil }

// accept accepts on the listening socket fd with accept4.
func (ep *pollset) accept(fd int) (int, sockaddr, error) { return sysAccept(fd) }

// pinLeader reports false: there is no ring's task work to keep on one
// thread.
func (ep *pollset) pinLeader() bool { return false }

func (ep *pollset) unpinLeader() {}

func (ep *pollset) releaseForPark() bool { return false }

func (ep *pollset) noPin() {}

func (ep *pollset) loopDone() {}

// fillIn takes nothing: input is read from the socket.
func (ep *pollset) fillIn(fd int, lb *buffer.LinkBuffer, size int) (int, error, bool) {
	return 0, nil, false
}
