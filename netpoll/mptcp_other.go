//go:build !linux

package netpoll

// sysMultipathTCP is false where Go's net reports MultipathTCP false:
// every system but Linux.
func sysMultipathTCP(fd int) bool { return false }
