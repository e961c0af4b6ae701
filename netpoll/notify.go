package netpoll

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// NotifyInput arranges for f to be called once when c has input to
// read: bytes, the peer's shutdown, or a socket error (a reset). It is
// meant for connections of a Server without a handler (accept mode),
// whose owner wants to stop reading without keeping a goroutine blocked
// in Read, and to learn when to read again.
//
// The contract:
//
//   - f runs at most once per call of NotifyInput. A later call replaces
//     a registration that has not run yet.
//   - f runs at once, on the calling goroutine, before NotifyInput
//     returns, if c already has input buffered or the peer has shut
//     down or reset it. Otherwise it runs on the poller
//     goroutine that reads the input, right after the bytes are
//     buffered (under BackendStd, on the goroutine of c that reads
//     them: its handler loop, or its watcher, below); it must not
//     block, since the poller serves other connections. It may call
//     any method of c, Close included. A NotifyInput from within f
//     while c still has input buffered runs its callback at once, on
//     f's stack: a callback that registers again must read first, or
//     it calls itself without end.
//   - Close, from any goroutine, drops a registration that has not
//     started to run, and NotifyInput on a closed c registers nothing:
//     f is never called for a connection closed before its input came.
//   - NotifyInput does not read: the input stays buffered in c for the
//     next Read, in order.
//   - f == nil cancels a registration that has not run.
//   - A panic in f closes c (OnDisconnect sees ErrHandlerPanic), as a
//     handler's does; the process and the poller go on.
//
// A registered connection costs one map entry and no goroutine or
// timer. Under BackendStd, which has no poller to see input arrive, a
// connection without a handler also pays one goroutine blocked in the
// socket's read until input comes or c closes: one per connection,
// however often NotifyInput is called (a cancelled registration's
// goroutine stays until then). A handler's connection reads on its own
// loop, which fires the registration.
func (c *Conn) NotifyInput(f func(*Conn)) {
	if f == nil {
		notifies.drop(c)
		return
	}
	notifies.put(c, f)
	c.armInput()
}

// armInput follows the publication of c's registration: it drops it if c
// has closed, runs it if input is there, and otherwise leaves it to the
// poller (under BackendStd, to a watcher).
func (c *Conn) armInput() {
	if c.fdst.closed() {
		// closeWith may have dropped registrations before this one was
		// put: drop it here.
		notifies.drop(c)
		return
	}
	// Input that came before the registration was published found no
	// one to tell: look for it now. The poller buffers bytes (and flags
	// EOF or an error) before it looks for a registration, so one of the
	// two sees the other.
	if c.in.Len() > 0 || c.flags.Load()&(fPeerEOF|fBroken) != 0 {
		c.fireInput()
		return
	}
	if c.sock != nil && c.owner.handler == nil {
		// A handler's connection has its loop, which reads for the
		// handler and fires (stdFill): a watcher beside it would take
		// input from under the handler, or block in the socket's read
		// after the loop took it.
		c.stdNotifyInput()
	}
}

// stdNotifyInput waits for c's input on a goroutine of its own:
// BackendStd has no poller to see it arrive (a registration there costs
// that goroutine), and c, without a handler, no loop that reads. It
// reads once, so the bytes stay buffered for the next Read, then fires.
// One such watcher runs per connection: a registration put while one
// runs is seen by it (stdWatchInput).
func (c *Conn) stdNotifyInput() {
	if c.sock.watching.CompareAndSwap(false, true) {
		go c.stdWatchInput()
	}
}

// stdWatchInput is the watcher of stdNotifyInput. Once it stops
// watching it looks for a registration put after its last fire: that
// one found it still watching and started no watcher of its own.
func (c *Conn) stdWatchInput() {
	s := c.sock
	for {
		if c.incref() {
			// Until input, EOF or an error, or bytes a reader read (it
			// goes first, see lockRead): bytes a reader left buffered
			// are input, looked at again once the read holds rmu.
			for c.in.Len() == 0 && c.flags.Load()&(fPeerEOF|fBroken) == 0 && !c.fdst.closed() {
				_, err, yielded := c.stdBackgroundRead(1, false, true)
				if !yielded && !errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
			}
			if !c.fdst.closed() {
				c.fireInput()
			}
			c.decref()
		}
		s.watching.Store(false)
		if c.fdst.closed() || !notifies.has(c) || !s.watching.CompareAndSwap(false, true) {
			return
		}
	}
}

// fireInput runs c's input registration, if any, once. The poller calls
// it after buffering input (onInput), having woken a blocked reader
// first; that reader may take all of the input, and its owner register
// (it parks the connection, say) before the poller gets here. A
// registration found with nothing buffered, and neither the peer's end
// nor an error, was made for input still to come: it is let go (unless
// a later NotifyInput replaced it, or a cancel or Close dropped it,
// meanwhile) and armed again, which looks for input once it is
// registered.
func (c *Conn) fireInput() {
	if notifies.n.Load() == 0 {
		return
	}
	f, seq := notifies.claim(c)
	if f == nil {
		return
	}
	if c.in.Len() == 0 && c.flags.Load()&(fPeerEOF|fBroken) == 0 {
		if testHook := testHookUnclaim.Load(); testHook != nil {
			(*testHook)(c)
		}
		if notifies.unclaim(c, seq) {
			c.armInput()
		}
		return
	}
	if testHook := testHookConsume.Load(); testHook != nil {
		(*testHook)(c)
	}
	// A cancel, a Close or a replacement since the claim came first:
	// the callback has not started to run, so it does not.
	if notifies.consume(c, seq) {
		c.callNotify(f)
	}
}

// testHookUnclaim, when set by a test, runs in fireInput between the
// claim of a registration found with nothing to read and its release.
var testHookUnclaim atomic.Pointer[func(c *Conn)]

// testHookConsume, when set by a test, runs in fireInput between the
// claim of a registration found with input to read and its consume.
var testHookConsume atomic.Pointer[func(c *Conn)]

// callNotify runs a NotifyInput callback; a panic in it closes c, as a
// handler's does, rather than the process (it may run on the poller).
func (c *Conn) callNotify(f func(*Conn)) {
	defer func() {
		if r := recover(); r != nil {
			c.closeWith(fmt.Errorf("%w: NotifyInput: %v", ErrHandlerPanic, r))
		}
	}()
	f(c)
}

// dropInput forgets c's input registration; closeWith calls it.
func (c *Conn) dropInput() {
	if notifies.n.Load() != 0 {
		notifies.drop(c)
	}
}

// notifyShards spreads registrations over a few locks, so that
// connections woken on several pollers at once do not contend on one.
const notifyShards = 16

// notifyTable holds the registrations of NotifyInput. It lives outside
// Conn so that connections that never register pay nothing; n lets the
// poller skip the lookup entirely while nothing is registered.
//
// A registration that fireInput looks at is claimed, not removed: a
// claimed one cannot be claimed again (it runs at most once), and it
// stays in the table until fireInput either consumes it, just before it
// runs, or releases it, when there was nothing to read after all. So a
// cancel (NotifyInput(nil)) or a Close that comes while it is claimed
// removes it as it would an unclaimed one: a consume then finds it gone
// and the callback does not run, a release finds it gone and does not
// bring it back. A NotifyInput that replaces it gets a new sequence
// number, which neither the consume nor the release of the old claim
// touches (the old callback does not run either).
type notifyTable struct {
	n      atomic.Int64
	shards [notifyShards]struct {
		mu  sync.Mutex
		m   map[*Conn]notifyReg
		seq uint64   // numbers the registrations put in this shard
		_   [40]byte // keep each shard's lock on a cache line of its own
	}
}

// notifyReg is one registration: the callback, the number of the
// NotifyInput call that put it, and whether fireInput has claimed it.
type notifyReg struct {
	f       func(*Conn)
	seq     uint64
	claimed bool
}

var notifies notifyTable

func (t *notifyTable) shard(c *Conn) int { return int(uint32(c.slot) % notifyShards) }

// put makes f c's registration, replacing one not yet consumed.
func (t *notifyTable) put(c *Conn, f func(*Conn)) {
	s := &t.shards[t.shard(c)]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[*Conn]notifyReg)
	}
	if _, ok := s.m[c]; !ok {
		t.n.Add(1)
	}
	s.seq++
	s.m[c] = notifyReg{f: f, seq: s.seq}
	s.mu.Unlock()
}

// claim returns c's registration and its number, and marks it claimed;
// nil if c has none or it is claimed already.
func (t *notifyTable) claim(c *Conn) (func(*Conn), uint64) {
	s := &t.shards[t.shard(c)]
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[c]
	if !ok || r.claimed {
		return nil, 0
	}
	r.claimed = true
	s.m[c] = r
	return r.f, r.seq
}

// consume removes c's registration seq, which its caller claimed, and
// reports whether it did: the caller runs it only then. It was
// cancelled, dropped by a Close, or replaced since otherwise.
func (t *notifyTable) consume(c *Conn, seq uint64) bool {
	s := &t.shards[t.shard(c)]
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[c]
	if !ok || r.seq != seq {
		return false
	}
	delete(s.m, c)
	t.n.Add(-1)
	return true
}

// unclaim releases c's registration seq, which its caller claimed and
// will not run; it reports whether seq is still c's registration (not
// cancelled, dropped by a Close, or replaced since).
func (t *notifyTable) unclaim(c *Conn, seq uint64) bool {
	s := &t.shards[t.shard(c)]
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[c]
	if !ok || r.seq != seq {
		return false
	}
	r.claimed = false
	s.m[c] = r
	return true
}

// has reports whether c has a registration, claimed or not.
func (t *notifyTable) has(c *Conn) bool {
	if t.n.Load() == 0 {
		return false
	}
	s := &t.shards[t.shard(c)]
	s.mu.Lock()
	_, ok := s.m[c]
	s.mu.Unlock()
	return ok
}

// drop removes c's registration, claimed or not: a claimed one then
// neither runs (if its claimer had not consumed it yet) nor comes back.
func (t *notifyTable) drop(c *Conn) {
	s := &t.shards[t.shard(c)]
	s.mu.Lock()
	if _, ok := s.m[c]; ok {
		delete(s.m, c)
		t.n.Add(-1)
	}
	s.mu.Unlock()
}
