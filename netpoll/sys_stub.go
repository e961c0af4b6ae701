//go:build !unix

package netpoll

import (
	"errors"
	"time"
)

// The socket calls on systems without Unix descriptors (Windows, Plan 9,
// WebAssembly): none of them can be reached, since no native backend
// exists here (pollset_none.go) and every connection is served by
// BackendStd; each fails with ErrNoNativeBackend.

var (
	errAgain       = errors.New("netpoll: operation would block")
	errConnRefused = errors.New("netpoll: connection refused")
	errIO          = errors.New("netpoll: input/output error")
)

// sysInputQueued cannot tell here and says no. Unlike the calls below,
// BackendStd reaches it (Shutdown's look, Conn.inputQueued), which then
// judges a connection by what its goroutine has read. On Windows a read
// that Go's runtime keeps pending on the socket takes arriving bytes
// straight into its buffer, where no count of the socket's queue would
// see them either.
func sysInputQueued(fd int) bool { return false }

func errnoOf(err error) int32                        { return 1 }
func errnoErr(e int32) error                         { return errIO }
func isResourceErr(error) bool                       { return false }
func sysClose(fd int) error                          { return ErrNoNativeBackend }
func setReuseAddr(fd int) error                      { return ErrNoNativeBackend }
func setReusePort(fd int) error                      { return ErrNoNativeBackend }
func setIPv6Only(fd int, v bool) error               { return ErrNoNativeBackend }
func setTCPOptions(fd int, idle time.Duration) error { return ErrNoNativeBackend }
func sysReadv(fd int, vecs [][]byte) (int, error)    { return -1, ErrNoNativeBackend }
func sysWritev(fd int, vecs [][]byte) (int, error)   { return -1, ErrNoNativeBackend }
func sysWrite(fd int, p []byte) (int, error)         { return -1, ErrNoNativeBackend }
func sysAccept(fd int) (int, sockaddr, error)        { return -1, sockaddr{}, ErrNoNativeBackend }
func sysSocket(family int) (int, error)              { return -1, ErrNoNativeBackend }
func sysConnect(fd int, sa sockaddr) (bool, error)   { return false, ErrNoNativeBackend }
func sysBind(fd int, sa sockaddr) error              { return ErrNoNativeBackend }
func sysListen(fd, backlog int) error                { return ErrNoNativeBackend }
func sysSocketError(fd int) error                    { return ErrNoNativeBackend }
func sysShutdownRead(fd int) error                   { return ErrNoNativeBackend }
func sysShutdownWrite(fd int) error                  { return ErrNoNativeBackend }
func sysDup(fd int) (int, error)                     { return -1, ErrNoNativeBackend }
func sysDupCloexec(fd int) (int, error)              { return -1, ErrNoNativeBackend }
func sysGetsockname(fd int) (sockaddr, error)        { return sockaddr{}, ErrNoNativeBackend }
func sysGetpeername(fd int) (sockaddr, error)        { return sockaddr{}, ErrNoNativeBackend }
func sysSetNoDelay(fd int, on bool) error            { return ErrNoNativeBackend }
func sysSetKeepAlive(fd int, on bool) error          { return ErrNoNativeBackend }
func sysSetKeepAliveIdle(fd, secs int) error         { return ErrNoNativeBackend }
func sysSetKeepAliveInterval(fd, secs int) error     { return ErrNoNativeBackend }
func sysSetKeepAliveCount(fd, n int) error           { return ErrNoNativeBackend }
func sysSetLinger(fd, sec int) error                 { return ErrNoNativeBackend }
func sysLingerZero(fd int) bool                      { return false }
func sysSetReadBuffer(fd, bytes int) error           { return ErrNoNativeBackend }
func sysSetWriteBuffer(fd, bytes int) error          { return ErrNoNativeBackend }

func sysWaitWritable(fd int, d time.Duration) (bool, error) { return false, ErrNoNativeBackend }

// acceptCall names the accept system call in errors, as Go's net does.
const acceptCall = "accept"

// acceptStepAfter keeps a BackendStd listener after any error, backing
// off: without errnos, a failed socket cannot be told from a passing
// shortage.
func acceptStepAfter(error) acceptStep { return acceptBackOff }
