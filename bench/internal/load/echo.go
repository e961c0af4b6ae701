package load

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// message fills buf with depth messages of size bytes for connection id. Each
// message names its connection and its place in the connection's stream, so
// that an echo that is stale, reordered or another connection's cannot pass
// the comparison: from 16 bytes on, a sequence number then the id; from 8,
// both packed in one word (the id in the low 20 bits); below 8 bytes, a mix
// of the two truncated to the size (which cannot tell every pair apart).
// The bytes after those are the mix again, each word of it xored with its
// offset, so that they change from message to message too: bytes of an
// earlier message of the connection past the first word or two (a stale
// buffer behind a chunk boundary) fail as well.
func message(buf []byte, size, id int, seq *uint64) {
	for k := 0; k+size <= len(buf); k += size {
		*seq++
		m := buf[k : k+size]
		head := 0
		switch {
		case size >= 16:
			binary.LittleEndian.PutUint64(m, *seq)
			binary.LittleEndian.PutUint64(m[8:], uint64(id))
			head = 16
		case size >= 8:
			binary.LittleEndian.PutUint64(m, *seq<<20|uint64(id)&(1<<20-1))
			head = 8
		}
		v := *seq ^ uint64(id)*0x9e3779b97f4a7c15
		j := head
		for ; j+8 <= size; j += 8 {
			binary.LittleEndian.PutUint64(m[j:], v^uint64(j)<<40)
		}
		for ; j < size; j++ {
			m[j] = byte(v>>(8*(j%8))) ^ byte(j&^7)
		}
	}
}

func pattern(buf []byte, id int) {
	for i := range buf {
		buf[i] = byte(i*31 + id*7 + 1)
	}
}

// exchange writes send and reads exactly len(send) bytes back into recv,
// then compares them.
func exchange(c net.Conn, send, recv []byte) error {
	if _, err := c.Write(send); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := io.ReadFull(c, recv); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if !bytes.Equal(send, recv) {
		return errMismatch
	}
	return nil
}

// echoWorker runs ping-pong (depth 1) or pipelined exchanges on c until the
// window ends. Latency is per exchange: for a batch, the time from writing
// it to reading its last byte.
func (r *run) echoWorker(c net.Conn, id int, s *stat) error {
	depth := 1
	if r.cfg.Workload == Pipeline {
		depth = r.cfg.Pipeline
	}
	n := r.cfg.Size * depth
	send, recv := make([]byte, n), make([]byte, n)
	pattern(send, id)
	var seq uint64
	for !r.stopped() {
		message(send, r.cfg.Size, id, &seq)
		t0 := time.Now()
		if err := exchange(c, send, recv); err != nil {
			return err
		}
		lat := time.Since(t0)
		s.verified += uint64(n)
		if r.measuring() {
			s.ops += uint64(depth)
			s.bytes += uint64(n)
			s.h.Record(int64(lat))
		}
	}
	return nil
}
