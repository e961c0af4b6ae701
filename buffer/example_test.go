package buffer_test

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/upoll/upoll/buffer"
)

// The basic cycle: the producer writes and publishes, the consumer reads
// without copying and releases what it read.
func Example() {
	b := buffer.New()
	defer b.Close()

	b.WriteString("GET / HTTP/1.1\r\n")
	fmt.Println("readable before Flush:", b.Len())
	b.Flush()

	line, _ := b.Until('\n') // a view into the node, valid until Release
	fmt.Printf("%q\n", line)
	b.Release() // line must not be used after this
	fmt.Println("readable after Release:", b.Len())
	// Output:
	// readable before Flush: 0
	// "GET / HTTP/1.1\r\n"
	// readable after Release: 0
}

// Slice hands a request body to another goroutine without copying: the new
// buffer shares the nodes and stays valid after the parent releases them.
func ExampleLinkBuffer_Slice() {
	in := buffer.New()
	defer in.Close()
	frame := binary.BigEndian.AppendUint32(nil, 5)
	in.WriteBinary(append(frame, "hello"...))
	in.Flush()

	hdr, _ := in.Next(4)
	body, _ := in.Slice(int(binary.BigEndian.Uint32(hdr)))
	in.Release() // the parent is done; body is still valid

	done := make(chan string)
	go func() {
		defer body.Close() // the goroutine owns body now
		s, _ := body.ReadString(body.Len())
		done <- s
	}()
	fmt.Println(<-done)
	// Output: hello
}

// Book and BookAck are the poller's inbound path: book space, let readv
// fill it, acknowledge what was read.
func ExampleLinkBuffer_Book() {
	b := buffer.New()
	defer b.Close()
	vecs := make([][]byte, 0, 2)

	vecs = b.Book(8192, vecs) // at least 8 KiB, as one or more slices
	n := copy(vecs[0], "data from readv")
	b.BookAck(n) // keep n bytes and publish them

	p, _ := b.Next(b.Len())
	fmt.Printf("%s\n", p)
	b.Release()
	// Output: data from readv
}

// GetBytes is the poller's outbound path: gather the queued bytes for
// writev, then consume what the kernel took.
func ExampleLinkBuffer_GetBytes() {
	b := buffer.New()
	defer b.Close()
	b.WriteString("HTTP/1.1 200 OK\r\n")
	b.WriteString(strings.Repeat("x", 5000)) // spills into a second node
	b.Flush()

	vecs := b.GetBytes(make([][]byte, 0, 8))
	written := 0
	for _, v := range vecs { // stands in for writev
		written += len(v)
	}
	fmt.Println("slices:", len(vecs), "bytes:", written)
	b.Skip(written)
	b.Release()
	fmt.Println("left:", b.Len())
	// Output:
	// slices: 2 bytes: 5017
	// left: 0
}

// Malloc reserves contiguous space to encode into in place; MallocAck gives
// back what was not used.
func ExampleLinkBuffer_Malloc() {
	b := buffer.New()
	defer b.Close()
	p, _ := b.Malloc(binary.MaxVarintLen64)
	n := binary.PutUvarint(p, 300)
	b.MallocAck(n)
	b.Flush()
	out, _ := b.Next(b.Len())
	fmt.Printf("%x\n", out)
	b.Release()
	// Output: ac02
}

// A producer call that ends a batch someone else is building (here, a
// write of its own, as netpoll's Conn.Write sends a Writer's open batch
// ahead of its bytes) disowns it first: the builder's slice is no
// longer valid, and its memory will never be another buffer's.
func ExampleLinkBuffer_Disown() {
	b := buffer.New()
	defer b.Close()
	p, _ := b.Malloc(3) // the builder's batch, not yet filled
	copy(p, "abc")
	b.Disown() // another producer call takes the batch over
	b.WriteString("def")
	b.Flush()
	out, _ := b.Next(b.Len())
	fmt.Printf("%s\n", out)
	b.Release()
	// Output: abcdef
}

// A LinkBuffer as a connection uses it: a producer goroutine writes
// length-prefixed frames and publishes them with Flush; the consumer
// reads each frame with Next, which returns a view into the buffer, and
// releases it when done.
func ExampleLinkBuffer() {
	b := buffer.New()
	defer b.Close()

	done := make(chan struct{})
	go func() { // the producer: one goroutine
		defer close(done)
		for _, msg := range []string{"hello", "linked", "buffer"} {
			b.WriteByte(byte(len(msg)))
			b.WriteString(msg)
		}
		b.Flush()
	}()
	<-done

	for b.Len() > 0 { // the consumer: one goroutine
		hdr, _ := b.Next(1)
		body, _ := b.Next(int(hdr[0]))
		fmt.Println(string(body))
		b.Release() // hdr and body are invalid from here on
	}
	// Output:
	// hello
	// linked
	// buffer
}

// A socket writer whose batch has nothing queued ahead of it sends the
// batch from where it was written, and queues only what the kernel did
// not take.
func ExampleLinkBuffer_Unflushed() {
	out := buffer.New()
	out.WriteString("pong")
	if p := out.Unflushed(); p != nil {
		sent := len(p) - 1 // say the kernel took all but the last byte
		if sent == len(p) {
			out.MallocAck(0) // all went out: drop the batch
			out.Flush()
		} else {
			out.Flush() // queue the batch, then skip what went out
			out.Skip(sent)
			out.Release()
		}
	}
	rest, _ := out.Next(out.Len())
	fmt.Printf("%q left to send\n", rest)
	// Output: "g" left to send
}
