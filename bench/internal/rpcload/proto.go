// Package rpcload is the bench's RPC case: a multiplexed, length-prefixed
// request/response protocol (examples/rpc's tagged frames, echo only),
// served and called two ways, upoll's (handlers on both ends, no
// goroutine waiting in a read) and net's (a goroutine per connection
// on both ends), and a load loop that measures calls/s, latency and the
// CPU per call of the server process and of its own (client) process.
//
// A request frame is a 4-byte big-endian length, then '#', a 4-byte
// request id, 'e' and the argument; the response is the length, the id
// and the argument. Responses may come in any order; a client matches
// them to its calls by id.
package rpcload

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	hdrLen  = 4
	idLen   = 4
	reqHead = hdrLen + 1 + idLen + 1 // length, '#', id, 'e'
	// MaxFrame bounds a frame's payload on both ends.
	MaxFrame = 1 << 20
)

var (
	errBadFrame  = errors.New("rpcload: bad frame")
	errUnknownID = errors.New("rpcload: response to an unknown id")
	errClosed    = errors.New("rpcload: connection closed")
	// errWrongAnswer is a response that differs from its call's argument.
	errWrongAnswer = errors.New("rpcload: wrong answer")
)

// appendRequest appends a request frame for id and arg to b.
func appendRequest(b []byte, id uint32, arg []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(reqHead-hdrLen+len(arg)))
	b = append(b, '#')
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, 'e')
	return append(b, arg...)
}

// putRequest writes a request frame into b, which holds exactly
// reqHead+len(arg) bytes.
func putRequest(b []byte, id uint32, arg []byte) {
	binary.BigEndian.PutUint32(b, uint32(reqHead-hdrLen+len(arg)))
	b[hdrLen] = '#'
	binary.BigEndian.PutUint32(b[hdrLen+1:], id)
	b[reqHead-1] = 'e'
	copy(b[reqHead:], arg)
}

// checkRequest validates a request payload of n bytes (its first
// reqHead-hdrLen bytes given) and returns the response payload length.
func checkRequest(n uint32, head []byte) (int, error) {
	if n > MaxFrame || n < reqHead-hdrLen || head[0] != '#' || head[1+idLen] != 'e' {
		return 0, fmt.Errorf("%w: request of %d bytes", errBadFrame, n)
	}
	return int(n) - 2, nil // id + argument
}

// putResponse writes the response frame to a request frame req (whole,
// header included) into out, which holds len(req)-2 bytes.
func putResponse(out, req []byte) {
	binary.BigEndian.PutUint32(out, uint32(len(req)-hdrLen-2))
	copy(out[hdrLen:], req[hdrLen+1:hdrLen+1+idLen])
	copy(out[hdrLen+idLen:], req[reqHead:])
}
