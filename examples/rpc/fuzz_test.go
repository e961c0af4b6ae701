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
