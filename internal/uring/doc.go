// Package uring is a small, cgo-free binding to Linux's io_uring: the
// ring set up and mapped, submission entries prepared for the network
// operations upoll needs, completions reaped, and a provided-buffer ring
// whose buffers live outside the Go heap.
//
// A Ring is used by one goroutine at a time (the caller serializes);
// with SetupSingleIssuer it must also stay on one OS thread, so its
// user locks the thread (runtime.LockOSThread) before New.
//
// Go memory named by a submission (a recv buffer, a send buffer, iovecs)
// is invisible to the garbage collector once it is in the ring: the
// caller keeps it referenced until the operation's completion arrives.
//
// On other operating systems Available reports ErrUnavailable and New
// fails with it.
package uring
