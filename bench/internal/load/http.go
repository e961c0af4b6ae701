package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// HelloBody is what every HTTP target must answer.
var HelloBody = []byte("Hello, World!")

var httpRequest = []byte("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: upoll-bench\r\n\r\n")

// httpWorker sends keep-alive GETs on c, one at a time, and verifies each
// response: status 200, Content-Length framing, body == HelloBody.
func (r *run) httpWorker(c net.Conn, s *stat) error {
	br := bufio.NewReaderSize(c, 4096)
	body := make([]byte, 256)
	for !r.stopped() {
		t0 := time.Now()
		if _, err := c.Write(httpRequest); err != nil {
			return fmt.Errorf("write request: %w", err)
		}
		n, err := ReadResponse(br, body)
		if err != nil {
			return err
		}
		if br.Buffered() > 0 {
			// One request is in flight: more bytes are another answer
			// to it, which the next request would take for its own.
			return errExtraResponse
		}
		lat := time.Since(t0)
		s.verified += uint64(n)
		if r.measuring() {
			s.ops++
			s.bytes += uint64(n)
			s.h.Record(int64(lat))
		}
	}
	// Every response was identical, so one that came twice (a server
	// that parsed a request's bytes again) answered the next request
	// before the server read it, unless it came in the same read: the
	// last request's answer must be the last bytes.
	c.SetReadDeadline(time.Now().Add(extraGrace))
	if _, err := br.ReadByte(); err == nil {
		return errExtraResponse
	}
	return nil
}

// extraGrace is how long an HTTP worker waits, after its last response,
// for bytes that no request asked for.
const extraGrace = 50 * time.Millisecond

// errExtraResponse is a mismatch: it fails the run also once the window
// is over, when the last check is made.
var errExtraResponse = fmt.Errorf("%w: bytes beyond the response to the one request in flight (a response sent twice?)", errMismatch)

// ReadResponse reads one HTTP/1.1 response from br, checks it is a 200 whose
// body equals HelloBody, and returns the body length. buf holds the body.
func ReadResponse(br *bufio.Reader, buf []byte) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, fmt.Errorf("read status line: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return 0, fmt.Errorf("unexpected status line %q", bytes.TrimSpace(line))
	}
	length := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("read header: %w", err)
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("malformed header %q", h)
		}
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || n < 0 {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
			length = n
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return 0, fmt.Errorf("unexpected Transfer-Encoding %q", v)
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length")
	}
	if length > len(buf) {
		return 0, fmt.Errorf("body of %d bytes, want %d", length, len(HelloBody))
	}
	if _, err := io.ReadFull(br, buf[:length]); err != nil {
		return 0, fmt.Errorf("read body: %w", err)
	}
	if !bytes.Equal(buf[:length], HelloBody) {
		return 0, errMismatch
	}
	return length, nil
}
