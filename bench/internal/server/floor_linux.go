package server

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// floorEcho is the least a Go epoll echo server can do: one OS thread, an
// edge-triggered epoll set, and per ready socket read(2) into a shared
// buffer until EAGAIN, each chunk written straight back with write(2),
// with no buffers per connection, no goroutines, no timers and no locks.
// It has the shape of the C floor (floorc/floor.c), so the two differ only
// by what Go itself costs.
//
// The calls that cannot block (read, write, accept4 and a zero-timeout
// epoll_wait) go through syscall.RawSyscall, which skips the runtime's
// entersyscall/exitsyscall bookkeeping; only when a poll finds nothing does
// the loop block in epoll_wait through the runtime, so that the thread's P
// is handed back while it waits.
//
// It is a measuring stick, not a server to use: one core at most, no
// timeouts, and its connections are keyed by fd number (safe only because
// this one thread both closes and accepts them).
type floorEcho struct {
	ep, lfd int
	// pending is the output the kernel refused, by fd; while an fd has
	// some, its input is left unread.
	pending [][]byte
	stalls  atomic.Int64 // writes that left output pending (for tests)
	// short ends a socket's turn at a read that did not fill the buffer,
	// as floor-c's -short does: under edge triggering the next bytes
	// raise a new edge, so a ping-pong message costs one read and one
	// write instead of two reads and a write.
	short bool
	// tid is the loop's thread, set once it runs: the kernel counts
	// that thread's system calls (for tests), and the loop counts none.
	tid atomic.Int32
}

// connEvents are the events every connection is registered for, once:
// edge-triggered, so a readable or writable socket is reported once per
// change and needs no epoll_ctl when output has to wait.
const connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

func startFloorEcho(addr, _ string) (net.Addr, error) {
	_, a, err := newFloorEcho(addr, false)
	return a, err
}

// startFloorEchoShort is floor-echo in floor-c-short's shape.
func startFloorEchoShort(addr, _ string) (net.Addr, error) {
	_, a, err := newFloorEcho(addr, true)
	return a, err
}

// newFloorEcho listens on addr (IPv4 address:port) and starts the loop;
// short: see floorEcho.short.
func newFloorEcho(addr string, short bool) (*floorEcho, net.Addr, error) {
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
	// The listener stays level-triggered: a backlog left by a full fd
	// table is reported again on the next wait.
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		unix.Close(ep)
		return fail("epoll_ctl", err)
	}
	s := &floorEcho{ep: ep, lfd: lfd, short: short}
	go s.run()
	return s, &net.TCPAddr{IP: net.IP(sa4.Addr[:]), Port: sa4.Port}, nil
}

// run is the event loop. It holds its thread so that the loop never
// migrates, like a C server's.
func (s *floorEcho) run() {
	runtime.LockOSThread()
	s.tid.Store(int32(unix.Gettid()))
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for {
		n, errno := pollNow(s.ep, events)
		if n == 0 && errno == 0 {
			var err error
			n, err = unix.EpollWait(s.ep, events, -1)
			if err != nil {
				errno, _ = err.(syscall.Errno)
			}
		}
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			fmt.Fprintln(os.Stderr, "floor-echo: epoll_wait:", errno)
			return
		}
		for i := range n {
			fd := int(events[i].Fd)
			if fd == s.lfd {
				s.accept()
				continue
			}
			s.serve(fd, buf)
		}
	}
}

// accept takes every pending connection; on a full fd table it pauses
// instead of spinning, and the level-triggered listener is reported again.
func (s *floorEcho) accept() {
	for {
		r, _, errno := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(s.lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE:
			time.Sleep(10 * time.Millisecond)
			return
		default:
			fmt.Fprintln(os.Stderr, "floor-echo: accept4:", errno)
			return
		}
		fd := int(r)
		// Every target sends without Nagle's delay.
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: connEvents, Fd: int32(fd)}); err != nil {
			unix.Close(fd)
			continue
		}
		if fd >= len(s.pending) {
			s.pending = append(s.pending, make([][]byte, fd+1-len(s.pending))...)
		}
	}
}

// serve handles an event of fd, whichever it is: it first sends what was
// refused earlier, and then reads until the socket is empty, writing back
// each chunk. While output is pending it does not read, so a client that
// does not read cannot make the server buffer without bound; the
// EPOLLOUT edge that ends the wait brings it back here to read the rest.
func (s *floorEcho) serve(fd int, buf []byte) {
	if p := s.pending[fd]; p != nil {
		if !s.write(fd, p) {
			return
		}
	}
	for {
		n, errno := rawRead(fd, buf)
		switch {
		case errno == unix.EAGAIN:
			return
		case errno == unix.EINTR:
			continue
		case errno != 0 || n == 0: // an error or EOF
			s.close(fd)
			return
		}
		if !s.write(fd, buf[:n]) || s.short && n < len(buf) {
			return
		}
	}
}

// write sends b (a slice of the shared buffer, or fd's pending output) and
// reports whether all of it went. What the kernel refuses is kept as fd's
// pending output; an error closes fd.
func (s *floorEcho) write(fd int, b []byte) bool {
	wasPending := s.pending[fd] != nil
	for len(b) > 0 {
		m, errno := rawWrite(fd, b)
		switch errno {
		case 0:
			b = b[m:]
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if wasPending {
				s.pending[fd] = b
			} else {
				s.stalls.Add(1)
				s.pending[fd] = append([]byte(nil), b...)
			}
			return false
		}
		s.close(fd)
		return false
	}
	s.pending[fd] = nil
	return true
}

// close drops fd; closing it also removes it from the epoll set.
func (s *floorEcho) close(fd int) {
	s.pending[fd] = nil
	unix.Close(fd)
}

// pollNow is epoll_wait with a zero timeout, made without telling the
// runtime (it cannot block). epoll_pwait with no signal mask is the same
// call and exists on every Linux architecture.
func pollNow(ep int, events []unix.EpollEvent) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), 0
}

// rawRead is read(2) on a non-blocking fd, without the runtime.
func rawRead(fd int, b []byte) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), 0
}

// rawWrite is write(2) on a non-blocking fd, without the runtime.
func rawWrite(fd int, b []byte) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), 0
}
