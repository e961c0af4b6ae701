// Package testutil holds the helpers that upoll's tests share: counting
// descriptors and goroutines, checking that a test leaves neither behind,
// waiting for a condition with a bound, recognising the deadline error
// net.Conn promises, reading a process's CPU time and setting its
// descriptor limit where the system has these, and re-executing the
// test binary as a child process.
//
// It is imported only by _test.go files. Every wait it offers is bounded
// in time; none of its checks is relaxed under the race detector.
package testutil
