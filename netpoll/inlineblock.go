package netpoll

// fOutBlocked marks a connection whose inline handler (DispatchInline)
// was told ErrWouldBlock by a write or Flush: more than its bound was
// queued, and the handler, which runs on the poller that alone sends
// the queue, could not wait for room. It returned, perhaps leaving a
// Flush's batch kept and requests of its input unanswered. No input
// may come to run it again (the peer may wait for the answers), so the
// poller goes on for it once the queue has drained to MaxOutput
// (resumeBlocked). Set by drainOutWait on the loop; cleared by
// resumeBlocked, or by the next handler run, which answers for it.
const fOutBlocked = fUnix << 12

// resumeBlocked goes on where an inline handler stopped on
// ErrWouldBlock, once its output has drained to MaxOutput: it sends
// the batch a refused Flush kept, then runs the handler again if input
// it has not taken is buffered, or the runner alone, which closes the
// connection, if the peer has ended its input (a run that stopped for
// room does not close it: see run). Runs on the poller's loop, with a
// reference, no handler of the loop running.
//
// The kept batch is sent for the handler, which asked for it with its
// Flush: the writes that could add to it were refused too while the
// queue was over its bound (beginGrow), and a handler run since would
// have cleared the flag. A goroutine holding wmu is building or
// flushing a batch of its own; its Flush sends the kept bytes with
// its own.
func (c *Conn) resumeBlocked() {
	f := c.flags.Load()
	if f&fOutBlocked == 0 || c.out.Len() > c.owner.cfg.MaxOutput {
		return
	}
	c.flags.And(^uint32(fOutBlocked))
	c.wakeRelays()
	if c.fdst.closed() {
		return
	}
	if c.out.MallocLen() > 0 && f&fWrShut == 0 && c.wmu.TryLock() {
		if c.out.MallocLen() > 0 && c.out.Flush() == nil {
			c.sendOut()
			if c.out.Len() > 0 {
				c.updateEvents() // EPOLLOUT for the rest
			}
		}
		c.wmu.Unlock()
	}
	if c.owner.handler != nil && (c.in.Len() > 0 || c.flags.Load()&fPeerEOF != 0) {
		c.schedule() // with nothing buffered, the run closes after the peer's EOF
	}
}

// resumeLater has c's loop run resumeBlocked at the end of its pass:
// not at once, since the sender that drained c's output may be a
// handler of the loop (one writing to another connection, or the
// handler that was refused, flushing again). Off the loop, the loop is
// woken to take c through its flush queue, unless it has stopped.
func (p *poller) resumeLater(c *Conn) {
	if !p.onLoop() {
		p.qmu.Lock()
		done := p.flushDone
		p.qmu.Unlock()
		if !done {
			p.queueFlush(c) // sendQueued calls resumeLater on the loop
		}
		return
	}
	if c.incref() {
		p.resumes = append(p.resumes, c)
	}
}

// runResumes goes on for the connections resumeLater listed. A handler
// that it runs and that is refused again lists its connection for a
// later pass (the next drain of its output), not for this one.
func (p *poller) runResumes() {
	rs := p.resumes
	p.resumes = nil
	for i, c := range rs {
		rs[i] = nil
		c.resumeBlocked()
		c.decref()
	}
	if p.resumes == nil {
		p.resumes = rs[:0]
	}
}

// dropResumes lets go of the listed connections once the loop has
// ended.
func (p *poller) dropResumes() {
	for i, c := range p.resumes {
		p.resumes[i] = nil
		c.decref()
	}
	p.resumes = nil
}
