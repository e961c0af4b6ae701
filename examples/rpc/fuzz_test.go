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

// FuzzReadFrame feeds arbitrary streams to the frame parser: it must not
// panic, every frame it returns must re-encode to exactly the bytes it
// consumed, and it must stop with io.EOF, ErrTruncated or
// ErrFrameTooLarge.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 'e'}, uint16(16))
	f.Add([]byte{0, 0, 0, 3, 'u', 'a', 'b', 0, 0, 0, 0}, uint16(16))
	f.Add([]byte{0, 0, 0, 9, 'e'}, uint16(16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(1024))
	f.Add([]byte{0, 0}, uint16(8))
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
		var reencoded []byte
		for range len(stream) + 1 {
			p, err := ReadFrame(r, int(max))
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				if err == io.EOF && len(reencoded) != len(stream) {
					t.Fatalf("EOF after %d of %d bytes", len(reencoded), len(stream))
				}
				return
			}
			if len(p) > int(max) {
				t.Fatalf("frame of %d bytes over limit %d", len(p), max)
			}
			reencoded = binary.BigEndian.AppendUint32(reencoded, uint32(len(p)))
			reencoded = append(reencoded, p...)
			if string(reencoded) != string(stream[:len(reencoded)]) {
				t.Fatal("frame does not match the bytes consumed")
			}
		}
		t.Fatal("parser did not stop")
	})
}

// FuzzParseResponse feeds arbitrary streams to the multiplexed client's
// response parser, in pieces as a connection would buffer them: it must
// not panic, must consume nothing while a frame is incomplete, must
// return frames that re-encode to exactly the bytes consumed, and may
// fail only with ErrFrameTooLarge or ErrTruncated.
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
