package buffer

import "testing"

// Every method returns ErrClosed after Close (doc.go, Errors), the writes
// of a batch opened before Close aside. An empty write, an empty
// WriteForeign and a BookAck with nothing booked were the exceptions:
// they returned nil or ErrNotEnough on a closed buffer.
func TestClosedEmptyWritesReturnErrClosed(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteBinary(nil); err != ErrClosed {
		t.Errorf("WriteBinary(nil) after Close: %v, want ErrClosed", err)
	}
	if _, err := b.WriteString(""); err != ErrClosed {
		t.Errorf("WriteString(\"\") after Close: %v, want ErrClosed", err)
	}
	s := newScribbler()
	tag := s.lend([]byte{})
	if err := b.WriteForeign([]byte{}, s, tag); err != ErrClosed {
		t.Errorf("WriteForeign(empty) after Close: %v, want ErrClosed", err)
	}
	if err := b.BookAck(1); err != ErrClosed {
		t.Errorf("BookAck(1) after Close: %v, want ErrClosed", err)
	}
	s.check(t)
	checkLive(t, live)
}
