//go:build tools

// Package upoll pins the module's dependencies while the packages that use
// them are being written; go mod tidy keeps files with the tools tag.
package upoll

import (
	_ "github.com/panjf2000/ants/v2"
	_ "github.com/valyala/bytebufferpool"
	_ "golang.org/x/net/nettest"
	_ "golang.org/x/sys/unix"
)
