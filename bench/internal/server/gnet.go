package server

import (
	"fmt"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// gnetEcho runs its handler on gnet's event loops: OnTraffic takes what
// the loop read into its shared buffer and writes it back with write(2)
// on the loop (gnet buffers what the kernel refuses). No goroutine
// hand-off, which is what DispatchInline does in upoll.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	booted chan struct{}
}

func (e *gnetEcho) OnBoot(gnet.Engine) gnet.Action {
	close(e.booted)
	return gnet.None
}

func (e *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	b, err := c.Next(-1)
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(b); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// startGnetEcho starts gnet with one event loop per P (WithMulticore), as
// its documentation recommends for servers. gnet binds by itself from an
// address string and does not report a port chosen by the kernel, so a
// free port is found first by binding and releasing it.
func startGnetEcho(addr, _ string) (net.Addr, error) {
	probe, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	bound := probe.Addr()
	if err := probe.Close(); err != nil {
		return nil, err
	}
	e := &gnetEcho{booted: make(chan struct{})}
	failed := make(chan error, 1)
	go func() {
		failed <- gnet.Run(e, "tcp4://"+bound.String(),
			gnet.WithMulticore(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogLevel(logging.ErrorLevel))
	}()
	select {
	case <-e.booted:
		return bound, nil
	case err := <-failed:
		return nil, fmt.Errorf("gnet: %w", err)
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("gnet: not booted after 10s")
	}
}
