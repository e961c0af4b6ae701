//go:build !race

package netpoll

// raceBuild: the race detector is on (allocation counts mean nothing).
const raceBuild = false
