package reliability

import (
	"io"
	"log"
)

// discardLog keeps http.Server's expected complaints (resets, timeouts)
// out of the test output.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
