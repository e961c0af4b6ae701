package netpoll

// fFlushQueued marks a connection that is in its poller's flush queue
// (FlushAsync): later FlushAsync calls add nothing, the queued turn
// sends their bytes too. Set by queueFlush, cleared by the poller
// before it sends, so that a FlushAsync after the send queues again.
const fFlushQueued = fUnix << 5

// FlushAsync: see Writer. Under BackendStd, which has no poller, and
// above MaxOutput it is Flush.
func (w *connWriter) FlushAsync() error { return w.flush(true) }

// queueOut publishes c's output and leaves sending it to the poller.
// The caller holds wmu (Writer).
func (c *Conn) queueOut() error {
	if err := c.out.Flush(); err != nil {
		return c.opErr("write", errClosed)
	}
	if c.flags.Load()&fBroken != 0 {
		return c.opErr("write", c.writeBrokenErr("write"))
	}
	if c.flags.Load()&fPeerReadShut != 0 {
		return c.dropShutOut("write")
	}
	c.p.queueFlush(c)
	return nil
}

// queueFlush has the poller send c's published output. The caller
// holds a reference to c: a writer's (with wmu), or the open reference
// of a close that lingers.
func (p *poller) queueFlush(c *Conn) {
	if c.flags.Or(fFlushQueued)&fFlushQueued != 0 {
		return // queued already: that turn sends these bytes too
	}
	// Taken even if a Close has begun meanwhile (incref would refuse
	// it): the caller's reference (a closer's, the open one) keeps refs
	// above zero. Only a linger timer that dropped the open reference
	// before a lingering close queued makes it fail.
	if !c.fdst.increfClosed() {
		c.flags.And(^uint32(fFlushQueued))
		return
	}
	p.qmu.Lock()
	if p.flushDone {
		// The loop has stopped: nobody would send it.
		p.qmu.Unlock()
		c.flags.And(^uint32(fFlushQueued))
		c.pollFlush()
		c.decref()
		return
	}
	p.flushq = append(p.flushq, c)
	p.qmu.Unlock()
	p.wake()
}

// sendQueued sends the output of the connections FlushAsync queued, on
// the poller's loop. A connection closed since lingers: its turn is
// the lingering close's (as on EPOLLOUT).
func (p *poller) sendQueued(q []*Conn) {
	for i, c := range q {
		q[i] = nil
		c.flags.And(^uint32(fFlushQueued))
		if c.fdst.closed() {
			if c.flags.Load()&fLinger != 0 {
				c.lingerEvent(evOut)
			}
		} else if c.out.Len() > 0 {
			c.pollFlush()
			if c.out.Len() > 0 {
				c.updateEvents() // level-triggered: EPOLLOUT for the rest
			}
		} else if c.flags.Load()&fOutBlocked != 0 {
			p.resumeLater(c) // queued by outSent off the loop
		}
		c.decref()
	}
}

// stopFlushes runs when the loop ends: what is queued is sent here,
// and later FlushAsync calls send on their own goroutine; runners that
// runOnLoop queued start here, later ones on their caller's.
func (p *poller) stopFlushes() {
	p.qmu.Lock()
	q, rq := p.flushq, p.runq
	p.flushq, p.runq, p.flushDone = nil, nil, true
	p.qmu.Unlock()
	p.sendQueued(q)
	for _, c := range rq { // runOnLoop's, queued before the stop
		c.run(0, false)
	}
}
