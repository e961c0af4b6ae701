// Package buffer provides LinkBuffer, the zero-copy byte queue that upoll
// uses as the inbound and outbound buffer of every connection.
//
// A LinkBuffer is a linked list of nodes whose bytes come from
// github.com/valyala/bytebufferpool (one bytebufferpool.Pool per size
// class). A freed node keeps its bytes and waits for reuse in a sync.Pool
// of its class; node structs without bytes (views, foreign bytes) are
// recycled in a sync.Pool of their own. The
// poller appends what readv returns
// (Book, BookAck), a handler reads it without copies (Next, Peek, Until,
// Slice) and releases it (Release); outbound, the handler writes (Malloc,
// WriteBinary, Append), publishes (Flush), and the poller gathers the bytes
// for writev (GetBytes, then Skip and Release); a batch with nothing
// queued ahead of it may be sent from where it was written (Unflushed).
//
// # Concurrency
//
// A LinkBuffer is safe for one producer goroutine and one consumer goroutine
// at the same time, not for two of either. Producer methods are the writing
// side: Malloc, MallocAck, MallocLen, WriteBinary, WriteString, WriteByte,
// Write, ReadFrom, Append (on the receiving buffer), WriteForeign, Flush,
// Unflushed, Book and BookAck. Consumer methods are the reading side: Peek, Next, Skip, Until,
// ReadByte, ReadBinary, ReadString, Read, WriteTo, Slice, GetBytes, Release
// and Close. Len may be called from either side.
//
// Written bytes are invisible to the consumer until the producer calls
// Flush (or BookAck, Write, ReadFrom, which publish).
//
// # Lifetime of returned slices
//
// Slices returned by Next, Peek, Until and GetBytes point into the buffer's
// nodes (or, for a read that crosses nodes, into a pooled copy). They are
// valid until the next Release, Read, WriteTo or Close, or an Append of
// this buffer to another (which releases it), and must not be modified.
// Close and Free give the memory behind slices handed out since the last
// Release to the garbage collector rather than to the pools, so
// a holder that outlives them never sees another buffer's bytes there
// (foreign bytes go back to their Releaser all the same). Keep bytes longer with ReadBinary or ReadString (copies), or
// with Slice, which shares the nodes by reference count and stays valid
// after this buffer releases them.
//
// Slices returned by Malloc are valid until the next Flush; those
// returned by Book, until BookAck or the next write.
//
// Bytes linked by WriteForeign stay their owner's: the buffer reads them
// in place and tells the owner (a Releaser) once, when no buffer or Slice
// references them any more.
//
// # Memory
//
// Nodes hold at least 4 KiB; a larger Malloc, write or Book gets a node
// rounded up to a power of two, up to 1 MiB, each size from its own pool.
// A contiguous Malloc above 1 MiB is an exact, unpooled allocation. A
// drained buffer gives every node back on Release (or on BookAck for a read
// that found nothing), so an idle buffer costs only its struct.
//
// # Cost
//
// In steady state the read and write paths allocate nothing: nodes, and
// the copies made for reads that cross nodes, come from pools. Reads that return slices do not copy, so they win over copying readers
// from a few KiB up; at tens of bytes the atomic update of the length
// shared with the producer costs about as much as a copy. Benchmarks
// against bytes.Buffer and bufio, with their figures, are in
// docs/tuning.md of the repository.
//
// # Errors
//
// A negative count returns ErrNegativeCount; asking for more than is
// readable returns ErrNotEnough, except that Read and ReadByte report an
// empty open buffer with io.EOF, as their interfaces expect; neither
// changes the buffer. Every method returns ErrClosed after Close, except
// that the writes of a batch the producer opened before Close may still
// succeed: they go to memory the buffer drops, and the batch's Flush
// returns ErrClosed.
package buffer
