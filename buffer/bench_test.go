package buffer

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"testing"
)

var benchSizes = []int{64, 4 << 10, 64 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// BenchmarkCycle measures one write+read of a payload through an empty
// buffer, the steady state of a request/response connection: LinkBuffer
// (WriteBinary, Flush, Next without copy, Release) against bytes.Buffer
// (Write, Read into a caller's slice) and bufio (Writer.Write+Flush into a
// bytes.Buffer, io.ReadFull from a Reader over it).
func BenchmarkCycle(b *testing.B) {
	withoutAccounting(b)
	for _, n := range benchSizes {
		payload := pattern(0, n)
		dst := make([]byte, n)
		b.Run("LinkBuffer/"+sizeName(n), func(b *testing.B) {
			lb := New()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				lb.WriteBinary(payload)
				lb.Flush()
				p, _ := lb.Next(n)
				_ = p[n-1]
				lb.Release()
			}
		})
		b.Run("BytesBuffer/"+sizeName(n), func(b *testing.B) {
			var bb bytes.Buffer
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				bb.Write(payload)
				bb.Read(dst)
			}
		})
		b.Run("Bufio/"+sizeName(n), func(b *testing.B) {
			var bb bytes.Buffer
			w := bufio.NewWriter(&bb)
			r := bufio.NewReader(&bb)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				w.Write(payload)
				w.Flush()
				io.ReadFull(r, dst)
			}
		})
	}
}

// BenchmarkRead measures the read path alone on a buffer holding many
// payloads: LinkBuffer.Next (a view, then Release) against bytes.Buffer.Read
// (a copy) and bufio.Reader (io.ReadFull, a copy). The buffers are refilled
// with the timer stopped.
func BenchmarkRead(b *testing.B) {
	withoutAccounting(b)
	const fill = 4 << 20
	for _, n := range benchSizes {
		data := pattern(0, fill)
		dst := make([]byte, n)
		b.Run("LinkBuffer/"+sizeName(n), func(b *testing.B) {
			lb := New()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if lb.Len() < n {
					b.StopTimer()
					lb.Write(data)
					b.StartTimer()
				}
				p, _ := lb.Next(n)
				_ = p[n-1]
				lb.Release()
			}
		})
		b.Run("BytesBuffer/"+sizeName(n), func(b *testing.B) {
			var bb bytes.Buffer
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if bb.Len() < n {
					b.StopTimer()
					bb.Write(data)
					b.StartTimer()
				}
				bb.Read(dst)
			}
		})
		b.Run("Bufio/"+sizeName(n), func(b *testing.B) {
			src := bytes.NewReader(data)
			r := bufio.NewReader(src)
			left := fill
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if left < n {
					b.StopTimer()
					src.Reset(data)
					r.Reset(src)
					left = fill
					b.StartTimer()
				}
				io.ReadFull(r, dst)
				left -= n
			}
		})
	}
}

// BenchmarkPollerCycle measures the connection paths through a drained
// buffer: inbound, the poller's Book and BookAck (a readv simulated by a
// copy) then the handler's Next and Release; outbound, the handler's
// WriteBinary and Flush then the poller's GetBytes, Skip and Release (a
// writev that took everything).
func BenchmarkPollerCycle(b *testing.B) {
	withoutAccounting(b)
	for _, n := range benchSizes {
		payload := pattern(0, n)
		b.Run("Inbound/"+sizeName(n), func(b *testing.B) {
			lb := New()
			vecs := make([][]byte, 0, 4)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				vecs = lb.Book(n, vecs)
				copy(vecs[0], payload)
				lb.BookAck(n)
				p, _ := lb.Next(n)
				_ = p[n-1]
				lb.Release()
			}
		})
		b.Run("Outbound/"+sizeName(n), func(b *testing.B) {
			lb := New()
			vecs := make([][]byte, 0, 4)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				lb.WriteBinary(payload)
				lb.Flush()
				vecs = lb.GetBytes(vecs)
				lb.Skip(len(vecs[0]))
				lb.Release()
			}
		})
	}
}
