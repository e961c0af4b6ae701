package server

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// floorEcho is the least an epoll echo server can do: one OS thread
// blocking in epoll_wait, and per readable socket one read(2) into a
// shared buffer and one write(2) of what it got, with no buffers per
// connection, no goroutines, no timers and no locks. Its CPU per message
// is what the kernel charges any server for a message (the read, the
// write and its loopback delivery to the client, a share of a wait) plus
// a few hundred nanoseconds of Go, so it shows how far from the floor
// each real server is, and which goals the floor itself rules out.
//
// It is a measuring stick, not a server to use: one core at most, no
// timeouts, and its connections are keyed by fd number (safe only
// because this one thread both closes and accepts them).
type floorEcho struct {
	ep, lfd int
	pending map[int][]byte // output the kernel refused, by fd
	stalls  atomic.Int64   // writes that left output pending (for tests)
}

func startFloorEcho(addr, _ string) (net.Addr, error) {
	_, a, err := newFloorEcho(addr)
	return a, err
}

// newFloorEcho listens on addr (IPv4 address:port) and starts the loop.
func newFloorEcho(addr string) (*floorEcho, net.Addr, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, nil, fmt.Errorf("floor-echo: want an IPv4 address:port, got %q", addr)
	}
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (*floorEcho, net.Addr, error) {
		unix.Close(lfd)
		return nil, nil, fmt.Errorf("floor-echo: %w", os.NewSyscallError(op, err))
	}
	if err := unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return fail("listen", err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return fail("getsockname", err)
	}
	sa4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		unix.Close(lfd)
		return nil, nil, fmt.Errorf("floor-echo: listener bound to %T", sa)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fail("epoll_create1", err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		unix.Close(ep)
		return fail("epoll_ctl", err)
	}
	s := &floorEcho{ep: ep, lfd: lfd, pending: make(map[int][]byte)}
	go s.run()
	return s, &net.TCPAddr{IP: net.IP(sa4.Addr[:]), Port: sa4.Port}, nil
}

// run is the event loop; it holds its thread so that the loop never
// migrates and blocks in epoll_wait like a C server would.
func (s *floorEcho) run() {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.EpollWait(s.ep, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor-echo: epoll_wait:", err)
			return
		}
		for i := range n {
			ev := &events[i]
			if int(ev.Fd) == s.lfd {
				s.accept()
				continue
			}
			s.serve(int(ev.Fd), ev.Events, buf)
		}
	}
}

// accept takes every pending connection (the listener is level-
// triggered, so a full fd table is retried on the next wait, after a
// pause instead of a busy loop).
func (s *floorEcho) accept() {
	for {
		fd, _, err := unix.Accept4(s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EMFILE || err == unix.ENFILE:
			time.Sleep(10 * time.Millisecond)
			return
		default:
			fmt.Fprintln(os.Stderr, "floor-echo: accept4:", err)
			return
		}
		// Every target sends without Nagle's delay.
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
			unix.Close(fd)
		}
	}
}

// serve handles one event of fd: it first sends what was refused
// earlier, and reads only while nothing is pending, so a client that
// does not read cannot make the server buffer without bound.
func (s *floorEcho) serve(fd int, ev uint32, buf []byte) {
	if p, ok := s.pending[fd]; ok {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		s.write(fd, p)
		return
	}
	n, err := unix.Read(fd, buf)
	for err == unix.EINTR {
		n, err = unix.Read(fd, buf)
	}
	switch {
	case n > 0:
		s.write(fd, buf[:n])
	case err == unix.EAGAIN:
	default: // EOF or an error
		s.close(fd)
	}
}

// write sends b (a slice of the shared buffer, or fd's pending output)
// and keeps what the kernel refuses, waiting for EPOLLOUT instead of
// EPOLLIN until it is gone.
func (s *floorEcho) write(fd int, b []byte) {
	_, wasPending := s.pending[fd]
	for len(b) > 0 {
		m, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			s.close(fd)
			return
		}
		b = b[m:]
	}
	switch {
	case len(b) == 0 && wasPending:
		delete(s.pending, fd)
		s.mod(fd, unix.EPOLLIN|unix.EPOLLRDHUP)
	case len(b) > 0 && !wasPending:
		s.stalls.Add(1)
		s.pending[fd] = append([]byte(nil), b...)
		s.mod(fd, unix.EPOLLOUT)
	case len(b) > 0:
		s.pending[fd] = b
	}
}

func (s *floorEcho) mod(fd int, events uint32) {
	if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		s.close(fd)
	}
}

// close drops fd; closing it also removes it from the epoll set.
func (s *floorEcho) close(fd int) {
	delete(s.pending, fd)
	unix.Close(fd)
}
