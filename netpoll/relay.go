package netpoll

import "slices"

// An inline handler (DispatchInline) whose write to another connection
// says ErrWouldBlock returns, keeping its input, and more input or the
// drain of its own connection's output would run it again, not the
// drain of the connection that refused it: a relay whose client has
// sent everything would stall. So the refusal is remembered on the
// loop the handler runs on (noteRefused), and once the handler has
// returned its connection is listed with the refusing one's poller
// (relayBlocked); that connection's drain to MaxOutput (resumeBlocked,
// which fOutBlocked calls for), its own handler's next run, or its
// close runs the listed handlers again, each on its own loop
// (wakeRelays). On the data path this costs an inline handler's run
// one atomic load (blockedOn), and nothing elsewhere: the rest runs
// after ErrWouldBlock, and at the close of a connection that said it.
//
// A read's ErrWouldBlock on another connection is not remembered: only
// more input on the handler's own connection runs it again.

// noteRefused records, on the loop of the inline handler that called,
// that c refused its write; called by drainOutWait on ErrWouldBlock,
// with fOutBlocked set on c. A hook's refusal is dropped when it
// returns; a handler's lists its connection (relayBlocked).
func (c *Conn) noteRefused() {
	q := inlineLoopOf(c.p, inlineLoops.load())
	if q == nil || q.blockedOn.Load() == c || !c.incref() {
		return
	}
	if old := q.blockedOn.Swap(c); old != nil { // q's loop is the caller
		old.decref()
	}
}

// relayBlocked lists r, whose inline handler has just returned on p's
// loop (the caller's) after p.blockedOn refused its write, to run again
// once that connection has drained to MaxOutput or closed; r nil (a
// hook's refusal) lists nothing. The refusal set fOutBlocked; if it is
// no longer set, the drain (or a run of the connection's own handler)
// has cleared it already, or it has closed, and r's runner, the
// caller, goes again at once. Every clear of fOutBlocked is followed
// by wakeRelays, which takes relayMu: looked at under relayMu, a set
// flag means that r will be woken. It reports whether r is to run
// again so: its run must then not close it for the peer's end with
// input left, as fOutBlocked keeps it for a refusal of r's own output,
// since it stopped for t's room, not for want of input.
func (p *poller) relayBlocked(r *Conn) bool {
	t := p.blockedOn.Swap(nil)
	if t == nil {
		return false
	}
	defer t.decref()
	if r == nil || r == t {
		return false // a hook's, or r's own output: resumeBlocked runs r
	}
	tp := t.p
	tp.relayMu.Lock()
	if !t.fdst.closed() && t.flags.Load()&fOutBlocked != 0 {
		if tp.relays == nil {
			tp.relays = make(map[*Conn][]*Conn)
		}
		if rs := tp.relays[t]; !slices.Contains(rs, r) { // once, however often refused
			tp.relays[t] = append(rs, r)
		}
		tp.relayMu.Unlock()
		if t.out.Len() == 0 {
			// t's loop may have sent the rest between the refusal's
			// look at the queue and its fOutBlocked, and found no
			// flag then (outSent); no send will come to look again.
			// With output left, one will: it sees the flag. (A
			// second resumeBlocked finds the flag cleared and does
			// nothing.)
			tp.resumeLater(t)
		}
		return true
	}
	tp.relayMu.Unlock()
	r.startRunner() // inside r's run: it goes again
	return true
}

// wakeRelays runs again the handlers that c's output refused (see
// relayBlocked), now that it has drained to MaxOutput, its handler
// runs or it has closed; called after each clear of fOutBlocked, and
// by closeWith.
func (c *Conn) wakeRelays() {
	p := c.p
	p.relayMu.Lock()
	rs := p.relays[c]
	delete(p.relays, c)
	p.relayMu.Unlock()
	for _, r := range rs {
		// No reference is needed: a Conn is never reused, and one
		// closed meanwhile has hDisc set, or its runner, if this
		// starts it first, delivers its OnDisconnect, as after a
		// schedule.
		if r.startRunner() {
			r.p.runOnLoop(r)
		}
	}
}
