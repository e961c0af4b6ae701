// Package nethttp runs code written for the standard library's net.Listener
// and net.Conn — net/http's Server and Transport first of all — on upoll's
// epoll pollers instead of the Go runtime's netpoller, without changing that
// code.
package nethttp
