// Package reliability holds upoll's fault-injection, leak, integrity and
// soak tests. It has no API of its own: everything lives in its _test.go
// files, which drive netpoll and the nethttp adapter over real loopback
// sockets with hostile peers (slowloris, never-reading readers, endless
// writers, resets, vanished peers, connection bursts), resource
// exhaustion (descriptor limits, saturated handler pools), concurrent
// Close and Shutdown, and checksummed bulk echo. Heavy servers run in a
// child process re-executed from the test binary, so that client and
// server descriptors count against separate limits.
//
// The soak test is opt-in: build with -tags soak or set UPOLL_SOAK=1
// (duration in UPOLL_SOAK_DURATION, default 10m). See docs/RELIABILITY.md
// for the fault table and measured figures.
package reliability
