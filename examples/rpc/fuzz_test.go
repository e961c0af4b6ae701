package main

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/upoll/upoll/buffer"
)

// streamEnd presents a LinkBuffer holding a whole stream as a reader of a
// connection whose peer has closed: too few bytes is the end of stream.
type streamEnd struct{ b *buffer.LinkBuffer }

func (s streamEnd) Len() int { return s.b.Len() }

func (s streamEnd) Next(n int) ([]byte, error) {
	p, err := s.b.Next(n)
	if errors.Is(err, buffer.ErrNotEnough) {
		if s.b.Len() == 0 {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	}
	return p, err
}

// FuzzReadFrame feeds arbitrary streams to the frame parser and checks
// each result against refFrame, a reading of the format written apart
// from ReadFrame: the same payloads in the same order, then the same end
// (io.EOF at a frame boundary, ErrTruncated inside a frame,
// ErrFrameTooLarge for a length over the limit) at the same place.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 'e'}, uint16(16))
	f.Add([]byte{0, 0, 0, 3, 'u', 'a', 'b', 0, 0, 0, 0}, uint16(16))
	f.Add([]byte{0, 0, 0, 9, 'e'}, uint16(16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(1024))
	f.Add([]byte{0, 0}, uint16(8))
	f.Add([]byte{}, uint16(8))
	f.Add([]byte{0, 0, 0, 2, 'h', 'i', 0, 0, 0, 3, 'x'}, uint16(3))
	f.Add([]byte{0, 0, 0, 2, 'h', 'i', 0, 0, 0, 3, 'x', 'y', 'z'}, uint16(2))
	f.Fuzz(func(t *testing.T, stream []byte, max uint16) {
		lb := buffer.New()
		defer lb.Close()
		if _, err := lb.WriteBinary(stream); err != nil {
			t.Fatal(err)
		}
		if err := lb.Flush(); err != nil {
			t.Fatal(err)
		}
		r := streamEnd{lb}
		rest := stream
		// Each frame takes at least HeaderLen bytes: this many calls
		// reach the end.
		for i := 0; i <= len(stream)/HeaderLen; i++ {
			want, n, wantErr := refFrame(rest, int(max))
			p, err := ReadFrame(r, int(max))
			switch {
			case wantErr == nil && err != nil:
				t.Fatalf("frame %d: ReadFrame = %v; want a payload of %d bytes", i, err, len(want))
			case wantErr == nil && string(p) != string(want):
				t.Fatalf("frame %d: payload %q, want %q", i, p, want)
			case wantErr == io.EOF && err != io.EOF:
				t.Fatalf("frame %d: at the end of the stream ReadFrame = %q, %v; want exactly io.EOF", i, p, err)
			case wantErr != nil && !errors.Is(err, wantErr):
				t.Fatalf("frame %d: ReadFrame = %q, %v; want %v", i, p, err, wantErr)
			}
			if wantErr != nil {
				return
			}
			rest = rest[n:]
		}
		t.Fatal("the reference parser did not reach the end")
	})
}

// FuzzParseResponse feeds arbitrary streams to the multiplexed client's
// response parser, in pieces as a connection would buffer them: it must
// not panic, must consume nothing while a frame is incomplete, must
// return frames that re-encode to exactly the bytes consumed, must fail
// on a bad length prefix as soon as it is buffered, and may fail only
// with ErrFrameTooLarge or ErrTruncated.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 1, 'e'}, uint16(16), uint8(3))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 6, 0, 0, 0, 8, 'o', 'k'}, uint16(16), uint8(0))
	f.Add([]byte{0, 0, 0, 2, 0, 0}, uint16(16), uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, uint16(1024), uint8(2))
	f.Add([]byte{0, 0, 0, 20, 0, 0, 0, 1, 'x'}, uint16(16), uint8(0))
	f.Fuzz(func(t *testing.T, stream []byte, limit uint16, step uint8) {
		lb := buffer.New()
		defer lb.Close()
		var reencoded []byte
		consumed := 0
		// Arrive in pieces of step bytes (all at once for step 0).
		piece := len(stream)
		if step > 0 {
			piece = int(step)
		}
		for fed := 0; fed < len(stream) || fed == 0; {
			end := min(len(stream), fed+piece)
			if _, err := lb.WriteBinary(stream[fed:end]); err != nil {
				t.Fatal(err)
			}
			if err := lb.Flush(); err != nil {
				t.Fatal(err)
			}
			fed = end
			for range len(stream) + 1 {
				before := lb.Len()
				id, payload, err := parseResponse(lb, int(limit))
				if err != nil {
					if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrFrameTooLarge) {
						t.Fatalf("unexpected error %v", err)
					}
					return
				}
				if payload == nil {
					if lb.Len() != before {
						t.Fatalf("incomplete frame: %d bytes consumed", before-lb.Len())
					}
					// A length prefix, once buffered, is judged at once.
					if lb.Len() >= HeaderLen {
						hdr, _ := lb.Peek(HeaderLen)
						if n := binary.BigEndian.Uint32(hdr); n < IDLen || uint64(n) > uint64(limit)+IDLen {
							t.Fatalf("bad length prefix %d (limit %d) left waiting for more", n, limit)
						}
					}
					break
				}
				if len(payload) > int(limit) {
					t.Fatalf("payload of %d bytes over limit %d", len(payload), limit)
				}
				reencoded = binary.BigEndian.AppendUint32(reencoded, uint32(IDLen+len(payload)))
				reencoded = binary.BigEndian.AppendUint32(reencoded, id)
				reencoded = append(reencoded, payload...)
				consumed += before - lb.Len()
				if consumed != len(reencoded) || string(reencoded) != string(stream[:len(reencoded)]) {
					t.Fatal("frame does not match the bytes consumed")
				}
			}
			if len(stream) == 0 {
				break
			}
		}
		if consumed+lb.Len() != len(stream) {
			t.Fatalf("%d consumed + %d left != %d fed", consumed, lb.Len(), len(stream))
		}
	})
}

// refFrame reads the frame at the start of s: its payload and how many
// bytes it takes, or the error that ends the stream there.
func refFrame(s []byte, max int) (payload []byte, n int, err error) {
	switch {
	case len(s) == 0:
		return nil, 0, io.EOF
	case len(s) < HeaderLen:
		return nil, 0, ErrTruncated
	}
	// In 64 bits: a length of 2 GiB or more is negative in a 32-bit int.
	size := int64(s[0])<<24 | int64(s[1])<<16 | int64(s[2])<<8 | int64(s[3])
	switch {
	case size > int64(max):
		return nil, 0, ErrFrameTooLarge
	case int64(len(s)-HeaderLen) < size:
		return nil, 0, ErrTruncated
	}
	return s[HeaderLen : HeaderLen+int(size)], HeaderLen + int(size), nil
}
