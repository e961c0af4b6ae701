package server

import (
	"fmt"
	"net"

	"github.com/upoll/upoll/netpoll"
)

func upollAvailable() error { return nil }

// upollDefaults describes the configuration upoll targets run with when no
// sweep options are given; handler is false for the nethttp adapter, whose
// Server has none (it starts fewer pollers).
func upollDefaults(handler bool) string {
	c := netpoll.DefaultConfig()
	wait := c.Wait
	if !handler {
		wait = netpoll.WaitRuntime // a Server without a handler waits in the runtime
	}
	return fmt.Sprintf("defaults: %s, %s, %s, %d pollers", c.Trigger, wait, c.Dispatch, defaultPollers(handler))
}

// upollOptions maps a sweep point to netpoll options; empty fields keep
// netpoll's defaults.
func upollOptions(s string) ([]netpoll.Option, netpoll.Handler, error) {
	opts, o, err := upollConfig(s)
	return opts, echoHandler(o.Echo), err
}

// echoHandler is the upoll echo handler that the echo key names.
func echoHandler(name string) netpoll.Handler {
	switch name {
	case "slice":
		return upollEchoSlice
	case "write":
		return upollEchoWrite
	}
	return upollEchoCopy
}

// upollConfig is upollOptions that also returns the bench's own keys.
func upollConfig(s string) ([]netpoll.Option, Options, error) {
	o, err := ParseOptions(s)
	if err != nil {
		return nil, o, err
	}
	// The netpoll keys mean what netpoll's UPOLL override says they
	// mean: let its parser turn them into options.
	np := o
	np.Echo, np.Linger = "", 0
	opts, err := netpoll.ParseEnv(np.String())
	if err != nil {
		return nil, o, err
	}
	return opts, o, nil
}

func startUpollEcho(addr, optStr string) (net.Addr, error) {
	opts, h, err := upollOptions(optStr)
	if err != nil {
		return nil, err
	}
	return serveUpollEcho(addr, h, opts...)
}

// serveUpollEcho serves h on addr with opts.
func serveUpollEcho(addr string, h netpoll.Handler, opts ...netpoll.Option) (net.Addr, error) {
	srv, err := netpoll.NewServer(h, opts...)
	if err != nil {
		return nil, err
	}
	ln, err := srv.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return nil, err
	}
	go func() {
		if err := srv.Serve(ln); err != nil && err != netpoll.ErrServerClosed {
			fmt.Println("ERROR serve:", err)
		}
	}()
	return upollAddr{ln.Addr(), srv}, nil
}

// startUpollStdEcho is startUpollEcho on the portable backend.
func startUpollStdEcho(addr, optStr string) (net.Addr, error) {
	if optStr != "" {
		return nil, fmt.Errorf("upoll-std-echo takes no options (the poller switches do not apply)")
	}
	return serveUpollEcho(addr, upollEchoCopy, netpoll.WithBackend(netpoll.BackendStd))
}

// startUpollUringEcho is startUpollEcho on the io_uring backend.
func startUpollUringEcho(addr, optStr string) (net.Addr, error) {
	opts, h, err := upollOptions(optStr)
	if err != nil {
		return nil, err
	}
	return serveUpollEcho(addr, h, append(opts, netpoll.WithBackend(netpoll.BackendUring))...)
}

// upollUringAvailable reports why io_uring cannot serve here, if so.
func upollUringAvailable() error {
	s, err := netpoll.NewServer(upollEchoCopy, netpoll.WithBackend(netpoll.BackendUring))
	if err != nil {
		return err
	}
	return s.Close()
}

// upollEchoCopy is the one-copy echo, the same shape as cloudwego-echo's:
// Next, WriteBinary (copies into the output buffer), Release, Flush.
func upollEchoCopy(c *netpoll.Conn) error {
	r, w := c.Reader(), c.Writer()
	n := r.Len()
	if n == 0 {
		return nil
	}
	b, err := r.Next(n)
	if err != nil {
		return err
	}
	if _, err := w.WriteBinary(b); err != nil {
		return err
	}
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}

// upollEchoWrite is the zero-copy echo of the net.Conn side (opts
// echo=write), the shape of nbio's and gnet's echo handlers: Next, then
// Write, which goes straight to the kernel from the input's bytes when
// nothing is queued (else it queues a copy and waits until it is sent,
// as net.Conn's Write does), then Release.
func upollEchoWrite(c *netpoll.Conn) error {
	r := c.Reader()
	n := r.Len()
	if n == 0 {
		return nil
	}
	b, err := r.Next(n)
	if err != nil {
		return err
	}
	// Under DispatchInline, a Write that would wait above MaxOutput says
	// ErrWouldBlock, having taken only part of b: returned, it closes
	// the connection, as the copy handler's Flush does there (the
	// bench's clients read, so its cases never get that far).
	if _, err := c.Write(b); err != nil {
		return err
	}
	return r.Release()
}

// upollEchoSlice is the zero-copy echo (opts echo=slice): Slice moves the
// input nodes into a buffer of their own, Append links them into the output.
func upollEchoSlice(c *netpoll.Conn) error {
	r, w := c.Reader(), c.Writer()
	n := r.Len()
	if n == 0 {
		return nil
	}
	s, err := r.Slice(n)
	if err != nil {
		return err
	}
	err = w.Append(s)
	s.Close()
	if err != nil {
		return err
	}
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}

// defaultPollers is the pollers a upoll Server starts by default.
func defaultPollers(handler bool) int {
	if handler {
		return netpoll.DefaultHandlerPollers()
	}
	return netpoll.DefaultAcceptPollers()
}
