package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
)

// inflowStream returns n pseudo-random bytes (seeded), with '\n' common
// enough that Until always finds one well within the bound.
func inflowStream(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
		if r.IntN(200) == 0 {
			p[i] = '\n'
		}
	}
	return p
}

// inflowSend writes data to cl in random-sized writes with random short
// pauses.
func inflowSend(cl net.Conn, data []byte, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 7))
	for len(data) > 0 {
		k := min(len(data), 1+r.IntN(24<<10))
		if _, err := cl.Write(data[:k]); err != nil {
			return err
		}
		data = data[k:]
		if r.IntN(16) == 0 {
			time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond)
		}
	}
	return nil
}

type heldSlice struct {
	got  []byte // what the Reader returned (points into the buffer)
	want []byte
	pos  int
	op   string
}

// inflowConsume reads all of want from c with a random mix of Reader and
// net.Conn calls, checking every byte, that returned slices stay intact
// until Release, and that Slices stay intact while the poller appends.
func inflowConsume(t *testing.T, c *Conn, want []byte, maxIn int, seed uint64, lazy bool) error {
	r := rand.New(rand.NewPCG(seed, 11))
	rd := c.Reader()
	pos := 0
	var held []heldSlice
	type sl struct {
		lb   *buffer.LinkBuffer
		pos  int
		want []byte
	}
	var slices []sl
	checkHeld := func(when string) error {
		for _, h := range held {
			if !bytes.Equal(h.got, h.want) {
				return fmt.Errorf("%s slice at %d (%d bytes) changed before Release (%s)", h.op, h.pos, len(h.want), when)
			}
		}
		return nil
	}
	checkSlices := func(all bool) error {
		keep := slices[:0]
		for _, s := range slices {
			if !all && r.IntN(3) != 0 {
				keep = append(keep, s)
				continue
			}
			got, err := s.lb.Next(s.lb.Len())
			if err != nil {
				return fmt.Errorf("slice at %d: %v", s.pos, err)
			}
			if !bytes.Equal(got, s.want) {
				return fmt.Errorf("Slice at %d (%d bytes): content differs from what the peer sent", s.pos, len(s.want))
			}
			s.lb.Close()
		}
		slices = keep
		if all {
			slices = nil
		}
		return nil
	}
	mismatch := func(op string, got []byte, at int) error {
		w := want[at : at+len(got)]
		i := 0
		for i < len(got) && got[i] == w[i] {
			i++
		}
		return fmt.Errorf("%s at stream offset %d (len %d): byte %d differs (got %#x want %#x)", op, at, len(got), i, got[i], w[i])
	}
	for pos < len(want) {
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return err
		}
		left := len(want) - pos
		var n int
		switch r.IntN(10) {
		case 0: // occasionally more than the bound
			n = 1 + r.IntN(3*maxIn)
		case 1, 2:
			n = 1 + r.IntN(64)
		default:
			n = 1 + r.IntN(maxIn)
		}
		n = min(n, left)
		op := r.IntN(9)
		var err error
		switch op {
		case 0, 1: // Next
			var b []byte
			if b, err = rd.Next(n); err == nil {
				if !bytes.Equal(b, want[pos:pos+n]) {
					return mismatch("Next", b, pos)
				}
				held = append(held, heldSlice{b, want[pos : pos+n], pos, "Next"})
				pos += n
			}
		case 2: // Peek then Skip part
			var b []byte
			if b, err = rd.Peek(n); err == nil {
				if !bytes.Equal(b, want[pos:pos+n]) {
					return mismatch("Peek", b, pos)
				}
				held = append(held, heldSlice{b, want[pos : pos+n], pos, "Peek"})
				k := r.IntN(n + 1)
				if err = rd.Skip(k); err == nil {
					pos += k
				}
			}
		case 3: // Until, when a delim lies within the bound
			if i := bytes.IndexByte(want[pos:pos+min(left, maxIn)], '\n'); i < 0 {
				op = 0
				var b []byte
				if b, err = rd.Next(n); err == nil {
					if !bytes.Equal(b, want[pos:pos+n]) {
						return mismatch("Next", b, pos)
					}
					pos += n
				}
				break
			}
			var b []byte
			if b, err = rd.Until('\n'); err == nil {
				if len(b) > left || !bytes.Equal(b, want[pos:pos+len(b)]) || bytes.IndexByte(b, '\n') != len(b)-1 {
					return mismatch("Until", b[:min(len(b), left)], pos)
				}
				held = append(held, heldSlice{b, want[pos : pos+len(b)], pos, "Until"})
				pos += len(b)
			}
		case 4: // Slice
			var lb *buffer.LinkBuffer
			if lb, err = rd.Slice(n); err == nil {
				slices = append(slices, sl{lb, pos, want[pos : pos+n]})
				pos += n
			}
		case 5: // ReadBinary
			var b []byte
			if b, err = rd.ReadBinary(n); err == nil {
				if !bytes.Equal(b, want[pos:pos+n]) {
					return mismatch("ReadBinary", b, pos)
				}
				pos += n
			}
		case 6: // net.Conn Read (releases)
			if err := checkHeld("before Read"); err != nil {
				return err
			}
			held = held[:0]
			p := make([]byte, n)
			var m int
			if m, err = c.Read(p); err == nil {
				if !bytes.Equal(p[:m], want[pos:pos+m]) {
					return mismatch("Read", p[:m], pos)
				}
				pos += m
			}
		default: // Release
			if err := checkHeld("before Release"); err != nil {
				return err
			}
			held = held[:0]
			err = rd.Release()
			if err == nil && r.IntN(4) == 0 {
				err = checkSlices(false)
			}
			if r.IntN(50) == 0 {
				time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
			} else if lazy && r.IntN(8) == 0 {
				// away for a while: the budget pauses the others
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			}
		}
		if err != nil {
			return fmt.Errorf("op %d at offset %d of %d (n %d, buffered %d): %w", op, pos, len(want), n, rd.Len(), err)
		}
		if len(held) > 64 {
			if err := checkHeld("before Release"); err != nil {
				return err
			}
			held = held[:0]
			if err := rd.Release(); err != nil {
				return err
			}
		}
	}
	if err := checkHeld("at the end"); err != nil {
		return err
	}
	if err := rd.Release(); err != nil {
		return err
	}
	return checkSlices(true)
}

// TestInflowReaderStress: accept-mode connections with a small
// input bound, a peer sending random-sized writes, and a reader mixing
// every Reader call, in every trigger mode; each byte is compared with
// what was sent, a wait that sees no byte for 10s is a stall.
func TestInflowReaderStress(t *testing.T) {
	const total = 1 << 20
	for _, trig := range allTriggers {
		for _, maxIn := range []int{4 << 10, 16 << 10, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%dk", trig, maxIn>>10), func(t *testing.T) {
				s, addr, conns := startAccept(t, WithTrigger(trig), WithMaxInput(maxIn))
				defer inflowSample(t, s)()
				inflowPairs(t, addr, conns, 2, total, maxIn, false)
			})
		}
	}
}

// inflowPairs dials nconn connections; each sends total seeded bytes
// while its server side reads them back with inflowConsume, every byte
// checked. lazy readers start 30 ms apart and stop for a while now and
// then (so that a shared budget pauses the others).
func inflowPairs(t *testing.T, addr string, conns chan *Conn, nconn, total, maxIn int, lazy bool) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	var wg sync.WaitGroup
	for i := range nconn {
		cl := dialTCP(t, addr)
		c := recvConn(t, conns)
		data := inflowStream(seed+uint64(i), total)
		wg.Go(func() {
			if err := inflowSend(cl, data, seed+uint64(i)); err != nil {
				t.Errorf("send: %v", err)
			}
		})
		wg.Go(func() {
			defer c.Close()
			if lazy {
				time.Sleep(time.Duration(i*30) * time.Millisecond)
			}
			if err := inflowConsume(t, c, data, maxIn, seed+uint64(i)+100, lazy); err != nil {
				t.Errorf("conn %d (seed %d): %v", i, seed, err)
			}
		})
	}
	wg.Wait()
}

// TestInflowBudgetStress: several accept-mode connections sharing
// the least budget allowed, readers that stop for a while (so the budget
// pauses the others) and then read with the mix above.
func TestInflowBudgetStress(t *testing.T) {
	const total = 1 << 20
	const maxIn = 16 << 10
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithTrigger(trig), WithMaxInput(maxIn), WithMaxOutput(16<<10), WithBufferBudget(32<<10))
			defer inflowSample(t, s)()
			inflowPairs(t, addr, conns, 6, total, maxIn, true)
		})
	}
}

// inflowFrame is frame seq of the handler test: a 4-byte length, a
// 4-byte sequence number and a payload derived from both.
func inflowFrame(seq uint32, plen int) []byte {
	p := make([]byte, 8+plen)
	binary.BigEndian.PutUint32(p, uint32(plen))
	binary.BigEndian.PutUint32(p[4:], seq)
	for i := range plen {
		p[8+i] = byte(seq*31 + uint32(i)*7 + uint32(i>>8))
	}
	return p
}

const inflowFrames = 300

type inflowFrameState struct {
	seq uint32
	r   *rand.Rand
}

// inflowFrameHandler verifies frames in order and acks each with its
// sequence number; it takes frames in random styles: only the complete
// ones then returns (leaving a partial one buffered), or blocking in
// Next for a whole frame, or via Slice.
func inflowFrameHandler(states *sync.Map, fail func(string, ...any)) Handler {
	return func(c *Conn) error {
		v, _ := states.LoadOrStore(c, &inflowFrameState{r: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))})
		st := v.(*inflowFrameState)
		rd, w := c.Reader(), c.Writer()
		for {
			block := st.r.IntN(3) == 0
			if rd.Len() < 8 && !block {
				break
			}
			if block {
				// acks first: the peer may wait for them
				if err := w.Flush(); err != nil {
					return err
				}
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			hdr, err := rd.Peek(8)
			if err != nil {
				if rd.Len() == 0 && st.seq == inflowFrames {
					return nil // all done; the test is closing
				}
				fail("peek header at seq %d: %v", st.seq, err)
				return err
			}
			plen := int(binary.BigEndian.Uint32(hdr))
			seq := binary.BigEndian.Uint32(hdr[4:])
			if seq != st.seq || plen > 12<<10 {
				fail("frame header: seq %d len %d, want seq %d", seq, plen, st.seq)
				return errors.New("bad frame")
			}
			if rd.Len() < 8+plen && !block {
				break
			}
			if rd.Len() < 8+plen {
				if err := w.Flush(); err != nil {
					return err
				}
			}
			var body []byte
			if st.r.IntN(4) == 0 {
				lb, err := rd.Slice(8 + plen)
				if err != nil {
					fail("slice frame %d: %v", seq, err)
					return err
				}
				body, _ = lb.ReadBinary(8 + plen)
				lb.Close()
			} else if body, err = rd.Next(8 + plen); err != nil {
				fail("next frame %d: %v", seq, err)
				return err
			}
			if want := inflowFrame(seq, plen); !bytes.Equal(body, want) {
				fail("frame %d (len %d): payload differs", seq, plen)
				return errors.New("bad frame")
			}
			st.seq++
			var ack [4]byte
			binary.BigEndian.PutUint32(ack[:], seq)
			w.WriteBinary(ack[:])
			if st.r.IntN(2) == 0 {
				rd.Release()
			}
		}
		rd.Release()
		return w.Flush()
	}
}

// TestInflowHandlerBudget: handler-mode connections sharing the
// least budget, peers sending random-sized frames in random-sized
// writes, handlers that leave partial frames buffered or block for the
// rest; every frame must be acked in order (a stall times out).
func TestInflowHandlerBudget(t *testing.T) {
	skipInline(t)
	const frames = inflowFrames
	for _, trig := range allTriggers {
		for _, tc := range []struct {
			name  string
			conns int
			opts  []Option
		}{
			{"bound", 2, []Option{WithMaxInput(16 << 10)}},
			{"budget", 6, []Option{WithMaxInput(16 << 10), WithMaxOutput(16 << 10), WithBufferBudget(32 << 10)}},
		} {
			t.Run(fmt.Sprintf("%s/%s", trig, tc.name), func(t *testing.T) {
				var states sync.Map
				var failOnce sync.Once
				fail := func(f string, a ...any) {
					failOnce.Do(func() { t.Errorf("handler: "+f, a...) })
				}
				s, addr := startServer(t, inflowFrameHandler(&states, fail), append([]Option{WithTrigger(trig)}, tc.opts...)...)
				defer inflowSample(t, s)()
				var wg sync.WaitGroup
				seed := uint64(time.Now().UnixNano())
				for i := range tc.conns {
					cl := dialTCP(t, addr)
					r := rand.New(rand.NewPCG(seed+uint64(i), 5))
					var stream []byte
					for seq := range uint32(frames) {
						plen := r.IntN(64)
						if r.IntN(4) == 0 {
							plen = r.IntN(12 << 10)
						}
						stream = append(stream, inflowFrame(seq, plen)...)
					}
					wg.Go(func() {
						if err := inflowSend(cl, stream, seed+uint64(i)); err != nil {
							t.Errorf("send: %v", err)
						}
					})
					wg.Go(func() {
						cl.SetReadDeadline(time.Now().Add(20 * time.Second))
						var ack [4]byte
						for seq := range uint32(frames) {
							if _, err := io.ReadFull(cl, ack[:]); err != nil {
								t.Errorf("conn %d: ack %d of %d: %v (stall?)", i, seq, frames, err)
								return
							}
							if got := binary.BigEndian.Uint32(ack[:]); got != seq {
								t.Errorf("conn %d: ack %d, want %d", i, got, seq)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		}
	}
}

// inflowSample logs the most connections seen paused (by the bound, by
// the budget) while the test ran, to show that the paths were taken.
func inflowSample(t *testing.T, s *Server) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	var bound, budget int64
	go func() {
		defer close(done)
		for {
			st := s.Stats()
			bound, budget = max(bound, st.PausedByBound), max(budget, st.PausedByBudget)
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		t.Logf("backend %v: most paused by bound %d, by budget %d", s.Config().Backend, bound, budget)
	}
}
