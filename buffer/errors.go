package buffer

import "errors"

// Errors returned by LinkBuffer. They are returned unwrapped, so callers may
// compare them with == as well as errors.Is; the hot read path never
// allocates an error.
var (
	// ErrNegativeCount is returned when a count argument is negative.
	ErrNegativeCount = errors.New("buffer: negative count")
	// ErrNotEnough is returned when a read asks for more bytes than are
	// readable (Len), when Until finds no delimiter, or when MallocAck or
	// BookAck acknowledge more bytes than were reserved. Nothing is consumed.
	ErrNotEnough = errors.New("buffer: not enough bytes")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("buffer: use of closed buffer")
	// ErrSelfAppend is returned by Append when a buffer is appended to itself
	// (or when other is nil).
	ErrSelfAppend = errors.New("buffer: invalid Append source")
	// ErrTooLarge is returned by a write that would take the bytes written
	// since the last Flush past 1 GiB (MaxBatch); it writes nothing. Flush
	// first. ReadFrom returns it when the batch is full: it reads into what
	// is left of a batch, never past it.
	ErrTooLarge = errors.New("buffer: write batch over 1 GiB")
)
