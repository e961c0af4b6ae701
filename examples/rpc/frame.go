package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// HeaderLen is the size of a frame's length prefix: a big-endian uint32
// giving the payload's length in bytes.
const HeaderLen = 4

// DefaultMaxFrame bounds a frame's payload unless the caller chooses
// otherwise. A peer announcing more is refused before anything is buffered.
const DefaultMaxFrame = 4 << 20

var (
	// ErrFrameTooLarge reports a length prefix above the configured limit.
	ErrFrameTooLarge = errors.New("rpc: frame length over limit")
	// ErrTruncated reports a stream that ended inside a frame.
	ErrTruncated = errors.New("rpc: truncated frame at EOF")
)

// frameReader is the part of a nocopy reader the codec needs. Both
// netpoll's blocking Conn reader and buffer.LinkBuffer provide it: Next
// returns bytes that stay valid until the reader is released, so a payload
// costs no copy.
type frameReader interface {
	Len() int
	Next(n int) ([]byte, error)
}

// frameWriter is the part of a nocopy writer the codec needs.
type frameWriter interface {
	Malloc(n int) ([]byte, error)
}

// ReadFrame reads one frame and returns its payload, which aliases the
// reader's buffer until the reader is released. At a clean frame boundary
// the end of the stream is reported as io.EOF; inside a frame it is
// ErrTruncated. A length above max is ErrFrameTooLarge, and nothing of the
// body is read: the connection is to be closed.
func ReadFrame(r frameReader, max int) ([]byte, error) {
	n, err := ReadHeader(r, max)
	if err != nil {
		return nil, err
	}
	payload, err := r.Next(n)
	if err != nil {
		return nil, bodyErr(n, err)
	}
	return payload, nil
}

// ReadHeader reads a frame's length prefix and checks it against max,
// leaving the body to the caller: Next for a view valid until Release,
// or a Slice that outlives it.
func ReadHeader(r frameReader, max int) (int, error) {
	hdr, err := r.Next(HeaderLen)
	if err != nil {
		return 0, eofOrTruncated(r, err)
	}
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(max) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	return int(n), nil
}

// bodyErr turns an end of stream inside a body of n bytes into
// ErrTruncated.
func bodyErr(n int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: header announced %d bytes", ErrTruncated, n)
	}
	return err
}

// eofOrTruncated tells a clean end of stream (no byte of a new frame
// arrived) from one inside a header.
func eofOrTruncated(r frameReader, err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if r.Len() > 0 {
		return fmt.Errorf("%w: %d header bytes", ErrTruncated, r.Len())
	}
	return io.EOF
}

// WriteFrame appends one frame carrying payload to w. It copies payload
// once, into the writer's buffer; the caller flushes.
func WriteFrame(w frameWriter, payload []byte) error {
	if uint64(len(payload)) > uint64(^uint32(0)) {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	buf, err := w.Malloc(HeaderLen + len(payload))
	if err != nil {
		return fmt.Errorf("rpc: write frame: %w", err)
	}
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[HeaderLen:], payload)
	return nil
}
