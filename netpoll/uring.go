package netpoll

import "errors"

// ErrBackendUnavailable is wrapped by the error of NewServer, Listen
// and Dial when the backend asked for cannot run here; the error names
// the cause (for BackendUring: no io_uring in the kernel, a seccomp
// profile or the sysctl kernel.io_uring_disabled, a missing feature).
// A resource that was short when the backend was looked at (EMFILE,
// ENOMEM) is not a cause: the error is that resource's, without
// ErrBackendUnavailable.
var ErrBackendUnavailable = errors.New("netpoll: backend unavailable")

// fSending marks, under BackendUring, a connection whose outbound
// buffer's head is being sent by a request in the ring (uringSend):
// the kernel reads those bytes until the request completes, so no other
// consumer of the buffer may write, skip or release them meanwhile.
// Set and cleared under emu.
const fSending = fUnix << 4
