package netpoll

// errBrokenPipe is the error a write after CloseWrite matches: none,
// Plan 9 has no EPIPE.
var errBrokenPipe error
