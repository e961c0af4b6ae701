package netpoll

import (
	"sync/atomic"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/uring"
)

// Bounds of the pieces of the buffer group that LinkBuffers may hold
// without a copy. A piece pins its whole buffer (on an incremental group,
// a buffer that carries the input of other connections too) until the
// handler releases it, and a handler may keep it for as long as it likes
// (Slice). Past either bound a piece is copied into a node of the
// LinkBuffer's own and given back at once, so a connection whose handler
// keeps its input holds at most uringMaxLent pieces, and the connections
// of a poller together at most half of the group: the other half stays
// the kernel's, and when it runs dry the receives fall back to readv.
const (
	uringMaxLent      = 16
	uringMaxLentGroup = uringBufs / 2
)

// uringLent counts the pieces of one connection's input held by
// LinkBuffers (its own and the Slices made of it) and gives each back
// to the group when the last of them is done with it: it is the
// Releaser of those foreign nodes, tag the buffer id. It outlives the
// registration, the connection and the poller as long as pieces are
// held; the BufRing keeps its buffers mapped until the last comes back.
type uringLent struct {
	br   *uring.BufRing
	held atomic.Int32
}

func (l *uringLent) ReleaseForeign(tag uintptr) {
	l.held.Add(-1)
	l.br.Recycle(uint16(tag))
}

// fillIn moves stashed input of fd into lb, whole pieces in order until
// at least size bytes or the stash is empty: linked as nodes of lb while
// the connection and the poller are below their bounds (see
// uringMaxLent), copied otherwise. It mirrors readStash: took is false
// when there is no stash to read (the socket must be read), n < size
// means the stash is empty, and errAgain that the receive will bring
// more. On epoll, and with zero copy turned off, it takes nothing.
//
// It runs under the set's mu, like readStash: lb's calls take only lb's
// own lock, and a piece given back at once (a closed lb) takes only the
// group's.
func (ep *pollset) fillIn(fd int, lb *buffer.LinkBuffer, size int) (n int, err error, took bool) {
	u := ep.ur
	if u == nil || !u.zcOn {
		return 0, nil, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	reg := u.reg(fd)
	if reg == nil || !reg.recvMode {
		return 0, nil, false
	}
	if int(reg.head) < len(reg.stash) && reg.lent == nil {
		reg.lent = &uringLent{br: u.br}
	}
	l := reg.lent
	for int(reg.head) < len(reg.stash) && n < size {
		ch := reg.stash[reg.head]
		reg.stash[reg.head] = uringChunk{}
		reg.head++
		n += len(ch.data)
		if l.held.Load() < uringMaxLent && u.br.InUse() <= uringMaxLentGroup {
			l.held.Add(1)
			lb.WriteForeign(ch.data, l, uintptr(ch.id)) // gives it back itself on error
		} else {
			lb.WriteBinary(ch.data)
			u.br.Recycle(ch.id)
		}
	}
	if n > 0 {
		lb.Flush()
	}
	return u.stashRead(reg, n)
}
