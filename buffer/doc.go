// Package buffer provides LinkBuffer, the zero-copy byte queue that upoll
// uses as the inbound and outbound buffer of every connection.
//
// A LinkBuffer is a linked list of nodes whose bytes come from
// github.com/valyala/bytebufferpool (one bytebufferpool.Pool per size
// class; node structs are recycled in a sync.Pool of their own). The
// poller appends what readv returns
// (Book, BookAck), a handler reads it without copies (Next, Peek, Until,
// Slice) and releases it (Release); outbound, the handler writes (Malloc,
// WriteBinary, Append), publishes (Flush), and the poller gathers the bytes
// for writev (GetBytes, then Skip and Release).
//
// # Concurrency
//
// A LinkBuffer is safe for one producer goroutine and one consumer goroutine
// at the same time, not for two of either. Producer methods are the writing
// side: Malloc, MallocAck, MallocLen, WriteBinary, WriteString, WriteByte,
// Write, ReadFrom, Append (on the receiving buffer), Flush, Book and
// BookAck. Consumer methods are the reading side: Peek, Next, Skip, Until,
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
// valid until the next Release, Read, WriteTo or Close, and must not be
// modified. Keep bytes longer with ReadBinary or ReadString (copies), or
// with Slice, which shares the nodes by reference count and stays valid
// after this buffer releases them.
//
// Slices returned by Malloc and Book are valid until the next Flush.
//
// # Memory
//
// Nodes hold at least 4 KiB; a larger Malloc, write or Book gets a node
// rounded up to a power of two, up to 1 MiB, each size from its own pool.
// A contiguous Malloc above 1 MiB is an exact, unpooled allocation. A
// drained buffer gives every node back on Release (or on BookAck for a read
// that found nothing), so an idle buffer costs only its struct.
//
// # Performance
//
// The development VM has 2 vCPUs shared with other jobs (load average 9-17
// while measuring), so wall-clock benchmarks vary several-fold from run to
// run. The first table is therefore CPU time per operation: each benchmark
// run with -test.benchtime=Nx and 3Nx at GOMAXPROCS=1, the user+sys time of
// the test process differenced and divided by 2N (time spent preempted does
// not count), median of 5 interleaved rounds, in ns/op:
//
//	                              64 B    4 KiB   64 KiB
//	Cycle (write + read back, buffer drained every time)
//	  LinkBuffer (Next, no copy)    74       94      852
//	  bytes.Buffer (Read, copy)      9       67     1693
//	  bufio (ReadFull, copy)        20      110     1506
//	Poller paths (buffer drained every time)
//	  Book, BookAck, Next, Release  70       96      960
//	  WriteBinary, Flush, GetBytes,
//	    Skip, Release               73      117     1042
//
// The read path alone, from
//
//	go test -run '^$' -bench Read -benchtime=300ms -count=5 ./buffer
//
// (wall clock, median of 5 runs, ns/op; the buffer holds 4 MiB; 2026-11-23,
// load average about 2):
//
//	                            64 B    4 KiB   64 KiB
//	LinkBuffer (Next+Release)    9.4     17.2     51.9
//	bytes.Buffer (Read, copy)    3.2      173     2169
//	bufio (ReadFull, copy)       8.1     55.4     1609
//
// Every LinkBuffer benchmark reports 0 B/op, 0 allocs/op.
//
// The slice-returning read path beats the copying ones from a few KiB up
// but not at 64 B, where one atomic update of the shared length (needed for
// the concurrent producer) costs more than copying 64 bytes. A small
// write+read cycle through a drained buffer is bound by its synchronization
// with the other side: a pool round trip for the node (the price of an idle
// buffer holding no memory) and seven atomic instructions: opening the
// batch under the mutex, one add that both publishes the bytes and closes
// the batch (Flush takes no lock when the batch wrote into one node), one
// add per read, and the mutex section of the Release that gives the node
// back.
//
// # Errors
//
// A negative count returns ErrNegativeCount; asking for more than is
// readable returns ErrNotEnough; neither changes the buffer. Every method
// returns ErrClosed after Close, except that Read, ReadByte report an empty
// buffer with io.EOF as their interfaces expect.
package buffer
