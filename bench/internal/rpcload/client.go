package rpcload

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// Client makes calls on one of its connections; many calls may be in
// flight on each.
type Client interface {
	// Call sends arg on connection conn and returns the echoed answer.
	Call(conn int, arg []byte) ([]byte, error)
	Close() error
}

func errUnknownImpl(impl string) error {
	return fmt.Errorf("rpcload: unknown implementation %q (want upoll or std)", impl)
}

// Dial opens conns connections to addr with impl "upoll" or "std".
func Dial(impl, addr string, conns int) (Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch impl {
	case "upoll":
		return dialUpoll(ctx, addr, conns)
	case "std":
		return dialStd(ctx, addr, conns)
	}
	return nil, errUnknownImpl(impl)
}

// pending is a connection's calls in flight, by id.
type pending struct {
	mu    sync.Mutex
	next  uint32
	calls map[uint32]chan []byte // nil once the connection failed
}

func (p *pending) add() (uint32, chan []byte, error) {
	ch := make(chan []byte, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		return 0, nil, errClosed
	}
	p.next++
	p.calls[p.next] = ch
	return p.next, ch, nil
}

func (p *pending) deliver(id uint32, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.calls[id]
	if !ok {
		return fmt.Errorf("%w: %d", errUnknownID, id)
	}
	delete(p.calls, id)
	ch <- payload
	return nil
}

// fail closes the channels of the calls in flight: their callers get
// errClosed.
func (p *pending) fail() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.calls {
		close(ch)
	}
	p.calls = nil
}

func wait(ch chan []byte) ([]byte, error) {
	b, ok := <-ch
	if !ok {
		return nil, errClosed
	}
	return b, nil
}

// upollClient's connections live on a poller group of its own; their
// handler delivers responses, so no goroutine waits in a read. Callers
// queue their requests with FlushAsync: the poller writes what the
// callers of a connection queued since its last pass in one writev.
type upollClient struct {
	group *netpoll.Server
	conns []*upollConn
}

type upollConn struct {
	c   *netpoll.Conn
	wmu sync.Mutex
	pending
}

// dialUpoll's poller group runs on netpoll's defaults, given as its
// configuration so that UPOLL does not change them: UPOLL is the
// experiment switch of the server under test, and the harness's
// processes share one environment, so a client that followed it would
// change the load along with the server.
func dialUpoll(ctx context.Context, addr string, conns int) (*upollClient, error) {
	g, err := netpoll.NewServer(upollResponses, netpoll.WithConfig(netpoll.DefaultConfig()),
		netpoll.WithOnDisconnect(func(c *netpoll.Conn, _ error) {
			c.Context().(*upollConn).fail()
		}))
	if err != nil {
		return nil, fmt.Errorf("rpcload: upoll client: %w", err)
	}
	cl := &upollClient{group: g}
	for range conns {
		uc := &upollConn{pending: pending{calls: make(map[uint32]chan []byte)}}
		c, err := (&netpoll.Dialer{Server: g, Context: uc}).DialContext(ctx, "tcp", addr)
		if err != nil {
			g.Close()
			return nil, err
		}
		uc.c = c
		cl.conns = append(cl.conns, uc)
	}
	return cl, nil
}

// upollResponses delivers every complete response buffered.
func upollResponses(c *netpoll.Conn) error {
	uc := c.Context().(*upollConn)
	r := c.Reader()
	for r.Len() >= hdrLen+idLen {
		head, err := r.Peek(hdrLen + idLen)
		if err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head)
		if n > MaxFrame || n < idLen {
			return fmt.Errorf("%w: response of %d bytes", errBadFrame, n)
		}
		if r.Len() < hdrLen+int(n) {
			break
		}
		id := binary.BigEndian.Uint32(head[hdrLen:])
		if err := r.Skip(hdrLen + idLen); err != nil {
			return err
		}
		payload, err := r.ReadBinary(int(n) - idLen)
		if err != nil {
			return err
		}
		if err := uc.deliver(id, payload); err != nil {
			return err
		}
	}
	return r.Release()
}

func (cl *upollClient) Call(conn int, arg []byte) ([]byte, error) {
	uc := cl.conns[conn%len(cl.conns)]
	id, ch, err := uc.add()
	if err != nil {
		return nil, err
	}
	uc.wmu.Lock()
	w := uc.c.Writer()
	buf, err := w.Malloc(reqHead + len(arg))
	if err == nil {
		putRequest(buf, id, arg)
		err = w.FlushAsync()
	}
	uc.wmu.Unlock()
	if err != nil {
		uc.c.Close()
		return nil, err
	}
	return wait(ch)
}

func (cl *upollClient) Close() error { return cl.group.Close() }

// String names the client and the configuration its connections run on.
func (cl *upollClient) String() string { return "upoll " + cl.group.Config().String() }

// stdClient is the goroutine-per-connection client: a reader goroutine
// per connection delivers responses to the callers.
type stdClient struct {
	conns []*stdConn
	wg    sync.WaitGroup
}

type stdConn struct {
	c   net.Conn
	wmu sync.Mutex
	buf []byte
	pending
}

func dialStd(ctx context.Context, addr string, conns int) (*stdClient, error) {
	cl := &stdClient{}
	var d net.Dialer
	for range conns {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			cl.Close()
			return nil, err
		}
		sc := &stdConn{c: c, pending: pending{calls: make(map[uint32]chan []byte)}}
		cl.conns = append(cl.conns, sc)
		cl.wg.Go(sc.readLoop)
	}
	return cl, nil
}

func (sc *stdConn) readLoop() {
	defer sc.fail()
	defer sc.c.Close()
	br := bufio.NewReaderSize(sc.c, 4096)
	var head [hdrLen + idLen]byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[:])
		if n > MaxFrame || n < idLen {
			return
		}
		payload := make([]byte, n-idLen)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		if sc.deliver(binary.BigEndian.Uint32(head[hdrLen:]), payload) != nil {
			return
		}
	}
}

func (cl *stdClient) Call(conn int, arg []byte) ([]byte, error) {
	sc := cl.conns[conn%len(cl.conns)]
	id, ch, err := sc.add()
	if err != nil {
		return nil, err
	}
	sc.wmu.Lock()
	sc.buf = appendRequest(sc.buf[:0], id, arg)
	_, err = sc.c.Write(sc.buf)
	sc.wmu.Unlock()
	if err != nil {
		sc.c.Close()
		return nil, err
	}
	return wait(ch)
}

// String names the client.
func (cl *stdClient) String() string { return "std (net, a goroutine per connection)" }

func (cl *stdClient) Close() error {
	for _, sc := range cl.conns {
		sc.c.Close()
	}
	cl.wg.Wait()
	return nil
}
