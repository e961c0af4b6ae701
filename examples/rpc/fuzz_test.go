package main

import (
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

// refFrame reads the frame at the start of s: its payload and how many
// bytes it takes, or the error that ends the stream there.
func refFrame(s []byte, max int) (payload []byte, n int, err error) {
	switch {
	case len(s) == 0:
		return nil, 0, io.EOF
	case len(s) < HeaderLen:
		return nil, 0, ErrTruncated
	}
	size := int(s[0])<<24 | int(s[1])<<16 | int(s[2])<<8 | int(s[3])
	switch {
	case size > max:
		return nil, 0, ErrFrameTooLarge
	case len(s)-HeaderLen < size:
		return nil, 0, ErrTruncated
	}
	return s[HeaderLen : HeaderLen+size], HeaderLen + size, nil
}
