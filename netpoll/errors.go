package netpoll

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/upoll/upoll/gopool"
)

// Errors returned by this package. They can be tested with errors.Is;
// errors about a connection are wrapped in *net.OpError (operation,
// network and addresses, as Go's net fills them: Net is the network the
// connection was dialed on, or its listener opened on, "tcp4" staying
// "tcp4"), errors from a syscall in *os.SyscallError.
var (
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("netpoll: server closed")
	// ErrListenerServed is returned (in a *net.OpError, Op "accept") by
	// a Serve of a Listener that a Serve has already taken.
	ErrListenerServed = errors.New("netpoll: listener already served")
	// ErrTooManyConns is returned when a poller's registry is full.
	ErrTooManyConns = errors.New("netpoll: too many connections on one poller")
	// ErrIdleTimeout is the reason (OnDisconnect's err) for a
	// connection closed by the idle timeout.
	ErrIdleTimeout = errors.New("netpoll: idle timeout")
	// ErrWouldBlock is returned by a Reader call made by an inline
	// handler (DispatchInline) that would have to wait for more input,
	// and by its Flush or Write that would have to wait for the peer to
	// take output above MaxOutput: what is queued stays queued, and the
	// poller sends it once the handler returns (a Write's n counts the
	// bytes of p among it; a Flush whose batch found no room keeps it,
	// and the poller sends that batch once the queue has drained to
	// MaxOutput). The handler should then return nil, keeping the input
	// it has not answered (returning an error, this one included, closes
	// the connection, as for any handler): more input runs it again, and
	// after a write's ErrWouldBlock so does the queue's drain to
	// MaxOutput, whether or not more input arrives.
	//
	// Its calls on another connection of a native backend (a relay's
	// Write, a Read of a second connection) that would wait say
	// ErrWouldBlock too, what they queued staying queued, where that
	// connection's poller runs handlers or hooks inline (a
	// DispatchInline Server's, this one's or another's): that poller
	// may be inside a handler waiting for the caller's poller in turn.
	// After a write's ErrWouldBlock the handler runs again once that
	// connection's output has drained to MaxOutput or it has closed (as
	// after more input); after a read's, only more input on its own
	// connection runs it again, not input on the other. On a
	// connection of any other poller (a dial of the default group, a
	// DispatchPool Server's) such calls wait, as a slow handler does.
	//
	// On the native backends it is also what such a handler's Reader
	// call or Read gets when another goroutine's read of the connection
	// waits for input, and its Writer call or Write when another
	// goroutine's write waits for room (each waits for the poller that
	// the handler runs on), or when that call holds the connection's
	// reading (writing) side for more than a millisecond: nothing is
	// read or written, and more input runs the handler again.
	ErrWouldBlock = errors.New("netpoll: inline handler would block")
	// ErrInputFull is returned by Reader.Until when the connection's
	// input bound (MaxInput) is buffered and holds no delimiter, as
	// bufio.Reader.ReadSlice returns bufio.ErrBufferFull. The bytes stay
	// buffered: Next or Skip takes them, Close drops them.
	ErrInputFull = errors.New("netpoll: input bound reached without the delimiter")
	// ErrReadTooLarge is returned by a Reader call that asks for more
	// than 1 GiB at once, more than a connection ever buffers: it could
	// never be satisfied. Nothing is consumed.
	ErrReadTooLarge = errors.New("netpoll: read of more than 1 GiB at once")
	// ErrWriteShutdown is returned by writes after CloseWrite. Where
	// the system has EPIPE, errors.Is(ErrWriteShutdown, syscall.EPIPE)
	// holds too, as for a write after CloseWrite on Go's connections.
	ErrWriteShutdown error = writeShutdownError{}
	// ErrUnsupportedNetwork is returned for networks other than tcp,
	// tcp4, tcp6 and unix.
	ErrUnsupportedNetwork = errors.New("netpoll: unsupported network")
	// ErrHandlerPanic is the reason (OnDisconnect's err) for a
	// connection closed because its handler panicked; the panic value
	// is wrapped with it.
	ErrHandlerPanic = errors.New("netpoll: handler panicked")
	// ErrPoolOverload is the reason (OnDisconnect's err) for a
	// connection closed because its handler could not run: the pool was
	// full and its policy is FailFast. It wraps gopool.ErrPoolOverload.
	ErrPoolOverload = fmt.Errorf("netpoll: handler refused: %w", gopool.ErrPoolOverload)
	// ErrPoolClosed is the reason (OnDisconnect's err) for a connection
	// closed because its handler could not run: the pool was closed
	// after the Server or Dialer was configured with it (one closed
	// before, or not made by gopool.New, is a configuration error). It
	// wraps gopool.ErrPoolClosed.
	ErrPoolClosed = fmt.Errorf("netpoll: handler refused: %w", gopool.ErrPoolClosed)
	// ErrRawIO is what the Read and Write methods of the syscall.RawConn
	// that SyscallConn returns on a native backend wrap: the poller owns
	// the socket's input and output, so they do not call their function.
	// errors.Is(ErrRawIO, errors.ErrUnsupported) holds.
	ErrRawIO = fmt.Errorf("netpoll: RawConn Read and Write on a polled connection: %w", errors.ErrUnsupported)
)

// writeShutdownError is ErrWriteShutdown's type.
type writeShutdownError struct{}

func (writeShutdownError) Error() string { return "netpoll: write after CloseWrite" }

// Is reports the broken pipe error that a write after shutdown(SHUT_WR)
// returns on Go's connections.
func (writeShutdownError) Is(target error) bool {
	return errBrokenPipe != nil && target == errBrokenPipe
}

// errClosed is what operations on a closed Conn wrap: errors.Is(err,
// net.ErrClosed) holds, as for Go's own connections.
var errClosed = net.ErrClosed

// errTimeout is the Err of the *net.OpError a deadline produces.
var errTimeout = os.ErrDeadlineExceeded

// errPollerClosed is what a pollset's calls return once it is closed
// (the backend contract in backend.go). It is not exported: public calls
// report ErrServerClosed (the group refuses admissions before its pollers
// stop) or net.ErrClosed instead.
var errPollerClosed = errors.New("netpoll: poller closed")
